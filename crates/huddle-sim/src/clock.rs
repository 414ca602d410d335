//! Virtual time. The simulation's own clock (`now`) only moves forward:
//! mostly small ticks, sometimes a large jump. The host's clock, the `now`
//! it passes to the engine, may lag behind it for a while: it steps
//! backwards, as a wall clock corrected by NTP does.
//!
//! One simulated tick is one millisecond of virtual time.

use std::time::Duration;

use huddle_core::Timestamp;

use crate::faults::Faults;
use crate::rng::Rng;

/// The start of virtual time: 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// The clock of a run.
#[derive(Clone, Debug)]
pub struct Clock {
    /// True virtual time; never goes back.
    pub now: Timestamp,
    /// How far the host's clock lags behind `now` (0: in step).
    pub lag: Duration,
    /// When the lag ends.
    pub lag_until: Timestamp,
    /// The latest `now` the current engine was given: its own clock.
    pub engine_clock: Timestamp,
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
            lag: Duration::ZERO,
            lag_until: T0,
            engine_clock: Timestamp::EPOCH,
        }
    }

    /// Virtual milliseconds since [`T0`].
    pub fn elapsed(&self) -> u64 {
        self.now.as_millis() - T0.as_millis()
    }

    /// What the host's clock reads now.
    pub fn host_now(&self) -> Timestamp {
        if self.now < self.lag_until {
            self.now.saturating_sub(self.lag)
        } else {
            self.now
        }
    }

    /// The host passes `host_now` to the engine: remember its clock.
    pub fn engine_input(&mut self) -> Timestamp {
        let now = self.host_now();
        self.engine_clock = self.engine_clock.max(now);
        now
    }

    /// Picks the next advance, and maybe starts the host's clock lagging.
    pub fn draw(&mut self, rng: &mut Rng, faults: &Faults) -> Advance {
        if rng.chance(faults.clock_back) && self.now >= self.lag_until {
            self.lag = rng.millis(1, 5_000);
            self.lag_until = self.now.saturating_add(rng.millis(1, 20_000));
        }
        if rng.chance(faults.clock_jump) {
            Advance::Jump(rng.millis(1_000, faults.clock_jump_max_ms.max(1_000)))
        } else {
            Advance::Tick(rng.millis(1, 40))
        }
    }

    /// The host's time of an engine deadline, in virtual time: a lagging
    /// host sees it later.
    pub fn when_host_reaches(&self, deadline: Timestamp) -> Timestamp {
        if self.lag.is_zero() || self.now >= self.lag_until {
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

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
