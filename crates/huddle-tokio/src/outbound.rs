//! A connection's outbound queue: the frames the driver has for its
//! socket, bounded in frames, handed over a shard tick at a time.
//!
//! The shard stages what one wake-up of its task (a tick) produces for a
//! connection and hands all of it over at the end of the tick in one go
//! ([`OutboundSender::hand_over`]): one message on the queue's channel,
//! so the host's writer is woken once per tick, finds every frame of the
//! tick there and writes them with one flush, instead of being woken by
//! the first frame and writing it before the shard has queued the rest.
//! [`OutboundQueue`] gives the frames back one by one, in order.
//!
//! The bound is in frames, as before: the queue holds at most
//! `outbound_capacity` frames ([`DriverConfig::outbound_capacity`]) plus
//! [`RESERVED`] for the last ones (an `error` and the close). A frame
//! counts from its hand-over until the host takes it from the queue; the
//! shard checks the room left when it stages a frame (a frame that finds
//! no room makes the connection a slow consumer), and only the shard adds
//! frames, so a tick's hand-over always fits.
//!
//! [`DriverConfig::outbound_capacity`]: crate::DriverConfig::outbound_capacity

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::text_frame::TextFrame;

/// Slots of every outbound queue kept for the final error and close.
pub(crate) const RESERVED: usize = 2;

/// A frame for the host to write to the connection's socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// One JSON text frame. Encoded once per notice: every recipient of a
    /// broadcast shares the same bytes (and the recipients of the same
    /// batches of a tick share their `events` frame).
    Text(TextFrame),
    /// Close the socket with this code and reason; nothing follows. See
    /// [`crate::close`] for the codes.
    Close {
        /// The WebSocket close code.
        code: u16,
        /// A short reason.
        reason: String,
    },
}

impl Outbound {
    /// The text of a `Text` frame.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Outbound::Text(text) => Some(text.as_str()),
            Outbound::Close { .. } => None,
        }
    }
}

/// A new queue of `capacity` frames (at least one) plus [`RESERVED`].
pub(crate) fn queue(capacity: usize) -> (OutboundSender, OutboundQueue) {
    let capacity = capacity.max(1);
    // A hand-over holds at least one frame, so the channel never holds
    // more hand-overs than the queue holds frames.
    let (tx, rx) = mpsc::channel(capacity + RESERVED);
    let queued = Arc::new(AtomicUsize::new(0));
    let sender = OutboundSender {
        tx,
        queued: queued.clone(),
        capacity,
    };
    let queue = OutboundQueue {
        rx,
        current: Vec::new().into_iter(),
        queued,
    };
    (sender, queue)
}

/// The shard's end of a connection's outbound queue.
#[derive(Debug)]
pub(crate) struct OutboundSender {
    tx: mpsc::Sender<Vec<Outbound>>,
    /// Frames handed over and not yet taken by the host.
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

/// The host dropped its end of the queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct QueueClosed;

impl OutboundSender {
    /// Whether `frames` more frames fit in the queue besides what it holds
    /// (the reserved slots left aside).
    pub(crate) fn has_room(&self, frames: usize) -> bool {
        self.queued.load(Ordering::Acquire).saturating_add(frames) <= self.capacity
    }

    /// Hands `frames` (not empty) to the host's end at once. The caller
    /// checked the room when it staged them ([`OutboundSender::has_room`];
    /// the final error and close go into the reserved slots).
    pub(crate) fn hand_over(&self, frames: Vec<Outbound>) -> Result<(), QueueClosed> {
        if frames.is_empty() {
            return Ok(());
        }
        let n = frames.len();
        self.queued.fetch_add(n, Ordering::AcqRel);
        match self.tx.try_send(frames) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(QueueClosed),
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Not while every hand-over holds a frame: the channel has
                // as many slots as the queue has frames.
                self.queued.fetch_sub(n, Ordering::AcqRel);
                tracing::error!(frames = n, "an outbound queue's channel is full");
                Ok(())
            }
        }
    }
}

/// The host's end of a connection's outbound queue: the frames to write
/// to its socket, in order; an [`Outbound::Close`] is the last. It ends
/// (`None`) when the driver has stopped without a close.
///
/// The driver hands over a shard tick's frames together: a writer that
/// takes every frame ready ([`OutboundQueue::try_recv`] after
/// [`OutboundQueue::recv`]) and then flushes writes them with one flush.
/// Read it promptly: when it holds `outbound_capacity` frames the
/// connection is closed as a slow consumer.
#[derive(Debug)]
pub struct OutboundQueue {
    rx: mpsc::Receiver<Vec<Outbound>>,
    /// The rest of the hand-over being read.
    current: std::vec::IntoIter<Outbound>,
    queued: Arc<AtomicUsize>,
}

impl OutboundQueue {
    /// The next frame; `None` once the driver has stopped and every frame
    /// was taken. Cancel-safe: a frame is taken only when it is returned.
    pub async fn recv(&mut self) -> Option<Outbound> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next frame (see [`OutboundQueue::recv`]).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        loop {
            if let Some(frame) = self.take() {
                return Poll::Ready(Some(frame));
            }
            match ready!(self.rx.poll_recv(cx)) {
                Some(frames) => self.current = frames.into_iter(),
                None => return Poll::Ready(None),
            }
        }
    }

    /// The next frame if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Result<Outbound, TryRecvError> {
        loop {
            if let Some(frame) = self.take() {
                return Ok(frame);
            }
            self.current = self.rx.try_recv()?.into_iter();
        }
    }

    /// Frames queued and not yet taken.
    pub fn len(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// No frame is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&mut self) -> Option<Outbound> {
        let frame = self.current.next()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Outbound {
        Outbound::Text(TextFrame::from(s.to_owned()))
    }

    #[tokio::test]
    async fn a_hand_over_arrives_whole_and_in_order() {
        let (tx, mut rx) = queue(4);
        assert!(rx.is_empty());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.hand_over(vec![text("a"), text("b")]).unwrap();
        tx.hand_over(vec![text("c")]).unwrap();
        assert_eq!(rx.len(), 3);
        assert_eq!(rx.recv().await, Some(text("a")));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.try_recv(), Ok(text("b")));
        assert_eq!(rx.try_recv(), Ok(text("c")));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.is_empty());
        drop(tx);
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn room_is_counted_in_frames_until_the_host_takes_them() {
        let (tx, mut rx) = queue(3);
        assert!(tx.has_room(3));
        assert!(!tx.has_room(4));
        tx.hand_over(vec![text("a"), text("b")]).unwrap();
        assert!(tx.has_room(1));
        assert!(!tx.has_room(2));
        assert_eq!(rx.try_recv(), Ok(text("a")));
        assert!(tx.has_room(2));
        // The reserved slots take the last frames past the capacity.
        tx.hand_over(vec![text("c"), text("d")]).unwrap();
        let close = Outbound::Close {
            code: 1008,
            reason: "slow".into(),
        };
        tx.hand_over(vec![text("e"), close.clone()]).unwrap();
        assert_eq!(rx.len(), 5);
        assert!(!tx.has_room(0));
        let rest: Vec<Outbound> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(rest, [text("b"), text("c"), text("d"), text("e"), close]);
        assert!(tx.has_room(3));
    }

    #[test]
    fn a_dropped_host_end_is_reported() {
        let (tx, rx) = queue(2);
        drop(rx);
        assert_eq!(tx.hand_over(vec![text("a")]), Err(QueueClosed));
        assert_eq!(tx.hand_over(Vec::new()), Ok(()));
    }
}
