-- Huddle's PostgreSQL schema, version 1.
--
-- Ids, names and other strings that clients choose are stored as their
-- UTF-8 bytes (bytea): PostgreSQL text cannot hold NUL, which ids may
-- contain, and every backend must accept the same requests. Sequences,
-- epochs, watermarks and versions are non-negative bigints; timestamps and
-- 64-bit ids are stored bit for bit as bigints.

-- What POST /rooms creates.
CREATE TABLE rooms (
    id           bytea  NOT NULL PRIMARY KEY,
    name         bytea  NOT NULL,
    session_type text   NOT NULL,   -- 'ephemeral' | 'persistent'
    created_at   bigint NOT NULL    -- ms since the epoch, 64 bits as stored
);

-- One row per board ever acquired: its owner epoch and watermarks. Every
-- write transaction locks its board's row (SELECT ... FOR UPDATE) and
-- compares the epoch before writing.
CREATE TABLE boards (
    id             bytea  NOT NULL PRIMARY KEY,
    epoch          bigint NOT NULL,             -- the current owner's epoch
    log_end        bigint NOT NULL DEFAULT 0,   -- last sequence in events
    pages_sequence bigint NOT NULL DEFAULT 0    -- elements are as of this
);

-- The event log: every applied mutation.
CREATE TABLE events (
    board   bytea    NOT NULL,
    seq     bigint   NOT NULL,
    author  bytea    NOT NULL,
    batch   bytea    NOT NULL,
    at      bigint   NOT NULL,
    kind    smallint NOT NULL,   -- 0 upsert, 1 delete
    page    bytea    NOT NULL,
    element bytea    NOT NULL,
    data    bytea,               -- NULL for a delete
    PRIMARY KEY (board, seq)
);

-- Each user's batches with their last sequence, complete through
-- boards.pages_sequence (written by the flushes): what a load hands the
-- engine's dedup window (the newest 1024 per user).
CREATE TABLE batches (
    board    bytea  NOT NULL,
    author   bytea  NOT NULL,
    batch    bytea  NOT NULL,
    last_seq bigint NOT NULL,
    PRIMARY KEY (board, author, batch)
);
CREATE INDEX batches_recent ON batches (board, author, last_seq);

-- The board state by page as of boards.pages_sequence (the flushes).
CREATE TABLE elements (
    board   bytea NOT NULL,
    page    bytea NOT NULL,
    element bytea NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (board, page, element)
);

-- Snapshots; ids only grow (identity), so newest = highest id.
CREATE TABLE snapshots (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    board      bytea  NOT NULL,
    version    bigint NOT NULL,
    created_at bigint NOT NULL,
    created_by text   NOT NULL,   -- 'auto-save' | 'on-disconnect' | 'manual' | 'archive'
    elements   bigint NOT NULL,
    pages      bytea  NOT NULL    -- huddle_store::codec
);
CREATE INDEX snapshots_by_board ON snapshots (board, id);

-- User session records.
CREATE TABLE user_sessions (
    id            bigint NOT NULL PRIMARY KEY,  -- UserSessionId, 64 bits as stored
    board         bytea  NOT NULL,
    user_id       bytea  NOT NULL,
    conn          bigint NOT NULL,
    started_at    bigint NOT NULL,
    last_activity bigint NOT NULL,
    ended_at      bigint,
    status        text   NOT NULL,   -- 'active' | 'ended' | 'timeout'
    client_info   bytea
);
CREATE INDEX user_sessions_by_board ON user_sessions (board);
CREATE INDEX user_sessions_by_user ON user_sessions (user_id);
CREATE INDEX user_sessions_by_status ON user_sessions (status);
