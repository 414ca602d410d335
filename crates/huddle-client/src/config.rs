//! The client's configuration, with the spec's defaults.

use core::time::Duration;

/// How reconnect attempts are spaced and how many there are.
///
/// Attempt 1 waits `first_delay`; attempt `n >= 2` waits
/// `min(base_delay * multiplier^(n-2), max_delay)`. The defaults give the
/// spec's 1, 2, 4, 8, 16 s over 5 attempts; a `first_delay` of zero makes
/// the first attempt immediate. With `jitter = j > 0` each delay is scaled
/// by a factor drawn uniformly from `[1 - j, 1 + j]`, from the seed given to
/// [`crate::Client::new`] (so runs stay reproducible).
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    /// The wait before the first attempt after a drop.
    pub first_delay: Duration,
    /// The wait before the second attempt.
    pub base_delay: Duration,
    /// Growth factor from one attempt to the next.
    pub multiplier: u32,
    /// Upper bound of any wait (before jitter).
    pub max_delay: Duration,
    /// Attempts before the client gives up (`failed`).
    pub max_attempts: u32,
    /// Relative jitter in `[0, 1]`; 0 disables it.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first_delay: Duration::from_secs(1),
            base_delay: Duration::from_secs(2),
            multiplier: 2,
            max_delay: Duration::from_secs(16),
            max_attempts: 5,
            jitter: 0.0,
        }
    }
}

/// Everything a [`crate::Client`] can be tuned with.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    /// Reconnect schedule.
    pub backoff: Backoff,
    /// How long an attempt may take from `Connect` to `joined` before it
    /// counts as failed; a `joined` in parts restarts it at the `joined`
    /// and at every part but the last.
    pub attempt_timeout: Duration,
    /// Most unacknowledged mutations held (sent and not yet acknowledged,
    /// plus queued offline); `mutate` beyond it fails with `QueueFull`.
    pub max_unacked_mutations: usize,
    /// Most mutations in one batch (the server's `--max-batch`).
    pub max_batch_len: usize,
    /// How often a batch rejected with a retryable error is sent again
    /// before it is dropped.
    pub max_batch_retries: u32,
    /// The wait before such a retry.
    pub batch_retry_delay: Duration,
    /// Recovery data older than this is refused as stale.
    pub recovery_max_age: Duration,
    /// At most one cursor update per interval; the latest position within
    /// an interval is sent when it ends.
    pub cursor_interval: Duration,
    /// Keep-alive ping interval while connected (`None`: no pings).
    pub ping_interval: Option<Duration>,
    /// A connection whose pong does not arrive within this is treated as
    /// dropped.
    pub pong_timeout: Duration,
    /// Most `redirect`s followed in a row (from one join to the next
    /// `joined`); one more stops the client with
    /// [`DisconnectReason::TooManyRedirects`](crate::DisconnectReason::TooManyRedirects).
    /// Behind a load balancer one hop is normal.
    pub max_redirects: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            backoff: Backoff::default(),
            attempt_timeout: Duration::from_secs(10),
            max_unacked_mutations: 10_000,
            max_batch_len: 1000,
            max_batch_retries: 3,
            batch_retry_delay: Duration::from_secs(1),
            recovery_max_age: Duration::from_secs(5 * 60),
            cursor_interval: Duration::from_millis(50),
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(10),
            max_redirects: 3,
        }
    }
}
