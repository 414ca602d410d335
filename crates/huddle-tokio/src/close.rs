//! Close codes the driver sends in [`Outbound::Close`](crate::Outbound::Close).

/// The user session timed out for inactivity (after a `session_timeout`
/// frame).
pub const SESSION_TIMEOUT: u16 = 4002;
/// The connection's outbound queue was full: the client read too slowly
/// (after an `error` frame with code `SLOW_CONSUMER`). Also RFC 6455's
/// 1008 would do; 4008 tells it apart from other policy closes.
pub const SLOW_CONSUMER: u16 = 4008;
/// The driver shuts down (RFC 6455 "service restart"): reconnect later.
pub const SERVICE_RESTART: u16 = 1012;
/// The board session was closed by the host (after a `session_closed`
/// frame) while the driver keeps running (RFC 6455 "going away").
pub const GOING_AWAY: u16 = 1001;

/// The `code` of the `error` frame sent to a slow consumer.
pub const SLOW_CONSUMER_CODE: &str = "SLOW_CONSUMER";
