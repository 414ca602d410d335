//! [`SocketOptions`]: the deadlines and decode limits the WebSocket pump
//! applies to every socket, with their defaults (those of `huddle serve`).
//! The frame limit is not among them: it is the driver's
//! ([`DriverConfig::max_frame_bytes`](crate::DriverConfig::max_frame_bytes)),
//! one setting for the frames sent and those read.

use std::time::Duration;

use huddle_wire::DecodeLimits;

pub use crate::config::DEFAULT_MAX_FRAME_BYTES;

/// Longest wait for a socket to take one outgoing frame (10 s).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait after the upgrade for the client's `join` (10 s).
pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The hard frame limit, as a multiple of the driver's
/// [`max_frame_bytes`](crate::DriverConfig::max_frame_bytes) (4): up to
/// it a frame is read and answered `PAYLOAD_TOO_LARGE`, the socket stays;
/// beyond it the WebSocket layer refuses the frame without buffering it
/// and the pump closes the socket with 1009.
pub const HARD_FRAME_MULTIPLE: usize = 4;

/// The hard frame limit for a driver frame limit of `max_frame_bytes`:
/// [`HARD_FRAME_MULTIPLE`] times it, saturating.
pub fn hard_frame_bytes(max_frame_bytes: usize) -> usize {
    max_frame_bytes.saturating_mul(HARD_FRAME_MULTIPLE)
}

/// How the pump treats a socket. Build it with [`SocketOptions::new`] (the
/// defaults) and the setters:
///
/// | setting | default | past it |
/// |---|---|---|
/// | [`write_timeout`](Self::write_timeout) | 10 s | a socket that takes longer to take one frame is dropped |
/// | [`join_timeout`](Self::join_timeout) | 10 s | no `join` by then after the upgrade: close 4006 |
/// | [`decode`](Self::decode) | [`DecodeLimits::default`] (data depth 64) | `error DATA_TOO_DEEP` |
///
/// The frame limits come from the driver the socket is pumped for: a
/// client frame over its
/// [`max_frame_bytes`](crate::DriverConfig::max_frame_bytes) gets `error
/// PAYLOAD_TOO_LARGE` (the socket stays), one over [`HARD_FRAME_MULTIPLE`]
/// times it closes the socket with 1009.
///
/// ```
/// use std::time::Duration;
/// use huddle_tokio::axum::SocketOptions;
///
/// let options = SocketOptions::new().write_timeout(Duration::from_secs(5));
/// assert_eq!(options.write_timeout, Duration::from_secs(5));
/// assert_eq!(options.join_timeout, Duration::from_secs(10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketOptions {
    /// Longest wait for the socket to take one frame (or a flush of
    /// several); a client that reads slower is dropped.
    pub write_timeout: Duration,
    /// The `join` must arrive this long after the upgrade, or the socket
    /// is closed with 4006 (`JOIN_TIMEOUT`). The first `join` frame handed
    /// to the driver disarms it, whatever the engine answers.
    pub join_timeout: Duration,
    /// What client frames are decoded with (the depth of an upsert's
    /// `data`).
    pub decode: DecodeLimits,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            join_timeout: DEFAULT_JOIN_TIMEOUT,
            decode: DecodeLimits::default(),
        }
    }
}

impl SocketOptions {
    /// The defaults (the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the write timeout.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets the join timeout.
    pub fn join_timeout(mut self, timeout: Duration) -> Self {
        self.join_timeout = timeout;
        self
    }

    /// Sets the decode limits.
    pub fn decode(mut self, limits: DecodeLimits) -> Self {
        self.decode = limits;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_limit_is_four_times_the_drivers_and_saturates() {
        assert_eq!(hard_frame_bytes(DEFAULT_MAX_FRAME_BYTES), 4 << 20);
        assert_eq!(hard_frame_bytes(100), 400);
        assert_eq!(hard_frame_bytes(usize::MAX), usize::MAX);
    }
}
