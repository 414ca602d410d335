-- Batch records get their content digest (NULL for records written before:
-- their content is unknown) and the time their batch was applied, taken
-- from the batch's last event (ms since the epoch; real times are far below
-- 2^63, so the bits stored compare as times); the flushes then keep the
-- idempotency window by age (huddle_store::load::BATCH_RECORD_MAX_AGE).
ALTER TABLE batches ADD COLUMN digest bigint;   -- BatchDigest, 64 bits as stored
ALTER TABLE batches ADD COLUMN at bigint NOT NULL DEFAULT 0;
UPDATE batches SET at = e.at FROM events e
    WHERE e.board = batches.board AND e.seq = batches.last_seq;
CREATE INDEX batches_by_age ON batches (board, at);
