//! How often a board's flushes forget the batch records past the window.
//!
//! A store keeps each user's batch records for the load's dedup window
//! ([`crate::load::BATCH_RECORDS_PER_USER`] newest, and those younger than
//! [`crate::load::BATCH_RECORD_MAX_AGE`]), and its flushes delete the
//! rest. Forgetting ranks the records of every author with an old one
//! (each author's newest are kept whatever their age), so its cost grows
//! with the window: at 1 000 batches/s on a board, five minutes of records
//! are 300 000 rows, and once the board is older than the window every
//! busy author has a record that just aged out at every flush. Run with
//! every flush, that was most of a flush. The records are only ever read
//! by a load, which applies the window itself
//! ([`crate::load::merge_batch_records`]), so a record kept a little past
//! it changes nothing: a store's flushes of a board forget at most once
//! per [`FORGET_EVERY`] of its records' time (and on the first flush of
//! the board since the store opened). Both backends (SQLite and
//! PostgreSQL) keep one [`ForgetSchedule`] per store.

use std::collections::HashMap;
use std::time::Duration;

use huddle_core::{BoardId, Timestamp};

/// The least record time between two forgets of one board.
pub const FORGET_EVERY: Duration = Duration::from_secs(10);

/// Boards remembered at most; past it the memory starts over (each board
/// then forgets at its next flush, as after a restart).
const MAX_BOARDS: usize = 65_536;

/// When each board last forgot: the newest record time of that flush.
#[derive(Debug, Default)]
pub struct ForgetSchedule {
    last: HashMap<BoardId, Timestamp>,
}

impl ForgetSchedule {
    /// Whether a flush whose newest record is at `newest` forgets.
    pub fn due(&self, board: &BoardId, newest: Timestamp) -> bool {
        self.last
            .get(board)
            .is_none_or(|last| newest.saturating_sub(FORGET_EVERY) >= *last || newest < *last)
    }

    /// Notes that `board` forgot as of `newest`.
    pub fn forgot(&mut self, board: &BoardId, newest: Timestamp) {
        if self.last.len() >= MAX_BOARDS && !self.last.contains_key(board) {
            self.last.clear();
        }
        self.last.insert(board.clone(), newest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    #[test]
    fn a_board_forgets_once_per_period_of_its_record_time() {
        let mut schedule = ForgetSchedule::default();
        let (a, b) = (BoardId::from("a"), BoardId::from("b"));
        // Never forgot: due.
        assert!(schedule.due(&a, at(100)));
        schedule.forgot(&a, at(100));
        // Within the period: not due; the other board is.
        assert!(!schedule.due(&a, at(109)));
        assert!(schedule.due(&b, at(109)));
        // A period later: due again.
        assert!(schedule.due(&a, at(110)));
        // Record time going back (another owner's clock): due.
        assert!(schedule.due(&a, at(50)));
    }

    #[test]
    fn the_memory_starts_over_past_its_bound() {
        let mut schedule = ForgetSchedule::default();
        for i in 0..MAX_BOARDS {
            schedule.forgot(&BoardId::from(format!("b{i}").as_str()), at(100));
        }
        assert!(!schedule.due(&BoardId::from("b0"), at(101)));
        schedule.forgot(&BoardId::from("new"), at(100));
        // Cleared: b0 forgets at its next flush, as after a restart.
        assert!(schedule.due(&BoardId::from("b0"), at(101)));
        assert!(!schedule.due(&BoardId::from("new"), at(101)));
    }
}
