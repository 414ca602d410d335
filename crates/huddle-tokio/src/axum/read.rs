//! The reading side of a socket: client frames checked against the
//! limits, decoded, and handed to the driver in order.

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use huddle_core::ErrorCode;
use huddle_wire::ClientMessage;
use tokio::time::Instant;

use super::SocketOptions;
use crate::connection::ConnSender;
use crate::error::DriverError;

/// How the reading side ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadEnd {
    /// The client sent a close frame (with this code, if any).
    Closed(Option<u16>),
    /// The socket ended or failed without a close frame.
    Gone,
    /// A frame over the hard limit.
    TooBig,
    /// No `join` by the join deadline.
    NoJoin,
}

/// Reads client frames until the client closes, a frame is too big, or
/// no `join` came by `join_deadline`.
pub(super) async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    sender: &ConnSender,
    options: SocketOptions,
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
                joined |= handle_frame(sender, text.as_str(), options);
            }
            Ok(Message::Binary(bytes)) => {
                sender.metrics().frame_received(bytes.len());
                if !too_large(sender, bytes.len()) {
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
                    sender.metrics().frame_refused("FRAME_TOO_BIG");
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
fn handle_frame(sender: &ConnSender, frame: &str, options: SocketOptions) -> bool {
    let metrics = sender.metrics();
    metrics.frame_received(frame.len());
    if too_large(sender, frame.len()) {
        return false;
    }
    let message = match ClientMessage::from_text_with(frame, &options.decode) {
        Ok(message) => message,
        Err(e) => {
            let code = e.code();
            metrics.frame_refused(code.as_str());
            let _ = sender.reject(code, e.to_string(), e.batch().map(str::to_owned));
            return false;
        }
    };
    // The batch id, shared (not copied), for the refusal below.
    let batch = match &message {
        ClientMessage::Mutate { batch, .. } => Some(batch.clone()),
        _ => None,
    };
    let join = matches!(message, ClientMessage::Join { .. });
    match sender.send(message) {
        Ok(()) => join,
        Err(DriverError::Overloaded) => {
            metrics.frame_refused(ErrorCode::RateLimited.as_str());
            let _ = sender.reject(
                ErrorCode::RateLimited,
                "too many messages waiting: slow down".into(),
                batch.map(|b| b.as_str().to_owned()),
            );
            false
        }
        // Closed: the writer is closing the socket.
        Err(_) => false,
    }
}

/// Answers a frame over the driver's frame limit with `PAYLOAD_TOO_LARGE`.
fn too_large(sender: &ConnSender, len: usize) -> bool {
    let limit = sender.max_frame_bytes();
    if len <= limit {
        return false;
    }
    refuse(
        sender,
        ErrorCode::PayloadTooLarge,
        format!("frame of {len} bytes is over the limit of {limit} bytes"),
    );
    true
}

fn refuse(sender: &ConnSender, code: ErrorCode, message: String) {
    sender.metrics().frame_refused(code.as_str());
    let _ = sender.reject(code, message, None);
}
