//! One WebSocket connection: a reader that checks and decodes client
//! frames and feeds them to the driver, and a writer that writes the
//! driver's outbound frames to the socket.
//!
//! - A text frame over the soft limit (`--max-frame-bytes`) gets
//!   `error PAYLOAD_TOO_LARGE`; one that is not a valid client message
//!   gets `error INVALID_MESSAGE`. The connection stays usable.
//! - A frame over the hard limit (4x) is refused by the WebSocket layer;
//!   the connection is then closed with 1009.
//! - When the driver closes the connection (`Outbound::Close`: 4002 after
//!   `session_timeout`, 1012 at shutdown, ...), the close frame is sent
//!   and the client gets a moment to answer it.
//! - When the client goes away, the connection is disconnected from the
//!   driver (its user session ends).
//! - Deadlines ([`Deadlines`]): a socket that has sent no `join` by its
//!   join deadline is closed with 4006 (`JOIN_TIMEOUT`; the first `join`
//!   frame disarms it, whatever the engine answers); any socket is closed
//!   with 4001 (`AUTH_FAILED`) when its token expires, so that the client
//!   gets a fresh one before it reconnects.
//! - An upsert whose `data` nests deeper than `--max-data-depth` gets
//!   `error DATA_TOO_DEEP` naming the batch; nothing of it is applied.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use huddle_core::ErrorCode;
use huddle_tokio::{ConnSender, Connection, DriverError, Outbound};
use huddle_wire::{ClientMessage, DecodeLimits};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::metrics;
use huddle_wire::close;

/// How long the client gets to answer our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Limits of one connection.
#[derive(Clone, Copy, Debug)]
pub struct FrameLimits {
    /// Above: `error PAYLOAD_TOO_LARGE`.
    pub soft: usize,
    /// Above: the WebSocket layer refuses the frame; close 1009.
    pub hard: usize,
    /// Longest wait for the socket to take one frame; a client that reads
    /// slower than that is dropped.
    pub write_timeout: Duration,
    /// What client frames are decoded with (data depth).
    pub decode: DecodeLimits,
}

/// When the server closes a socket whatever the client does.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// The `join` must have arrived by then (close 4006).
    pub join: Instant,
    /// The token expires (close 4001).
    pub token_expiry: Instant,
}

/// How the reading side ended.
#[derive(Debug, PartialEq, Eq)]
enum ReadEnd {
    /// The client sent a close frame (with this code, if any).
    Closed(Option<u16>),
    /// The socket ended or failed without a close frame.
    Gone,
    /// A frame over the hard limit.
    TooBig,
    /// No `join` by the join deadline.
    NoJoin,
}

/// Runs the connection until either side closes.
pub async fn run(
    socket: WebSocket,
    connection: Connection,
    limits: FrameLimits,
    deadlines: Deadlines,
) {
    let Connection {
        id,
        sender,
        outbound,
    } = connection;
    let (sink, stream) = socket.split();
    let (close_tx, close_rx) = mpsc::channel::<(u16, String)>(1);
    let writer = write_loop(sink, outbound, close_rx, limits.write_timeout);
    let reader = read_loop(stream, &sender, limits, deadlines.join);
    let expiry = tokio::time::sleep_until(deadlines.token_expiry);
    tokio::pin!(writer, reader, expiry);
    tokio::select! {
        end = &mut reader => {
            let close = match end {
                ReadEnd::TooBig => Some((close::MESSAGE_TOO_BIG, format!("frame over {} bytes", limits.hard))),
                ReadEnd::NoJoin => {
                    metrics::ws_closed("join_timeout");
                    Some((close::JOIN_TIMEOUT, "no join in time".to_owned()))
                }
                // Complete the client's close handshake by echoing its code.
                ReadEnd::Closed(code) => Some((code.unwrap_or(close::NORMAL), String::new())),
                ReadEnd::Gone => None,
            };
            // The close goes to the writer first (it prefers it over the
            // driver's queue, which the disconnect below ends), so the
            // user session ends at once and the close frame still goes out.
            let closing = close.is_some_and(|close| close_tx.try_send(close).is_ok());
            sender.disconnect();
            if closing {
                let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
            }
            tracing::debug!(conn = id.0, ?end, "client side ended");
        }
        () = &mut writer => {
            // Our close frame went out (or the socket broke): let the
            // client answer it, reading whatever still arrives.
            let _ = tokio::time::timeout(CLOSE_GRACE, &mut reader).await;
            tracing::debug!(conn = id.0, "server side closed");
        }
        () = &mut expiry => {
            // As for a client's close: the writer sends ours first, the
            // user session ends at once.
            metrics::ws_closed("token_expired");
            let closing = close_tx
                .try_send((close::AUTH_FAILED, "token expired".to_owned()))
                .is_ok();
            sender.disconnect();
            if closing {
                let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
            }
            tracing::debug!(conn = id.0, "token expired");
        }
    }
    sender.disconnect();
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

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
/// Most frames written with one flush.
const MAX_FRAMES_PER_FLUSH: usize = 64;

type Stream = futures_util::stream::SplitStream<WebSocket>;

fn close_message(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// Writes the driver's frames until a close (from the driver, or from the
/// reader via `close_rx`) has been sent, or the socket fails.
async fn write_loop(
    mut sink: Sink,
    mut outbound: mpsc::Receiver<Outbound>,
    mut close_rx: mpsc::Receiver<(u16, String)>,
    write_timeout: Duration,
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
                    // one flush: under load, one socket write per burst
                    // instead of one per frame.
                    let mut next = Some(first);
                    let mut fed = 0;
                    while let Some(frame) = next.take() {
                        match frame {
                            Outbound::Text(bytes) => {
                                let text = match Utf8Bytes::try_from(bytes) {
                                    Ok(text) => text,
                                    Err(e) => {
                                        tracing::error!(error = %e, "driver produced a frame that is not UTF-8");
                                        continue;
                                    }
                                };
                                if sink.feed(Message::Text(text)).await.is_err() {
                                    return;
                                }
                                fed += 1;
                            }
                            Outbound::Close { code, reason } => {
                                if code == close::REDIRECT {
                                    crate::metrics::redirect();
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

/// Reads client frames until the client closes, a frame is too big, or
/// no `join` came by `join_deadline`.
async fn read_loop(
    mut stream: Stream,
    sender: &ConnSender,
    limits: FrameLimits,
    join_deadline: Instant,
) -> ReadEnd {
    let mut joined = false;
    loop {
        let next = if joined {
            stream.next().await
        } else {
            match tokio::time::timeout_at(join_deadline, stream.next()).await {
                Ok(next) => next,
                Err(_) => return ReadEnd::NoJoin,
            }
        };
        let Some(frame) = next else { break };
        match frame {
            Ok(Message::Text(text)) => {
                joined |= handle_frame(sender, text.as_bytes(), limits);
            }
            Ok(Message::Binary(bytes)) => {
                metrics::frame_received(bytes.len());
                if !too_large(sender, bytes.len(), limits) {
                    refuse(
                        sender,
                        ErrorCode::InvalidMessage,
                        "binary frames are not supported: send JSON text frames".into(),
                    );
                }
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(frame)) => return ReadEnd::Closed(frame.map(|f| f.code)),
            Err(e) => {
                let text = e.to_string();
                tracing::debug!(error = %text, "websocket read failed");
                if text.contains("too long") || text.contains("Space limit") {
                    metrics::frame_refused("FRAME_TOO_BIG");
                    return ReadEnd::TooBig;
                }
                return ReadEnd::Gone;
            }
        }
    }
    ReadEnd::Gone
}

/// Checks, decodes and forwards one text frame. Returns whether it was a
/// `join` handed to the driver.
fn handle_frame(sender: &ConnSender, bytes: &[u8], limits: FrameLimits) -> bool {
    metrics::frame_received(bytes.len());
    if too_large(sender, bytes.len(), limits) {
        return false;
    }
    let message = match ClientMessage::from_json_with(bytes, &limits.decode) {
        Ok(message) => message,
        Err(e) => {
            let code = e.code();
            metrics::frame_refused(code.as_str());
            let _ = sender.reject(code, e.to_string(), e.batch().map(str::to_owned));
            return false;
        }
    };
    let batch = match &message {
        ClientMessage::Mutate { batch, .. } => Some(batch.to_string()),
        _ => None,
    };
    let join = matches!(message, ClientMessage::Join { .. });
    match sender.send(message) {
        Ok(()) => join,
        Err(DriverError::Overloaded) => {
            metrics::frame_refused(ErrorCode::RateLimited.as_str());
            let _ = sender.reject(
                ErrorCode::RateLimited,
                "too many messages waiting: slow down".into(),
                batch,
            );
            false
        }
        // Closed: the writer is closing the socket.
        Err(_) => false,
    }
}

/// Answers a frame over the soft limit with `PAYLOAD_TOO_LARGE`.
fn too_large(sender: &ConnSender, len: usize, limits: FrameLimits) -> bool {
    if len <= limits.soft {
        return false;
    }
    refuse(
        sender,
        ErrorCode::PayloadTooLarge,
        format!(
            "frame of {len} bytes is over the limit of {} bytes",
            limits.soft
        ),
    );
    true
}

fn refuse(sender: &ConnSender, code: ErrorCode, message: String) {
    metrics::frame_refused(code.as_str());
    let _ = sender.reject(code, message, None);
}
