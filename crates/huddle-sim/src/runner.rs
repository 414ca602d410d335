//! Runs one seed: the chaos phase (clients act, faults strike, for the
//! tick budget), then the liveness phase (faults off; clients reconnect
//! and converge, then leave; every board must be flushed and archived in
//! bounded time), the final checks (every replica equals the server, every
//! batch applied exactly once or dropped and never applied), and a return:
//! clients come back, and the boards reloaded from storage equal what was
//! stored.

use std::collections::BTreeMap;
use std::time::Duration;

use huddle_core::client::ConnectionState;
use huddle_core::{BatchId, Timestamp};

use crate::clock::Advance;
use crate::faults::Faults;
use crate::trace;
use crate::world::{Settings, World};

/// What a passing seed reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The trace hash.
    pub hash: u64,
    /// Virtual milliseconds simulated (all phases).
    pub ticks: u64,
    /// A one-line summary.
    pub summary: String,
}

/// A failing seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// What broke.
    pub message: String,
    /// Virtual time of the failure (ms since the start).
    pub at: u64,
    /// The trace hash up to the failure.
    pub hash: u64,
}

impl Failure {
    /// The command that replays this seed.
    pub fn replay_command(&self, ticks: u64) -> String {
        format!(
            "cargo run --release -p huddle-sim -- --seed {} --ticks {ticks} --verbose",
            self.seed
        )
    }
}

/// The longest the liveness phase may take to converge, then to archive.
const CONVERGE_WITHIN: Duration = Duration::from_secs(10 * 60);
const ARCHIVE_WITHIN: Duration = Duration::from_secs(30 * 60);

/// Which source needs attention next (ties go in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Store,
    Net,
    Engine,
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
        consider(self.store.next_due(), Due::Store);
        consider(self.net.next_due(), Due::Net);
        let engine = self
            .engine
            .poll_timeout()
            .map(|d| self.clock.when_host_reaches(d));
        consider(engine, Due::Engine);
        for i in 0..self.clients.len() {
            consider(self.client_due(i), Due::Client(i));
        }
        best
    }

    fn engine_timeout(&mut self) {
        let now = self.clock.engine_input();
        self.engine.handle_timeout(now);
        self.drain();
        let clock = self.clock.engine_clock;
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
        if now >= deadline || self.clock.engine_clock >= deadline {
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
            match due {
                Due::Store => {
                    if let Some(effect) = self.store.take_due(at) {
                        self.complete_effect(effect);
                    }
                }
                Due::Net => {
                    if let Some(packet) = self.net.take_due(at) {
                        self.deliver(packet);
                    }
                }
                Due::Engine => self.engine_timeout(),
                Due::Client(i) => {
                    self.client_timers(i);
                    if self.chaos && self.clients[i].next_action <= at {
                        self.client_action(i);
                    }
                }
            }
        }
        self.clock.now = target;
        if self.chaos && self.failure.is_none() {
            self.strike();
        }
        if self.store.outage_until.is_some_and(|t| t <= self.clock.now) {
            self.store.outage_until = None;
        }
        if self.failure.is_none() {
            self.check_step();
        }
        if self.counters.steps % 512 == 0 && self.failure.is_none() {
            self.check_snapshots();
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

    fn stalled(&self, i: usize) -> bool {
        matches!(
            self.clients[i].client.state(),
            ConnectionState::Disconnected | ConnectionState::Failed | ConnectionState::AuthFailed
        )
    }

    fn converged(&self) -> bool {
        self.net.queue.is_empty()
            && self.store.in_flight.is_empty()
            && self.clients.iter().all(|c| {
                c.client.state() == ConnectionState::Connected && c.client.unacked_batches() == 0
            })
            && self.boards.iter().all(|b| {
                self.engine
                    .session(b.id.as_str())
                    .is_none_or(|s| s.durable_sequence == s.sequence)
            })
    }

    /// Runs the phases; `Err` with the first violation.
    pub fn run(&mut self) -> Result<(), String> {
        for i in 0..self.clients.len() {
            self.connect(i);
        }
        // Chaos.
        while self.clock.elapsed() < self.settings.ticks && self.failure.is_none() {
            self.step();
        }
        self.fail_if_set()?;

        // Liveness 1: faults off, nobody makes new work, everyone
        // reconnects; within a bound, every replica equals the server.
        trace!(self, "HEAL");
        self.chaos = false;
        self.faults = Faults::calm();
        self.clock.lag = Duration::ZERO;
        self.store.outage_until = None;
        for c in &mut self.clients {
            c.reconnect_due = None;
        }
        let start = self.clock.now;
        loop {
            for i in 0..self.clients.len() {
                if self.stalled(i) {
                    self.connect(i);
                }
            }
            self.step();
            self.fail_if_set()?;
            if self.converged() {
                break;
            }
            if self.clock.now.saturating_duration_since(start) > CONVERGE_WITHIN {
                return Err(format!(
                    "not converged {}s after healing: states {:?}, unacked {:?}, {} frames and {} effects in flight",
                    CONVERGE_WITHIN.as_secs(),
                    self.clients.iter().map(|c| c.client.state()).collect::<Vec<_>>(),
                    self.clients.iter().map(|c| c.client.unacked_batches()).collect::<Vec<_>>(),
                    self.net.queue.len(),
                    self.store.in_flight.len()
                ));
            }
        }
        self.check_converged()?;
        self.check_snapshots();
        self.fail_if_set()?;

        // Liveness 2: everyone leaves; within a bound every board is
        // flushed and archived.
        trace!(self, "QUIET");
        for i in 0..self.clients.len() {
            let now = self.clock.now;
            self.clients[i].client.close(now);
            self.client_outputs(i);
        }
        let start = self.clock.now;
        while self.engine.boards().next().is_some() || !self.store.in_flight.is_empty() {
            self.step();
            self.fail_if_set()?;
            if self.clock.now.saturating_duration_since(start) > ARCHIVE_WITHIN {
                let left: Vec<_> = self.engine.boards().cloned().collect();
                return Err(format!(
                    "boards {left:?} not archived {}s after everyone left",
                    ARCHIVE_WITHIN.as_secs()
                ));
            }
        }
        for b in self.boards.clone() {
            if let Some(stored) = self.store.boards.get(&b.id) {
                if stored.pages_sequence != stored.sequence() {
                    return Err(format!(
                        "{} archived but flushed to {} of {}",
                        b.id,
                        stored.pages_sequence,
                        stored.sequence()
                    ));
                }
            }
        }
        self.check_snapshots();
        self.check_exactly_once()?;
        self.fail_if_set()?;

        // Liveness 3: everyone comes back; the boards are loaded from
        // storage, continue their sequences, and every replica equals the
        // stored board.
        trace!(self, "RETURN");
        let start = self.clock.now;
        loop {
            for i in 0..self.clients.len() {
                if self.stalled(i) {
                    self.connect(i);
                }
            }
            self.step();
            self.fail_if_set()?;
            if self.converged() {
                break;
            }
            if self.clock.now.saturating_duration_since(start) > CONVERGE_WITHIN {
                return Err(format!(
                    "clients not back {}s after returning",
                    CONVERGE_WITHIN.as_secs()
                ));
            }
        }
        self.check_converged()?;
        for b in self.boards.clone() {
            let Some(info) = self.engine.session(b.id.as_str()) else {
                continue;
            };
            let stored = self.store.boards.get(&b.id).cloned().unwrap_or_default();
            if info.sequence != stored.sequence()
                || self.engine.pages(b.id.as_str()) != Some(&stored.replayed())
            {
                return Err(format!(
                    "{} reloaded at {} differs from the stored board at {}",
                    b.id,
                    info.sequence,
                    stored.sequence()
                ));
            }
        }
        self.fail_if_set()
    }

    fn fail_if_set(&self) -> Result<(), String> {
        match &self.failure {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    /// Every replica equals the server's board at the server's sequence.
    fn check_converged(&self) -> Result<(), String> {
        for (i, c) in self.clients.iter().enumerate() {
            let board = &self.boards[c.board].id;
            let info = self
                .engine
                .session(board.as_str())
                .ok_or(format!("{board} not live after healing"))?;
            let pages = self
                .engine
                .pages(board.as_str())
                .ok_or(format!("{board} not loaded"))?;
            if c.client.replica().sequence() != Some(info.sequence) {
                return Err(format!(
                    "client {i} at sequence {:?}, {board} at {}",
                    c.client.replica().sequence(),
                    info.sequence
                ));
            }
            if c.client.replica().pages() != pages {
                return Err(format!("client {i}'s replica differs from {board}"));
            }
        }
        Ok(())
    }

    /// Every batch made was applied exactly once (all its mutations,
    /// contiguously, at its acked sequence), or dropped and never applied.
    ///
    /// One exception, the engine's documented limit: the idempotency
    /// window holds each user's last `dedup_window` batches, so a batch
    /// re-sent after more of that user's batches than that were applied
    /// (two tabs of one busy user and a client restart, say) is applied
    /// again. Such a re-application is counted here; one within the window
    /// fails as the re-sent batch reaches the engine (`must_remember`).
    fn check_exactly_once(&mut self) -> Result<(), String> {
        let mut applied: BTreeMap<BatchId, Vec<u64>> = BTreeMap::new();
        for stored in self.store.boards.values() {
            for (k, e) in stored.events.iter().enumerate() {
                if e.seq != k as u64 + 1 {
                    return Err("stored log has a gap".into());
                }
                applied.entry(e.batch.clone()).or_default().push(e.seq);
            }
        }
        for (i, batch, len) in self.ledger.made.clone() {
            let seqs = applied.get(&batch).cloned().unwrap_or_default();
            if self.ledger.dropped.contains_key(&batch) {
                if seqs.is_empty() {
                    continue;
                }
                // Applied, later re-sent, refused (backpressure) and given
                // up: the engine had forgotten the batch id, which is legal
                // only beyond the dedup window; that was checked when the
                // re-sent batch reached the engine (`must_remember`).
                if seqs.len() % len != 0 {
                    return Err(format!(
                        "dropped batch {batch} of client {i} partly applied: {seqs:?}"
                    ));
                }
                self.counters.window_reapplied += 1;
                continue;
            }
            let runs: Vec<&[u64]> = seqs.chunks(len).collect();
            let whole = !runs.is_empty()
                && runs
                    .iter()
                    .all(|r| r.len() == len && r.windows(2).all(|w| w[1] == w[0] + 1));
            if !whole {
                return Err(format!(
                    "client {i} batch {batch} of {len} applied at {seqs:?}"
                ));
            }
            // Applied more than once: the engine had forgotten the batch
            // id, legal only beyond the dedup window; checked when the
            // re-sent batch reached the engine (`must_remember`).
            self.counters.window_reapplied += runs.len() as u64 - 1;
            if let Some(acked) = self.ledger.acked.get(&batch) {
                if !runs.iter().any(|r| r.last() == Some(acked)) {
                    return Err(format!(
                        "batch {batch} acked at {acked}, applied at {seqs:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    fn summary(&self) -> String {
        let c = &self.counters;
        let events: usize = self.store.boards.values().map(|b| b.events.len()).sum();
        format!(
            "{} clients on {} boards, {:?}, {} steps, {} batches ({} dropped), {events} events stored, \
             {} crashes, {} client restarts, {} cuts, {} jumps, {} effects ({} failed), {} bad confirms, {} early timeouts, \
             {} deltas, {} fulls, {} archives, {} closes, {} host flushes, {} session timeouts, \
             {} re-applied beyond the dedup window",
            self.clients.len(),
            self.boards.len(),
            self.config.durability,
            c.steps,
            self.ledger.made.len(),
            self.ledger.dropped.len(),
            c.crashes,
            c.client_restarts,
            c.cuts,
            c.jumps,
            c.effects,
            c.failed_effects,
            c.bad_confirms,
            c.early_timeouts,
            c.deltas,
            c.fulls,
            c.archives,
            c.closes,
            c.host_flushes,
            c.session_timeouts,
            c.window_reapplied
        )
    }
}

/// Runs one seed. A panic inside the engine or a client is a failure too.
pub fn run_seed(seed: u64, settings: &Settings) -> Result<Report, Failure> {
    let settings = settings.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut world = World::new(seed, settings);
        let result = world.run();
        (
            result,
            world.trace.hash(),
            world.clock.elapsed(),
            world.summary(),
        )
    }));
    match outcome {
        Ok((Ok(()), hash, ticks, summary)) => Ok(Report {
            seed,
            hash,
            ticks,
            summary,
        }),
        Ok((Err(message), hash, at, summary)) => Err(Failure {
            seed,
            message: format!("{message} [{summary}]"),
            at,
            hash,
        }),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(Failure {
                seed,
                message: format!("panic: {message}"),
                at: 0,
                hash: 0,
            })
        }
    }
}
