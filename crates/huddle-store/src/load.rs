//! The loading contract: which events a loaded board carries.
//!
//! [`huddle_core::LoadedBoard`] holds the board state as of
//! `pages_sequence` and a contiguous run of the log that reaches the log's
//! end. Every backend returns the same run: all events after
//! `pages_sequence`, and at least the last [`LOAD_HISTORY`] events, so
//! that delta sync keeps working after a restart.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::time::Duration;

use huddle_core::{BatchId, BatchRecord, Event, LoadedBoard, Timestamp, UserId};

/// How many of the log's last events a load returns at least.
pub const LOAD_HISTORY: u64 = 1000;

/// Each user's most recent batches a load returns as [`BatchRecord`]s
/// whatever their age: the engine's default `dedup_window`.
pub const BATCH_RECORDS_PER_USER: usize = 1024;

/// Every batch applied less than this before the board's newest batch is
/// returned by a load, whatever their number: the engine's default
/// `dedup_max_age` (the client's recovery limit), so that a batch re-sent
/// after a restart is recognised even when its events are older than the
/// loaded run. Older records beyond each user's
/// [`BATCH_RECORDS_PER_USER`] are deleted by the flushes.
pub const BATCH_RECORD_MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// The batch records of a log read newest first (the whole log, or a run
/// that starts at a batch boundary): [`BatchRecord::recent`] with the
/// store's window.
pub fn recent_batches<'a>(newest_first: impl IntoIterator<Item = &'a Event>) -> Vec<BatchRecord> {
    BatchRecord::recent(newest_first, BATCH_RECORDS_PER_USER, BATCH_RECORD_MAX_AGE)
}

/// The batch records for a load, for a backend that writes batch records
/// at flush time (from [`huddle_core::FlushBatch::batches`]): the `stored`
/// records (complete through the flushed state, `flushed`) together with
/// the batches of the loaded `events` after it (the load holds them all).
/// Each (user, batch) once, with its latest last sequence and the stored
/// digest if there is one (a batch a flush cut in two has its whole
/// digest only there); then the window ([`window`]), ordered by last
/// sequence, oldest first.
pub fn merge_batch_records(
    stored: Vec<BatchRecord>,
    events: &[Event],
    flushed: u64,
) -> Vec<BatchRecord> {
    let unflushed = events.iter().rev().take_while(|e| e.seq > flushed);
    let loaded = recent_batches(unflushed);
    let mut merged: HashMap<(UserId, BatchId), BatchRecord> = HashMap::new();
    for r in stored.into_iter().chain(loaded) {
        match merged.entry((r.user.clone(), r.batch.clone())) {
            Entry::Occupied(mut known) => {
                let known = known.get_mut();
                known.last_seq = known.last_seq.max(r.last_seq);
                known.at = known.at.max(r.at);
                known.digest = known.digest.or(r.digest);
            }
            Entry::Vacant(slot) => {
                slot.insert(r);
            }
        }
    }
    window(merged.into_values().collect())
}

/// The records of the idempotency window, ordered by last sequence, oldest
/// first: every record applied less than [`BATCH_RECORD_MAX_AGE`] before
/// the newest one, and each user's newest [`BATCH_RECORDS_PER_USER`].
pub fn window(mut records: Vec<BatchRecord>) -> Vec<BatchRecord> {
    records.sort_unstable_by(|a, b| b.last_seq.cmp(&a.last_seq).then(a.batch.cmp(&b.batch)));
    let cutoff = records
        .iter()
        .map(|r| r.at)
        .max()
        .map_or(Timestamp::EPOCH, |t| t.saturating_sub(BATCH_RECORD_MAX_AGE));
    let mut per_user: HashMap<UserId, usize> = HashMap::new();
    records.retain(|r| {
        let n = per_user.entry(r.user.clone()).or_default();
        *n += 1;
        *n <= BATCH_RECORDS_PER_USER || r.at > cutoff
    });
    records.reverse();
    records
}

/// The loaded run is the events with a sequence greater than this.
pub fn load_window_start(pages_sequence: u64, log_end: u64) -> u64 {
    pages_sequence
        .min(log_end)
        .min(log_end.saturating_sub(LOAD_HISTORY))
}

/// Checks a loaded board against the contract for a log that ends at
/// `log_end`: a contiguous ascending run ending at `log_end`, starting no
/// later than `pages_sequence + 1` and no later than the last
/// [`LOAD_HISTORY`] events, and batch records within the log. Backends use it before returning (an
/// inconsistent store is [`crate::StoreError::Corrupt`]); the conformance
/// suite uses it on every load.
pub fn check_loaded(loaded: &LoadedBoard, log_end: u64) -> Result<(), String> {
    if log_end > crate::MAX_SEQUENCE {
        return Err(format!(
            "the log ends at {log_end}, past the largest sequence"
        ));
    }
    if loaded.pages_sequence > log_end {
        return Err(format!(
            "the state is as of {} but the log ends at {log_end}",
            loaded.pages_sequence
        ));
    }
    if loaded.events.first().is_some_and(|e| e.seq == 0) {
        return Err("the log has an event with sequence 0".into());
    }
    if let Some(w) = loaded
        .events
        .windows(2)
        .find(|w| w[0].seq.checked_add(1) != Some(w[1].seq))
    {
        return Err(format!(
            "the log has a hole between {} and {}",
            w[0].seq, w[1].seq
        ));
    }
    if let Some(r) = loaded
        .batches
        .iter()
        .find(|r| r.last_seq == 0 || r.last_seq > log_end)
    {
        return Err(format!(
            "batch {} of {} ends at {}, outside the log 1..={log_end}",
            r.batch, r.user, r.last_seq
        ));
    }
    let expected_first = load_window_start(loaded.pages_sequence, log_end).saturating_add(1);
    match (loaded.events.first(), loaded.events.last()) {
        (Some(first), Some(last)) => {
            if last.seq != log_end {
                return Err(format!("the run ends at {}, not at {log_end}", last.seq));
            }
            if first.seq > expected_first {
                return Err(format!(
                    "the run starts at {}, it must start at {expected_first} or earlier",
                    first.seq
                ));
            }
            Ok(())
        }
        _ if log_end == 0 => Ok(()),
        _ => Err(format!("no events, but the log ends at {log_end}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_covers_unflushed_and_history() {
        assert_eq!(load_window_start(0, 0), 0);
        assert_eq!(load_window_start(0, 5), 0);
        assert_eq!(load_window_start(5, 5), 0);
        assert_eq!(load_window_start(2500, 2500), 1500);
        assert_eq!(load_window_start(1200, 2500), 1200);
        assert_eq!(load_window_start(2400, 2500), 1500);
    }
}
