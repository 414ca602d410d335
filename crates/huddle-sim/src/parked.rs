//! The hosts of a multi-host run take turns ([`crate::cluster`]): the
//! world serves one at a time, and [`World::enter`] parks the one in
//! service ([`Parked`]: its engine, instance, clock, effects in flight,
//! epochs, observations and leases) and puts another in its place. While
//! parked, a host still has deadlines ([`World::host_due`]): its store
//! calls, its engine's timers and its lease ticks, by its own clock.

use std::collections::{BTreeMap, HashSet};

use huddle_core::{BoardId, ConnId, Engine, Timestamp};
use huddle_store::reference::Owner;
use huddle_store::Node;

use crate::clock::HostClock;
use crate::invariants::BoardObs;
use crate::lease::Leases;
use crate::store::InFlight;
use crate::world::World;

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
}
