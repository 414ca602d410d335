//! The rules every backend applies to a write before it touches anything,
//! shared so that all backends accept and refuse exactly the same requests.
//!
//! Sequence numbers must fit in a signed 64-bit integer (SQL stores order
//! them as `BIGINT`); a larger one is [`StoreError::Invalid`]. Timestamps,
//! ids and versions are stored bit for bit and may use all 64 bits.

use huddle_core::{BoardId, Event, FlushBatch};

use crate::epoch::Epoch;
use crate::error::StoreError;

/// The largest sequence number a store accepts (`i64::MAX`).
pub const MAX_SEQUENCE: u64 = i64::MAX as u64;

/// Refuses a write unless `presented` is the board's current epoch
/// ([`StoreError::Fenced`]) and the board's lease still runs
/// (`lease_live`, read in the write's transaction by the store's clock;
/// [`StoreError::LeaseExpired`]).
pub fn check_epoch(
    board: &BoardId,
    presented: Epoch,
    current: Epoch,
    lease_live: bool,
) -> Result<(), StoreError> {
    if presented != current || current == Epoch::NONE {
        Err(StoreError::Fenced {
            board: board.clone(),
            presented,
            current,
        })
    } else if !lease_live {
        Err(StoreError::LeaseExpired {
            board: board.clone(),
            epoch: presented,
        })
    } else {
        Ok(())
    }
}

/// Checks that an append's events are well formed: sequences from 1 up to
/// [`MAX_SEQUENCE`], contiguous and ascending.
pub fn check_events(board: &BoardId, events: &[Event]) -> Result<(), StoreError> {
    for (i, event) in events.iter().enumerate() {
        if event.seq == 0 || event.seq > MAX_SEQUENCE {
            return Err(StoreError::Invalid(format!(
                "board {board}: sequence {} is out of range",
                event.seq
            )));
        }
        if let Some(prev) = i.checked_sub(1).and_then(|p| events.get(p)) {
            if event.seq != prev.seq.saturating_add(1) {
                return Err(StoreError::Invalid(format!(
                    "board {board}: append is not contiguous ({} then {})",
                    prev.seq, event.seq
                )));
            }
        }
    }
    Ok(())
}

/// How many leading events of a (checked) append the log already holds, or
/// [`StoreError::Gap`] if the rest does not start right after `log_end`.
/// Re-appending events already held is a success: they are skipped, not
/// compared (the epoch guarantees they come from the board's owner).
pub fn already_held(board: &BoardId, events: &[Event], log_end: u64) -> Result<usize, StoreError> {
    let held = events.iter().take_while(|e| e.seq <= log_end).count();
    match events.get(held) {
        Some(first) if first.seq != log_end.saturating_add(1) => Err(StoreError::Gap {
            board: board.clone(),
            log_end,
            first: first.seq,
        }),
        _ => Ok(held),
    }
}

/// Checks a snapshot before it is stored: its version is a sequence.
pub fn check_snapshot(snapshot: &huddle_core::Snapshot) -> Result<(), StoreError> {
    if snapshot.version > MAX_SEQUENCE {
        return Err(StoreError::Invalid(format!(
            "board {}: snapshot version {} is out of range",
            snapshot.board, snapshot.version
        )));
    }
    Ok(())
}

/// What to do with a flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushPlan {
    /// Write it.
    Apply,
    /// The stored state is already as of `through` or later: writing the
    /// batch again would move elements back in time, so it is a success
    /// that writes nothing.
    AlreadyApplied,
}

/// Decides a flush against the stored watermark and log end.
pub fn plan_flush(
    board: &BoardId,
    batch: &FlushBatch,
    pages_sequence: u64,
    log_end: u64,
) -> Result<FlushPlan, StoreError> {
    if batch.through > MAX_SEQUENCE || batch.first_seq > batch.through {
        return Err(StoreError::Invalid(format!(
            "board {board}: flush range {}..={} is empty or out of range",
            batch.first_seq, batch.through
        )));
    }
    if batch.through <= pages_sequence {
        return Ok(FlushPlan::AlreadyApplied);
    }
    if batch.first_seq > pages_sequence.saturating_add(1) {
        return Err(StoreError::FlushGap {
            board: board.clone(),
            pages_sequence,
            first_seq: batch.first_seq,
        });
    }
    if batch.through > log_end {
        return Err(StoreError::FlushAhead {
            board: board.clone(),
            through: batch.through,
            log_end,
        });
    }
    Ok(FlushPlan::Apply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_core::{Mutation, Timestamp};

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            author: "u".into(),
            batch: "b".into(),
            at: Timestamp::EPOCH,
            mutation: Mutation::Delete {
                page: "p".into(),
                element: "e".into(),
            },
        }
    }

    #[test]
    fn events_must_be_contiguous_and_in_range() {
        let b = BoardId::from("b");
        assert!(check_events(&b, &[ev(1), ev(2)]).is_ok());
        assert!(check_events(&b, &[]).is_ok());
        assert!(matches!(
            check_events(&b, &[ev(1), ev(3)]),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            check_events(&b, &[ev(2), ev(1)]),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            check_events(&b, &[ev(0)]),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            check_events(&b, &[ev(MAX_SEQUENCE + 1)]),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn held_prefix_and_gaps() {
        let b = BoardId::from("b");
        assert_eq!(already_held(&b, &[ev(1), ev(2)], 0), Ok(0));
        assert_eq!(already_held(&b, &[ev(1), ev(2)], 1), Ok(1));
        assert_eq!(already_held(&b, &[ev(1), ev(2)], 5), Ok(2));
        assert_eq!(
            already_held(&b, &[ev(4)], 2),
            Err(StoreError::Gap {
                board: b.clone(),
                log_end: 2,
                first: 4
            })
        );
    }

    #[test]
    fn epochs_must_match_and_exist() {
        let b = BoardId::from("b");
        assert!(check_epoch(&b, Epoch::new(2), Epoch::new(2), true).is_ok());
        assert!(matches!(
            check_epoch(&b, Epoch::new(2), Epoch::new(2), false),
            Err(StoreError::LeaseExpired { .. })
        ));
        assert!(check_epoch(&b, Epoch::new(1), Epoch::new(2), true).is_err());
        assert!(check_epoch(&b, Epoch::new(3), Epoch::new(2), true).is_err());
        assert!(check_epoch(&b, Epoch::NONE, Epoch::NONE, true).is_err());
    }

    #[test]
    fn flush_plans() {
        let b = BoardId::from("b");
        let batch = |first_seq, through| FlushBatch {
            first_seq,
            through,
            pages: Default::default(),
        };
        assert_eq!(plan_flush(&b, &batch(1, 5), 0, 5), Ok(FlushPlan::Apply));
        assert_eq!(plan_flush(&b, &batch(1, 5), 3, 9), Ok(FlushPlan::Apply));
        assert_eq!(
            plan_flush(&b, &batch(1, 5), 5, 9),
            Ok(FlushPlan::AlreadyApplied)
        );
        assert!(matches!(
            plan_flush(&b, &batch(5, 6), 3, 9),
            Err(StoreError::FlushGap { .. })
        ));
        assert!(matches!(
            plan_flush(&b, &batch(4, 10), 3, 9),
            Err(StoreError::FlushAhead { .. })
        ));
        assert!(matches!(
            plan_flush(&b, &batch(6, 5), 3, 9),
            Err(StoreError::Invalid(_))
        ));
    }
}
