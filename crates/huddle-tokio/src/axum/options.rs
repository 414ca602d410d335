//! [`SocketOptions`]: the limits and deadlines the WebSocket pump applies
//! to every socket, with their defaults (those of `huddle serve`).

use std::time::Duration;

use huddle_wire::DecodeLimits;

pub use crate::config::DEFAULT_MAX_FRAME_BYTES;

/// Longest wait for a socket to take one outgoing frame (10 s).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait after the upgrade for the client's `join` (10 s).
pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How the pump treats a socket. Build it with [`SocketOptions::new`] (the
/// defaults) and the setters:
///
/// | setting | default | past it |
/// |---|---|---|
/// | [`max_frame_bytes`](Self::max_frame_bytes) | 1 MiB | `error PAYLOAD_TOO_LARGE`; the socket stays |
/// | [`hard_frame_bytes`](Self::hard_frame_bytes) | 4 × `max_frame_bytes` | the WebSocket layer refuses the frame: close 1009 |
/// | [`write_timeout`](Self::write_timeout) | 10 s | a socket that takes longer to take one frame is dropped |
/// | [`join_timeout`](Self::join_timeout) | 10 s | no `join` by then after the upgrade: close 4006 |
/// | [`decode`](Self::decode) | [`DecodeLimits::default`] (data depth 64) | `error DATA_TOO_DEEP` |
///
/// ```
/// use std::time::Duration;
/// use huddle_tokio::axum::SocketOptions;
///
/// let options = SocketOptions::new()
///     .max_frame_bytes(64 * 1024)
///     .write_timeout(Duration::from_secs(5));
/// assert_eq!(options.hard_frame_bytes, 256 * 1024);
/// assert_eq!(options.join_timeout, Duration::from_secs(10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketOptions {
    /// The soft frame limit: a text or binary frame above it gets `error
    /// PAYLOAD_TOO_LARGE` and is dropped; the connection stays.
    pub max_frame_bytes: usize,
    /// The hard frame limit: the WebSocket layer refuses a frame (or
    /// message) above it and the pump closes the socket with 1009.
    pub hard_frame_bytes: usize,
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
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            hard_frame_bytes: DEFAULT_MAX_FRAME_BYTES * 4,
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

    /// Sets the soft frame limit (at least 1), and the hard one to four
    /// times it (saturating; set it after this to choose another).
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes.max(1);
        self.hard_frame_bytes = self.max_frame_bytes.saturating_mul(4);
        self
    }

    /// Sets the hard frame limit (never below the soft one).
    pub fn hard_frame_bytes(mut self, bytes: usize) -> Self {
        self.hard_frame_bytes = bytes.max(self.max_frame_bytes);
        self
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
    fn the_hard_limit_follows_the_soft_one_and_never_goes_below_it() {
        let options = SocketOptions::new();
        assert_eq!(options.max_frame_bytes, 1 << 20);
        assert_eq!(options.hard_frame_bytes, 4 << 20);
        let options = SocketOptions::new().max_frame_bytes(0);
        assert_eq!((options.max_frame_bytes, options.hard_frame_bytes), (1, 4));
        let options = SocketOptions::new()
            .max_frame_bytes(100)
            .hard_frame_bytes(50);
        assert_eq!(options.hard_frame_bytes, 100);
        let options = SocketOptions::new().max_frame_bytes(usize::MAX);
        assert_eq!(options.hard_frame_bytes, usize::MAX);
    }
}
