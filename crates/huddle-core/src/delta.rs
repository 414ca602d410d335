//! [`DeltaEvents`]: the events a reconnecting client missed, as
//! [`crate::JoinSync::Delta`] carries them.
//!
//! The events are not copied out of the board's history: a delta shares
//! the history's chunks (one per committed batch: what the batch's events
//! have in common, once, and its mutations in one shared allocation), so
//! answering a delta of `n` events in batches of `b` costs about `n / b`
//! reference counts, not `5 n`. Events are viewed in place with
//! [`DeltaEvents::iter`] ([`EventRef`]s) or built on demand
//! ([`DeltaEvents::to_vec`]). `huddle_wire` encodes a delta run by run
//! ([`DeltaEvents::runs`]): a chunk from the history carries its batch's
//! [`EncodedEvents`], so the events' wire form, made once (by the batch's
//! broadcast, or by the first delta that needs it), is spliced into every
//! later delta instead of being encoded again.

use core::fmt;
use std::sync::Arc;

use crate::encoded::EncodedEvents;
use crate::ids::{BatchId, UserId};
use crate::mutation::{Event, Mutation};
use crate::time::Timestamp;

/// What the events of one chunk share: the sequence of its first
/// mutation, its author, batch id and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub(crate) first_seq: u64,
    pub(crate) author: UserId,
    pub(crate) batch: BatchId,
    pub(crate) at: Timestamp,
}

impl BatchMeta {
    /// The meta of `event`'s batch, starting at `event`.
    pub(crate) fn of(event: &Event) -> Self {
        BatchMeta {
            first_seq: event.seq,
            author: event.author.clone(),
            batch: event.batch.clone(),
            at: event.at,
        }
    }

    /// Whether `b` follows `a` in one chunk: same author, batch and time,
    /// next sequence.
    pub(crate) fn continues(a: &Event, b: &Event) -> bool {
        b.seq == a.seq.wrapping_add(1) && a.at == b.at && a.batch == b.batch && a.author == b.author
    }
}

/// Consecutive events of one batch: event `i` has sequence
/// `meta.first_seq + i` and mutation `mutations[i]`.
#[derive(Clone, Debug)]
pub(crate) struct Chunk {
    pub(crate) meta: BatchMeta,
    pub(crate) mutations: Arc<[Mutation]>,
    /// The batch's encoding, shared with its broadcast (history chunks
    /// only: a delta built from owned events has nothing to share it with).
    pub(crate) encoded: Option<Arc<EncodedEvents>>,
}

impl Chunk {
    /// The sequence of its last event (a chunk is never empty). Inclusive:
    /// the sequence after it does not exist when it ends at `u64::MAX`.
    pub(crate) fn last_seq(&self) -> u64 {
        let len = self.mutations.len() as u64;
        self.meta.first_seq.saturating_add(len.saturating_sub(1))
    }

    /// Whether `next` starts right after this chunk.
    pub(crate) fn followed_by(&self, next: &BatchMeta) -> bool {
        self.last_seq().checked_add(1) == Some(next.first_seq)
    }
}

/// The events after a client's `last_sequence`, in sequence order, shared
/// with the board's history (cloning one is cheap: a reference count per
/// batch).
///
/// Build one from owned events with `From<Vec<Event>>` (for a host's own
/// answers and for tests); compare two with `==` (event by event).
#[derive(Clone, Default)]
pub struct DeltaEvents {
    /// The chunks, oldest first; the first may start before the delta.
    chunks: Vec<Chunk>,
    /// Leading events of `chunks[0]` not in the delta.
    skip: usize,
    /// Events in the delta.
    len: usize,
}

impl DeltaEvents {
    /// An empty delta (the client is current).
    pub fn new() -> Self {
        DeltaEvents::default()
    }

    /// From chunks (the caller guarantees that `skip + len` does not exceed
    /// the events they hold).
    pub(crate) fn from_chunks(chunks: Vec<Chunk>, skip: usize, len: usize) -> Self {
        DeltaEvents { chunks, skip, len }
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sequence of the first event.
    pub fn first_seq(&self) -> Option<u64> {
        self.iter().next().map(|e| e.seq)
    }

    /// The sequence of the last event.
    pub fn last_seq(&self) -> Option<u64> {
        // The index of the last event among all the chunks' events.
        let mut index = (self.skip + self.len).checked_sub(1)?;
        if self.len == 0 {
            return None;
        }
        for c in &self.chunks {
            match index.checked_sub(c.mutations.len()) {
                Some(rest) => index = rest,
                None => return Some(c.meta.first_seq.saturating_add(index as u64)),
            }
        }
        None
    }

    /// The events in order, viewed in place.
    pub fn iter(&self) -> DeltaIter<'_> {
        let mut rest = self.chunks.iter();
        let current = rest.next().map(|c| {
            let mutations = c.mutations.get(self.skip..).unwrap_or_default();
            let seq = c.meta.first_seq.saturating_add(self.skip as u64);
            (&c.meta, seq, mutations.iter())
        });
        DeltaIter {
            rest,
            current,
            remaining: self.len,
        }
    }

    /// The events in order, as owned [`Event`]s.
    pub fn to_vec(&self) -> Vec<Event> {
        self.iter().map(EventRef::to_event).collect()
    }

    /// The events in order, one [`DeltaRun`] per chunk (a run of one
    /// batch's events, consecutive sequences): what an encoder writes from.
    pub fn runs(&self) -> impl Iterator<Item = DeltaRun<'_>> + '_ {
        let mut skip = self.skip;
        let mut remaining = self.len;
        self.chunks
            .iter()
            .map_while(move |c| {
                if remaining == 0 {
                    return None;
                }
                let start = skip.min(c.mutations.len());
                let len = (c.mutations.len() - start).min(remaining);
                skip = 0;
                remaining -= len;
                Some(DeltaRun {
                    first_seq: c.meta.first_seq,
                    author: &c.meta.author,
                    mutations: &c.mutations,
                    start,
                    len,
                    encoded: c.encoded.as_deref(),
                })
            })
            .filter(|run| run.len > 0)
    }
}

/// One chunk of a [`DeltaEvents`]: events `start..start + len` of a run of
/// one batch's events, whose event `i` has sequence `first_seq + i`,
/// author `author` and mutation `mutations[i]`.
#[derive(Clone, Copy, Debug)]
pub struct DeltaRun<'a> {
    /// The sequence of the run's first event (`mutations[0]`).
    pub first_seq: u64,
    /// The author of every event of the run.
    pub author: &'a UserId,
    /// The mutations of the whole run, including those before `start`.
    pub mutations: &'a [Mutation],
    /// The first event of the run in the delta.
    pub start: usize,
    /// Events of the run in the delta (at least one).
    pub len: usize,
    /// The run's encoding place, when the run is a committed batch's
    /// (shared with its broadcast): an encoder fills it with the encoding
    /// of all of `mutations`, and splices events `start..start + len`.
    pub encoded: Option<&'a EncodedEvents>,
}

impl From<Vec<Event>> for DeltaEvents {
    /// Groups the events into chunks (runs of consecutive sequences of one
    /// author, batch and time), moving their mutations.
    fn from(events: Vec<Event>) -> Self {
        let len = events.len();
        let runs: Vec<usize> = events
            .chunk_by(BatchMeta::continues)
            .map(<[Event]>::len)
            .collect();
        let mut events = events.into_iter();
        let mut chunks = Vec::with_capacity(runs.len());
        for n in runs {
            let mut meta = None;
            let mut mutations = Vec::with_capacity(n);
            for e in events.by_ref().take(n) {
                if meta.is_none() {
                    meta = Some(BatchMeta {
                        first_seq: e.seq,
                        author: e.author,
                        batch: e.batch,
                        at: e.at,
                    });
                }
                mutations.push(e.mutation);
            }
            if let Some(meta) = meta {
                chunks.push(Chunk {
                    meta,
                    mutations: mutations.into(),
                    encoded: None,
                });
            }
        }
        DeltaEvents {
            chunks,
            skip: 0,
            len,
        }
    }
}

impl FromIterator<Event> for DeltaEvents {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        DeltaEvents::from(iter.into_iter().collect::<Vec<Event>>())
    }
}

impl PartialEq for DeltaEvents {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for DeltaEvents {}

impl fmt::Debug for DeltaEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a DeltaEvents {
    type Item = EventRef<'a>;
    type IntoIter = DeltaIter<'a>;

    fn into_iter(self) -> DeltaIter<'a> {
        self.iter()
    }
}

/// One event of a [`DeltaEvents`], borrowed: the fields of an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// The board sequence.
    pub seq: u64,
    /// The user who sent it.
    pub author: &'a UserId,
    /// The client batch it came in.
    pub batch: &'a BatchId,
    /// When the engine applied it.
    pub at: Timestamp,
    /// What changed.
    pub mutation: &'a Mutation,
}

impl EventRef<'_> {
    /// An owned copy.
    pub fn to_event(self) -> Event {
        Event {
            seq: self.seq,
            author: self.author.clone(),
            batch: self.batch.clone(),
            at: self.at,
            mutation: self.mutation.clone(),
        }
    }
}

impl PartialEq<Event> for EventRef<'_> {
    fn eq(&self, e: &Event) -> bool {
        self.seq == e.seq
            && *self.author == e.author
            && *self.batch == e.batch
            && self.at == e.at
            && *self.mutation == e.mutation
    }
}

/// The iterator of [`DeltaEvents::iter`] (exact size).
#[derive(Clone, Debug)]
pub struct DeltaIter<'a> {
    rest: std::slice::Iter<'a, Chunk>,
    /// The chunk being read: its meta, the next sequence, the mutations left.
    current: Option<(&'a BatchMeta, u64, std::slice::Iter<'a, Mutation>)>,
    remaining: usize,
}

impl<'a> Iterator for DeltaIter<'a> {
    type Item = EventRef<'a>;

    fn next(&mut self) -> Option<EventRef<'a>> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            let (meta, seq, mutations) = self.current.as_mut()?;
            if let Some(mutation) = mutations.next() {
                let event = EventRef {
                    seq: *seq,
                    author: &meta.author,
                    batch: &meta.batch,
                    at: meta.at,
                    mutation,
                };
                *seq = seq.saturating_add(1);
                self.remaining -= 1;
                return Some(event);
            }
            self.current = self
                .rest
                .next()
                .map(|c| (&c.meta, c.meta.first_seq, c.mutations.iter()));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for DeltaIter<'_> {}

impl std::iter::FusedIterator for DeltaIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ElementId, PageId};
    use crate::mutation::Payload;

    fn event(seq: u64, batch: &str, at: u64) -> Event {
        Event {
            seq,
            author: UserId::from("u"),
            batch: BatchId::from(batch),
            at: Timestamp::from_millis(at),
            mutation: Mutation::Upsert {
                page: PageId::from("p"),
                element: ElementId::from("e"),
                data: Payload::from(format!("d{seq}").into_bytes()),
            },
        }
    }

    #[test]
    fn from_vec_round_trips_runs_and_gaps() {
        let events = vec![
            event(3, "a", 1),
            event(4, "a", 1),
            event(5, "b", 1),
            event(7, "b", 1),
            event(8, "b", 2),
            event(2, "b", 2),
        ];
        let delta = DeltaEvents::from(events.clone());
        assert_eq!(delta.len(), 6);
        assert_eq!(delta.chunks.len(), 5);
        assert_eq!(delta.to_vec(), events);
        assert_eq!(delta.iter().len(), 6);
        assert_eq!((delta.first_seq(), delta.last_seq()), (Some(3), Some(2)));
        assert!(delta.iter().zip(&events).all(|(r, e)| r == *e));
        assert_eq!(delta, events.into_iter().collect::<DeltaEvents>());
        assert_eq!(format!("{:?}", DeltaEvents::new()), "[]");
    }

    #[test]
    fn skip_and_len_bound_the_view() {
        let events: Vec<Event> = (1..=6).map(|s| event(s, "a", 0)).collect();
        let whole = DeltaEvents::from(events.clone());
        let part = DeltaEvents::from_chunks(whole.chunks.clone(), 2, 3);
        assert_eq!(part.to_vec(), events[2..5].to_vec());
        assert_ne!(part, whole);
        let empty = DeltaEvents::from_chunks(whole.chunks.clone(), 6, 0);
        assert!(empty.is_empty());
        assert_eq!(empty, DeltaEvents::new());
        assert_eq!(empty.first_seq(), None);
        assert_eq!(empty.runs().count(), 0);
        let run = part.runs().map(|r| (r.first_seq, r.start, r.len));
        assert_eq!(run.collect::<Vec<_>>(), [(1, 2, 3)]);
    }

    #[test]
    fn runs_cover_the_view_chunk_by_chunk() {
        // Chunks of 2, 3 and 2 events; the view skips 1 and ends 1 early.
        let events: Vec<Event> = (1..=7)
            .map(|s| event(s, ["a", "a", "b", "b", "b", "c", "c"][s as usize - 1], 0))
            .collect();
        let whole = DeltaEvents::from(events.clone());
        let part = DeltaEvents::from_chunks(whole.chunks.clone(), 1, 5);
        let runs: Vec<_> = part.runs().map(|r| (r.first_seq, r.start, r.len)).collect();
        assert_eq!(runs, [(1, 1, 1), (3, 0, 3), (6, 0, 1)]);
        let viewed: Vec<Event> = part
            .runs()
            .flat_map(|r| {
                (r.start..r.start + r.len).map(move |i| Event {
                    seq: r.first_seq + i as u64,
                    author: r.author.clone(),
                    batch: BatchId::from(["a", "b", "c"][(r.first_seq / 3) as usize]),
                    at: Timestamp::from_millis(0),
                    mutation: r.mutations[i].clone(),
                })
            })
            .collect();
        assert_eq!(viewed, events[1..6].to_vec());
        assert!(part.runs().all(|r| r.encoded.is_none()));
    }
}
