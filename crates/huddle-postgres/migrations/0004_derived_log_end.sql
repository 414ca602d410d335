-- Huddle's PostgreSQL schema, version 4: the log end is derived, not
-- stored.
--
-- A board's log end is the largest sequence of its events (the primary key
-- (board, seq) answers it in one backward step), so appends no longer
-- update the board's row: they hold it FOR KEY SHARE to check the epoch,
-- and one board's appends in flight do not wait for each other's commits.
-- The column always equalled max(seq) (events are never deleted), so
-- nothing is lost with it.
ALTER TABLE boards DROP COLUMN log_end;
