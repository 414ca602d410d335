//! Virtual time. The simulation's own clock (`now`) only moves forward:
//! mostly small ticks, sometimes a large jump; it is also the store's
//! clock (the database's, which leases run on). A host's clock, the `now`
//! it passes to its engine ([`HostClock`]), is off by a constant skew
//! (several hosts disagree by up to a few seconds) and may lag behind for
//! a while: it steps backwards, as a wall clock corrected by NTP does.
//!
//! One simulated tick is one millisecond of virtual time.

use std::time::Duration;

use huddle_core::Timestamp;

use crate::faults::Faults;
use crate::rng::Rng;

/// The start of virtual time: 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// The clock of a run: virtual time, and the clock of the host in
/// service (each host keeps its own, [`crate::cluster`]).
#[derive(Clone, Debug)]
pub struct Clock {
    /// True virtual time (the store's clock); never goes back.
    pub now: Timestamp,
    /// The clock of the host in service.
    pub host: HostClock,
}

/// One host's clock, relative to virtual time.
#[derive(Clone, Debug, Default)]
pub struct HostClock {
    /// How far the host's clock runs ahead of virtual time, ms (negative:
    /// behind); constant for the run.
    pub skew_ms: i64,
    /// How far the host's clock lags behind `now` (0: in step).
    pub lag: Duration,
    /// When the lag ends (virtual time).
    pub lag_until: Timestamp,
    /// The latest `now` the current engine was given: its own clock.
    pub engine_clock: Timestamp,
}

impl HostClock {
    /// A host clock off by `skew_ms` from virtual time.
    pub fn skewed(skew_ms: i64) -> Self {
        HostClock {
            skew_ms,
            lag: Duration::ZERO,
            lag_until: T0,
            engine_clock: Timestamp::EPOCH,
        }
    }

    /// What the host's clock reads at virtual time `now`.
    pub fn read(&self, now: Timestamp) -> Timestamp {
        let lagged = if now < self.lag_until {
            now.saturating_sub(self.lag)
        } else {
            now
        };
        skew(lagged, self.skew_ms)
    }

    /// The virtual time at which the host's clock reaches `deadline`,
    /// seen at virtual time `now`: a lagging host sees it later.
    pub fn reaches(&self, now: Timestamp, deadline: Timestamp) -> Timestamp {
        let deadline = skew(deadline, -self.skew_ms);
        if self.lag.is_zero() || now >= self.lag_until {
            return deadline;
        }
        let shifted = deadline.saturating_add(self.lag);
        if shifted < self.lag_until {
            shifted
        } else {
            deadline.max(self.lag_until)
        }
    }
}

/// `at` moved by `ms` (either way, saturating).
fn skew(at: Timestamp, ms: i64) -> Timestamp {
    let by = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        at.saturating_add(by)
    } else {
        at.saturating_sub(by)
    }
}

/// How the next step moves the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// A small tick.
    Tick(Duration),
    /// A large jump: nobody acts meanwhile, timers still fire in order.
    Jump(Duration),
}

impl Advance {
    /// How far.
    pub fn duration(self) -> Duration {
        match self {
            Advance::Tick(d) | Advance::Jump(d) => d,
        }
    }
}

impl Clock {
    /// A clock at [`T0`].
    pub fn new() -> Self {
        Clock {
            now: T0,
            host: HostClock::skewed(0),
        }
    }

    /// Virtual milliseconds since [`T0`].
    pub fn elapsed(&self) -> u64 {
        self.now.as_millis() - T0.as_millis()
    }

    /// What the host's clock reads now.
    pub fn host_now(&self) -> Timestamp {
        self.host.read(self.now)
    }

    /// The host passes `host_now` to the engine: remember its clock.
    pub fn engine_input(&mut self) -> Timestamp {
        let now = self.host_now();
        self.host.engine_clock = self.host.engine_clock.max(now);
        now
    }

    /// Picks the next advance, and maybe starts the host's clock lagging.
    pub fn draw(&mut self, rng: &mut Rng, faults: &Faults) -> Advance {
        if rng.chance(faults.clock_back) && self.now >= self.host.lag_until {
            self.host.lag = rng.millis(1, 5_000);
            self.host.lag_until = self.now.saturating_add(rng.millis(1, 20_000));
        }
        if rng.chance(faults.clock_jump) {
            Advance::Jump(rng.millis(1_000, faults.clock_jump_max_ms.max(1_000)))
        } else {
            Advance::Tick(rng.millis(1, 40))
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
