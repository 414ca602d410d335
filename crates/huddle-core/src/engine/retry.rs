//! Retries of transient storage failures: a failure is counted and
//! reported, and the board's retry timer is armed with backoff; when it
//! fires, the failed appends, the wanted flush and the user-session
//! records are sent again.

use super::flush::start_flush;
use super::mutate::{send_append, start_append};
use super::{Engine, Io};
use crate::board::Board;
use crate::config::Config;
use crate::failure::StorageFailure;
use crate::ids::BoardId;
use crate::output::Signal;
use crate::time::Timestamp;
use crate::timers::TimerKey;

impl Engine {
    /// The retry timer of a board fired: re-send what failed.
    pub(crate) fn retry_storage(&mut self, now: Timestamp, board_id: &BoardId) {
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        board.retry_timer = None;
        if let Some(events) = board.log.failed.take() {
            send_append(board, &mut self.io, events);
            start_append(&self.config, board, &mut self.io);
        }
        if std::mem::take(&mut board.flush_wanted) {
            start_flush(board, &mut self.io);
        }
        super::records::retry_records(board, &mut self.io);
        self.advance_drain(now, board_id);
    }
}

/// Counts a failure and arms the board's retry timer with backoff.
pub(super) fn schedule_retry(
    config: &Config,
    board: &mut Board,
    io: &mut Io,
    now: Timestamp,
    failure: StorageFailure,
) {
    board.failures = board.failures.saturating_add(1);
    io.signal(Signal::StorageFailed {
        board: board.id.clone(),
        message: failure.message,
        kind: failure.kind,
        attempt: board.failures,
    });
    if board.retry_timer.is_none() {
        let at = now.saturating_add(config.retry_delay(board.failures));
        board.retry_timer = Some(io.timers.arm(at, TimerKey::Retry(board.id.clone())));
    }
}
