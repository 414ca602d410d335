//! The WebSocket pump for axum 0.8 (the `axum` feature): what every host
//! of the driver would otherwise write itself, and what `huddle serve`
//! runs for each socket.
//!
//! - A frame over the driver's frame limit
//!   ([`DriverConfig::max_frame_bytes`](crate::DriverConfig::max_frame_bytes),
//!   the same limit as for the frames it sends) gets `error PAYLOAD_TOO_LARGE`; one that is not a valid client
//!   message gets `error INVALID_MESSAGE` (`DATA_TOO_DEEP` for `data`
//!   nested deeper than [`SocketOptions::decode`] allows, naming the
//!   batch); a binary frame gets `INVALID_MESSAGE`; a message the driver
//!   will not queue ([`DriverError::Overloaded`](crate::DriverError::Overloaded))
//!   gets `RATE_LIMITED`. The connection stays usable.
//! - A frame over the hard limit ([`HARD_FRAME_MULTIPLE`] times the
//!   driver's) is refused by the WebSocket layer; the socket is then
//!   closed with 1009.
//! - Frames to the client are written in bursts (up to 64 per flush), each
//!   write bounded by [`SocketOptions::write_timeout`]: a client that
//!   stops reading is dropped (and, before that, the driver disconnects a
//!   connection whose queue fills: close 1008, `SLOW_CONSUMER`).
//! - When the driver closes the connection ([`Outbound::Close`](crate::Outbound::Close): 4002
//!   after `session_timeout`, 1001, 1012 at shutdown, 4003 with a
//!   redirect), the close frame is sent and the client gets 2 s to answer
//!   it. When the driver stops, the socket is closed with 1012.
//! - A client's close frame is echoed (its code), and the connection is
//!   disconnected from the driver at once (its user session ends); so is
//!   a socket that just goes away.
//! - Deadlines: a socket that has sent no `join` within
//!   [`SocketOptions::join_timeout`] of the upgrade is closed with 4006
//!   (`JOIN_TIMEOUT`); a socket with an expiry (its credentials') is
//!   closed with 4001 (`AUTH_FAILED`) then, so that the client gets fresh
//!   credentials before it reconnects.
//!
//! What it counts goes to the driver's [`Metrics`](crate::Metrics)
//! (frames received and refused, deadline closes, redirects).
//!
//! [`accept`] is the whole route handler's part once the app has
//! authenticated the user; [`upgrade`] and [`serve_socket`] are its two
//! halves, for a host that connects first (to answer a refused
//! [`Driver::connect`] its own way) or upgrades itself. [`serve_until`]
//! runs the app's axum server with the driver and stops both in the
//! driver's shutdown order.

mod options;
mod read;
mod serve;
mod sink;

use std::time::Duration;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use huddle_store::Store;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use options::{
    hard_frame_bytes, SocketOptions, DEFAULT_JOIN_TIMEOUT, DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_WRITE_TIMEOUT, HARD_FRAME_MULTIPLE,
};
pub use serve::{serve_until, ServeError};

use crate::close;
use crate::connection::Connection;
use crate::driver::Driver;
use crate::member::Member;
use read::ReadEnd;

/// How long the client gets to answer our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The WebSocket read buffer: tungstenite zero-fills its whole read buffer
/// before every socket read, and at the 128 KiB default that memset was
/// the server's largest CPU cost under load. Bigger frames still arrive,
/// over more reads.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Connects `member` to the driver and upgrades the socket, pumping it
/// with `options` until either side closes. A connection the driver
/// refuses (it is shutting down) gets `503 Service Unavailable` instead.
///
/// ```no_run
/// use axum::extract::{Path, State, WebSocketUpgrade};
/// use axum::response::Response;
/// use huddle_store::InMemoryStore;
/// use huddle_tokio::axum::{accept, SocketOptions};
/// use huddle_tokio::{Driver, Member};
///
/// async fn ws(
///     ws: WebSocketUpgrade,
///     Path(board): Path<String>,
///     State(driver): State<Driver<InMemoryStore>>,
/// ) -> Response {
///     // Authentication is the app's: here everyone is "guest".
///     let member = Member::new(board.as_str(), "guest", "Guest");
///     accept(&driver, ws, member, SocketOptions::new())
/// }
/// ```
pub fn accept<S: Store + 'static>(
    driver: &Driver<S>,
    ws: WebSocketUpgrade,
    member: Member,
    options: SocketOptions,
) -> Response {
    match driver.connect(member) {
        Ok(connection) => upgrade(ws, connection, options, None),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Upgrades `ws` with the hard frame limit of the connection's driver
/// ([`hard_frame_bytes`]) and pumps the socket for `connection`
/// ([`serve_socket`]); `expires` closes it with 4001 then. If the upgrade
/// fails, the connection is dropped, which disconnects it.
pub fn upgrade(
    ws: WebSocketUpgrade,
    connection: Connection,
    options: SocketOptions,
    expires: Option<Instant>,
) -> Response {
    let hard = hard_frame_bytes(connection.sender.max_frame_bytes());
    ws.max_message_size(hard)
        .max_frame_size(hard)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve_socket(socket, connection, options, expires))
}

/// Pumps an upgraded socket for `connection` until either side closes
/// (see the [module docs](self)); the join deadline counts from now. The
/// upgrade should have set the hard frame limit (as [`upgrade`] does):
/// without it the WebSocket layer's own limits apply.
pub async fn serve_socket(
    socket: WebSocket,
    connection: Connection,
    options: SocketOptions,
    expires: Option<Instant>,
) {
    let Connection {
        id,
        sender,
        outbound,
    } = connection;
    let metrics = sender.metrics();
    let join_deadline = Instant::now() + options.join_timeout;
    let (sink, stream) = socket.split();
    let (close_tx, close_rx) = mpsc::channel::<(u16, String)>(1);
    let writer = sink::write_loop(sink, outbound, close_rx, options.write_timeout, metrics);
    let reader = read::read_loop(stream, &sender, options, join_deadline);
    let expiry = async {
        match expires {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(writer, reader, expiry);
    tokio::select! {
        end = &mut reader => {
            let close = match end {
                ReadEnd::TooBig => Some((close::MESSAGE_TOO_BIG, format!("frame over {} bytes", hard_frame_bytes(sender.max_frame_bytes())))),
                ReadEnd::NoJoin => {
                    metrics.socket_closed("join_timeout");
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
            metrics.socket_closed("token_expired");
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
