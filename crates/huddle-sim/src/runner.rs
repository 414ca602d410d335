//! Runs one seed: the chaos phase (clients act, faults strike, for the
//! tick budget), then the liveness phase (faults off; clients reconnect
//! and converge, then leave; every board must be flushed and archived in
//! bounded time), the final checks (every replica equals the server, every
//! batch applied exactly once or dropped and never applied), a return:
//! clients come back, and the boards reloaded from storage equal what was
//! stored, and a shutdown: the engine archives every board and says it is
//! drained once, with everything flushed.

use std::time::Duration;

use huddle_client::ConnectionState;
use huddle_core::Timestamp;

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
    pub fn replay_command(&self, settings: &Settings) -> String {
        let hosts = if settings.hosts > 1 {
            format!(" --hosts {}", settings.hosts)
        } else {
            String::new()
        };
        format!(
            "cargo run --release -p huddle-sim -- --seed {} --ticks {}{hosts} --verbose",
            self.seed, settings.ticks
        )
    }
}

/// The longest the liveness phase may take to converge, then to archive.
const CONVERGE_WITHIN: Duration = Duration::from_secs(10 * 60);
const ARCHIVE_WITHIN: Duration = Duration::from_secs(30 * 60);

impl World {
    fn stalled(&self, i: usize) -> bool {
        matches!(
            self.clients[i].client.state(),
            ConnectionState::Disconnected | ConnectionState::Failed | ConnectionState::AuthFailed
        )
    }

    fn converged(&mut self) -> bool {
        self.net.queue.is_empty()
            && self.clients.iter().all(|c| {
                c.client.state() == ConnectionState::Connected && c.client.unacked_batches() == 0
            })
            && self.every_host(|w| {
                w.store.in_flight.is_empty()
                    && w.boards.iter().all(|b| {
                        w.engine
                            .session(b.id.as_str())
                            .is_none_or(|s| s.durable_sequence == s.sequence)
                    })
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
        self.heal_hosts();
        self.store.outage_until = None;
        for c in &mut self.clients {
            c.reconnect_due = None;
        }
        // With several hosts, a lease a host could not renew before the
        // heal may still run out (its session ends, its clients come
        // back): after one lease TTL every lease has been renewed in calm
        // or lost, and the cluster is stable.
        let settled = self.clock.now.saturating_add(self.lease_ttl());
        self.converge("healing", settled)?;
        self.check_converged()?;
        self.every_host(|w| {
            w.check_snapshots();
            true
        });
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
        while !self
            .every_host(|w| w.engine.boards().next().is_none() && w.store.in_flight.is_empty())
        {
            self.step();
            self.fail_if_set()?;
            if self.clock.now.saturating_duration_since(start) > ARCHIVE_WITHIN {
                let mut left = Vec::new();
                self.every_host(|w| {
                    left.extend(w.engine.boards().map(|b| (w.current, b.clone())));
                    true
                });
                return Err(format!(
                    "boards {left:?} (host, board) not archived {}s after everyone left",
                    ARCHIVE_WITHIN.as_secs()
                ));
            }
        }
        for b in self.boards.clone() {
            if let Some(stored) = self.store.boards().get(&b.id) {
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
        self.every_host(|w| {
            w.check_snapshots();
            true
        });
        self.check_exactly_once()?;
        self.fail_if_set()?;

        // Liveness 3: everyone comes back; the boards are loaded from
        // storage, continue their sequences, and every replica equals the
        // stored board.
        trace!(self, "RETURN");
        self.converge("returning", self.clock.now)?;
        self.check_converged()?;
        for h in 0..self.host_count() {
            self.enter(h);
            for b in self.boards.clone() {
                let Some(info) = self.engine.session(b.id.as_str()) else {
                    continue;
                };
                let stored = self.store.boards().get(&b.id).cloned().unwrap_or_default();
                if info.sequence != stored.sequence()
                    || self.engine.pages(b.id.as_str()) != Some(&stored.replayed())
                {
                    return Err(format!(
                        "{} reloaded on host {h} at {} differs from the stored board at {}",
                        b.id,
                        info.sequence,
                        stored.sequence()
                    ));
                }
            }
        }
        self.fail_if_set()?;

        // Shutdown: with clients connected, the engine archives every
        // board, refuses joins, and is drained within a bound.
        trace!(self, "SHUTDOWN");
        self.every_host(|w| {
            let now = w.clock.engine_input();
            w.engine.shutdown(now);
            w.drain();
            true
        });
        let start = self.clock.now;
        while !self.every_host(|w| w.engine.is_drained() && w.store.in_flight.is_empty()) {
            self.step();
            self.fail_if_set()?;
            if self.clock.now.saturating_duration_since(start) > ARCHIVE_WITHIN {
                return Err(format!(
                    "host {} not drained {}s after the shutdown: boards {:?}, {} effects outstanding",
                    self.current,
                    ARCHIVE_WITHIN.as_secs(),
                    self.engine.boards().cloned().collect::<Vec<_>>(),
                    self.engine.stats().effects_outstanding
                ));
            }
        }
        if self.counters.drained != self.host_count() as u64 {
            return Err(format!(
                "drained said {} times by {} hosts",
                self.counters.drained,
                self.host_count()
            ));
        }
        for (id, stored) in self.store.boards() {
            if stored.pages_sequence != stored.sequence() {
                return Err(format!(
                    "{id} shut down but flushed to {} of {}",
                    stored.pages_sequence,
                    stored.sequence()
                ));
            }
        }
        self.fail_if_set()
    }

    /// Steps (reconnecting stalled clients) until every replica equals the
    /// server, no earlier than `not_before`, or fails after
    /// [`CONVERGE_WITHIN`] of simulated time.
    fn converge(&mut self, after: &str, not_before: Timestamp) -> Result<(), String> {
        let start = self.clock.now;
        loop {
            for i in 0..self.clients.len() {
                if self.stalled(i) {
                    self.connect(i);
                }
            }
            self.step();
            self.fail_if_set()?;
            if self.clock.now >= not_before && self.converged() {
                return Ok(());
            }
            if self.clock.now.saturating_duration_since(start) > CONVERGE_WITHIN {
                return Err(format!(
                    "not converged {}s after {after}: states {:?}, unacked {:?}, {} frames and {} effects in flight",
                    CONVERGE_WITHIN.as_secs(),
                    self.clients.iter().map(|c| c.client.state()).collect::<Vec<_>>(),
                    self.clients.iter().map(|c| c.client.unacked_batches()).collect::<Vec<_>>(),
                    self.net.queue.len(),
                    self.store.in_flight.len()
                ));
            }
        }
    }

    fn fail_if_set(&self) -> Result<(), String> {
        match &self.failure {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    fn summary(&self) -> String {
        let c = &self.counters;
        let events: usize = self.store.boards().values().map(|b| b.events.len()).sum();
        format!(
            "{} clients on {} boards, {:?}, {} steps, {} batches ({} dropped), {events} events stored, \
             {} crashes, {} takeovers ({} late writes fenced), {} client restarts, {} cuts, {} jumps, {} effects ({} failed), \
             appends in flight {} ({} pipelined, {} gaps refused), {} fences, {} bad confirms, {} early timeouts, \
             {} deltas, {} fulls, {} archives, {} closes, {} host flushes, {} session timeouts, \
             {} re-applied beyond the dedup window",
            self.clients.len(),
            self.boards.len(),
            self.config.durability,
            c.steps,
            self.ledger.made.len(),
            self.ledger.dropped.len(),
            c.crashes,
            c.takeovers,
            c.fenced_writes,
            c.client_restarts,
            c.cuts,
            c.jumps,
            c.effects,
            c.failed_effects,
            self.config.appends_in_flight,
            c.pipelined,
            c.gaps_refused,
            c.fences,
            c.bad_confirms,
            c.early_timeouts,
            c.deltas,
            c.fulls,
            c.archives,
            c.closes,
            c.host_flushes,
            c.session_timeouts,
            c.window_reapplied
        ) + &self.cluster_summary()
    }

    fn cluster_summary(&self) -> String {
        let Some(cluster) = &self.cluster else {
            return String::new();
        };
        let c = &self.counters;
        format!(
            "; {} hosts (lease {}ms, skews {:?}ms): {} pauses, {} partitions, {} host crashes, \
             {} redirects, {} renewals failed, {} leases lost, {} writes refused by their host, \
             {} fenced by the store",
            cluster.len(),
            cluster.nodes[0].ttl_millis(),
            cluster.skews,
            c.pauses,
            c.partitions,
            c.crashes,
            c.redirects,
            c.renewals_failed,
            c.leases_lost,
            c.lease_refused,
            c.store_fenced
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
