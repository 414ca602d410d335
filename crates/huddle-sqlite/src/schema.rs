//! The schema and its migrations.
//!
//! A Huddle database is marked by `PRAGMA application_id =`
//! [`APPLICATION_ID`] and carries its schema version in
//! `PRAGMA user_version`. Migration `n` (1-based) takes the schema from
//! version `n - 1` to `n`, in one transaction with the version bump.
//! Migrations are only ever appended. Most are SQL; one that moves data
//! SQL cannot express has a Rust step after its SQL ([`Migration`]).

/// Huddle's SQLite application id: "HUDL".
pub const APPLICATION_ID: i64 = 0x4855_444C;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The tables a database of [`SCHEMA_VERSION`] must have.
pub(crate) const TABLES: &[&str] = &[
    "rooms",
    "boards",
    "event_chunks",
    "batches",
    "elements",
    "snapshots",
    "user_sessions",
];

/// One schema step.
pub(crate) enum Migration {
    /// SQL alone.
    Sql(&'static str),
    /// SQL, then a Rust step (in the same transaction).
    SqlThen(&'static str, crate::migrate_chunks::Step),
}

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration::Sql(V1),
    Migration::Sql(V2_LEASES),
    Migration::Sql(V3_BATCH_DIGESTS),
    Migration::SqlThen(V4_EVENT_CHUNKS, crate::migrate_chunks::events_to_chunks),
];

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

/// Batch records get their content digest (NULL for records written before:
/// their content is unknown) and the time their batch was applied, taken
/// from the batch's last event; the flushes then keep the idempotency
/// window by age (`huddle_store::load::BATCH_RECORD_MAX_AGE`).
const V3_BATCH_DIGESTS: &str = "
ALTER TABLE batches ADD COLUMN digest INTEGER;   -- BatchDigest, 64 bits as stored
ALTER TABLE batches ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
UPDATE batches SET at = coalesce(
    (SELECT e.at FROM events e WHERE e.board = batches.board AND e.seq = batches.last_seq), 0);
CREATE INDEX batches_by_age ON batches (board, at);
";

/// The event log as one row per append of a board (`huddle_store::chunk` has the
/// blob's layout): an append of a batch of 10 mutations is one row and one
/// index entry rather than 10 rows of 9 columns. A rowid table with a
/// unique index rather than a `WITHOUT ROWID` table: a chunk of a few
/// kilobytes stays on its table leaf (a `WITHOUT ROWID` row spills to
/// overflow pages past about a kilobyte at 4 KiB pages). The Rust step
/// (`migrate_chunks.rs`) moves the `events` rows into chunks and drops
/// the table.
const V4_EVENT_CHUNKS: &str = "
CREATE TABLE event_chunks (
    board     TEXT    NOT NULL,
    last_seq  INTEGER NOT NULL,   -- the chunk's last sequence
    first_seq INTEGER NOT NULL,   -- its first; the events are contiguous
    events    BLOB    NOT NULL    -- the encoded events (db/chunk.rs)
);
CREATE UNIQUE INDEX event_chunks_by_seq ON event_chunks (board, last_seq);
";
