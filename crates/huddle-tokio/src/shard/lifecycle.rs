//! Board sessions' lifecycle as the shard tracks it (for the
//! `huddle_boards{state}` gauges) and graceful shutdown.
//!
//! Shutdown of a shard is the engine's ([`Engine::shutdown`]): every board
//! session is archived (participants get `session_closed`, pending
//! mutations are flushed, a persistent room stores its `archive` snapshot;
//! boards still loading once loaded), joins are refused, and every
//! connection gets a close with code 1012. The shard keeps running —
//! performing effects, the engine retrying failures — until the engine is
//! drained ([`Engine::is_drained`]).
//!
//! [`Engine::shutdown`]: huddle_core::Engine::shutdown
//! [`Engine::is_drained`]: huddle_core::Engine::is_drained

use huddle_core::{BoardId, ConnId, SessionState, Timestamp};
use huddle_store::Store;

use super::Shard;
use crate::close;

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

    /// Starts shutting down (once): the engine archives every session
    /// (boards still loading once loaded) and refuses joins; every
    /// connection is closed with 1012.
    pub(super) fn begin_shutdown(&mut self, now: Timestamp) {
        if self.engine.is_shutting_down() {
            return;
        }
        tracing::info!(shard = self.index, "shard shutting down");
        self.engine.shutdown(now);
        self.drain(now);
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            let reason = "service restart";
            self.close_conn(now, conn, None, close::SERVICE_RESTART, reason);
        }
        self.drain(now);
    }

    /// Whether this shard's shutdown is complete: the engine has no session
    /// and no effect left (every store task has reported).
    pub(super) fn shutdown_complete(&self) -> bool {
        self.engine.is_drained()
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
