//! The host's reports of storage effects: each is matched to the effect
//! and the session it was issued for, then handed to the handler of its
//! kind (loading, appends to the board's log, flushes, snapshots, prunes,
//! user-session records).
//!
//! A report for a session that has ended only counts towards that
//! session's release (`lifecycle`). A fenced failure of any effect ends the
//! session (`Engine::abort_session`); an invalid one is handled per effect
//! kind (`docs/decisions.md`); a transient one is retried with backoff
//! (`retry`).

use super::flush::start_flush;
use super::mutate::append_stored;
use super::retry::schedule_retry;
use super::{EffectKind, Engine};
use crate::board::Phase;
use crate::error::{ConfirmError, JoinError};
use crate::failure::{FailureKind, StorageFailure};
use crate::ids::{BoardId, EffectId};
use crate::output::{CloseReason, SessionEnd, Signal};
use crate::storage::StorageOutcome;
use crate::time::Timestamp;

impl Engine {
    /// The host reports the outcome of an effect.
    ///
    /// Every effect gets exactly one report. A report for an unknown or
    /// already reported effect, or one that does not fit the effect, is
    /// refused with [`ConfirmError`] and changes nothing. A report for an
    /// effect of a session that has ended is accepted and changes nothing
    /// but the count towards the session's [`Output::Released`](crate::Output::Released).
    ///
    /// A [`StorageOutcome::Failed`] is handled by its
    /// [`FailureKind`]: transient failures are retried with backoff; a
    /// fenced one ends the board's session at once
    /// ([`SessionEnd::Fenced`], connections get
    /// [`Notice::SessionClosed`](crate::Notice::SessionClosed) with
    /// [`CloseReason::Moved`]); an invalid one is not retried: a load
    /// fails its joins, a log append or flush ends the session
    /// ([`SessionEnd::WriteFailed`], [`CloseReason::Failed`]), so does an
    /// `archive` snapshot, other snapshots, prunes and user-session records
    /// are given up and reported.
    pub fn handle_storage(
        &mut self,
        now: Timestamp,
        effect: EffectId,
        outcome: StorageOutcome,
    ) -> Result<(), ConfirmError> {
        let now = self.tick(now);
        let Some(kind) = self.io.effects.get(&effect).map(|i| i.kind) else {
            return Err(ConfirmError::UnknownEffect(effect));
        };
        let fits = matches!(
            (kind, &outcome),
            (
                EffectKind::Load,
                StorageOutcome::Loaded(_)
                    | StorageOutcome::NotFound
                    | StorageOutcome::OwnedElsewhere(_)
                    | StorageOutcome::Failed(_)
            ) | (
                EffectKind::Append | EffectKind::Flush | EffectKind::Prune | EffectKind::Record,
                StorageOutcome::Stored | StorageOutcome::Failed(_)
            ) | (
                EffectKind::Snapshot,
                StorageOutcome::SnapshotStored(_) | StorageOutcome::Failed(_)
            )
        );
        if !fits {
            return Err(ConfirmError::MismatchedOutcome(effect));
        }
        let Some(issued) = self.io.reported(effect) else {
            return Err(ConfirmError::UnknownEffect(effect));
        };
        let board_id = issued.board;
        let current = self
            .boards
            .get(&board_id)
            .is_some_and(|b| b.opened == issued.session);
        if !current {
            // The session ended: the report only counts towards its release.
            self.settle(&board_id, issued.session);
        } else if let StorageOutcome::Failed(StorageFailure {
            kind: FailureKind::Fenced,
            message,
        }) = &outcome
        {
            self.fenced(now, &board_id, kind, message);
        } else {
            match kind {
                EffectKind::Load => self.on_load(now, &board_id, effect, outcome),
                EffectKind::Append => self.on_append(now, &board_id, effect, outcome),
                EffectKind::Flush => self.on_flush(now, &board_id, effect, outcome),
                EffectKind::Snapshot => self.on_snapshot(now, &board_id, effect, outcome),
                EffectKind::Prune => self.on_prune(&board_id, effect, outcome),
                EffectKind::Record => self.on_record(now, &board_id, effect, outcome),
            }
        }
        self.check_drained();
        Ok(())
    }

    /// The host lost the board's lease (it could not renew it in time, or
    /// the store no longer holds it for this node): another host may own
    /// the board now. The session ends exactly as if a write had been
    /// fenced: at once and for good ([`SessionEnd::Fenced`], connections
    /// get [`Notice::SessionClosed`](crate::Notice::SessionClosed) with
    /// [`CloseReason::Moved`]), acking nothing more; its outstanding
    /// effects still count towards its release.
    ///
    /// Harmless for a board without a session, and for one not loaded yet
    /// (its load acquires a new lease; the load's outcome decides).
    pub fn lease_lost(&mut self, now: Timestamp, board: &str) {
        let now = self.tick(now);
        let Some(id) = self
            .boards
            .get(board)
            .filter(|b| matches!(b.phase, Phase::Ready | Phase::Closing))
            .map(|b| b.id.clone())
        else {
            return;
        };
        self.fenced(now, &id, EffectKind::Append, "the board's lease was lost");
        self.check_drained();
    }

    /// A store fenced one of the session's effects off: another host owns
    /// the board. The session ends at once and for good.
    fn fenced(&mut self, now: Timestamp, board_id: &BoardId, kind: EffectKind, message: &str) {
        if let Some(board) = self.boards.get_mut(board_id) {
            board.failures = board.failures.saturating_add(1);
            let attempt = board.failures;
            self.io.signal(Signal::StorageFailed {
                board: board_id.clone(),
                message: message.to_owned(),
                kind: FailureKind::Fenced,
                attempt,
            });
        }
        if kind == EffectKind::Load {
            let error = JoinError::Moved(board_id.clone());
            self.fail_load(board_id, error, SessionEnd::Fenced);
        } else {
            self.abort_session(now, board_id, SessionEnd::Fenced, CloseReason::Moved);
        }
    }

    /// A store refused one of the session's writes as invalid or corrupt:
    /// retrying cannot help, so the session ends without it (its clients
    /// reconnect and get the board as the store holds it).
    pub(super) fn write_failed(
        &mut self,
        now: Timestamp,
        board_id: &BoardId,
        failure: StorageFailure,
    ) {
        if let Some(board) = self.boards.get_mut(board_id) {
            board.failures = board.failures.saturating_add(1);
            let attempt = board.failures;
            self.io.signal(Signal::StorageFailed {
                board: board_id.clone(),
                message: failure.message.clone(),
                kind: failure.kind,
                attempt,
            });
        }
        let end = SessionEnd::WriteFailed(failure.message);
        self.abort_session(now, board_id, end, CloseReason::Failed);
    }

    fn on_append(
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
        match outcome {
            StorageOutcome::Stored => {
                let Some(durable) = board.log.stored(effect) else {
                    return;
                };
                board.failures = 0;
                append_stored(config, board, io, durable);
                if board.durable.saturating_sub(board.flushed_through) >= config.flush_threshold
                    || board.pending_bytes.held() >= config.flush_threshold_bytes
                {
                    start_flush(board, io);
                }
            }
            StorageOutcome::Failed(failure) if failure.is_transient() => {
                if !board.log.failed(effect) {
                    return;
                }
                schedule_retry(config, board, io, now, failure);
            }
            StorageOutcome::Failed(failure) => return self.write_failed(now, board_id, failure),
            _ => {}
        }
        self.advance_drain(now, board_id);
    }

    fn on_record(
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
        let failure = match outcome {
            StorageOutcome::Failed(f) => Some(f),
            _ => None,
        };
        match super::records::record_reported(board, io, effect, failure) {
            super::records::RecordReport::Done => {}
            super::records::RecordReport::Retry(f) => schedule_retry(config, board, io, now, f),
        }
        self.advance_drain(now, board_id);
    }
}
