//! How board sessions end and when the host may let go of a board.
//!
//! Every way a session leaves memory goes through [`Engine::end_session`]:
//! archived, closed, its load failed or found nothing, or a store fenced
//! it off or refused its data as invalid. It emits
//! [`Signal::SessionEnded`] and, once every effect issued for the
//! session has been reported (at once if none is outstanding),
//! [`Output::Released`]: the host then drops the board's ownership epoch.
//! A host keeps no per-board bookkeeping of its own.
//!
//! A board joined again while its ended session still has effects
//! outstanding opens a new session in [`Phase::Waiting`]: its
//! `LoadBoard` is emitted right after the old session's `Released`, so a
//! host never releases the epoch the new session acquires.
//!
//! A fenced or invalid write ends a session at once ([`Engine::abort_session`]):
//! no more acks, broadcasts or retries; its connections get
//! [`Notice::SessionClosed`] with a reason that tells clients to reconnect;
//! unacknowledged batches stay unacknowledged (the clients re-send them).
//! Later reports of the ended session's effects are accepted and change
//! nothing but the count towards its release.
//!
//! Shutdown ([`Engine::shutdown`]) refuses new joins, archives every
//! session (a board still loading once it has loaded) and emits
//! [`Output::Drained`] once no session and no effect is left.

use super::{Conn, EffectKind, Engine};
use crate::board::{Board, Phase};
use crate::error::JoinError;
use crate::ids::BoardId;
use crate::output::{CloseReason, Notice, Output, SessionEnd, Signal};
use crate::storage::Effect;
use crate::time::Timestamp;
use crate::user_session::UserSessionStatus;

impl Engine {
    /// Starts a graceful shutdown (idempotent): new joins are refused with
    /// [`JoinError::ShuttingDown`] (`UNAVAILABLE`), joins waiting for a
    /// board fail the same way, and every board session is archived as by
    /// [`archive_session`](Self::archive_session) (participants get
    /// [`Notice::SessionClosed`] with [`CloseReason::Moved`], so that they
    /// reconnect at once, to another node or to this one restarted; pending
    /// mutations are flushed, persistent
    /// rooms store an `archive` snapshot); a board still loading is
    /// archived as soon as its load is reported. Failures are retried as
    /// usual. When nothing is left the engine emits [`Output::Drained`]
    /// once and [`is_drained`](Self::is_drained) turns true; the host then
    /// stops.
    pub fn shutdown(&mut self, now: Timestamp) {
        let now = self.tick(now);
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        let boards: Vec<BoardId> = self.boards().cloned().collect();
        for id in boards {
            let Some(board) = self.boards.get_mut(&id) else {
                continue;
            };
            let joins = std::mem::take(&mut board.waiting_joins);
            let phase = board.phase;
            for (conn, _) in joins {
                self.conns.remove(&conn);
                self.io
                    .join_failed(conn, id.clone(), &JoinError::ShuttingDown);
            }
            if phase == Phase::Ready {
                // Cannot fail: the board is in memory and ready. Its
                // clients are told to reconnect at once (`moved`): the
                // board is served again, by another node or this one after
                // a restart.
                let _ = self.close_with(now, id.as_str(), true, CloseReason::Moved);
            }
        }
        self.check_drained();
    }

    /// Whether [`shutdown`](Self::shutdown) was called and nothing is left:
    /// no board session in memory and no effect outstanding (so every ended
    /// session has been released).
    pub fn is_drained(&self) -> bool {
        self.shutting_down && self.boards.is_empty() && self.io.effects.is_empty()
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Emits [`Output::Drained`] the first time the engine is drained.
    pub(crate) fn check_drained(&mut self) {
        if !self.drained_told && self.is_drained() {
            self.drained_told = true;
            self.io.outputs.push_back(Output::Drained);
        }
    }

    /// Takes a board session out of the table (O(1)). The table gives its
    /// room back once it is under a quarter full: a burst of boards held
    /// once does not keep its slots (a `Board` is several hundred bytes)
    /// after they are archived. Shrinking halves at least the room, so its
    /// cost is amortized over the removals that emptied it.
    pub(crate) fn remove_board(&mut self, board_id: &BoardId) -> Option<Board> {
        let board = self.boards.swap_remove(board_id)?;
        let (len, room) = (self.boards.len(), self.boards.capacity());
        if room > 64 && len < room / 4 {
            self.boards.shrink_to(len.saturating_mul(2).max(64));
        }
        Some(board)
    }

    /// A session left memory (`board` was removed from the table): tells
    /// the host, and releases the board now or once its outstanding effects
    /// are reported.
    pub(crate) fn end_session(&mut self, board: &Board, reason: SessionEnd) {
        self.io.signal(Signal::SessionEnded {
            board: board.id.clone(),
            reason,
        });
        if self.io.outstanding(board.opened) == 0 {
            self.release(&board.id);
        } else {
            self.io.ended.insert(board.id.clone(), board.opened);
        }
    }

    /// An effect of an ended session was reported: release the board if it
    /// was the last one.
    pub(crate) fn settle(&mut self, board: &BoardId, session: u64) {
        if self.io.ended.get(board) == Some(&session) && self.io.outstanding(session) == 0 {
            self.io.ended.remove(board);
            self.release(board);
        }
    }

    /// Whether a session of `board` ended and waits for its effects.
    pub(crate) fn awaiting_release(&self, board: &BoardId) -> bool {
        self.io.ended.contains_key(board)
    }

    /// Emits [`Output::Released`]; a new session of the board that waited
    /// for it now loads.
    fn release(&mut self, board_id: &BoardId) {
        self.io.outputs.push_back(Output::Released {
            board: board_id.clone(),
        });
        let Some(board) = self
            .boards
            .get_mut(board_id)
            .filter(|b| b.phase == Phase::Waiting)
        else {
            return;
        };
        let (id, session) = (board.id.clone(), board.opened);
        let load = self
            .io
            .effect(&id, session, EffectKind::Load, |eid| Effect::LoadBoard {
                id: eid,
                board: id.clone(),
            });
        board.phase = Phase::Loading(load);
    }

    /// Ends a loaded (or closing) session at once, storing nothing more:
    /// a store fenced it off or refused its data. Its connections are told
    /// ([`Notice::SessionClosed`] with `close`) and their user sessions end;
    /// joins waiting for it fail (fenced) or open a fresh session
    /// (otherwise).
    pub(crate) fn abort_session(
        &mut self,
        now: Timestamp,
        board_id: &BoardId,
        end: SessionEnd,
        close: CloseReason,
    ) {
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
        let conns: Vec<_> = board.conns.iter().copied().collect();
        self.io.broadcast(
            conns.iter().copied(),
            Notice::SessionClosed {
                board: board.id.clone(),
                reason: close,
            },
        );
        for conn in conns {
            if let Some(Conn::Live(mut live)) = self.conns.remove(&conn) {
                self.io.timers.cancel_slot(&mut live.inactivity);
                self.io.timers.cancel_slot(&mut live.presence.timer);
                live.record.status = UserSessionStatus::Ended;
                live.record.ended_at = Some(now);
                self.io.signal(Signal::UserSessionEnded(live.record));
            }
        }
        let joins = std::mem::take(&mut board.waiting_joins);
        let fenced = end == SessionEnd::Fenced;
        self.end_session(&board, end);
        for (conn, request) in joins {
            self.conns.remove(&conn);
            let id = request.board.clone();
            let result = if fenced {
                Err(JoinError::Moved(id.clone()))
            } else {
                self.join(now, conn, request)
            };
            if let Err(e) = result {
                self.io.join_failed(conn, id, &e);
            }
        }
    }
}
