//! The writing side of a socket: the driver's frames out, in bursts with
//! one flush each, every write bounded by the write timeout, ending with
//! a close frame.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::mpsc;

use crate::close;
use crate::metrics::Metrics;
use crate::outbound::{Outbound, OutboundQueue};

/// Most frames written with one flush.
const MAX_FRAMES_PER_FLUSH: usize = 64;

type Sink = SplitSink<WebSocket, Message>;

/// A sink whose sends fail after a time limit (a client that stopped
/// reading must not hold its connection open forever).
struct TimedSink<'a> {
    sink: &'a mut Sink,
    limit: Duration,
}

impl TimedSink<'_> {
    /// Sends a close frame and flushes. After the client's own close frame
    /// the WebSocket layer has queued its echo already and refuses a second
    /// close; flushing then sends the echo.
    async fn close(&mut self, code: u16, reason: String) {
        let _ = self.send(close_message(code, reason)).await;
        let _ = tokio::time::timeout(self.limit, self.sink.close()).await;
    }

    async fn send(&mut self, message: Message) -> Result<(), ()> {
        self.timed(|sink| sink.send(message)).await
    }

    /// Queues a frame without flushing (the WebSocket layer writes out
    /// when its buffer fills or on [`TimedSink::flush`]).
    async fn feed(&mut self, message: Message) -> Result<(), ()> {
        self.timed(|sink| sink.feed(message)).await
    }

    async fn flush(&mut self) -> Result<(), ()> {
        self.timed(|sink| sink.flush()).await
    }

    async fn timed<'s, F, Fut>(&'s mut self, op: F) -> Result<(), ()>
    where
        F: FnOnce(&'s mut Sink) -> Fut,
        Fut: std::future::Future<Output = Result<(), axum::Error>>,
    {
        match tokio::time::timeout(self.limit, op(self.sink)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(()),
            Err(_) => {
                tracing::info!(limit = ?self.limit, "client too slow to read: dropping it");
                Err(())
            }
        }
    }
}

fn close_message(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// Writes the driver's frames until a close (from the driver, or from the
/// reading side via `close_rx`) has been sent, or the socket fails.
pub(super) async fn write_loop(
    mut sink: Sink,
    mut outbound: OutboundQueue,
    mut close_rx: mpsc::Receiver<(u16, String)>,
    write_timeout: Duration,
    metrics: &Metrics,
) {
    let mut sink = TimedSink {
        sink: &mut sink,
        limit: write_timeout,
    };
    loop {
        tokio::select! {
            biased;
            Some((code, reason)) = close_rx.recv() => {
                sink.close(code, reason).await;
                return;
            }
            frame = outbound.recv() => match frame {
                Some(first) => {
                    // Write every frame already queued (up to a bound) with
                    // one flush: a shard tick's frames arrive together, so
                    // one socket write per tick instead of one per frame.
                    let mut next = Some(first);
                    let mut fed = 0;
                    while let Some(frame) = next.take() {
                        match frame {
                            Outbound::Text(text) => {
                                if sink.feed(Message::Text(text.into_axum())).await.is_err() {
                                    return;
                                }
                                fed += 1;
                            }
                            Outbound::Close { code, reason } => {
                                if code == close::REDIRECT {
                                    metrics.redirect();
                                }
                                sink.close(code, reason).await;
                                return;
                            }
                        }
                        if fed < MAX_FRAMES_PER_FLUSH {
                            next = outbound.try_recv().ok();
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
                None => {
                    sink.close(close::SERVICE_RESTART, "server stopped".into()).await;
                    return;
                }
            }
        }
    }
}
