//! One client connection as the host sees it: a [`ConnSender`] to feed
//! its messages to the board's shard, and a bounded queue of
//! [`Outbound`] frames to write to the socket ([`OutboundQueue`]).
//!
//! [`Outbound`]: crate::Outbound

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use huddle_core::{ConnId, ErrorCode};
use huddle_wire::ClientMessage;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::DriverError;
use crate::metrics::Metrics;
use crate::outbound::OutboundQueue;
use crate::shard::Input;

/// A new connection: its id, the handle to send its messages with, and the
/// frames to write to its socket (in order; a [`Outbound::Close`] is the
/// last). When `outbound` ends without a close, the driver has stopped.
///
/// [`Outbound::Close`]: crate::Outbound::Close
#[derive(Debug)]
pub struct Connection {
    /// The connection's id in the engine.
    pub id: ConnId,
    /// Feeds the connection's messages to its shard.
    pub sender: ConnSender,
    /// Frames for the socket, a shard tick's together. Read it promptly:
    /// when it holds `outbound_capacity` frames the connection is closed
    /// as a slow consumer.
    pub outbound: OutboundQueue,
}

/// What a connection's sender and its shard share.
#[derive(Debug, Default)]
pub(crate) struct ConnShared {
    /// Messages sent and not yet handled by the shard.
    pub(crate) queued: AtomicUsize,
    /// The shard closed the connection (or the host disconnected it).
    pub(crate) closed: AtomicBool,
}

#[derive(Debug)]
struct SenderInner {
    id: ConnId,
    shard: mpsc::UnboundedSender<Input>,
    shared: Arc<ConnShared>,
    inbound_capacity: usize,
    max_frame_bytes: usize,
    metrics: Arc<Metrics>,
}

impl Drop for SenderInner {
    fn drop(&mut self) {
        if !self.shared.closed.swap(true, Ordering::AcqRel) {
            let _ = self.shard.send(Input::Disconnect { conn: self.id });
        }
    }
}

/// Sends a connection's client messages to its shard, in order. Cheap to
/// clone; when the last clone is dropped the connection is disconnected.
#[derive(Clone, Debug)]
pub struct ConnSender {
    inner: Arc<SenderInner>,
}

impl ConnSender {
    pub(crate) fn new(
        id: ConnId,
        shard: mpsc::UnboundedSender<Input>,
        shared: Arc<ConnShared>,
        inbound_capacity: usize,
        max_frame_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        ConnSender {
            inner: Arc::new(SenderInner {
                id,
                shard,
                shared,
                inbound_capacity,
                max_frame_bytes,
                metrics,
            }),
        }
    }

    /// The driver's metrics (what the WebSocket pump counts in).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.inner.id
    }

    /// The driver's frame limit,
    /// [`DriverConfig::max_frame_bytes`](crate::DriverConfig::max_frame_bytes):
    /// the largest frame the driver sends this connection, and the largest
    /// a transport should take from its client. It is one setting for both
    /// ways, so that a host cannot set them apart: the axum pump reads it
    /// here and answers a larger client frame `PAYLOAD_TOO_LARGE`.
    pub fn max_frame_bytes(&self) -> usize {
        self.inner.max_frame_bytes
    }

    /// Whether the connection is closed (by the driver or by
    /// [`disconnect`](Self::disconnect)).
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.load(Ordering::Acquire)
    }

    /// Hands a decoded client message to the shard. Never blocks. Answers
    /// come through the connection's `outbound` queue.
    ///
    /// Refused with [`DriverError::Closed`] once the connection is closed,
    /// and with [`DriverError::Overloaded`] when more than
    /// `inbound_capacity` messages wait for the shard.
    pub fn send(&self, msg: ClientMessage) -> Result<(), DriverError> {
        let inner = &self.inner;
        if self.is_closed() {
            return Err(DriverError::Closed);
        }
        if inner.shared.queued.fetch_add(1, Ordering::AcqRel) >= inner.inbound_capacity {
            inner.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(DriverError::Overloaded);
        }
        let input = Input::Message {
            conn: inner.id,
            msg,
            received: Instant::now(),
        };
        inner.shard.send(input).map_err(|_| {
            inner.shared.queued.fetch_sub(1, Ordering::AcqRel);
            DriverError::Closed
        })
    }

    /// Queues an `error` frame the host produced itself (bad JSON, an
    /// oversize frame), in order with the connection's other frames.
    pub fn reject(
        &self,
        code: ErrorCode,
        message: String,
        batch: Option<String>,
    ) -> Result<(), DriverError> {
        let inner = &self.inner;
        if self.is_closed() {
            return Err(DriverError::Closed);
        }
        let input = Input::Reject {
            conn: inner.id,
            code,
            message,
            batch: batch.map(Into::into),
        };
        inner.shard.send(input).map_err(|_| DriverError::Closed)
    }

    /// The transport closed: the connection's user session ends (status
    /// `ended`). Harmless to repeat; also done when the last clone drops.
    pub fn disconnect(&self) {
        let inner = &self.inner;
        if !inner.shared.closed.swap(true, Ordering::AcqRel) {
            let _ = inner.shard.send(Input::Disconnect { conn: inner.id });
        }
    }
}
