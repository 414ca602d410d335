//! Delta or full sync for a joining client.

use crate::board::Board;
use crate::output::{FullSyncReason, JoinSync};

/// The sync a client with `last_sequence` gets from `board`:
/// - no `last_sequence`: full (`initial`);
/// - `L > current`: full (`ahead`);
/// - `current - L >= threshold`: full (`too_old`) — 999 missed is a delta,
///   1000 is full with the default threshold;
/// - the missed events are no longer held: full (`no_history`);
/// - otherwise a delta with the missed events in order (`L == current`
///   gives an empty delta).
pub(crate) fn sync_for(board: &Board, last_sequence: Option<u64>, threshold: u64) -> JoinSync {
    let current = board.committed;
    let full = |reason| JoinSync::Full {
        reason,
        pages: board.pages.clone(),
    };
    let Some(last) = last_sequence else {
        return full(FullSyncReason::Initial);
    };
    if last > current {
        return full(FullSyncReason::Ahead);
    }
    if current - last >= threshold {
        return full(FullSyncReason::TooOld);
    }
    match board.history.since(last, current) {
        Some(events) => JoinSync::Delta { events },
        None => full(FullSyncReason::NoHistory),
    }
}
