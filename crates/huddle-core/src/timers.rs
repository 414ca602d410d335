//! The timer table: every deadline of every board and user session in one
//! ordered map, so that the next deadline is found in O(log n) without
//! scanning boards, and expiring k timers costs O(k log n).
//!
//! Owners keep the [`TimerHandle`] of each timer they armed, to cancel it.
//! Inactivity deadlines move on every mutation; rather than re-keying the
//! table on the hot path, the timer stays where it was and, when it fires
//! early, re-arms itself at the real deadline (at most one spurious wake-up
//! per timeout period).

use std::collections::BTreeMap;

use crate::ids::{BoardId, ConnId};
use crate::time::Timestamp;

/// What a timer is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TimerKey {
    /// A board's idle (or never-joined `created`) timeout: archive it.
    Idle(BoardId),
    /// A board's auto-save interval.
    Autosave(BoardId),
    /// A board's retry of failed storage work.
    Retry(BoardId),
    /// A user session's inactivity timeout.
    Inactivity(ConnId),
    /// A user session's coalesced cursor update.
    Presence(ConnId),
}

/// Identifies one armed timer: its deadline and a tie-breaking serial, so
/// that timers with equal deadlines fire in the order they were armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerHandle(Timestamp, u64);

impl TimerHandle {
    /// The deadline.
    pub(crate) fn deadline(self) -> Timestamp {
        self.0
    }
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    armed: BTreeMap<TimerHandle, TimerKey>,
    serial: u64,
}

impl Timers {
    /// Arms a timer.
    pub(crate) fn arm(&mut self, at: Timestamp, key: TimerKey) -> TimerHandle {
        self.serial = self.serial.wrapping_add(1);
        let handle = TimerHandle(at, self.serial);
        self.armed.insert(handle, key);
        handle
    }

    /// Disarms a timer (harmless if it already fired).
    pub(crate) fn cancel(&mut self, handle: TimerHandle) {
        self.armed.remove(&handle);
    }

    /// Disarms the timer in `slot`, if any.
    pub(crate) fn cancel_slot(&mut self, slot: &mut Option<TimerHandle>) {
        if let Some(h) = slot.take() {
            self.cancel(h);
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.armed.first_key_value().map(|(h, _)| h.0)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<(TimerHandle, TimerKey)> {
        let (handle, _) = self.armed.first_key_value()?;
        if handle.0 > now {
            return None;
        }
        self.armed.pop_first()
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_then_arming_order() {
        let mut t = Timers::default();
        let b = BoardId::from("b");
        t.arm(Timestamp::from_millis(20), TimerKey::Idle(b.clone()));
        let h = t.arm(Timestamp::from_millis(10), TimerKey::Autosave(b.clone()));
        t.arm(Timestamp::from_millis(10), TimerKey::Retry(b.clone()));
        assert_eq!(t.next_deadline(), Some(Timestamp::from_millis(10)));
        assert!(t.pop_due(Timestamp::from_millis(9)).is_none());
        assert_eq!(
            t.pop_due(Timestamp::from_millis(10)),
            Some((h, TimerKey::Autosave(b.clone())))
        );
        assert!(matches!(
            t.pop_due(Timestamp::from_millis(10)),
            Some((_, TimerKey::Retry(_)))
        ));
        assert!(t.pop_due(Timestamp::from_millis(10)).is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn cancel_and_rearm() {
        let mut t = Timers::default();
        let mut slot = Some(t.arm(Timestamp::from_millis(5), TimerKey::Inactivity(ConnId(1))));
        t.cancel_slot(&mut slot);
        slot = Some(t.arm(Timestamp::from_millis(7), TimerKey::Inactivity(ConnId(1))));
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), Some(Timestamp::from_millis(7)));
        t.cancel_slot(&mut slot);
        t.cancel_slot(&mut slot);
        assert_eq!(t.next_deadline(), None);
    }
}
