-- Huddle's PostgreSQL schema, version 5: the event log in chunks.
--
-- One row per append of a board (per board and append transaction), not
-- one per event: the events first_seq..=last_seq, encoded in one blob
-- (huddle-store/src/chunk.rs, the layout SQLite's event_chunks use). A
-- batch of 10 mutations was 10 rows of 9 columns and 10 primary-key
-- entries; it is now part of one row and one entry. A board's log end is
-- max(last_seq) (the primary key answers it in one backward step).
--
-- first_seq is a column, although the previous chunk's last_seq + 1 says
-- it in a log without holes: a read then checks each blob against the
-- sequences its row claims, and finds a hole (a lost row) where it is.
--
-- (board, first_seq) is unique as well: two writers that read the same
-- log end (a bug, or a session outside Huddle: fencing keeps Huddle's own
-- nodes apart) both start their chunk at its next sequence, and the second
-- to commit is refused, as the primary key (board, seq) of events refused
-- a sequence stored twice.
--
-- The blobs keep PostgreSQL's default storage (EXTENDED: a row past about
-- 2 kB has its blob compressed, and moved to the TOAST table if still too
-- long). Measured against STORAGE EXTERNAL with toast_tuple_target = 8160
-- (never compressed, in the heap up to a page): the same latency within
-- the noise under `huddle load`, and 7 times the bytes (the chunks of a
-- 100 000/s run: 100 MB against 13 MB, all of it also written to the WAL);
-- docs/performance.md, issue 14.
--
-- The Rust step of this migration (src/migrate_chunks.rs) moves every
-- events row into chunks and drops events, in this transaction.
CREATE TABLE event_chunks (
    board     bytea  NOT NULL,
    last_seq  bigint NOT NULL,   -- the chunk's last sequence
    first_seq bigint NOT NULL,   -- its first; the events are contiguous
    events    bytea  NOT NULL,   -- the encoded events
    PRIMARY KEY (board, last_seq),
    UNIQUE (board, first_seq)
);
