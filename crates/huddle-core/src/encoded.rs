//! Encode once: the wire form of a committed batch's events, made the
//! first time a host encodes them and shared from then on.
//!
//! The engine does not encode (it knows no wire format), but it holds the
//! place for the encoding: every committed batch gets one
//! [`EncodedEvents`], shared by the history's chunk of the batch (which
//! delta syncs share in turn) and by the [`CommittedEvents`] its broadcast
//! carries. The host's encoder (`huddle_wire`) fills it the first time it
//! encodes the batch — in practice the broadcast, right after the batch is
//! durable — and every later encoding of those events (the delta syncs of
//! reconnecting clients) splices the stored bytes instead of encoding the
//! events again.
//!
//! The cache holds one encoding per batch: the fragments of its events,
//! joined by a one-byte separator ([`EncodedChunk`]). A run of consecutive
//! events is then one slice of the bytes. The engine never reads the
//! bytes; it only counts them ([`crate::Stats::encoded_bytes_held`]) and
//! drops them with the batch.

use core::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use crate::mutation::Event;

/// The encoded events of one batch: event `i`'s fragment is
/// `bytes[start(i)..ends[i]]`, where `start(0) = 0` and
/// `start(i) = ends[i - 1] + 1` (one separator byte between fragments).
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedChunk {
    bytes: Box<[u8]>,
    ends: Box<[usize]>,
}

impl EncodedChunk {
    /// From the joined fragments and the end of each. `None` unless the
    /// ends increase, leave one separator byte between fragments and the
    /// last one is the end of `bytes`.
    pub fn new(bytes: Vec<u8>, ends: Vec<usize>) -> Option<Self> {
        let mut start = 0usize;
        for (i, &end) in ends.iter().enumerate() {
            if end < start || end > bytes.len() {
                return None;
            }
            if i + 1 < ends.len() {
                start = end.checked_add(1)?;
            }
        }
        if ends.last().copied().unwrap_or(0) != bytes.len() {
            return None;
        }
        Some(EncodedChunk {
            bytes: bytes.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
        })
    }

    /// The number of fragments (events).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when it holds no fragment.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The fragments of events `skip..skip + len`, with their separators:
    /// `None` if the chunk holds fewer events.
    pub fn range(&self, skip: usize, len: usize) -> Option<&[u8]> {
        if len == 0 {
            return Some(&[]);
        }
        let start = match skip {
            0 => 0,
            _ => self.ends.get(skip - 1)?.checked_add(1)?,
        };
        let end = *self.ends.get(skip.checked_add(len)? - 1)?;
        self.bytes.get(start..end)
    }

    /// All the fragments, with their separators.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes held (fragments and their ends).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len() + self.ends.len() * size_of::<usize>()
    }
}

impl fmt::Debug for EncodedChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedChunk")
            .field("events", &self.ends.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The shareable place for one batch's [`EncodedChunk`]: empty until the
/// host's encoder fills it, then fixed (the events it encodes never
/// change).
#[derive(Default)]
pub struct EncodedEvents(OnceLock<EncodedChunk>);

impl EncodedEvents {
    /// An empty place.
    pub fn new() -> Self {
        EncodedEvents::default()
    }

    /// The encoding, if some encoder made it.
    pub fn get(&self) -> Option<&EncodedChunk> {
        self.0.get()
    }

    /// The encoding, made by `encode` if nobody made it yet. `encode`
    /// must encode exactly the events this place belongs to; `None` from
    /// it leaves the place empty (and is returned).
    pub fn get_or_make(
        &self,
        encode: impl FnOnce() -> Option<EncodedChunk>,
    ) -> Option<&EncodedChunk> {
        if let Some(done) = self.0.get() {
            return Some(done);
        }
        let made = encode()?;
        Some(self.0.get_or_init(|| made))
    }

    /// Bytes held by the encoding (0 while empty).
    pub fn heap_bytes(&self) -> usize {
        self.get().map_or(0, EncodedChunk::heap_bytes)
    }
}

impl fmt::Debug for EncodedEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some(chunk) => chunk.fmt(f),
            None => f.write_str("EncodedEvents(empty)"),
        }
    }
}

/// The events of one committed batch, as [`crate::Notice::Events`]
/// carries them: the events (a slice: `Deref<Target = [Event]>`) and the
/// batch's [`EncodedEvents`], shared with the history, so that encoding
/// the broadcast once also serves the delta syncs that come later.
///
/// Two are equal when their events are (the encodings follow from them).
#[derive(Clone)]
pub struct CommittedEvents {
    events: Arc<[Event]>,
    encoded: Arc<EncodedEvents>,
}

impl CommittedEvents {
    /// The events with the place for their encoding (shared with the
    /// history's chunk of the batch).
    pub(crate) fn new(events: Arc<[Event]>, encoded: Arc<EncodedEvents>) -> Self {
        CommittedEvents { events, encoded }
    }

    /// The events.
    pub fn events(&self) -> &Arc<[Event]> {
        &self.events
    }

    /// The place for their encoding.
    pub fn encoded(&self) -> &EncodedEvents {
        &self.encoded
    }
}

impl Deref for CommittedEvents {
    type Target = [Event];

    fn deref(&self) -> &[Event] {
        &self.events
    }
}

impl From<Arc<[Event]>> for CommittedEvents {
    /// Events with a place of their own (not shared with any history).
    fn from(events: Arc<[Event]>) -> Self {
        CommittedEvents::new(events, Arc::default())
    }
}

impl From<Vec<Event>> for CommittedEvents {
    fn from(events: Vec<Event>) -> Self {
        CommittedEvents::from(Arc::<[Event]>::from(events))
    }
}

impl PartialEq for CommittedEvents {
    fn eq(&self, other: &Self) -> bool {
        self.events == other.events
    }
}

impl fmt::Debug for CommittedEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.events.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(parts: &[&str]) -> EncodedChunk {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                bytes.push(b',');
            }
            bytes.extend_from_slice(p.as_bytes());
            ends.push(bytes.len());
        }
        EncodedChunk::new(bytes, ends).expect("well-formed")
    }

    #[test]
    fn ranges_are_runs_of_fragments_with_separators() {
        let c = chunk(&["a", "bb", "", "ccc"]);
        assert_eq!(c.len(), 4);
        assert_eq!(c.range(0, 4), Some(&b"a,bb,,ccc"[..]));
        assert_eq!(c.range(1, 2), Some(&b"bb,"[..]));
        assert_eq!(c.range(3, 1), Some(&b"ccc"[..]));
        assert_eq!(c.range(2, 1), Some(&b""[..]));
        assert_eq!(c.range(4, 0), Some(&b""[..]));
        assert_eq!(c.range(4, 1), None);
        assert_eq!(c.range(2, 3), None);
        assert_eq!(c.range(usize::MAX, 2), None);
        assert_eq!(c.heap_bytes(), 9 + 4 * size_of::<usize>());
    }

    #[test]
    fn malformed_ends_are_refused() {
        assert!(EncodedChunk::new(b"ab".to_vec(), vec![1]).is_none());
        assert!(EncodedChunk::new(b"a,b".to_vec(), vec![1, 3]).is_some());
        assert!(EncodedChunk::new(b"a,b".to_vec(), vec![2, 1]).is_none());
        assert!(EncodedChunk::new(b"ab".to_vec(), vec![3]).is_none());
        assert!(EncodedChunk::new(Vec::new(), Vec::new()).is_some());
        assert!(EncodedChunk::new(b"a".to_vec(), Vec::new()).is_none());
    }

    #[test]
    fn a_place_is_filled_once() {
        let place = EncodedEvents::new();
        assert_eq!(place.heap_bytes(), 0);
        assert!(place.get_or_make(|| None).is_none());
        let made = place.get_or_make(|| Some(chunk(&["x"]))).cloned();
        assert_eq!(made, Some(chunk(&["x"])));
        let again = place.get_or_make(|| panic!("made twice"));
        assert_eq!(again, Some(&chunk(&["x"])));
        assert_eq!(format!("{place:?}"), "EncodedChunk { events: 1, bytes: 1 }");
    }
}
