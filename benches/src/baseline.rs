//! The baseline: the least any sequencer must do with a batch of
//! mutations. Each mutation gets the next number, goes into a bounded ring
//! of the last 1000 events (for delta sync) and into a pending list grouped
//! by page (for the next write of the board state), sharing the payload
//! with both. When 4096 mutations are pending they are handed off, as a
//! flush would (the engine flushes at the same threshold).
//!
//! It does not validate, deduplicate, persist, acknowledge, broadcast,
//! apply to a board state or keep any timer: everything the engine does on
//! top of this is what the ratio in the comparison measures.

use std::collections::{HashMap, VecDeque};

use huddle_core::{BatchId, ElementId, Event, Mutation, PageId, Payload, Timestamp, UserId};

/// Events kept for delta sync.
pub const RING: usize = 1000;
/// Pending mutations that are handed off at once (the engine's default
/// `flush_threshold`).
pub const FLUSH_AT: usize = 4096;

/// A minimal sequencer for one board.
#[derive(Debug)]
pub struct Baseline {
    next: u64,
    ring: VecDeque<Event>,
    pending: HashMap<PageId, Vec<(ElementId, Option<Payload>)>>,
    pending_len: usize,
    /// Pending lists handed off so far (flushes).
    pub handed_off: u64,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            next: 0,
            ring: VecDeque::with_capacity(RING),
            pending: HashMap::new(),
            pending_len: 0,
            handed_off: 0,
        }
    }
}

impl Baseline {
    /// Sequences one batch; returns the number of its last mutation.
    /// (Never inlined, so that profilers see it as the engine's entry
    /// points are seen.)
    #[inline(never)]
    pub fn apply(
        &mut self,
        author: &UserId,
        batch: &BatchId,
        at: Timestamp,
        mutations: Vec<Mutation>,
    ) -> u64 {
        for mutation in mutations {
            self.next += 1;
            let list = match self.pending.get_mut(mutation.page()) {
                Some(list) => list,
                None => self.pending.entry(mutation.page().clone()).or_default(),
            };
            list.push((mutation.element().clone(), mutation.data().cloned()));
            self.pending_len += 1;
            if self.ring.len() == RING {
                self.ring.pop_front();
            }
            self.ring.push_back(Event {
                seq: self.next,
                author: author.clone(),
                batch: batch.clone(),
                at,
                mutation,
            });
        }
        if self.pending_len >= FLUSH_AT {
            let handed = std::mem::take(&mut self.pending);
            std::hint::black_box(&handed);
            self.pending_len = 0;
            self.handed_off += 1;
        }
        self.next
    }

    /// The last number given.
    pub fn sequence(&self) -> u64 {
        self.next
    }

    /// The events after `last`, if the ring still holds them all: the
    /// least a delta sync must do (copy them out).
    pub fn since(&self, last: u64) -> Option<Vec<Event>> {
        let first = self.ring.front()?.seq;
        if last + 1 < first {
            return None;
        }
        let skip = usize::try_from(last + 1 - first).ok()?;
        Some(self.ring.iter().skip(skip).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(page: &str, element: &str) -> Mutation {
        Mutation::Upsert {
            page: page.into(),
            element: element.into(),
            data: "{}".into(),
        }
    }

    #[test]
    fn numbers_rings_and_hands_off() {
        let mut b = Baseline::default();
        let (u, at) = (UserId::from("u"), Timestamp::EPOCH);
        for i in 0..5000u64 {
            let m = vec![up(if i % 2 == 0 { "p1" } else { "p2" }, "e")];
            assert_eq!(b.apply(&u, &BatchId::from("b"), at, m), i + 1);
        }
        assert_eq!(b.sequence(), 5000);
        assert_eq!(b.ring.len(), RING);
        assert_eq!(b.handed_off, 1);
        assert_eq!(b.pending_len, 5000 - FLUSH_AT);
        assert_eq!(b.since(4990).map(|v| v.len()), Some(10));
        assert!(b.since(3999).is_none());
    }
}
