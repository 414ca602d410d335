//! The faults that strike one host of a multi-host run
//! ([`crate::cluster`]): pauses (some with the host's clock stopped),
//! partitions from the store, crashes and restarts; and the healing of
//! every host before the liveness phase.

use std::time::Duration;

use huddle_core::Timestamp;

use crate::cluster::HostStatus;
use crate::lease::Leases;
use crate::trace;
use crate::world::World;

impl World {
    /// How long the host in service was paused between two readings of
    /// its clock (its timers fire that much later).
    pub fn paused_within(&self, from: Timestamp, to: Timestamp) -> Duration {
        let Some(c) = &self.cluster else {
            return Duration::ZERO;
        };
        // Host clock to virtual time (its lag aside: at most 5 s).
        let world = |t: Timestamp| {
            let by = Duration::from_millis(self.clock.host.skew_ms.unsigned_abs());
            if self.clock.host.skew_ms >= 0 {
                t.saturating_sub(by)
            } else {
                t.saturating_add(by)
            }
        };
        let (from, to) = (world(from), world(to));
        c.pauses[self.current]
            .iter()
            .map(|(start, end)| {
                let (a, b) = ((*start).max(from), (*end).min(to));
                b.saturating_duration_since(a)
            })
            .sum()
    }

    /// The store finishes the calls of the paused host in service that are
    /// due: their writes are done, their reports wait until it wakes.
    pub fn finish_while_paused(&mut self, wake: Timestamp) {
        let now = self.clock.now;
        for effect in self.store.defer_due(now, wake) {
            let id = effect.id();
            let unsettled = self
                .store
                .in_flight
                .iter()
                .any(|f| f.stale.is_none() && f.effect.id() == id && f.settled.is_none());
            if !unsettled {
                continue;
            }
            self.settle_earlier_appends(&effect);
            if self.failure.is_some() {
                return;
            }
            if let Some(outcome) = self.settle(&effect) {
                self.store.set_settled(id, outcome);
            }
        }
    }

    /// Faults that strike one host of a multi-host run.
    pub fn strike_host(&mut self) {
        let Some(c) = self.cluster.as_ref() else {
            return;
        };
        let (pause, partition, crash, longest) = (c.pause, c.partition, c.crash, c.longest_ms);
        let n = c.len() as u64;
        let now = self.clock.now;
        if self.rng.chance(pause) {
            let h = self.rng.below(n) as usize;
            let length = self.rng.millis(100, longest);
            let until = now.saturating_add(length);
            // Half the pauses stop the host's clock too (a frozen VM): it
            // wakes behind by the pause until its clock is corrected.
            let frozen = self.rng.chance(0.5);
            let corrected = until.saturating_add(self.rng.millis(1_000, 30_000));
            if self.status(h).paused(now).is_none() && !self.status(h).down(now) {
                self.counters.pauses += 1;
                trace!(
                    self,
                    "PAUSE host {h} for {}ms{}",
                    length.as_millis(),
                    if frozen { ", its clock stopped" } else { "" }
                );
                self.set_status(h, |s| s.paused_until = Some(until));
                // Its timers fire late until then.
                let late_until = if frozen { corrected } else { until };
                if let Some(p) = self.cluster.as_mut().and_then(|c| c.pauses.get_mut(h)) {
                    p.push((now, late_until));
                }
                if frozen {
                    self.enter(h);
                    self.clock.host.lag = length;
                    self.clock.host.lag_until = corrected;
                }
            }
        }
        if self.rng.chance(partition) {
            let h = self.rng.below(n) as usize;
            let until = now.saturating_add(self.rng.millis(100, longest));
            if !self.status(h).partitioned(now) {
                self.counters.partitions += 1;
                trace!(
                    self,
                    "PARTITION host {h} for {}ms",
                    until.as_millis() - now.as_millis()
                );
                self.set_status(h, |s| s.partitioned_until = Some(until));
            }
        }
        if self.rng.chance(crash) {
            let h = self.rng.below(n) as usize;
            if !self.status(h).down(now) {
                let until = now.saturating_add(self.rng.millis(10, longest));
                self.enter(h);
                trace!(
                    self,
                    "host {h} down for {}ms",
                    until.as_millis() - now.as_millis()
                );
                self.set_status(h, |s| {
                    s.down_until = Some(until);
                    s.paused_until = None;
                });
                self.crash();
            }
        }
    }

    fn set_status(&mut self, host: usize, change: impl FnOnce(&mut HostStatus)) {
        if let Some(s) = self.cluster.as_mut().and_then(|c| c.status.get_mut(host)) {
            change(s);
        }
    }

    /// Every host heals: awake, reachable, up (the liveness phase).
    pub fn heal_hosts(&mut self) {
        if let Some(c) = self.cluster.as_mut() {
            for s in &mut c.status {
                *s = HostStatus::default();
            }
        }
        for h in 0..self.host_count() {
            self.enter(h);
            self.clock.host.lag = Duration::ZERO;
        }
    }

    /// The host in service crashed: it starts again as the same node,
    /// knowing no board and no lease.
    pub fn restart_host(&mut self) {
        if self.lease.is_none() {
            return;
        }
        self.store.durable.forget_epochs();
        if let Some(node) = self.cluster.as_ref().map(|c| c.nodes[self.current].clone()) {
            let now = self.clock.host_now();
            self.lease = Some(Leases::new(node, now));
        }
    }
}
