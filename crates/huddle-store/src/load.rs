//! The loading contract: which events a loaded board carries.
//!
//! [`huddle_core::LoadedBoard`] holds the board state as of
//! `pages_sequence` and a contiguous run of the log that reaches the log's
//! end. Every backend returns the same run: all events after
//! `pages_sequence`, and at least the last [`LOAD_HISTORY`] events, so
//! that delta sync keeps working after a restart.

use std::collections::HashMap;

use huddle_core::{BatchId, BatchRecord, Event, LoadedBoard, UserId};

/// How many of the log's last events a load returns at least.
pub const LOAD_HISTORY: u64 = 1000;

/// How many of each user's most recent batches a load returns as
/// [`BatchRecord`]s: the engine's default dedup window, so that a batch
/// re-sent after a restart is recognised even when its events are older
/// than the loaded run.
pub const BATCH_RECORDS_PER_USER: usize = 1024;

/// Each user's [`BATCH_RECORDS_PER_USER`] most recent batches, from the log
/// read newest first; ordered by last sequence, oldest first.
pub fn recent_batches<'a>(newest_first: impl IntoIterator<Item = &'a Event>) -> Vec<BatchRecord> {
    BatchRecord::recent(newest_first, BATCH_RECORDS_PER_USER)
}

/// Each user's newest batches for a load, for a backend that writes batch
/// records at flush time: the `stored` records (complete through the
/// flushed state, `flushed`) together with the batches of the loaded
/// `events` after it (the load holds them all). Each (user, batch) once,
/// with its latest last sequence; each user's newest
/// [`BATCH_RECORDS_PER_USER`], ordered by last sequence, oldest first.
pub fn merge_batch_records(
    stored: Vec<BatchRecord>,
    events: &[Event],
    flushed: u64,
) -> Vec<BatchRecord> {
    let unflushed = events.iter().rev().take_while(|e| e.seq > flushed);
    let loaded = recent_batches(unflushed);
    if loaded.is_empty() {
        return stored;
    }
    let mut last: HashMap<(UserId, BatchId), u64> = HashMap::new();
    for r in stored.into_iter().chain(loaded) {
        let seq = last.entry((r.user, r.batch)).or_insert(r.last_seq);
        *seq = (*seq).max(r.last_seq);
    }
    let mut newest_first: Vec<BatchRecord> = last
        .into_iter()
        .map(|((user, batch), last_seq)| BatchRecord {
            user,
            batch,
            last_seq,
        })
        .collect();
    newest_first.sort_unstable_by(|a, b| b.last_seq.cmp(&a.last_seq).then(a.batch.cmp(&b.batch)));
    let mut per_user: HashMap<UserId, usize> = HashMap::new();
    newest_first.retain(|r| {
        let n = per_user.entry(r.user.clone()).or_default();
        *n += 1;
        *n <= BATCH_RECORDS_PER_USER
    });
    newest_first.reverse();
    newest_first
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
