//! How often a board's flushes forget the batch records past the window.
//!
//! Forgetting ranks every record of the board (each author's newest are
//! kept whatever their age), so its cost grows with the window: at
//! 1 000 batches/s on a board, five minutes of records are 300 000 rows.
//! Run with every flush, that was most of a flush once the board had
//! records older than the window. The records are only ever read by a load,
//! which applies the window itself (`huddle_store::load::window`), so a
//! record kept a little past it changes nothing: a board's flushes forget
//! at most once per [`FORGET_EVERY`] of its records' time (and on the
//! first flush of the board since the store opened).

use std::collections::HashMap;
use std::time::Duration;

use huddle_core::{BoardId, Timestamp};

/// The least record time between two forgets of one board.
pub(crate) const FORGET_EVERY: Duration = Duration::from_secs(10);

/// Boards remembered at most; past it the memory starts over (each board
/// then forgets at its next flush, as after a restart).
const MAX_BOARDS: usize = 65_536;

/// When each board last forgot: the newest record time of that flush.
#[derive(Default)]
pub(crate) struct ForgetSchedule {
    last: HashMap<BoardId, Timestamp>,
}

impl ForgetSchedule {
    /// Whether a flush whose newest record is at `newest` forgets.
    pub(crate) fn due(&self, board: &BoardId, newest: Timestamp) -> bool {
        self.last
            .get(board)
            .is_none_or(|last| newest.saturating_sub(FORGET_EVERY) >= *last || newest < *last)
    }

    /// Notes that `board` forgot as of `newest`.
    pub(crate) fn forgot(&mut self, board: &BoardId, newest: Timestamp) {
        if self.last.len() >= MAX_BOARDS && !self.last.contains_key(board) {
            self.last.clear();
        }
        self.last.insert(board.clone(), newest);
    }
}
