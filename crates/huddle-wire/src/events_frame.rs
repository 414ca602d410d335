//! One `events` frame for the events of one or more consecutive committed
//! batches of a board, in sequence order (`docs/protocol.md`).
//!
//! A host that makes several batches of a board durable at once (one
//! store report, one wake-up of its task) sends each recipient one frame
//! with the batches it should see instead of one frame per batch. The
//! frame is spliced from each batch's kept encoding
//! ([`huddle_core::EncodedEvents`], made the first time and shared with
//! the history, so nothing is encoded twice): a prefix, the batches'
//! encodings joined by one comma, a suffix. Its size is known before it
//! is written, so the host keeps it within its frame limit
//! ([`EventsFrame::push_within`] refuses a batch that would not fit: it
//! starts the next frame); a batch alone goes whole, whatever its size,
//! as a single batch's frame always did.
//!
//! The bytes are exactly those of one `events` frame written by the
//! serializer with the same events (the tests compare them).

use huddle_core::CommittedEvents;

use super::json_frames;
use super::EncodeError;

/// The events of consecutive committed batches of one board, to be sent
/// as one `events` frame, in sequence order: spliced from each batch's
/// kept encoding, its size known before it is written
/// ([`push_within`](Self::push_within) keeps it within a frame limit; a
/// batch alone goes whole). The bytes are exactly those the serializer
/// writes for one `events` frame with the same events.
#[derive(Clone, Debug)]
pub struct EventsFrame {
    batches: Vec<CommittedEvents>,
    /// The bytes the frame takes.
    bytes: usize,
    /// Some batch holds an event (the next non-empty one needs a comma).
    has_events: bool,
}

impl EventsFrame {
    /// A frame with the events of one batch, whatever its size. Makes the
    /// batch's kept encoding if nobody made it yet; refused (with nothing
    /// kept) if an event cannot be encoded.
    pub fn new(first: CommittedEvents) -> Result<Self, EncodeError> {
        let bytes = json_frames::EVENTS_OVERHEAD + json_frames::batch_bytes(&first)?;
        Ok(EventsFrame {
            has_events: !first.is_empty(),
            batches: vec![first],
            bytes,
        })
    }

    /// Adds the next batch (it must follow the last one in the board's
    /// sequence order, as the recipient is to see them) if the frame then
    /// takes at most `limit` bytes; gives it back if not, or if it cannot
    /// be encoded ([`EventsFrame::new`] then says why).
    pub fn push_within(
        &mut self,
        next: CommittedEvents,
        limit: usize,
    ) -> Result<(), CommittedEvents> {
        let Ok(more) = json_frames::batch_bytes(&next) else {
            return Err(next);
        };
        let separator = usize::from(self.has_events && !next.is_empty());
        let bytes = self.bytes.saturating_add(separator).saturating_add(more);
        if bytes > limit {
            return Err(next);
        }
        self.has_events |= !next.is_empty();
        self.batches.push(next);
        self.bytes = bytes;
        Ok(())
    }

    /// The bytes of the frame (exactly what [`EventsFrame::encode`] writes).
    pub fn frame_bytes(&self) -> usize {
        self.bytes
    }

    /// The batches, in the order they were added (never empty).
    pub fn batches(&self) -> &[CommittedEvents] {
        &self.batches
    }

    /// The frame: `{"type":"events","events":[...]}` with every event of
    /// the batches, in order.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        json_frames::events(&self.batches)
    }
}
