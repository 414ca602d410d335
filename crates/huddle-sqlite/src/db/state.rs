//! Flushes: the board state by page, as of a watermark.

use rusqlite::{params, TransactionBehavior};

use huddle_store::validate::{plan_flush, FlushPlan};
use huddle_store::{FlushWrite, StoreError};

use super::convert::seq_to_sql;
use super::{owned_head, Db};
use crate::error::store_error;

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
        tx.execute(
            "UPDATE boards SET pages_sequence = ?1 WHERE id = ?2",
            params![seq_to_sql(batch.through)?, board],
        )
        .map_err(store_error)?;
        tx.commit().map_err(store_error)
    }
}
