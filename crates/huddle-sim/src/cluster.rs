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
//! in service ([`crate::parked::Parked`]) and puts another in its place, so the rest of
//! the simulator (the engine's host, the store model, the invariants) is
//! written once, for "the host in service". With one host nothing is
//! parked and nothing here runs (the single-host runs are unchanged).
//!
//! Faults ([`crate::host_faults`]), each drawn per step for a random host: a **pause** (the process
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

use std::time::Duration;

use huddle_core::{BoardId, Timestamp};
use huddle_store::Node;

use crate::rng::Rng;
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

    /// The lease TTL of the run's nodes (none with one host).
    pub fn lease_ttl(&self) -> Duration {
        self.cluster
            .as_ref()
            .and_then(|c| c.nodes.first())
            .map_or(Duration::ZERO, |n| Duration::from_millis(n.ttl_millis()))
    }

    /// A host's status (always calm with one host).
    pub fn status(&self, host: usize) -> HostStatus {
        self.cluster
            .as_ref()
            .and_then(|c| c.status.get(host).copied())
            .unwrap_or_default()
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
}
