//! The checks of the engine's and the store's state after every step:
//! durable and flushed sequences against the store, lifecycle states,
//! armed deadlines, statistics, snapshots, and the idempotency window for
//! re-sent batches. (See [`crate::invariants`] for the list.)

use huddle_core::{BoardId, SessionState};

use crate::world::World;

impl World {
    /// Checks after every step.
    pub fn check_step(&mut self) {
        let clock = self.clock.host.engine_clock;
        let deadline = self.engine.poll_timeout();
        self.check_stats();
        if let Err(e) = self.inv.state(&self.engine, self.store.durable.model()) {
            return self.fail(e);
        }
        for i in 0..self.boards.len() {
            let id = self.boards[i].id.clone();
            let Some(info) = self.engine.session(id.as_str()) else {
                continue;
            };
            let obs = self.obs.boards.entry(id.clone()).or_default();
            if !info.loading {
                obs.max_sequence = obs.max_sequence.max(info.sequence);
            }
            let waiting = matches!(info.state, SessionState::Idle | SessionState::Created);
            if waiting && !info.loading {
                if let Some(since) = info.idle_since {
                    let due = since.saturating_add(self.config.idle_timeout(info.kind));
                    if clock < due && deadline.is_none_or(|d| d > due) {
                        return self.fail(format!(
                            "{id} idle since {} but no deadline armed by {} (next {:?})",
                            since.as_millis(),
                            due.as_millis(),
                            deadline.map(|d| d.as_millis())
                        ));
                    }
                }
            }
        }
    }

    /// Whether the engine must still remember `batch` of a client's user:
    /// the store holds it, and fewer of the user's batches came after it
    /// than the idempotency window holds, even counting every mutation not
    /// yet stored as one more batch. Returns its stored last sequence and
    /// a fingerprint of what a new application would change.
    pub fn must_remember(
        &self,
        client: usize,
        batch: &huddle_core::BatchId,
    ) -> Option<(u64, (u64, u64))> {
        let board = &self.boards[self.clients[client].board].id;
        if !self.serves(board) {
            // A deposed host knows nothing of what the new owner stored.
            return None;
        }
        let user = self.identity(client).user;
        let (seq, newer) =
            self.store
                .durable
                .batch_position(board, &user, batch, self.config.dedup_window)?;
        let undurable = self.engine.stats().undurable_mutations;
        let within = newer as u64 + undurable < self.config.dedup_window as u64;
        let sequence = self.engine.session(board.as_str())?.sequence;
        within.then_some((seq, (undurable, sequence)))
    }

    /// After a mutate of a batch the engine must remember: it was neither
    /// refused nor applied again.
    pub fn check_remembered(
        &mut self,
        client: usize,
        batch: &huddle_core::BatchId,
        (seq, before): (u64, (u64, u64)),
        reply: Option<&huddle_wire::ServerMessage>,
    ) {
        let board = self.boards[self.clients[client].board].id.clone();
        let after = (
            self.engine.stats().undurable_mutations,
            self.engine
                .session(board.as_str())
                .map_or(0, |s| s.sequence),
        );
        if reply.is_some() || after != before {
            self.fail(format!(
                "{batch} (stored at {seq}, within its user's dedup window) re-sent by client \
                 {client}: refused with {reply:?} or applied again ({before:?} -> {after:?})"
            ));
        }
    }

    /// The engine's statistics agree with its sessions and with the store.
    fn check_stats(&mut self) {
        let stats = self.engine.stats();
        let infos: Vec<_> = self
            .engine
            .boards()
            .filter_map(|b| self.engine.session(b.as_str()))
            .collect();
        let count = |s: SessionState| infos.iter().filter(|i| i.state == s).count();
        let participants: usize = infos.iter().map(|i| i.participants.len()).sum();
        let outstanding = self
            .store
            .in_flight
            .iter()
            .filter(|f| f.stale.is_none())
            .count();
        let sums = (
            stats.active_sessions,
            stats.idle_sessions,
            stats.created_sessions + stats.closing_sessions,
            stats.total_participants,
            stats.effects_outstanding,
        );
        // Closing sessions are hidden from `session()`; they count as
        // created/idle/active there, so compare the total.
        let visible = (
            count(SessionState::Active),
            count(SessionState::Idle),
            count(SessionState::Created),
            participants,
            outstanding,
        );
        let total = |t: (usize, usize, usize, usize, usize)| t.0 + t.1 + t.2;
        if stats.closing_sessions == 0 && sums != visible
            || stats.closing_sessions > 0 && total(sums) < total(visible)
            || stats.effects_outstanding != outstanding
        {
            self.fail(format!(
                "stats (active, idle, created+closing, participants, effects) {sums:?} \
                 but the sessions and the store say {visible:?}"
            ));
        }
    }

    /// The newest snapshot plus the log after it equals the log replayed,
    /// and the flushed state plus the log after it; both equal the live
    /// board when the engine's board is at the log's end.
    pub fn check_snapshots(&mut self) {
        let ids: Vec<BoardId> = self.store.boards().keys().cloned().collect();
        for id in ids {
            let Some(stored) = self.store.boards().get(&id) else {
                continue;
            };
            let last = stored.sequence();
            let from_log = stored.replayed();
            if let Err(e) = self.inv.snapshots(&id, self.store.durable.model()) {
                return self.fail(e);
            }
            let live = self.engine.session(id.as_str()).map(|s| s.sequence);
            if live == Some(last)
                && self.serves(&id)
                && self
                    .engine
                    .pages(id.as_str())
                    .is_some_and(|p| *p != from_log)
            {
                return self.fail(format!(
                    "{id}: the stored board at {last} differs from the live board"
                ));
            }
        }
    }
}
