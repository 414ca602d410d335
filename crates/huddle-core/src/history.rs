//! The event history kept for delta sync: the last `capacity` committed
//! events of a board, contiguous and ending at the board's sequence.
//!
//! Events are held in chunks, one per committed batch ([`Chunk`]): what the
//! batch's events share (first sequence, author, batch id, time) once, and
//! its mutations in one `Arc<[Mutation]>` (48 bytes an event; a sequence is
//! a position). Page and element ids in the mutations are the board
//! state's own (the committer builds them from its keys), so a held event
//! adds no id allocation of its own when it upserts an element that exists.
//! A delta shares the chunks ([`DeltaEvents`]) instead of copying events,
//! and each chunk carries its batch's [`EncodedEvents`] (shared with the
//! batch's broadcast), so the events are encoded once.
//!
//! The window is at most `capacity` events and `max_bytes` payload bytes
//! (exactly `capacity` events while under the byte budget): when either is
//! passed, the oldest chunk's leading events stop being held (`skip`), and
//! the chunk is dropped once none of its events is. The bytes held are
//! counted as events come and go (O(1) per event, no walk of the window).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::delta::{BatchMeta, Chunk, DeltaEvents};
use crate::encoded::EncodedEvents;
use crate::ids::{BatchId, UserId};
use crate::mutation::{Event, Mutation};

#[derive(Debug, Default)]
pub(crate) struct History {
    /// Chunks with at least one event held, oldest first.
    chunks: VecDeque<Chunk>,
    /// Leading events of `chunks[0]` no longer held.
    skip: usize,
    /// Events held.
    len: usize,
    /// Payload bytes of the events held.
    bytes: usize,
    capacity: usize,
    max_bytes: usize,
}

impl History {
    /// A history of at most `capacity` events and `max_bytes` payload
    /// bytes.
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        History {
            capacity,
            max_bytes,
            ..History::default()
        }
    }

    /// Appends the events of one batch from `first` on: `mutations[i]` is
    /// event `first.seq + i`'s mutation (with the ids to hold: the board
    /// state's own, to share them), and all share `first`'s author, batch
    /// and time; `encoded` is the place for their encoding, which the
    /// batch's broadcast shares. The oldest events beyond capacity stop
    /// being held.
    pub(crate) fn push(
        &mut self,
        first: &Event,
        mutations: Arc<[Mutation]>,
        encoded: Arc<EncodedEvents>,
    ) {
        if self.capacity == 0 || mutations.is_empty() {
            return;
        }
        let contiguous = self
            .chunks
            .back()
            .is_some_and(|c| self.len > 0 && c.followed_by(&BatchMeta::of(first)));
        if !contiguous {
            // The first events, or (never in practice: callers push
            // contiguous sequences) a gap: start over from these.
            self.chunks.clear();
            self.skip = 0;
            self.len = 0;
            self.bytes = 0;
        }
        self.len += mutations.len();
        self.bytes = self
            .bytes
            .saturating_add(crate::pending_bytes::payload_bytes(mutations.iter()));
        self.chunks.push_back(Chunk {
            meta: BatchMeta::of(first),
            mutations,
            encoded: Some(encoded),
        });
        self.evict();
    }

    /// Drops the oldest events while more than `capacity` events or
    /// `max_bytes` payload bytes are held.
    fn evict(&mut self) {
        while self.len > self.capacity || self.bytes > self.max_bytes {
            let Some(oldest) = self.chunks.front() else {
                break;
            };
            let held = &oldest.mutations[self.skip.min(oldest.mutations.len())..];
            let excess = self.len.saturating_sub(self.capacity);
            let n = if excess >= held.len() {
                held.len()
            } else if excess > 0 {
                excess
            } else {
                // Over the byte budget only: one event at a time, until under.
                1
            };
            let gone = crate::pending_bytes::payload_bytes(&held[..n.min(held.len())]);
            self.bytes = self.bytes.saturating_sub(gone);
            self.len = self.len.saturating_sub(n);
            if n >= held.len() {
                self.chunks.pop_front();
                self.skip = 0;
            } else {
                self.skip += n;
            }
        }
        if self.chunks.is_empty() {
            self.len = 0;
            self.bytes = 0;
            self.skip = 0;
        }
    }

    /// The sequence of the oldest event held.
    pub(crate) fn first_seq(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let oldest = self.chunks.front()?;
        Some(oldest.meta.first_seq.saturating_add(self.skip as u64))
    }

    /// The sequence of the newest event held.
    fn last_seq(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        self.chunks.back().map(Chunk::last_seq)
    }

    /// The events after `last`, if the history holds all of them (the
    /// caller has checked `last <= current`).
    pub(crate) fn since(&self, last: u64, current: u64) -> Option<DeltaEvents> {
        if last >= current {
            return Some(DeltaEvents::new());
        }
        let first = self.first_seq()?;
        let last_held = self.last_seq()?;
        let start = last.saturating_add(1);
        if start < first {
            return None;
        }
        if start > last_held {
            return Some(DeltaEvents::new());
        }
        // The chunk of the first event: the last one starting at or before it.
        let at = self
            .chunks
            .partition_point(|c| c.meta.first_seq <= start)
            .saturating_sub(1);
        let oldest = self.chunks.get(at)?;
        let skip = usize::try_from(start - oldest.meta.first_seq).ok()?;
        // `start >= 1`, so this cannot overflow even at `u64::MAX`.
        let len = usize::try_from(last_held - start + 1).ok()?;
        let chunks = self.chunks.range(at..).cloned().collect();
        Some(DeltaEvents::from_chunks(chunks, skip, len))
    }

    /// Each batch held: its author, id and last sequence held (consecutive
    /// chunks of one batch count once).
    pub(crate) fn batch_ends(&self) -> impl Iterator<Item = (&UserId, &BatchId, u64)> {
        let mut chunks = self.chunks.iter().peekable();
        std::iter::from_fn(move || loop {
            let c = chunks.next()?;
            let same = |n: &&Chunk| {
                c.followed_by(&n.meta)
                    && n.meta.author == c.meta.author
                    && n.meta.batch == c.meta.batch
                    && n.meta.at == c.meta.at
            };
            if chunks.peek().is_some_and(same) {
                continue;
            }
            return Some((&c.meta.author, &c.meta.batch, c.last_seq()));
        })
    }

    /// Events held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Payload bytes of the events held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes of the encodings made of the chunks held.
    pub(crate) fn encoded_bytes(&self) -> usize {
        self.chunks
            .iter()
            .filter_map(|c| c.encoded.as_deref())
            .map(EncodedEvents::heap_bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ElementId, PageId};
    use crate::mutation::Payload;
    use crate::time::Timestamp;

    fn event(seq: u64, batch: &str, at: u64, element: &str, delete: bool) -> Event {
        let (page, element) = (PageId::from("p"), ElementId::from(element));
        Event {
            seq,
            author: UserId::from("u"),
            batch: BatchId::from(batch),
            at: Timestamp::from_millis(at),
            mutation: if delete {
                Mutation::Delete { page, element }
            } else {
                Mutation::Upsert {
                    page,
                    element,
                    data: Payload::from(format!("d{seq}").into_bytes()),
                }
            },
        }
    }

    /// Pushes one batch's events (all sharing the first's meta).
    fn push(h: &mut History, events: &[Event]) {
        if let Some(first) = events.first() {
            let mutations = events.iter().map(|e| e.mutation.clone()).collect();
            h.push(first, mutations, Arc::default());
        }
    }

    /// Events `from..from + n` of batch `name`.
    fn batch(from: u64, n: u64, name: &str) -> Vec<Event> {
        (from..from + n)
            .map(|s| event(s, name, from, &format!("e{}", s % 7), s % 5 == 0))
            .collect()
    }

    /// Checks `since(last, current)` for every `last` against the events
    /// pushed (`all`, sequences 1..) and a window of `capacity`.
    fn check_every_since(h: &History, all: &[Event], capacity: usize) {
        let current = all.len() as u64;
        let held = all.len().min(capacity);
        assert_eq!(h.len(), held);
        let first = current + 1 - held as u64;
        assert_eq!(h.first_seq(), (held > 0).then_some(first));
        for last in 0..=current {
            let got = h.since(last, current);
            if last == current {
                assert_eq!(got, Some(DeltaEvents::new()), "last {last}");
            } else if last + 1 < first || held == 0 {
                assert!(got.is_none(), "last {last} of {current}, first {first}");
            } else {
                let expected = all[last as usize..].to_vec();
                let got = got.unwrap_or_else(|| panic!("no delta after {last}"));
                assert_eq!(got.len(), expected.len());
                assert_eq!(got.first_seq(), Some(last + 1));
                assert_eq!(got.last_seq(), Some(current));
                assert_eq!(got.to_vec(), expected, "last {last} of {current}");
                assert_eq!(got, DeltaEvents::from(expected));
            }
        }
    }

    #[test]
    fn rebuilds_events_exactly_across_batches_and_eviction() {
        let mut h = History::new(5, usize::MAX);
        let events: Vec<Event> = (1..=9)
            .map(|s| event(s, &format!("b{}", (s + 1) / 3), s / 4, "e", s % 4 == 0))
            .collect();
        for e in &events {
            push(&mut h, std::slice::from_ref(e));
        }
        assert_eq!(h.len(), 5);
        assert_eq!(h.first_seq(), Some(5));
        assert_eq!(h.since(4, 9).unwrap().to_vec(), events[4..].to_vec());
        assert_eq!(h.since(6, 9).unwrap().to_vec(), events[6..].to_vec());
        assert_eq!(h.since(9, 9).unwrap().to_vec(), Vec::new());
        assert!(h.since(3, 9).is_none());
        let ends: Vec<(String, u64)> = h
            .batch_ends()
            .map(|(_, b, s)| (b.as_str().to_owned(), s))
            .collect();
        assert_eq!(ends, vec![("b2".into(), 7), ("b3".into(), 9)]);
    }

    #[test]
    fn window_is_exactly_capacity_across_chunk_boundaries() {
        // Batch sizes that end the window inside a chunk, on a chunk
        // boundary, and with one chunk larger than the whole window.
        let sizes = [3, 4, 1, 7, 2, 10, 5, 1, 1, 24, 3];
        for capacity in [1, 4, 7, 10, 11, 20] {
            let mut h = History::new(capacity, usize::MAX);
            let mut all = Vec::new();
            for (i, &n) in sizes.iter().enumerate() {
                let events = batch(all.len() as u64 + 1, n, &format!("b{i}"));
                push(&mut h, &events);
                all.extend(events);
                check_every_since(&h, &all, capacity);
                assert!(h.chunks.len() <= capacity, "capacity {capacity}");
            }
        }
    }

    #[test]
    fn deltas_of_0_1_999_and_the_whole_window_in_batches_of_16() {
        let mut h = History::new(1000, usize::MAX);
        let mut all = Vec::new();
        while all.len() < 1600 {
            let events = batch(all.len() as u64 + 1, 16, &format!("b{}", all.len()));
            push(&mut h, &events);
            all.extend(events);
        }
        let current = all.len() as u64;
        assert_eq!(h.len(), 1000);
        // 1600 = 100 batches; the window starts 8 events into batch 37.
        assert_eq!(h.first_seq(), Some(601));
        assert_eq!(h.skip, 8);
        assert!(h.since(current, current).is_some_and(|d| d.is_empty()));
        let one = h.since(current - 1, current).unwrap();
        assert_eq!(one.to_vec(), all[1599..].to_vec());
        let d999 = h.since(current - 999, current).unwrap();
        assert_eq!(d999.len(), 999);
        assert_eq!(d999.to_vec(), all[601..].to_vec());
        // The whole window (the default threshold of 1000 never asks for
        // it, a larger one may), and one event more than is held.
        let d1000 = h.since(current - 1000, current).unwrap();
        assert_eq!(d1000.to_vec(), all[600..].to_vec());
        assert!(h.since(current - 1001, current).is_none());
        // A delta from inside the first chunk shares it, skipping the start.
        let partial = h.since(604, current).unwrap();
        assert_eq!(partial.first_seq(), Some(605));
        assert_eq!(partial.to_vec(), all[604..].to_vec());
        check_every_since(&h, &all, 1000);
    }

    #[test]
    fn a_gap_starts_over() {
        let mut h = History::new(10, usize::MAX);
        push(&mut h, &batch(1, 3, "a"));
        push(&mut h, &batch(7, 2, "b"));
        assert_eq!((h.len(), h.first_seq()), (2, Some(7)));
        assert_eq!(h.since(6, 8).unwrap().to_vec(), batch(7, 2, "b"));
        assert!(h.since(5, 8).is_none());
    }

    #[test]
    fn batch_ends_merge_consecutive_chunks_of_one_batch() {
        let mut h = History::new(8, usize::MAX);
        let a = batch(1, 6, "a");
        push(&mut h, &a[..2]);
        push(&mut h, &a[2..]);
        push(&mut h, &batch(7, 3, "b"));
        let c = batch(10, 2, "c");
        push(&mut h, &c[..1]);
        push(&mut h, &c[1..]);
        let ends: Vec<(String, u64)> = h
            .batch_ends()
            .map(|(u, b, s)| {
                assert_eq!(u.as_str(), "u");
                (b.as_str().to_owned(), s)
            })
            .collect();
        // Batch a is held from 4 on (capacity 8 of 11).
        assert_eq!(h.first_seq(), Some(4));
        assert_eq!(
            ends,
            vec![("a".into(), 6), ("b".into(), 9), ("c".into(), 11)]
        );
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut h = History::new(0, usize::MAX);
        push(&mut h, &[event(1, "b", 0, "e", false)]);
        assert_eq!(h.len(), 0);
        assert_eq!(h.first_seq(), None);
        assert!(h.since(0, 1).is_none());
        assert_eq!(h.batch_ends().count(), 0);
    }

    /// Events `from..from + n` of batch `name`, each upserting `size` bytes.
    fn sized(from: u64, n: u64, name: &str, size: usize) -> Vec<Event> {
        (from..from + n)
            .map(|s| {
                let mut e = event(s, name, from, &format!("e{s}"), false);
                if let Mutation::Upsert { data, .. } = &mut e.mutation {
                    *data = Payload::from(vec![b'x'; size]);
                }
                e
            })
            .collect()
    }

    #[test]
    fn the_byte_budget_keeps_the_newest_events_that_fit() {
        // 10 bytes an event, a budget of 45: four events at most.
        let mut h = History::new(1000, 45);
        let mut all = Vec::new();
        for (i, n) in [3u64, 1, 2, 6, 1].into_iter().enumerate() {
            let events = sized(all.len() as u64 + 1, n, &format!("b{i}"), 10);
            push(&mut h, &events);
            all.extend(events);
            let held = all.len().min(4);
            assert_eq!(h.len(), held);
            assert_eq!(h.bytes(), held * 10);
            let current = all.len() as u64;
            let first = current + 1 - held as u64;
            assert_eq!(h.first_seq(), Some(first));
            // The oldest event held still gives a delta; one before it not.
            let d = h.since(first - 1, current).unwrap();
            assert_eq!(d.to_vec(), all[first as usize - 1..].to_vec());
            assert!(h.since(first.saturating_sub(2), current).is_none() || first == 1);
        }
        // Exactly at the budget: 45 holds 4 events of 10; a budget of 40
        // holds 4 too (at the edge), 39 holds 3.
        for (budget, held) in [(40, 4), (39, 3), (10, 1), (9, 0)] {
            let mut h = History::new(1000, budget);
            push(&mut h, &sized(1, 6, "b", 10));
            assert_eq!((h.len(), h.bytes()), (held, held * 10), "budget {budget}");
        }
    }

    #[test]
    fn count_and_byte_budgets_together_and_deletes_cost_no_bytes() {
        let mut h = History::new(5, 25);
        // Deletes carry no payload: only the count bounds them.
        let deletes: Vec<Event> = (1..=7).map(|s| event(s, "d", 1, "e", true)).collect();
        push(&mut h, &deletes);
        assert_eq!((h.len(), h.bytes()), (5, 0));
        // Three upserts of 10: the bytes (30 > 25) drop one of them and the
        // count the deletes before it.
        push(&mut h, &sized(8, 3, "u", 10));
        assert_eq!((h.len(), h.bytes()), (2, 20));
        assert_eq!(h.first_seq(), Some(9));
        // A gap starts over, bytes too.
        push(&mut h, &sized(20, 1, "g", 5));
        assert_eq!((h.len(), h.bytes(), h.first_seq()), (1, 5, Some(20)));
    }
}
