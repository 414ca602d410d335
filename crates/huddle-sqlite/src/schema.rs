//! The schema and its migrations.
//!
//! A Huddle database is marked by `PRAGMA application_id =`
//! [`APPLICATION_ID`] and carries its schema version in
//! `PRAGMA user_version`. Migration `n` (1-based) takes the schema from
//! version `n - 1` to `n`, in one transaction with the version bump.
//! Migrations are only ever appended.

/// Huddle's SQLite application id: "HUDL".
pub const APPLICATION_ID: i64 = 0x4855_444C;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The tables a database of [`SCHEMA_VERSION`] must have.
pub(crate) const TABLES: &[&str] = &[
    "rooms",
    "boards",
    "events",
    "batches",
    "elements",
    "snapshots",
    "user_sessions",
];

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2_LEASES];

const V1: &str = "
-- What POST /rooms creates.
CREATE TABLE rooms (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    session_type TEXT    NOT NULL,   -- 'ephemeral' | 'persistent'
    created_at   INTEGER NOT NULL    -- ms since the epoch, 64 bits as stored
) WITHOUT ROWID;

-- One row per board ever acquired: its owner epoch and watermarks.
CREATE TABLE boards (
    id             TEXT    NOT NULL PRIMARY KEY,
    epoch          INTEGER NOT NULL,            -- the current owner's epoch
    log_end        INTEGER NOT NULL DEFAULT 0,  -- last sequence in events
    pages_sequence INTEGER NOT NULL DEFAULT 0   -- elements are as of this
) WITHOUT ROWID;

-- The event log: every applied mutation.
CREATE TABLE events (
    board   TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    author  TEXT    NOT NULL,
    batch   TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    kind    INTEGER NOT NULL,   -- 0 upsert, 1 delete
    page    TEXT    NOT NULL,
    element TEXT    NOT NULL,
    data    BLOB,               -- NULL for a delete
    PRIMARY KEY (board, seq)
) WITHOUT ROWID;

-- Each user's batches with their last sequence: what a load hands the
-- engine's dedup window (the newest 1024 per user), so that a batch re-sent
-- after a restart is recognised beyond the loaded events.
CREATE TABLE batches (
    board    TEXT    NOT NULL,
    author   TEXT    NOT NULL,
    batch    TEXT    NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (board, author, batch)
) WITHOUT ROWID;
CREATE INDEX batches_recent ON batches (board, author, last_seq);

-- The board state by page as of boards.pages_sequence (the flushes).
CREATE TABLE elements (
    board   TEXT NOT NULL,
    page    TEXT NOT NULL,
    element TEXT NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (board, page, element)
) WITHOUT ROWID;

-- Snapshots; ids only grow (AUTOINCREMENT), so newest = highest id.
CREATE TABLE snapshots (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    board      TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,   -- 'auto-save' | 'on-disconnect' | 'manual' | 'archive'
    elements   INTEGER NOT NULL,
    pages      BLOB    NOT NULL    -- huddle_store::codec
);
CREATE INDEX snapshots_by_board ON snapshots (board, id);

-- User session records.
CREATE TABLE user_sessions (
    id            INTEGER NOT NULL PRIMARY KEY,  -- UserSessionId, 64 bits as stored
    board         TEXT    NOT NULL,
    user          TEXT    NOT NULL,
    conn          INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    ended_at      INTEGER,
    status        TEXT    NOT NULL,   -- 'active' | 'ended' | 'timeout'
    client_info   TEXT
);
CREATE INDEX user_sessions_by_board ON user_sessions (board);
CREATE INDEX user_sessions_by_user ON user_sessions (user);
CREATE INDEX user_sessions_by_status ON user_sessions (status);
";

/// Board leases (`huddle_store::lease`): the node holding the board's
/// current epoch, and until when, in milliseconds since the Unix epoch by
/// the database's clock (SQL `julianday('now')`, the same for every process
/// on the file). A NULL node is a free board (never leased, or released).
const V2_LEASES: &str = "
ALTER TABLE boards ADD COLUMN lease_node  TEXT;
ALTER TABLE boards ADD COLUMN lease_url   TEXT;
ALTER TABLE boards ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
";
