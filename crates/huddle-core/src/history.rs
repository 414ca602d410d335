//! The event history kept for delta sync: the last `capacity` committed
//! events of a board, contiguous and ending at the board's sequence.

use std::collections::VecDeque;

use crate::mutation::Event;

#[derive(Debug, Default)]
pub(crate) struct History {
    events: VecDeque<Event>,
    capacity: usize,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History {
            events: VecDeque::new(),
            capacity,
        }
    }

    /// Appends the next event, dropping the oldest beyond capacity.
    pub(crate) fn push(&mut self, event: Event) {
        if self.capacity == 0 {
            return;
        }
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The sequence of the oldest event held.
    pub(crate) fn first_seq(&self) -> Option<u64> {
        self.events.front().map(|e| e.seq)
    }

    /// The events after `last`, if the history holds all of them (the
    /// caller has checked `last <= current`).
    pub(crate) fn since(&self, last: u64, current: u64) -> Option<Vec<Event>> {
        if last >= current {
            return Some(Vec::new());
        }
        let first = self.first_seq()?;
        if last.saturating_add(1) < first {
            return None;
        }
        let skip = usize::try_from(last.saturating_add(1) - first).ok()?;
        Some(self.events.iter().skip(skip).cloned().collect())
    }

    /// Events held.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Iterates the events held, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }
}
