//! Several hosts sharing one lease store (`--hosts N`, N from 2).
//!
//! Each host is a node of the cluster ([`huddle_store::Node`], its own
//! id, URL and lease TTL) with its own engine, its own clock (a constant
//! skew from the store's clock, plus the lagging of [`crate::clock`]), its
//! own effects in flight, its own epochs ([`huddle_store::reference::Owner`])
//! and its own leases ([`crate::lease`]). They share the one store model,
//! whose clock is virtual time: a lease runs on it, whatever a host's
//! clock says. A load acquires the board's lease; one held by another
//! node's live lease answers `OwnedElsewhere`, which the engine turns into
//! a `redirect` for the joins, and the real client machine follows it to
//! the owner's URL (`sim://host-N`), at most `max_redirects` times in a
//! row. A connection without a URL goes to any host (a load balancer).
//!
//! The world serves one host at a time: [`World::enter`] parks the host
//! in service ([`Parked`]) and puts another in its place, so the rest of
//! the simulator (the engine's host, the store model, the invariants) is
//! written once, for "the host in service". With one host nothing is
//! parked and nothing here runs (the single-host runs are unchanged).
//!
//! Faults, each drawn per step for a random host: a **pause** (the process
//! stops, like `SIGSTOP`: nothing reaches its engine and its timers do not
//! fire, while the store's time runs on; the store still finishes the
//! calls it had sent, whose reports wait for the host to wake; in half the
//! pauses the host's clock stops too, like a frozen VM's, so that it wakes
//! believing no time passed, and lags until its clock is corrected
//! seconds later), a **partition** from the store (its store calls and lease
//! renewals fail after a timeout; clients still reach it), and a **crash**
//! (everything in memory is lost, the host is down for a while, then starts
//! again as the same node). The seed's takeovers ([`crate::takeover`]) are
//! off: real hosts take boards over here. Every multi-host run acks on
//! store (ack on apply acks before the store fences anything, so two
//! owners could ack one sequence by definition).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use huddle_core::{BoardId, ConnId, Engine, Timestamp};
use huddle_store::reference::Owner;
use huddle_store::Node;

use crate::clock::HostClock;
use crate::invariants::BoardObs;
use crate::lease::Leases;
use crate::rng::Rng;
use crate::store::InFlight;
use crate::trace;
use crate::world::World;

/// Most hosts a run may have.
pub const MAX_HOSTS: usize = 8;

/// What one host is going through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStatus {
    /// Paused (stopped) until then.
    pub paused_until: Option<Timestamp>,
    /// Cut off from the store until then.
    pub partitioned_until: Option<Timestamp>,
    /// Crashed, and down until then.
    pub down_until: Option<Timestamp>,
}

impl HostStatus {
    /// When a paused host wakes, if it is paused at `now`.
    pub fn paused(&self, now: Timestamp) -> Option<Timestamp> {
        self.paused_until.filter(|t| *t > now)
    }

    /// Whether the host is cut off from the store at `now`.
    pub fn partitioned(&self, now: Timestamp) -> bool {
        self.partitioned_until.is_some_and(|t| t > now)
    }

    /// Whether the host is down at `now`.
    pub fn down(&self, now: Timestamp) -> bool {
        self.down_until.is_some_and(|t| t > now)
    }
}

/// The cluster of a multi-host run, drawn from the seed.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Each host's node identity.
    pub nodes: Vec<Node>,
    /// Each host's status.
    pub status: Vec<HostStatus>,
    /// Each host's clock skew, ms.
    pub skews: Vec<i64>,
    /// Each host's pauses so far (virtual time: the start, and when its
    /// timers stop being late: the end, or the correction of a clock that
    /// stopped with it).
    pub pauses: Vec<Vec<(Timestamp, Timestamp)>>,
    /// Chance per step that a host pauses.
    pub pause: f64,
    /// Chance per step that a host is cut off from the store.
    pub partition: f64,
    /// Chance per step that a host crashes (and restarts later).
    pub crash: f64,
    /// Longest pause, partition or downtime, ms.
    pub longest_ms: u64,
    /// How long a store call of a cut-off host takes to fail, ms.
    pub timeout_ms: u64,
}

impl Cluster {
    /// Draws a cluster of `hosts` from its own generator (so that the
    /// rest of the seed's draws do not depend on the host count).
    pub fn draw(seed: u64, hosts: usize) -> Self {
        let mut rng = Rng::new(seed ^ 0x6c75_7374_6572_2121);
        let ttl = Duration::from_millis(rng.pick(&[1_500, 5_000, 12_000]));
        let spread = rng.pick(&[0, 300, 3_000]);
        let nodes = (0..hosts)
            .map(|h| Node::new(format!("node-{h}"), url(h)).with_lease_ttl(ttl))
            .collect();
        let skews = (0..hosts)
            .map(|_| rng.range(0, 2 * spread) as i64 - spread as i64)
            .collect();
        let ttl_ms = ttl.as_millis() as u64;
        Cluster {
            nodes,
            status: vec![HostStatus::default(); hosts],
            pauses: vec![Vec::new(); hosts],
            skews,
            pause: rng.pick(&[0.0, 0.0002, 0.001]),
            partition: rng.pick(&[0.0, 0.0002, 0.001]),
            crash: rng.pick(&[0.0, 0.0001, 0.0005]),
            longest_ms: ttl_ms * rng.pick(&[1, 3, 6]),
            // A call into a partition fails after up to half a TTL; one
            // sent just before the partition heals may then succeed that
            // late (see `crate::lease` on late grants).
            timeout_ms: rng.pick(&[200, 1_000, ttl_ms / 2]).min(ttl_ms / 2),
        }
    }

    /// How many hosts.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never: a cluster has hosts.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// A host's URL, as its node advertises it.
pub fn url(host: usize) -> String {
    format!("sim://host-{host}")
}

/// The host a URL names.
pub fn host_of_url(url: &str) -> Option<usize> {
    url.strip_prefix("sim://host-")?.parse().ok()
}

/// A host out of service: everything that is its own.
#[derive(Debug)]
pub struct Parked {
    engine: Engine,
    instance: u64,
    clock: HostClock,
    in_flight: Vec<InFlight>,
    reported: Vec<u64>,
    max_issued: u64,
    owner: Owner,
    gaps: HashSet<BoardId>,
    boards: BTreeMap<BoardId, BoardObs>,
    conn_board: BTreeMap<ConnId, BoardId>,
    inv: huddle_testkit::invariants::Observer,
    lease: Option<Leases>,
}

impl Parked {
    /// A host that has not started anything yet.
    pub fn new(world: &World, instance: u64, node: Node, skew_ms: i64) -> Self {
        let clock = HostClock::skewed(skew_ms);
        let now = clock.read(world.clock.now);
        Parked {
            engine: Engine::new(world.config.clone(), world.seed.wrapping_add(instance)),
            instance,
            clock,
            in_flight: Vec::new(),
            reported: Vec::new(),
            max_issued: 0,
            owner: Owner::of_node(node.clone()),
            gaps: HashSet::new(),
            boards: BTreeMap::new(),
            conn_board: BTreeMap::new(),
            inv: huddle_testkit::invariants::Observer::new(&world.config),
            lease: Some(Leases::new(node, now)),
        }
    }
}

/// When a host next needs attention, by source.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostDue {
    /// An effect of its finishes at the store.
    pub store: Option<Timestamp>,
    /// Its engine's deadline, by its clock.
    pub engine: Option<Timestamp>,
    /// Its lease tick, by its clock.
    pub lease: Option<Timestamp>,
}

impl World {
    /// How many hosts the run has.
    pub fn host_count(&self) -> usize {
        self.cluster.as_ref().map_or(1, Cluster::len)
    }

    /// Whether `check` holds for every host (each put in service in turn;
    /// stops at the first that fails it, which stays in service).
    pub fn every_host(&mut self, mut check: impl FnMut(&mut World) -> bool) -> bool {
        for h in 0..self.host_count() {
            self.enter(h);
            if !check(self) {
                return false;
            }
        }
        true
    }

    /// Whether the host in service holds `board`'s current epoch in the
    /// store (always, with one host): what it knows of the board is then
    /// all there is.
    pub fn serves(&self, board: &BoardId) -> bool {
        self.cluster.is_none() || self.store.durable.owns(board)
    }

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

    /// A host's status (always calm with one host).
    pub fn status(&self, host: usize) -> HostStatus {
        self.cluster
            .as_ref()
            .and_then(|c| c.status.get(host).copied())
            .unwrap_or_default()
    }

    /// Puts `host` in service, parking the one in service.
    pub fn enter(&mut self, host: usize) {
        if host == self.current {
            return;
        }
        let Some(mut slot) = self.parked.get_mut(host).and_then(Option::take) else {
            return self.fail(format!("host {host} does not exist"));
        };
        self.exchange(&mut slot);
        let previous = std::mem::replace(&mut self.current, host);
        self.parked[previous] = Some(slot);
    }

    fn exchange(&mut self, slot: &mut Parked) {
        use std::mem::swap;
        swap(&mut self.engine, &mut slot.engine);
        swap(&mut self.instance, &mut slot.instance);
        swap(&mut self.clock.host, &mut slot.clock);
        swap(&mut self.store.in_flight, &mut slot.in_flight);
        swap(&mut self.store.reported, &mut slot.reported);
        swap(&mut self.store.max_issued, &mut slot.max_issued);
        self.store
            .durable
            .exchange_host(&mut slot.owner, &mut slot.gaps);
        swap(&mut self.obs.boards, &mut slot.boards);
        swap(&mut self.obs.conn_board, &mut slot.conn_board);
        swap(&mut self.inv, &mut slot.inv);
        swap(&mut self.lease, &mut slot.lease);
    }

    /// The engine instance a host runs now.
    pub fn instance_of(&self, host: usize) -> u64 {
        if host == self.current {
            self.instance
        } else {
            self.parked
                .get(host)
                .and_then(Option::as_ref)
                .map_or(0, |p| p.instance)
        }
    }

    /// When `host` next needs attention (nothing while it is down; its
    /// engine and lease timers wait while it is paused).
    pub fn host_due(&self, host: usize) -> HostDue {
        let now = self.clock.now;
        let (engine, clock, in_flight, lease) = if host == self.current {
            (
                &self.engine,
                &self.clock.host,
                &self.store.in_flight,
                &self.lease,
            )
        } else {
            match self.parked.get(host).and_then(Option::as_ref) {
                Some(p) => (&p.engine, &p.clock, &p.in_flight, &p.lease),
                None => return HostDue::default(),
            }
        };
        let store = in_flight.iter().map(|f| f.due).min();
        let status = self.status(host);
        if status.down(now) {
            return HostDue {
                store,
                ..HostDue::default()
            };
        }
        let hold = |t: Timestamp| status.paused(now).map_or(t, |wake| t.max(wake));
        HostDue {
            store,
            engine: engine.poll_timeout().map(|d| hold(clock.reaches(now, d))),
            lease: lease
                .as_ref()
                .map(|l| hold(clock.reaches(now, l.next_tick))),
        }
    }

    /// The host a client's new connection reaches: the one its URL names,
    /// else any (single host: the one).
    pub fn connect_target(&mut self, url: Option<&str>) -> usize {
        let n = self.host_count();
        if n == 1 {
            return 0;
        }
        match url.and_then(host_of_url).filter(|h| *h < n) {
            Some(h) => h,
            None => self.rng.below(n as u64) as usize,
        }
    }

    /// The host in service is cut off from the store now.
    pub fn cut_off(&self) -> bool {
        self.status(self.current).partitioned(self.clock.now)
    }

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
