//! Flushing a board: its pending mutations (grouped by page, last write per
//! element) go to the store as one `Flush` effect, at most one in flight
//! per board; what became pending meanwhile follows once it is confirmed,
//! and a transient failure puts the batch back to be retried.

use std::sync::Arc;

use super::retry::schedule_retry;
use super::{EffectKind, Engine, Io};
use crate::board::{Board, Phase};
use crate::error::BoardError;
use crate::ids::{BoardId, EffectId};
use crate::storage::{Effect, StorageOutcome};
use crate::time::Timestamp;

impl Engine {
    /// Hands the host everything pending on the board as one
    /// [`Effect::Flush`] (grouped by page, last write per element). If a
    /// flush is in flight, another follows when it is confirmed. Nothing
    /// pending: nothing to do.
    pub fn flush_pending(&mut self, now: Timestamp, board: &str) -> Result<(), BoardError> {
        self.tick(now);
        let b = self
            .boards
            .get_mut(board)
            .ok_or_else(|| BoardError::BoardNotFound(board.into()))?;
        if b.phase != Phase::Ready {
            return Err(BoardError::Busy(b.id.clone()));
        }
        start_flush(b, &mut self.io);
        Ok(())
    }

    pub(super) fn on_flush(
        &mut self,
        now: Timestamp,
        board_id: &BoardId,
        effect: EffectId,
        outcome: StorageOutcome,
    ) {
        let config = &self.config;
        let io = &mut self.io;
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        let Some((_, batch)) = board.flush.take_if(|(id, _)| *id == effect) else {
            return;
        };
        match outcome {
            StorageOutcome::Stored => {
                board.failures = 0;
                board.flushed_through = board.flushed_through.max(batch.through);
                board.pending_bytes.flushed(board.flushed_through);
                board.last_flush = Some(now);
                if std::mem::take(&mut board.flush_wanted) {
                    start_flush(board, io);
                }
            }
            StorageOutcome::Failed(failure) if failure.is_transient() => {
                board.pending.restore(&batch);
                board.flush_wanted = true;
                schedule_retry(config, board, io, now, failure);
            }
            StorageOutcome::Failed(failure) => return self.write_failed(now, board_id, failure),
            _ => {}
        }
        self.advance_drain(now, board_id);
    }
}

/// Hands the pending set to the store, unless a flush is in flight (then
/// one follows) or a retry is scheduled (then the retry does it).
pub(crate) fn start_flush(board: &mut Board, io: &mut Io) {
    if board.flush.is_some() {
        board.flush_wanted = true;
        return;
    }
    if board.pending.is_empty() {
        return;
    }
    if board.retry_timer.is_some() {
        board.flush_wanted = true;
        return;
    }
    let mut batch = board
        .pending
        .take(board.flushed_through.saturating_add(1), board.durable);
    // The batch records of the batches the flush covers, with their
    // digests: stored with it, they survive a restart.
    batch.batches = board.dedup.records(board.flushed_through, board.durable);
    let batch = Arc::new(batch);
    let id = board.id.clone();
    let effect_batch = batch.clone();
    let eid = io.effect(&id, board.opened, EffectKind::Flush, |eid| Effect::Flush {
        id: eid,
        board: id.clone(),
        batch: effect_batch,
    });
    board.flush = Some((eid, batch));
    board.flush_wanted = false;
}
