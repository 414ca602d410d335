//! Fan-out: engine notices to connections' bounded outbound queues.
//!
//! A `joined` is encoded into frames of at most the configured
//! `max_frame_bytes` (the `joined` frame and its `joined_part`s, staged
//! one after the other, so that events broadcast meanwhile follow the last
//! part). Every other notice is encoded to JSON once: the engine emits a
//! broadcast as one `Output::Broadcast` carrying its recipients and one
//! notice, so the shard encodes that notice once and stages the same bytes
//! (`TextFrame`, shared) for each recipient, in order. `events` are
//! staged as the batches they carry, so that consecutive batches merge
//! into one frame per recipient ([`outbox`](super::outbox)), and every
//! frame staged in a tick is handed to the connection's queue at its end.
//!
//! Queues are bounded (`outbound_capacity` frames, plus two reserved
//! slots). A frame that finds no room (the queue's frames and the tick's
//! staged ones) disconnects the connection from the engine at once, hands
//! over what was staged, an `error` frame with code `SLOW_CONSUMER` and a
//! close with code 1008 in the reserved slots, and forgets the connection:
//! the shard never waits on a socket.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use huddle_core::{BatchId, CommittedEvents, ConnId, ErrorCode, Notice, Timestamp};
use huddle_store::Store;
use huddle_wire::{encode_notice, encode_notice_frames, EventsFrame, Identity, ServerMessage};
use tokio::time::Instant;

use super::outbox::Staged;
use super::Shard;
use crate::close;
use crate::connection::ConnShared;
use crate::outbound::{Outbound, OutboundSender};
use crate::text_frame::TextFrame;

/// What a shard knows of an open connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub(crate) identity: Identity,
    pub(super) outbound: OutboundSender,
    pub(crate) shared: Arc<ConnShared>,
    /// When each batch waiting for its ack was received.
    pub(crate) pending_acks: HashMap<BatchId, Instant>,
    /// The frames of this tick, handed over at its end.
    pub(super) staged: Vec<Staged>,
}

impl ConnState {
    pub(crate) fn new(
        identity: Identity,
        outbound: OutboundSender,
        shared: Arc<ConnShared>,
    ) -> Self {
        ConnState {
            identity,
            outbound,
            shared,
            pending_acks: HashMap::new(),
            staged: Vec::new(),
        }
    }
}

impl<S: Store + 'static> Shard<S> {
    /// Sends one engine notice to a connection.
    pub(super) fn notify(&mut self, now: Timestamp, conn: ConnId, notice: Notice) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if let Notice::Joined(_) = &notice {
            return self.send_joined(now, conn, &notice);
        }
        if let Notice::Events(events) = &notice {
            return self.broadcast_events(now, &[conn], events);
        }
        if let Some(frame) = self.encode(&notice) {
            self.deliver(now, conn, &notice, frame);
        }
    }

    /// Stages a `joined` answer: its frames within the frame limit, in
    /// order (a slow consumer's queue stops taking them at once).
    fn send_joined(&mut self, now: Timestamp, conn: ConnId, notice: &Notice) {
        let frames = match encode_notice_frames(notice, self.config.max_frame_bytes) {
            Ok(frames) => frames,
            Err(e) => {
                tracing::error!(shard = self.index, error = %e, "cannot encode a joined");
                return;
            }
        };
        if frames.len() > 1 {
            tracing::debug!(
                shard = self.index,
                conn = conn.0,
                frames = frames.len(),
                "a joined in parts"
            );
        }
        for frame in frames {
            if !self.conns.contains_key(&conn) {
                return;
            }
            match TextFrame::from_utf8(frame) {
                Ok(frame) => self.send_text(now, conn, frame),
                Err(e) => {
                    tracing::error!(shard = self.index, error = %e, "a joined encoded to non-UTF-8");
                    return;
                }
            }
        }
    }

    /// Sends one engine notice to each of `conns`, in order: encoded once,
    /// the same bytes staged for every recipient still open.
    pub(super) fn broadcast(&mut self, now: Timestamp, conns: &[ConnId], notice: Notice) {
        if !conns.iter().any(|c| self.conns.contains_key(c)) {
            return;
        }
        if let Notice::Events(events) = &notice {
            return self.broadcast_events(now, conns, events);
        }
        let Some(frame) = self.encode(&notice) else {
            return;
        };
        for &conn in conns {
            if self.conns.contains_key(&conn) {
                self.deliver(now, conn, &notice, frame.clone());
            }
        }
    }

    /// Stages one committed batch's events for each of `conns`, in order:
    /// its encoding is made once, and each recipient's frame holds it
    /// with the batches staged for the recipient right before it.
    fn broadcast_events(&mut self, now: Timestamp, conns: &[ConnId], events: &CommittedEvents) {
        let frame = match EventsFrame::new(events.clone()) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(shard = self.index, error = %e, "cannot encode a notice");
                return;
            }
        };
        for &conn in conns {
            self.stage_events(now, conn, events, &frame);
        }
    }

    fn encode(&self, notice: &Notice) -> Option<TextFrame> {
        match encode_notice(notice).map(TextFrame::from_utf8) {
            Ok(Ok(frame)) => Some(frame),
            Ok(Err(e)) => {
                tracing::error!(shard = self.index, error = %e, "a notice encoded to non-UTF-8");
                None
            }
            Err(e) => {
                tracing::error!(shard = self.index, error = %e, "cannot encode a notice");
                None
            }
        }
    }

    /// Stages a notice's frame for one connection, with what the notice
    /// means for the connection (an ack's latency, a close).
    fn deliver(&mut self, now: Timestamp, conn: ConnId, notice: &Notice, frame: TextFrame) {
        match notice {
            Notice::Ack { batch, .. } => {
                self.metrics.batches_acked.inc();
                if let Some(at) = self
                    .conns
                    .get_mut(&conn)
                    .and_then(|c| c.pending_acks.remove(batch))
                {
                    self.metrics.ack_latency(at.elapsed());
                }
                self.send_text(now, conn, frame);
            }
            Notice::JoinFailed { code, .. } | Notice::SnapshotFailed { code, .. } => {
                self.metrics.error_sent(*code);
                self.send_text(now, conn, frame);
            }
            Notice::Redirect { .. } => {
                // Another node owns the board: the frame names it, then
                // the close that sends the client there.
                self.close_conn(now, conn, Some(frame), close::REDIRECT, "redirect");
            }
            Notice::SessionTimeout { .. } => {
                let reason = "session timeout";
                self.close_conn(now, conn, Some(frame), close::SESSION_TIMEOUT, reason);
            }
            Notice::SessionClosed { reason, .. } => {
                let (code, reason) = if self.engine.is_shutting_down() {
                    (close::SERVICE_RESTART, "service restart")
                } else if reason.reconnect() {
                    // Served again (elsewhere, or loaded afresh): reconnect.
                    (close::GOING_AWAY, "session moved")
                } else {
                    (close::GOING_AWAY, "session closed")
                };
                self.close_conn(now, conn, Some(frame), code, reason);
            }
            _ => self.send_text(now, conn, frame),
        }
    }

    /// Sends an `error` frame the shard produced (dispatch or host reject).
    pub(super) fn send_error(&mut self, conn: ConnId, error: &ServerMessage, code: ErrorCode) {
        match error.to_json() {
            Ok(json) => {
                self.metrics.error_sent(code);
                self.send_text(self.clock.now(), conn, json.into());
            }
            Err(e) => tracing::error!(shard = self.index, error = %e, "cannot encode an error"),
        }
    }

    /// Stages a text frame for the end of the tick (a queue without room
    /// for it makes the connection a slow consumer).
    pub(super) fn send_text(&mut self, now: Timestamp, conn: ConnId, frame: TextFrame) {
        self.stage(now, conn, Staged::Text(frame));
    }

    pub(super) fn slow_consumer(&mut self, now: Timestamp, conn: ConnId) {
        tracing::info!(
            shard = self.index,
            conn = conn.0,
            "disconnecting a slow consumer"
        );
        self.metrics.slow_consumer();
        let error = ServerMessage::error(
            ErrorCode::SlowConsumer,
            "the connection read too slowly and was closed",
            None,
        );
        let frame = error.to_json().ok().map(TextFrame::from);
        self.close_conn(now, conn, frame, close::SLOW_CONSUMER, "slow consumer");
    }

    /// Hands over the tick's staged frames, a last frame (if any) and a
    /// close at once, forgets the connection and disconnects it from the
    /// engine.
    pub(super) fn close_conn(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        last: Option<TextFrame>,
        code: u16,
        reason: &str,
    ) {
        let Some(mut state) = self.forget_conn(conn) else {
            return;
        };
        // What the tick staged goes first, then the last frame and the
        // close (in the reserved slots), all in one hand-over.
        let mut frames = self.outbox.render(state.staged.drain(..));
        frames.extend(last.map(Outbound::Text));
        frames.push(Outbound::Close {
            code,
            reason: reason.to_string(),
        });
        let texts = frames.len() - 1;
        if state.outbound.hand_over(frames).is_ok() {
            self.metrics.frames_sent.inc_by(texts as u64);
        }
        self.engine.disconnect(now, conn);
    }

    /// Removes a connection from the shard (not from the engine).
    pub(super) fn forget_conn(&mut self, conn: ConnId) -> Option<ConnState> {
        let state = self.conns.remove(&conn)?;
        state.shared.closed.store(true, Ordering::Release);
        self.metrics.connections_open.dec();
        Some(state)
    }
}
