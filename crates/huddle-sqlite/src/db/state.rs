//! Flushes: the board state by page, as of a watermark.

use rusqlite::{params, TransactionBehavior};

use huddle_store::validate::{plan_flush, FlushPlan};
use huddle_store::{FlushWrite, StoreError};

use super::convert::seq_to_sql;
use super::{owned_head, Db};
use crate::error::store_error;

/// Each batch among the events `(?2, ?3]` with its last sequence.
const RECORD_BATCHES: &str = "INSERT INTO batches (board, author, batch, last_seq) \
     SELECT ?1, author, batch, max(seq) FROM events \
     WHERE board = ?1 AND seq > ?2 AND seq <= ?3 GROUP BY author, batch \
     ON CONFLICT (board, author, batch) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)";

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
        // The batch records of the events the flush covers: written here,
        // once per flush, rather than with every append (a load takes the
        // newer ones from the events it reads anyway).
        let (after, through) = (seq_to_sql(head.pages_sequence)?, seq_to_sql(batch.through)?);
        tx.prepare_cached(RECORD_BATCHES)
            .and_then(|mut s| s.execute(params![board, after, through]))
            .map_err(store_error)?;
        tx.execute(
            "UPDATE boards SET pages_sequence = ?1 WHERE id = ?2",
            params![seq_to_sql(batch.through)?, board],
        )
        .map_err(store_error)?;
        tx.commit().map_err(store_error)
    }
}
