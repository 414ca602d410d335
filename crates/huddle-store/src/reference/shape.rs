//! How much of a board a load hands out.

use std::time::Duration;

use crate::load::{BATCH_RECORDS_PER_USER, BATCH_RECORD_MAX_AGE, LOAD_HISTORY};

/// The length of a loaded board's log run and batch records.
///
/// The contract is [`LoadShape::CONTRACT`]: every event after the flushed
/// state and at least the last [`LOAD_HISTORY`] events, and as batch
/// records every batch of the last [`BATCH_RECORD_MAX_AGE`] and each
/// user's last [`BATCH_RECORDS_PER_USER`] batches. Test hosts may shape loads
/// differently, to show the engine what another backend might hand it
/// (a shorter history, fewer batch records); every event after the flushed
/// state is handed out whatever the shape, because the board state needs
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadShape {
    /// At least this many of the log's last events.
    pub history: u64,
    /// Each user's this-many most recent batches as batch records.
    pub batches_per_user: usize,
    /// Every batch applied less than this before the newest as batch
    /// records (zero: none by age).
    pub batch_max_age: Duration,
}

impl LoadShape {
    /// What the store contract asks for.
    pub const CONTRACT: LoadShape = LoadShape {
        history: LOAD_HISTORY,
        batches_per_user: BATCH_RECORDS_PER_USER,
        batch_max_age: BATCH_RECORD_MAX_AGE,
    };

    /// The loaded run is the events with a sequence greater than this.
    pub fn window_start(&self, pages_sequence: u64, log_end: u64) -> u64 {
        pages_sequence
            .min(log_end)
            .min(log_end.saturating_sub(self.history))
    }
}

impl Default for LoadShape {
    fn default() -> Self {
        LoadShape::CONTRACT
    }
}
