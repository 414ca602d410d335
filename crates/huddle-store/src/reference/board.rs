//! One board as the reference model holds it.

use std::sync::Arc;

use huddle_core::{BoardOwner, Event, Pages, Snapshot, SnapshotId};

use crate::epoch::Epoch;

/// A board's lease: its holder and when it ends, in milliseconds of the
/// model's clock ([`super::ReferenceStore::now`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The node holding it.
    pub owner: BoardOwner,
    /// It runs while the clock is before this.
    pub until: u64,
}

/// A board's stored records: its owner's epoch and lease, the whole log, the state as
/// of `pages_sequence`, and its snapshots.
///
/// The model hands these out by shared reference only
/// ([`super::ReferenceStore::board`]): every change goes through the
/// model's operations, which keep the invariants below.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoardRecord {
    /// The current ownership epoch ([`Epoch::NONE`] until acquired).
    pub epoch: Epoch,
    /// The current epoch's lease (`None`: never acquired, or released).
    pub lease: Option<LeaseRecord>,
    /// The whole log, gapless from sequence 1: `events[i].seq == i + 1`.
    pub events: Vec<Event>,
    /// The board state as of `pages_sequence` (the last flush).
    pub pages: Pages,
    /// What `pages` reflects; never past the log's end.
    pub pages_sequence: u64,
    /// Snapshots, oldest (first stored) first.
    pub snapshots: Vec<(SnapshotId, Arc<Snapshot>)>,
}

impl BoardRecord {
    /// The lease, if it runs at `now`.
    pub fn live_lease(&self, now: u64) -> Option<&LeaseRecord> {
        self.lease.as_ref().filter(|l| l.until > now)
    }

    /// The last sequence in the log (0 for an empty log).
    pub fn log_end(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }

    /// The last sequence stored: the log's end, or the flushed state's
    /// watermark if that is later (what [`crate::BoardSummary`] reports).
    pub fn sequence(&self) -> u64 {
        self.log_end().max(self.pages_sequence)
    }

    /// Whether the store knows the board: it has events, flushed state or
    /// snapshots (an acquired epoch alone does not count).
    pub fn is_known(&self) -> bool {
        !self.events.is_empty() || self.pages_sequence > 0 || !self.snapshots.is_empty()
    }

    /// The board as a reader of the store sees it: the flushed state plus
    /// the log after it.
    pub fn replayed(&self) -> Pages {
        let mut pages = self.pages.clone();
        for e in self.events.iter().filter(|e| e.seq > self.pages_sequence) {
            pages.apply(&e.mutation);
        }
        pages
    }

    /// The log replayed from nothing up to `through` (what the flushed
    /// state must equal when `through == pages_sequence`).
    pub fn replay_log(&self, through: u64) -> Pages {
        let mut pages = Pages::default();
        for e in self.events.iter().take_while(|e| e.seq <= through) {
            pages.apply(&e.mutation);
        }
        pages
    }
}
