//! The event history kept for delta sync: the last `capacity` committed
//! events of a board, contiguous and ending at the board's sequence.
//!
//! Events are held compactly, not as [`Event`]s: a record per event holds
//! only what differs from event to event (page, element, data: 48 bytes),
//! its sequence is its position, and what a batch's events share (author,
//! batch id, time) is held once per batch. Page and element ids are the
//! board state's own (the caller passes them), so a held event adds no id
//! allocation of its own when it upserts an element that exists. Events
//! are rebuilt when a delta is answered.

use std::collections::VecDeque;

use crate::ids::{BatchId, ElementId, PageId, UserId};
use crate::mutation::{Event, Mutation, Payload};
use crate::time::Timestamp;

/// What differs between events: `data` is `None` for a delete.
#[derive(Debug)]
struct Record {
    page: PageId,
    element: ElementId,
    data: Option<Payload>,
}

/// What the events of a batch share, from its first held sequence on.
#[derive(Debug)]
struct BatchMeta {
    first_seq: u64,
    author: UserId,
    batch: BatchId,
    at: Timestamp,
}

impl BatchMeta {
    fn same_batch(&self, event: &Event) -> bool {
        self.at == event.at && self.batch == event.batch && self.author == event.author
    }
}

#[derive(Debug, Default)]
pub(crate) struct History {
    records: VecDeque<Record>,
    /// Batches with at least one record held, oldest first.
    batches: VecDeque<BatchMeta>,
    /// The sequence of `records[0]`.
    first_seq: u64,
    capacity: usize,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History {
            capacity,
            ..History::default()
        }
    }

    /// Appends the next event, dropping the oldest beyond capacity. `page`
    /// and `element` are the ids to hold (equal to the event's; the board
    /// state's own, to share them).
    pub(crate) fn push(&mut self, event: &Event, page: PageId, element: ElementId) {
        if self.capacity == 0 {
            return;
        }
        let contiguous = self.first_seq.saturating_add(self.records.len() as u64) == event.seq;
        if self.records.is_empty() || !contiguous {
            // The first event, or (never in practice: callers push
            // contiguous sequences) a gap: start over from this event.
            self.records.clear();
            self.batches.clear();
            self.first_seq = event.seq;
        } else if self.records.len() >= self.capacity {
            self.records.pop_front();
            self.first_seq = self.first_seq.saturating_add(1);
            if self
                .batches
                .get(1)
                .is_some_and(|next| next.first_seq <= self.first_seq)
            {
                self.batches.pop_front();
            }
        }
        if !self.batches.back().is_some_and(|b| b.same_batch(event)) {
            self.batches.push_back(BatchMeta {
                first_seq: event.seq,
                author: event.author.clone(),
                batch: event.batch.clone(),
                at: event.at,
            });
        }
        self.records.push_back(Record {
            page,
            element,
            data: event.mutation.data().cloned(),
        });
    }

    /// The sequence of the oldest event held.
    pub(crate) fn first_seq(&self) -> Option<u64> {
        (!self.records.is_empty()).then_some(self.first_seq)
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
        Some(self.events_from(skip).collect())
    }

    /// The events held from position `skip` on, rebuilt.
    fn events_from(&self, skip: usize) -> impl Iterator<Item = Event> + '_ {
        let start_seq = self.first_seq.saturating_add(skip as u64);
        // The batch of the first event: the last one starting at or before it.
        let mut b = self
            .batches
            .partition_point(|m| m.first_seq <= start_seq)
            .saturating_sub(1);
        self.records
            .iter()
            .skip(skip)
            .zip(start_seq..)
            .filter_map(move |(r, seq)| {
                while self.batches.get(b + 1).is_some_and(|m| m.first_seq <= seq) {
                    b += 1;
                }
                let meta = self.batches.get(b)?;
                let (page, element) = (r.page.clone(), r.element.clone());
                let mutation = match &r.data {
                    Some(data) => Mutation::Upsert {
                        page,
                        element,
                        data: data.clone(),
                    },
                    None => Mutation::Delete { page, element },
                };
                Some(Event {
                    seq,
                    author: meta.author.clone(),
                    batch: meta.batch.clone(),
                    at: meta.at,
                    mutation,
                })
            })
    }

    /// Each batch held: its author, id and last sequence held.
    pub(crate) fn batch_ends(&self) -> impl Iterator<Item = (&UserId, &BatchId, u64)> {
        let end = self.first_seq.saturating_add(self.records.len() as u64);
        self.batches.iter().enumerate().map(move |(i, m)| {
            let next = self.batches.get(i + 1).map_or(end, |n| n.first_seq);
            (&m.author, &m.batch, next.saturating_sub(1))
        })
    }

    /// Events held.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn push(h: &mut History, e: &Event) {
        h.push(e, e.mutation.page().clone(), e.mutation.element().clone());
    }

    #[test]
    fn rebuilds_events_exactly_across_batches_and_eviction() {
        let mut h = History::new(5);
        let events: Vec<Event> = (1..=9)
            .map(|s| event(s, &format!("b{}", (s + 1) / 3), s / 4, "e", s % 4 == 0))
            .collect();
        for e in &events {
            push(&mut h, e);
        }
        assert_eq!(h.len(), 5);
        assert_eq!(h.first_seq(), Some(5));
        assert_eq!(h.since(4, 9).unwrap(), events[4..].to_vec());
        assert_eq!(h.since(6, 9).unwrap(), events[6..].to_vec());
        assert_eq!(h.since(9, 9).unwrap(), Vec::new());
        assert!(h.since(3, 9).is_none());
        let ends: Vec<(String, u64)> = h
            .batch_ends()
            .map(|(_, b, s)| (b.as_str().to_owned(), s))
            .collect();
        assert_eq!(ends, vec![("b2".into(), 7), ("b3".into(), 9)]);
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut h = History::new(0);
        push(&mut h, &event(1, "b", 0, "e", false));
        assert_eq!(h.len(), 0);
        assert_eq!(h.first_seq(), None);
        assert!(h.since(0, 1).is_none());
    }
}
