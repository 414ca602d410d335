//! The runtime clock: engine [`Timestamp`]s (wall-clock milliseconds) from
//! tokio's [`Instant`], so that tests with paused time see time move only
//! when they advance it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use huddle_core::Timestamp;
use tokio::time::Instant;

/// A wall-clock anchor taken once at start, advanced by tokio's monotonic
/// clock: the engine's `now` never jumps with the system clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: Instant,
    anchor_ms: u64,
}

impl Clock {
    pub(crate) fn start() -> Self {
        let anchor = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Clock {
            start: Instant::now(),
            anchor_ms: u64::try_from(anchor.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Now, for the engine.
    pub(crate) fn now(&self) -> Timestamp {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        Timestamp::from_millis(self.anchor_ms.saturating_add(elapsed))
    }

    /// The instant at which [`now`](Self::now) reaches `t` (far in the
    /// future if it cannot be represented).
    pub(crate) fn instant_of(&self, t: Timestamp) -> Instant {
        let after = Duration::from_millis(t.as_millis().saturating_sub(self.anchor_ms));
        self.start
            .checked_add(after)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
    }
}
