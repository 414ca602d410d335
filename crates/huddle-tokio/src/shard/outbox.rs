//! A shard tick's frames: staged per connection, handed over together.
//!
//! Everything the engine produces for a connection while the shard
//! handles one wake-up (a tick: its inputs, its timeouts) is staged in the
//! connection's [`ConnState`](super::ConnState) and handed to the
//! connection's queue at the end of the tick in one go
//! ([`OutboundSender::hand_over`]): the host's writer wakes once and
//! writes the tick's frames with one flush.
//!
//! While staging, the `events` of consecutive batches merge: a batch
//! staged for a connection right after another batch (nothing else for
//! that connection in between) joins its frame, up to `max_frame_bytes`
//! ([`EventsFrame::push_within`]; a batch that would not fit starts the
//! next frame, a batch alone goes whole). An `ack`, a presence notice or
//! any other frame in between starts a new one, so every connection sees
//! exactly the frames, in exactly the order, the engine's outputs give
//! it, with runs of `events` frames joined. The engine never broadcasts a
//! batch to its author (who gets the `ack`), so a connection's frame never
//! holds its own batch and its `ack` keeps its place between the others'
//! batches.
//!
//! A staged frame takes room in the queue at once: the queue's frames and
//! the tick's staged ones are at most `outbound_capacity`; the frame that
//! finds no room makes the connection a slow consumer
//! ([`fanout`](super::fanout)).
//!
//! At the hand-over the `events` frames are made, each distinct run of
//! batches once per tick (spliced from the batches' kept encodings, never
//! encoded again) and shared by every recipient of that run: the
//! participants of a board who sent none of its batches of the tick get
//! the same bytes.
//!
//! [`OutboundSender::hand_over`]: crate::outbound::OutboundSender::hand_over

use std::collections::HashMap;
use std::sync::Arc;

use huddle_core::{CommittedEvents, ConnId, Timestamp};
use huddle_store::Store;
use huddle_wire::EventsFrame;

use super::Shard;
use crate::outbound::Outbound;
use crate::text_frame::TextFrame;

/// One frame staged for a connection.
#[derive(Debug)]
pub(crate) enum Staged {
    /// A frame made already.
    Text(TextFrame),
    /// The events of consecutive batches, made at the hand-over.
    Events(EventsFrame),
}

/// The shard's staging of one tick.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// The connections with staged frames, in the order of their first.
    dirty: Vec<ConnId>,
    /// The `events` frames made this tick, by their batches (the
    /// addresses of the batches' events, kept alive with the frame so
    /// that no address is reused while it is a key).
    made: HashMap<Box<[usize]>, (TextFrame, EventsFrame)>,
    /// A key being looked up.
    key: Vec<usize>,
}

impl Outbox {
    /// The frames of `staged`, in order: `events` frames made (or taken
    /// from those made for the same batches this tick).
    pub(super) fn render(&mut self, staged: std::vec::Drain<'_, Staged>) -> Vec<Outbound> {
        // Room for a last frame and a close (`close_conn`).
        let mut frames = Vec::with_capacity(staged.len() + 2);
        for s in staged {
            match s {
                Staged::Text(text) => frames.push(Outbound::Text(text)),
                Staged::Events(events) => {
                    if let Some(text) = self.events_frame(&events) {
                        frames.push(Outbound::Text(text));
                    }
                }
            }
        }
        frames
    }

    fn events_frame(&mut self, events: &EventsFrame) -> Option<TextFrame> {
        self.key.clear();
        self.key.extend(
            events
                .batches()
                .iter()
                .map(|b| Arc::as_ptr(b.events()).cast::<()>() as usize),
        );
        if let Some((text, _)) = self.made.get(self.key.as_slice()) {
            return Some(text.clone());
        }
        let text = match events.encode().map(TextFrame::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "events encoded to non-UTF-8");
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot encode events");
                return None;
            }
        };
        self.made.insert(
            self.key.clone().into_boxed_slice(),
            (text.clone(), events.clone()),
        );
        Some(text)
    }
}

impl<S: Store + 'static> Shard<S> {
    /// Stages a frame for `conn` (open), or makes it a slow consumer when
    /// its queue has no room for it.
    pub(super) fn stage(&mut self, now: Timestamp, conn: ConnId, frame: Staged) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        if !state.outbound.has_room(state.staged.len() + 1) {
            return self.slow_consumer(now, conn);
        }
        if state.staged.is_empty() {
            self.outbox.dirty.push(conn);
        }
        state.staged.push(frame);
    }

    /// Stages a batch's events for `conn`: into the frame staged last if
    /// that holds events and the batch fits within the frame limit, else
    /// as a new frame (`alone`: the batch's own).
    pub(super) fn stage_events(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        batch: &CommittedEvents,
        alone: &EventsFrame,
    ) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(Staged::Events(frame)) = state.staged.last_mut() {
            if frame
                .push_within(batch.clone(), self.config.max_frame_bytes)
                .is_ok()
            {
                return;
            }
        }
        self.stage(now, conn, Staged::Events(alone.clone()));
    }

    /// The end of a tick: hands every connection's staged frames to its
    /// queue, one hand-over each. A queue whose host end is gone
    /// disconnects its connection (and what the engine says about that is
    /// handed over too).
    pub(super) fn hand_over(&mut self, now: Timestamp) {
        while !self.outbox.dirty.is_empty() {
            for conn in std::mem::take(&mut self.outbox.dirty) {
                let Some(state) = self.conns.get_mut(&conn) else {
                    continue;
                };
                let frames = self.outbox.render(state.staged.drain(..));
                let count = frames.len() as u64;
                match state.outbound.hand_over(frames) {
                    Ok(()) => {
                        self.metrics.frames_sent.inc_by(count);
                    }
                    Err(_) => {
                        // The host dropped the queue: the transport is gone.
                        if self.forget_conn(conn).is_some() {
                            self.engine.disconnect(now, conn);
                        }
                    }
                }
            }
            self.drain(now);
        }
        self.outbox.made.clear();
    }
}
