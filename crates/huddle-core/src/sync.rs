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
pub(crate) fn sync_for(board: &mut Board, last_sequence: Option<u64>, threshold: u64) -> JoinSync {
    let current = board.committed;
    let reason = match last_sequence {
        None => FullSyncReason::Initial,
        Some(last) if last > current => FullSyncReason::Ahead,
        Some(last) if current - last >= threshold => FullSyncReason::TooOld,
        Some(last) => match board.history.since(last, current) {
            Some(events) => return JoinSync::Delta { events },
            None => FullSyncReason::NoHistory,
        },
    };
    // A share, not a clone: the board's next writes then copy pointers
    // and the parts they touch, not the board (see `Pages::share`).
    JoinSync::Full {
        reason,
        pages: board.pages.share(),
    }
}
