//! One step of the simulation: the clock advances (a small tick or a
//! large jump); everything due on the way (store completions, network
//! deliveries, engine deadlines, client timers and actions) happens at its
//! time, in a fixed order; then faults may strike; then the invariants are
//! checked.

use huddle_core::Timestamp;

use crate::clock::Advance;
use crate::trace;
use crate::world::World;

/// Which source needs attention next (ties go in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Store(usize),
    Net,
    Engine(usize),
    Lease(usize),
    Client(usize),
}

impl World {
    fn next_due(&self) -> Option<(Timestamp, Due)> {
        let now = self.clock.now;
        let mut best: Option<(Timestamp, Due)> = None;
        let mut consider = |t: Option<Timestamp>, d: Due| {
            if let Some(t) = t {
                let c = (t.max(now), d);
                if best.is_none_or(|b| c < b) {
                    best = Some(c);
                }
            }
        };
        for h in 0..self.host_count() {
            let due = self.host_due(h);
            consider(due.store, Due::Store(h));
            consider(due.engine, Due::Engine(h));
            consider(due.lease, Due::Lease(h));
        }
        consider(self.net.next_due(), Due::Net);
        for i in 0..self.clients.len() {
            consider(self.client_due(i), Due::Client(i));
        }
        best
    }

    fn engine_timeout(&mut self) {
        let now = self.clock.engine_input();
        self.engine.handle_timeout(now);
        self.drain();
        let clock = self.clock.host.engine_clock;
        if let Some(next) = self.engine.poll_timeout().filter(|d| *d <= clock) {
            self.fail(format!(
                "after handle_timeout({}) the next deadline is {} (not after the engine's clock {})",
                now.as_millis(),
                next.as_millis(),
                clock.as_millis()
            ));
        }
    }

    /// An early `handle_timeout` must do nothing.
    fn early_timeout(&mut self) {
        let now = self.clock.host_now();
        let Some(deadline) = self.engine.poll_timeout() else {
            return;
        };
        if now >= deadline || self.clock.host.engine_clock >= deadline {
            return;
        }
        self.counters.early_timeouts += 1;
        let before = self.engine.stats();
        let now = self.clock.engine_input();
        self.engine.handle_timeout(now);
        let output = self.engine.poll_output();
        if output.is_some()
            || self.engine.poll_timeout() != Some(deadline)
            || self.engine.stats() != before
        {
            self.fail(format!(
                "handle_timeout({}) before the deadline {} did something: {output:?}",
                now.as_millis(),
                deadline.as_millis()
            ));
        }
    }

    /// One step: the clock advances (a tick or a jump); everything due on
    /// the way happens at its time, in order; then faults may strike; then
    /// the invariants are checked.
    pub fn step(&mut self) {
        self.counters.steps += 1;
        let advance = if self.chaos {
            self.clock.draw(&mut self.rng, &self.faults)
        } else {
            Advance::Tick(self.rng.millis(1, 40))
        };
        let target = self.clock.now.saturating_add(advance.duration());
        if let Advance::Jump(d) = advance {
            self.counters.jumps += 1;
            trace!(self, "jump {}ms", d.as_millis());
            self.postpone_actions(target);
        }
        while self.failure.is_none() {
            let Some((at, due)) = self.next_due().filter(|(t, _)| *t <= target) else {
                break;
            };
            self.clock.now = at;
            if self.cluster.is_some() {
                self.store.durable.set_time(at);
            }
            match due {
                Due::Store(h) => {
                    self.enter(h);
                    if let Some(wake) = self.status(h).paused(at) {
                        self.finish_while_paused(wake);
                    } else if let Some(taken) = self.store.take_due(at) {
                        if let Some(epoch) = taken.stale {
                            self.land_stale(&taken.effect, epoch);
                            continue;
                        }
                        if taken.settled.is_none() {
                            self.settle_earlier_appends(&taken.effect);
                        }
                        if self.failure.is_none() {
                            self.complete_effect(taken);
                        }
                    }
                }
                Due::Net => {
                    if let Some(packet) = self.net.take_due(at) {
                        match self.net.host_of(&packet) {
                            Some(h) => {
                                if let Some(wake) = self.status(h).paused(at) {
                                    // A stopped process reads nothing.
                                    self.net.schedule(wake, packet);
                                    continue;
                                }
                                self.enter(h);
                                self.deliver(packet);
                            }
                            None => self.deliver(packet),
                        }
                    }
                }
                Due::Engine(h) => {
                    self.enter(h);
                    self.engine_timeout();
                }
                Due::Lease(h) => {
                    self.enter(h);
                    self.lease_tick();
                }
                Due::Client(i) => {
                    self.client_timers(i);
                    if self.chaos && self.clients[i].next_action <= at {
                        self.client_action(i);
                    }
                }
            }
        }
        self.clock.now = target;
        if self.cluster.is_some() {
            self.store.durable.set_time(target);
        }
        if self.chaos && self.failure.is_none() {
            self.strike();
            self.strike_host();
        }
        if self.store.outage_until.is_some_and(|t| t <= self.clock.now) {
            self.store.outage_until = None;
        }
        for h in 0..self.host_count() {
            if self.failure.is_some() {
                break;
            }
            self.enter(h);
            self.check_step();
            if self.counters.steps % 512 == 0 && self.failure.is_none() {
                self.check_snapshots();
            }
        }
    }

    /// Faults that strike between steps.
    fn strike(&mut self) {
        let up = self.net.up_links();
        if !up.is_empty() && self.rng.chance(self.faults.cut * up.len().min(8) as f64) {
            let pick = up[self.rng.below(up.len() as u64) as usize];
            self.cut(pick);
        }
        if self.rng.chance(self.faults.crash) {
            self.crash();
        }
        if self.rng.chance(self.faults.takeover) {
            self.takeover();
        }
        if self.rng.chance(self.faults.client_restart) {
            let i = self.rng.below(self.clients.len() as u64) as usize;
            self.restart_client(i);
        }
        if self.store.outage_until.is_none() && self.rng.chance(self.faults.outage) {
            let length = self.rng.millis(500, 20_000);
            trace!(self, "store outage {}ms", length.as_millis());
            self.store.outage_until = Some(self.clock.now.saturating_add(length));
        }
        if self.rng.chance(self.faults.early_timeout) {
            self.early_timeout();
        }
        if self.rng.chance(self.faults.host_flush) || self.rng.chance(self.faults.host_close) {
            self.operator();
        }
    }

    /// The host's operator flushes or closes a board session (a refused
    /// request, for a board not ready, must change nothing).
    fn operator(&mut self) {
        let b = self.rng.below(self.boards.len() as u64) as usize;
        let id = self.boards[b].id.clone();
        let close = self
            .rng
            .chance(self.faults.host_close / (self.faults.host_close + self.faults.host_flush));
        let now = self.clock.engine_input();
        let result = if close {
            self.engine.close_session(now, id.as_str())
        } else {
            self.engine.flush_pending(now, id.as_str())
        };
        trace!(
            self,
            "host {} {id}: {result:?}",
            if close { "close" } else { "flush" }
        );
        match result {
            Ok(()) if close => {}
            Ok(()) => self.counters.host_flushes += 1,
            Err(_) => {
                if self.engine.poll_output().is_some() {
                    return self.fail(format!("a refused operator request on {id} had outputs"));
                }
            }
        }
        self.drain();
    }
}
