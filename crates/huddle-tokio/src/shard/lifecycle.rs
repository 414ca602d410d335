//! Board sessions' lifecycle as the shard tracks it (for the
//! `huddle_boards{state}` gauges) and graceful shutdown.
//!
//! Shutdown of a shard: every board session is archived now
//! ([`Engine::archive_session`]: participants get `session_closed`, pending
//! mutations are flushed, a persistent room stores its `archive` snapshot),
//! every connection gets a close with code 1012, and the shard keeps
//! running — performing effects and retrying failures — until no session
//! is left in memory and no store task is outstanding. Boards still loading
//! are archived once their load completes.
//!
//! [`Engine::archive_session`]: huddle_core::Engine::archive_session

use std::collections::HashSet;

use huddle_core::{BoardError, BoardId, ConnId, SessionState, Timestamp};
use huddle_store::Store;

use super::Shard;
use crate::close;

/// A shard's shutdown in progress.
#[derive(Debug, Default)]
pub(crate) struct Shutdown {
    /// Boards whose archive was started.
    archived: HashSet<BoardId>,
    /// Some board could not be archived yet (still loading): look again.
    retry: bool,
}

impl<S: Store + 'static> Shard<S> {
    pub(super) fn board_opened(&mut self, board: BoardId) {
        if let Some(old) = self.boards.insert(board, SessionState::Created) {
            self.metrics.board_state(Some(old), None);
        }
        self.metrics.board_state(None, Some(SessionState::Created));
    }

    pub(super) fn board_state(&mut self, board: &BoardId, to: SessionState) {
        if let Some(state) = self.boards.get_mut(board) {
            self.metrics.board_state(Some(*state), Some(to));
            *state = to;
        }
    }

    pub(super) fn board_ended(&mut self, board: &BoardId) {
        if let Some(state) = self.boards.remove(board) {
            self.metrics.board_state(Some(state), None);
        }
    }

    /// Starts shutting down (once).
    pub(super) fn begin_shutdown(&mut self, now: Timestamp) {
        if self.shutdown.is_some() {
            return;
        }
        tracing::info!(shard = self.index, "shard shutting down");
        self.shutdown = Some(Shutdown {
            retry: true,
            ..Shutdown::default()
        });
        self.progress_shutdown(now);
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            let reason = "service restart";
            self.close_conn(now, conn, None, close::SERVICE_RESTART, reason);
        }
        self.drain(now);
    }

    /// Archives the boards that can be archived now.
    pub(super) fn progress_shutdown(&mut self, now: Timestamp) {
        let Some(shutdown) = self.shutdown.as_mut().filter(|s| s.retry) else {
            return;
        };
        shutdown.retry = false;
        let boards: Vec<BoardId> = self
            .engine
            .boards()
            .filter(|b| !shutdown.archived.contains(*b))
            .cloned()
            .collect();
        for board in boards {
            match self.engine.archive_session(now, board.as_str()) {
                Ok(()) => {
                    if let Some(s) = self.shutdown.as_mut() {
                        s.archived.insert(board);
                    }
                }
                // Still loading (or closing on its own): look again later.
                Err(BoardError::Busy(_)) => {
                    if let Some(s) = self.shutdown.as_mut() {
                        s.retry = true;
                    }
                }
                Err(_) => {}
            }
            self.drain(now);
        }
    }

    /// Whether this shard's shutdown is complete: nothing in memory,
    /// nothing in flight.
    pub(super) fn shutdown_complete(&self) -> bool {
        self.shutdown.is_some()
            && self.tasks_in_flight == 0
            && self.appends.is_empty()
            && self.records.is_empty()
            && self.engine.boards().next().is_none()
    }

    /// The task ends: close whatever connection is still open.
    pub(super) fn finish(&mut self) {
        let now = self.clock.now();
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close_conn(now, conn, None, close::SERVICE_RESTART, "service restart");
        }
    }
}
