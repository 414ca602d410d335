//! WebSocket close codes of the protocol (`docs/protocol.md`, "Close
//! codes"), defined once for the server, the driver and the clients.
//!
//! The split that matters to a client: RFC 6455 codes other than
//! [`NORMAL`] (1001, 1008, 1012, ...) are unexpected drops that it retries
//! with backoff; [`NORMAL`] and the application range 4000-4999 are
//! deliberate closes that it does not retry, except [`AUTH_FAILED`], which
//! asks for new credentials, [`JOIN_TIMEOUT`], which it retries, and
//! [`REDIRECT`], after which it connects to the node the `redirect` frame
//! named.

/// A normal close: the peer is done (not retried).
pub const NORMAL: u16 = 1000;
/// The board session was closed by the host (after a `session_closed`
/// frame) while the server keeps running (RFC 6455 "going away"):
/// reconnect later.
pub const GOING_AWAY: u16 = 1001;
/// The connection's outbound queue was full: the client read too slowly
/// (after an `error` frame with code `SLOW_CONSUMER`). RFC 6455's "policy
/// violation", not an application code 4000-4999, so that clients
/// reconnect and re-sync instead of treating it as deliberate.
pub const SLOW_CONSUMER: u16 = 1008;
/// A frame over the hard frame limit (RFC 6455 "message too big"): the
/// client must not send it again.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server shuts down (RFC 6455 "service restart"): reconnect later.
pub const SERVICE_RESTART: u16 = 1012;
/// The credentials were rejected: get new ones before reconnecting.
pub const AUTH_FAILED: u16 = 4001;
/// The user session timed out for inactivity (after a `session_timeout`
/// frame): do not reconnect by itself.
pub const SESSION_TIMEOUT: u16 = 4002;

/// The join was redirected (after a `redirect` frame): another node holds
/// the board's lease. Connect to the frame's `url` at once, with the same
/// token and the same `join` (a bounded number of hops, no backoff).
pub const REDIRECT: u16 = 4003;

/// The connection sent no `join` within the server's join deadline
/// (`--join-timeout`): an idle socket is not kept. Retryable: reconnect
/// with backoff and send `join` at once.
pub const JOIN_TIMEOUT: u16 = 4006;

/// Whether a client should treat a close with this code as deliberate
/// (not retried): [`NORMAL`] and the application range 4000-4999, except
/// [`JOIN_TIMEOUT`], which is retried like a drop.
pub fn is_deliberate(code: u16) -> bool {
    code == NORMAL || ((4000..=4999).contains(&code) && code != JOIN_TIMEOUT)
}
