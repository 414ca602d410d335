//! A second host takes the boards over (fencing).
//!
//! Drawn by the seed like a crash, but the old host does not die cleanly:
//! a new engine instance (the second host) starts on the same store and
//! serves every board from now on (clients reconnect to it and it loads
//! each board again, acquiring a newer epoch), while the old host's writes
//! still in flight keep travelling and land later, with the old host's
//! epochs. The store fences every one that reaches a board the new host
//! has loaded; one that lands earlier is simply part of what the new host
//! loads. The checks: a late write never lands on a board the new host
//! owns ([`crate::durable::Durable::perform_stale`]), no sequence of a
//! board is acknowledged for two batches by two hosts
//! ([`World::check_ack_owner`]), and the liveness phase requires every
//! board to converge on the new host.

use huddle_core::{BatchId, BoardId, Effect};

use crate::durable::StaleWrite;
use crate::trace;
use crate::world::World;

impl World {
    /// The takeover: the old host's pending writes become late writes, a
    /// new engine instance takes its place.
    pub fn takeover(&mut self) {
        self.counters.takeovers += 1;
        trace!(self, "TAKEOVER");
        let now = self.clock.now;
        // Some land before the new host loads their board, some after.
        let longest = self.faults.store_latency_ms.saturating_mul(4) + 30_000;
        let in_flight = std::mem::take(&mut self.store.in_flight);
        for mut f in in_flight {
            let write = !matches!(f.effect, Effect::LoadBoard { .. });
            if f.stale.is_none() && (f.settled.is_some() || !write) {
                // Done (only its report is lost), or a load nobody waits for.
                continue;
            }
            if f.stale.is_none() {
                f.stale = Some(self.store.durable.epoch(f.effect.board()));
                let delay = self.rng.range(0, longest);
                f.due = now.saturating_add(std::time::Duration::from_millis(delay));
                f.abandoned = false;
            }
            self.store.in_flight.push(f);
        }
        self.store.durable.new_owner();
        self.store.new_instance();
        self.restart_engine();
    }

    /// A late write of a taken-over host arrives at the store.
    pub fn land_stale(&mut self, effect: &Effect, epoch: Option<huddle_store::Epoch>) {
        match self.store.durable.perform_stale(effect, epoch) {
            Ok(StaleWrite::Fenced) => {
                self.counters.fenced_writes += 1;
                trace!(self, "stale {} {} fenced", effect.id().0, effect.board());
            }
            Ok(StaleWrite::Landed) => {
                trace!(self, "stale {} {} landed", effect.id().0, effect.board());
            }
            Ok(StaleWrite::Refused) => {
                trace!(self, "stale {} {} refused", effect.id().0, effect.board());
            }
            Err(e) => self.fail(e),
        }
    }

    /// No sequence of a board is acknowledged for two different batches
    /// (by two hosts, or one host twice).
    pub fn check_ack_owner(&mut self, board: &BoardId, sequence: u64, batch: &BatchId) {
        let by = crate::invariants::AckedBy {
            host: self.current,
            instance: self.instance,
            epoch: self.store.durable.epoch(board),
        };
        let key = (board.clone(), sequence);
        match self.obs.acks.get(&key) {
            Some((first, held)) if held != batch => {
                let first = *first;
                self.fail(format!(
                    "sequence {sequence} of {board} acknowledged for {held} by {first} and for {batch} by {by}"
                ));
            }
            Some(_) => {}
            None => {
                self.obs.acks.insert(key, (by, batch.clone()));
            }
        }
    }
}
