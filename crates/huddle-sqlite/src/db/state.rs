//! Flushes: the board state by page, as of a watermark.

use rusqlite::{params, TransactionBehavior};

use huddle_store::load::{BATCH_RECORDS_PER_USER, BATCH_RECORD_MAX_AGE};
use huddle_store::validate::{plan_flush, FlushPlan};
use huddle_store::{FlushWrite, StoreError};

use super::convert::{bits_to_sql, count_to_sql, seq_to_sql};
use super::{owned_head, Db};
use crate::error::store_error;

/// A batch record from the engine's flush (its digest and time with it).
const RECORD_BATCH: &str = "INSERT INTO batches (board, author, batch, last_seq, digest, at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (board, author, batch) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq), \
     digest = coalesce(excluded.digest, digest), at = max(at, excluded.at)";

/// The records past the window: applied at or before ?2 (the newest
/// record's time minus the window's age) and not among their author's
/// newest ?3.
const FORGET_BATCHES: &str = "DELETE FROM batches WHERE board = ?1 AND at <= ?2 \
     AND (author, batch) IN (SELECT author, batch FROM ( \
       SELECT author, batch, at, row_number() OVER (PARTITION BY author ORDER BY last_seq DESC) AS n \
       FROM batches WHERE board = ?1) WHERE n > ?3 AND at <= ?2)";

/// Whether any record is old enough to be past the window: a look at the
/// `(board, at)` index, so that the window query above, which ranks every
/// record of the board, runs only when it can delete something (and at
/// most once per `huddle_store::forget::FORGET_EVERY` of a board's record time).
const ANY_OLD_BATCH: &str = "SELECT EXISTS (SELECT 1 FROM batches WHERE board = ?1 AND at <= ?2)";

impl Db {
    /// Writes a flush and moves the watermark, in one transaction.
    pub(crate) fn flush(&mut self, write: &FlushWrite) -> Result<(), StoreError> {
        let board = write.board.as_str();
        let batch = &write.batch;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        let head = owned_head(&tx, &write.board, write.epoch)?;
        if plan_flush(&write.board, batch, head.pages_sequence, head.log_end)?
            == FlushPlan::AlreadyApplied
        {
            return Ok(());
        }
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO elements (board, page, element, data) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (board, page, element) DO UPDATE SET data = excluded.data",
                )
                .map_err(store_error)?;
            let mut delete = tx
                .prepare_cached(
                    "DELETE FROM elements WHERE board = ?1 AND page = ?2 AND element = ?3",
                )
                .map_err(store_error)?;
            for (page, changes) in &batch.pages {
                for (element, data) in &changes.upserts {
                    upsert
                        .execute(params![
                            board,
                            page.as_str(),
                            element.as_str(),
                            data.as_bytes()
                        ])
                        .map_err(store_error)?;
                }
                for element in &changes.deletes {
                    delete
                        .execute(params![board, page.as_str(), element.as_str()])
                        .map_err(store_error)?;
                }
            }
        }
        // The batch records of the events the flush covers, as the engine
        // hands them (with their digests): written here, once per flush,
        // rather than with every append (a load takes the newer ones from
        // the events it reads anyway). Then the window by age.
        {
            let mut record = tx.prepare_cached(RECORD_BATCH).map_err(store_error)?;
            for r in &batch.batches {
                record
                    .execute(params![
                        board,
                        r.user.as_str(),
                        r.batch.as_str(),
                        seq_to_sql(r.last_seq)?,
                        r.digest.map(|d| bits_to_sql(d.bits())),
                        bits_to_sql(r.at.as_millis()),
                    ])
                    .map_err(store_error)?;
            }
        }
        let newest = batch.batches.iter().map(|r| r.at).max();
        if let Some(newest) = newest.filter(|n| self.forget.due(&write.board, *n)) {
            self.forget.forgot(&write.board, newest);
            let cutoff = bits_to_sql(newest.saturating_sub(BATCH_RECORD_MAX_AGE).as_millis());
            let any_old = tx
                .prepare_cached(ANY_OLD_BATCH)
                .and_then(|mut s| s.query_row(params![board, cutoff], |r| r.get::<_, bool>(0)))
                .map_err(store_error)?;
            if any_old {
                tx.prepare_cached(FORGET_BATCHES)
                    .and_then(|mut s| {
                        s.execute(params![board, cutoff, count_to_sql(BATCH_RECORDS_PER_USER)])
                    })
                    .map_err(store_error)?;
            }
        }
        let through = seq_to_sql(batch.through)?;
        tx.prepare_cached("UPDATE boards SET pages_sequence = ?1 WHERE id = ?2")
            .and_then(|mut s| s.execute(params![through, board]))
            .map_err(store_error)?;
        tx.commit().map_err(store_error)
    }
}
