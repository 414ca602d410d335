//! Close codes the driver sends in [`Outbound::Close`](crate::Outbound::Close).

/// The user session timed out for inactivity (after a `session_timeout`
/// frame).
pub const SESSION_TIMEOUT: u16 = 4002;
/// The connection's outbound queue was full: the client read too slowly
/// (after an `error` frame with code `SLOW_CONSUMER`). RFC 6455's "policy
/// violation", not an application code 4000-4999: the Rust client treats
/// those as deliberate closes and would not reconnect, while a slow
/// consumer should reconnect and re-sync (delta sync).
pub const SLOW_CONSUMER: u16 = 1008;
/// The driver shuts down (RFC 6455 "service restart"): reconnect later.
pub const SERVICE_RESTART: u16 = 1012;
/// The board session was closed by the host (after a `session_closed`
/// frame) while the driver keeps running (RFC 6455 "going away").
pub const GOING_AWAY: u16 = 1001;
