//! Draining a board session: closing or archiving it (on request, on
//! shutdown or when idle) and moving it towards leaving memory only once
//! everything is stored: the log idle, pending mutations flushed, records
//! written and, for a persistent archive, its final snapshot stored.

use super::flush::start_flush;
use super::snapshot::take_snapshot;
use super::Engine;
use crate::board::{Drain, Phase, SnapshotJob};
use crate::config::SessionType;
use crate::error::BoardError;
use crate::ids::{BoardId, ConnId};
use crate::output::{CloseReason, Notice, SessionEnd, SessionState};
use crate::storage::SnapshotCause;
use crate::time::Timestamp;
use crate::user_session::UserSessionStatus;

impl Engine {
    /// Closes a board session whatever its state: its participants are told
    /// ([`Notice::SessionClosed`]) and their user sessions end, the session
    /// disappears from [`Engine::session`] at once, and it leaves memory when
    /// its pending mutations are stored. A join meanwhile waits and then
    /// opens a fresh session from storage.
    pub fn close_session(&mut self, now: Timestamp, board: &str) -> Result<(), BoardError> {
        self.close_with(now, board, false, CloseReason::Closed)?;
        self.check_drained();
        Ok(())
    }

    /// Archives a board session now, whatever its state (what
    /// [`shutdown`](Self::shutdown) does with every session): like
    /// [`close_session`](Self::close_session)
    /// its participants are told ([`Notice::SessionClosed`]), their user
    /// sessions end and the session disappears from [`Engine::session`] at
    /// once; pending mutations are flushed and a persistent session also
    /// stores an `archive` snapshot of its final state. It leaves memory
    /// (with [`SessionEnd::Closed`]) only when all of that is confirmed
    /// stored; transient failures are retried with backoff.
    ///
    /// An ephemeral session gets no snapshot (as on an idle archive). A board
    /// still loading, or already closing, is refused with
    /// [`BoardError::Busy`] ([`shutdown`](Self::shutdown) archives those
    /// too, once loaded); an idle archive in progress becomes this one.
    pub fn archive_session(&mut self, now: Timestamp, board: &str) -> Result<(), BoardError> {
        self.close_with(now, board, true, CloseReason::Closed)?;
        self.check_drained();
        Ok(())
    }

    /// Closes (or archives) a session, telling its participants `reason`:
    /// `Closed` for an operator's close or archive, `Moved` at shutdown
    /// (the board is served again, by another node or this one restarted,
    /// so clients reconnect at once and re-send what was not acknowledged).
    pub(super) fn close_with(
        &mut self,
        now: Timestamp,
        board: &str,
        archive: bool,
        reason: CloseReason,
    ) -> Result<(), BoardError> {
        let now = self.tick(now);
        let b = self
            .boards
            .get_mut(board)
            .ok_or_else(|| BoardError::BoardNotFound(board.into()))?;
        if b.phase != Phase::Ready {
            return Err(BoardError::Busy(b.id.clone()));
        }
        b.phase = Phase::Closing;
        // An idle archive in progress may already have stored its snapshot.
        let snapshot_version = match b.drain {
            Some(Drain::Archive { snapshot_version }) => snapshot_version,
            _ => None,
        };
        b.drain = Some(Drain::Close {
            archive,
            snapshot_version,
        });
        self.io.timers.cancel_slot(&mut b.idle_timer);
        self.io.timers.cancel_slot(&mut b.autosave_timer);
        let id = b.id.clone();
        let conns: Vec<ConnId> = b.conns.iter().copied().collect();
        self.io.broadcast(
            conns.iter().copied(),
            Notice::SessionClosed {
                board: id.clone(),
                reason,
            },
        );
        for conn in conns {
            self.end_user_session(now, conn, UserSessionStatus::Ended);
        }
        if let Some(b) = self.boards.get_mut(board) {
            start_flush(b, &mut self.io);
        }
        self.advance_drain(now, &id);
        Ok(())
    }

    /// Moves an archiving or closing session towards leaving memory: wait
    /// for the log, flush, snapshot (persistent archive), then drop it.
    pub(crate) fn advance_drain(&mut self, now: Timestamp, board_id: &BoardId) {
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        let Some(drain) = board.drain else { return };
        if board.retry_timer.is_some()
            || !board.log.is_idle()
            || board.flush.is_some()
            || !board.records.is_idle()
        {
            return;
        }
        if !board.pending.is_empty() {
            start_flush(board, &mut self.io);
            return;
        }
        // The log is idle and everything flushed: `committed` is final.
        let (snapshot, archived_version) = match drain {
            Drain::Archive { snapshot_version } => (true, snapshot_version),
            Drain::Close {
                archive,
                snapshot_version,
            } => (archive, snapshot_version),
        };
        if snapshot
            && board.kind == SessionType::Persistent
            && archived_version != Some(board.committed)
        {
            let committed = board.committed;
            let current =
                |j: &SnapshotJob| j.cause == SnapshotCause::Archive && j.version == committed;
            let max = self.config.limits.max_snapshot_bytes;
            if board.snapshot_jobs.iter().any(current)
                || take_snapshot(board, &mut self.io, now, SnapshotCause::Archive, None, max)
            {
                return;
            }
            // Too large for a snapshot (counted and signalled): the
            // archive ends without one, everything else being stored.
        }
        let Some(mut board) = self.remove_board(board_id) else {
            return;
        };
        for slot in [
            &mut board.idle_timer,
            &mut board.autosave_timer,
            &mut board.retry_timer,
        ] {
            self.io.timers.cancel_slot(slot);
        }
        match drain {
            Drain::Archive { .. } => {
                crate::engine::join::set_state(&mut board, &mut self.io, SessionState::Archived);
                self.end_session(&board, SessionEnd::Archived);
            }
            Drain::Close { .. } => {
                self.end_session(&board, SessionEnd::Closed);
                for (conn, request) in std::mem::take(&mut board.waiting_joins) {
                    self.conns.remove(&conn);
                    let board = request.board.clone();
                    if let Err(e) = self.join(now, conn, request) {
                        self.io.join_failed(conn, board, &e);
                    }
                }
            }
        }
    }
}
