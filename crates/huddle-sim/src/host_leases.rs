//! The leases of the host in service ([`crate::lease`] is their policy):
//! the tick that ends overdue boards and renews, a board lost, a board
//! released, the refusal of a write past the safe window, and what a load
//! or a fenced write tells the host.

use huddle_core::BoardId;

use crate::trace;
use crate::world::World;

impl World {
    /// A lease tick of the host in service: ends the sessions of the
    /// boards whose safe window closed, then renews (see [`crate::lease`]).
    pub fn lease_tick(&mut self) {
        let now = self.clock.host_now();
        let store_down =
            self.cut_off() || self.store.outage_until.is_some_and(|t| t > self.clock.now);
        let Some(lease) = self.lease.as_mut() else {
            return;
        };
        lease.next_tick = now.saturating_add(lease.tick_every());
        let mut lost = lease.overdue(now);
        if lease.renewal_due(now) {
            let asked = lease.boards();
            let answer = (!store_down).then(|| {
                self.store
                    .durable
                    .model_mut()
                    .renew_leases(&lease.node, &asked)
            });
            trace!(self, "renewal of {} boards: {answer:?}", asked.len());
            if answer.is_none() {
                self.counters.renewals_failed += 1;
            }
            lost.extend(lease.renewed(&asked, now, answer.as_deref()));
        }
        for board in lost {
            self.lose_lease(&board);
        }
    }

    /// The host in service lost a board's lease: its session ends as
    /// fenced (its clients are told `moved` and rejoin, landing on the
    /// board's next owner).
    fn lose_lease(&mut self, board: &BoardId) {
        self.counters.leases_lost += 1;
        trace!(self, "host {} lost the lease of {board}", self.current);
        let now = self.clock.engine_input();
        self.engine.lease_lost(now, board.as_str());
        self.drain();
    }

    /// The engine released a board: the host forgets its lease and frees
    /// it in the store (unless cut off: then it runs out).
    pub fn release_lease(&mut self, board: &BoardId) {
        let Some(lease) = self.lease.as_mut() else {
            return;
        };
        lease.forget(board);
        let reachable =
            !self.cut_off() && self.store.outage_until.is_none_or(|t| t <= self.clock.now);
        self.store.durable.release(board, reachable);
    }

    /// The lease check before a write leaves the host in service: `Some`
    /// with the refusal once its safe window has closed (the write never
    /// reaches the store; the engine is told it was fenced).
    pub fn lease_refusal(&self, effect: &huddle_core::Effect) -> Option<huddle_store::StoreError> {
        let lease = self.lease.as_ref()?;
        if matches!(effect, huddle_core::Effect::LoadBoard { .. }) {
            return None;
        }
        let board = effect.board();
        if lease.writable(board, self.clock.host_now()) {
            return None;
        }
        Some(match self.store.durable.epoch(board) {
            Some(epoch) => huddle_store::StoreError::LeaseExpired {
                board: board.clone(),
                epoch,
            },
            None => huddle_store::StoreError::NotAcquired(board.clone()),
        })
    }

    /// The lease side of a store outcome of the host in service: a load
    /// that acquired its board holds it from when it was sent; a write
    /// the store fenced off is counted.
    pub fn lease_outcome(
        &mut self,
        effect: &huddle_core::Effect,
        outcome: &huddle_core::StorageOutcome,
    ) {
        use huddle_core::{Effect, FailureKind, StorageOutcome};
        let now = self.clock.host_now();
        let Some(lease) = self.lease.as_mut() else {
            return;
        };
        match (effect, outcome) {
            (
                Effect::LoadBoard { id, board },
                StorageOutcome::Loaded(_) | StorageOutcome::NotFound,
            ) => {
                lease.acquired(*id, board, now);
            }
            (Effect::LoadBoard { id, .. }, _) => lease.load_done(*id),
            (_, StorageOutcome::Failed(f)) if f.kind == FailureKind::Fenced => {
                self.counters.store_fenced += 1;
            }
            _ => {}
        }
    }
}
