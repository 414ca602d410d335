//! Several [`Client`]s and one engine over a simulated network, in virtual
//! time, every frame going through the JSON wire.
//!
//! The network drops connections (in-flight frames are lost, and each side
//! learns of it late), delays frames, duplicates them, fails connection
//! attempts, and closes sockets late; the engine's host may crash (the
//! engine is rebuilt from what the store holds). Clients mutate, move their
//! cursors, close and reconnect. Then the network heals and the clients go
//! quiet. The property: every client's replica equals the engine's board,
//! and every batch a client made was applied exactly once (all its
//! mutations, contiguously, in the store's log) or reported dropped and
//! applied zero times.
//!
//! Everything is decided by one seed. `HUDDLE_SIM_SEEDS=N` runs N seeds
//! (default 48); a failure prints the seed, and `HUDDLE_SIM_SEED=S` replays
//! one.

use huddle_wire as wire;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use huddle_client::{
    Client, ClientConfig, ClientOutput, ClientSignal, ConnectFailure, ConnectionState, Credentials,
    TransportId,
};
use huddle_core::{
    BatchId, Config, ConnId, Durability, Mutation, Notice, Payload, SessionType, Timestamp,
};
use huddle_testkit::Harness;
use huddle_wire::{ClientMessage, Identity, ServerMessage};

const BOARD: &str = "sim-board";
const TICK: Duration = Duration::from_millis(10);

/// SplitMix64: the simulation's only randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// How rough the network is in the chaos phase.
#[derive(Clone, Copy, Debug)]
struct Faults {
    max_delay_ms: u64,
    duplicate: f64,
    cut_per_tick: f64,
    connect_fail: f64,
    crash_per_tick: f64,
    late_close_ms: u64,
    /// Chance per tick that the store starts failing every call for a
    /// while (the engine retries; backpressure reaches the clients).
    outage_per_tick: f64,
}

impl Faults {
    fn calm() -> Self {
        Faults {
            max_delay_ms: 5,
            duplicate: 0.0,
            cut_per_tick: 0.0,
            connect_fail: 0.0,
            crash_per_tick: 0.0,
            late_close_ms: 5,
            outage_per_tick: 0.0,
        }
    }
}

#[derive(Debug)]
enum Packet {
    /// A frame to the engine on a connection.
    ToServer(ConnId, Vec<u8>),
    /// The engine's host notices the connection closed.
    ServerDisconnect(ConnId),
    /// A frame to a client.
    ToClient(usize, TransportId, Vec<u8>),
    Opened(usize, TransportId),
    OpenFailed(usize, TransportId),
    Closed(usize, TransportId, Option<u16>),
}

/// One socket between a client and the engine.
#[derive(Debug)]
struct Link {
    client: usize,
    transport: TransportId,
    /// Frames still flow (not cut, not closed by either side).
    up: bool,
    /// Every connection a crashed engine had is gone.
    epoch: u64,
}

struct Sim {
    rng: Rng,
    faults: Faults,
    h: Harness,
    epoch: u64,
    clients: Vec<Client>,
    links: HashMap<ConnId, Link>,
    by_transport: HashMap<(usize, TransportId), ConnId>,
    next_conn: u64,
    /// Deliveries by (time, order).
    queue: BTreeMap<(Timestamp, u64), Packet>,
    order: u64,
    /// Per direction of each link: the last delivery time (frames of one
    /// socket stay in order).
    channel_tail: HashMap<(ConnId, bool), Timestamp>,
    credentials_due: Vec<Option<Timestamp>>,
    reconnect_due: Vec<Option<Timestamp>>,
    made: Vec<(usize, BatchId, usize)>,
    dropped: HashSet<BatchId>,
    acked: HashMap<BatchId, u64>,
    value: u64,
    crashes: u32,
    cuts: u32,
    outage_until: Option<Timestamp>,
}

impl Sim {
    fn new(seed: u64, clients: usize, durability: Durability) -> Self {
        let mut config = Config::new().durability(durability);
        // Small limits so that backpressure (RATE_LIMITED, retried by the
        // clients) and flushes happen during the run.
        config.limits.max_pending_per_board = 40;
        config.flush_threshold = 16;
        let mut client_config = ClientConfig::default();
        client_config.backoff.jitter = 0.2;
        client_config.max_unacked_mutations = 200;
        let mut rng = Rng(seed);
        let clients = (0..clients)
            .map(|i| {
                let mut c = Client::new(client_config.clone(), BOARD, rng.next());
                c.set_client_id(format!("c{i}-{seed:x}"));
                c
            })
            .collect::<Vec<_>>();
        let n = clients.len();
        Sim {
            faults: Faults {
                max_delay_ms: 20 + rng.below(200),
                duplicate: [0.0, 0.02, 0.1][rng.below(3) as usize],
                cut_per_tick: [0.0005, 0.002, 0.005][rng.below(3) as usize],
                connect_fail: [0.0, 0.2, 0.5][rng.below(3) as usize],
                crash_per_tick: if durability == Durability::AckOnStore {
                    [0.0, 0.0002, 0.001][rng.below(3) as usize]
                } else {
                    0.0
                },
                late_close_ms: 50 + rng.below(3000),
                outage_per_tick: [0.0, 0.0005, 0.002][rng.below(3) as usize],
            },
            rng,
            h: Harness::with_seed(config, seed),
            epoch: 0,
            clients,
            links: HashMap::new(),
            by_transport: HashMap::new(),
            next_conn: 1,
            queue: BTreeMap::new(),
            order: 0,
            channel_tail: HashMap::new(),
            credentials_due: vec![None; n],
            reconnect_due: vec![None; n],
            made: Vec::new(),
            dropped: HashSet::new(),
            acked: HashMap::new(),
            value: 0,
            crashes: 0,
            cuts: 0,
            outage_until: None,
        }
    }

    fn now(&self) -> Timestamp {
        self.h.now
    }

    fn schedule(&mut self, at: Timestamp, packet: Packet) {
        self.order += 1;
        self.queue.insert((at, self.order), packet);
    }

    /// Schedules a frame on one direction of a link, after the frames
    /// already on it; maybe twice.
    fn send_on(&mut self, conn: ConnId, to_client: bool, packet: impl Fn() -> Packet) {
        let delay = self.rng.millis(1, self.faults.max_delay_ms);
        let tail = self
            .channel_tail
            .get(&(conn, to_client))
            .copied()
            .unwrap_or(Timestamp::EPOCH);
        let at = self.now().saturating_add(delay).max(tail);
        self.channel_tail.insert((conn, to_client), at);
        self.schedule(at, packet());
        if self.rng.chance(self.faults.duplicate) {
            self.schedule(at, packet());
        }
    }

    fn identity(client: usize) -> Identity {
        Identity::new(format!("user-{client}"), format!("User {client}"))
            .board(BOARD)
            .session_type(SessionType::Persistent)
    }

    // ---- the client side -----------------------------------------------

    fn client_outputs(&mut self, i: usize) {
        while let Some(output) = self.clients[i].poll_output() {
            match output {
                ClientOutput::Connect { transport, .. } => {
                    let delay = self.rng.millis(1, self.faults.max_delay_ms);
                    let at = self.now().saturating_add(delay);
                    if self.rng.chance(self.faults.connect_fail) {
                        self.schedule(at, Packet::OpenFailed(i, transport));
                    } else {
                        let conn = ConnId(self.next_conn);
                        self.next_conn += 1;
                        self.links.insert(
                            conn,
                            Link {
                                client: i,
                                transport,
                                up: true,
                                epoch: self.epoch,
                            },
                        );
                        self.by_transport.insert((i, transport), conn);
                        self.schedule(at, Packet::Opened(i, transport));
                    }
                }
                ClientOutput::Send { transport, message } => {
                    let Some(&conn) = self.by_transport.get(&(i, transport)) else {
                        continue;
                    };
                    if !self.links.get(&conn).is_some_and(|l| l.up) {
                        continue;
                    }
                    let frame = message.to_json().expect("client messages encode");
                    self.send_on(conn, false, || {
                        Packet::ToServer(conn, frame.clone().into_bytes())
                    });
                }
                ClientOutput::Close { transport } => {
                    if let Some(&conn) = self.by_transport.get(&(i, transport)) {
                        if let Some(link) = self.links.get_mut(&conn) {
                            if link.up {
                                link.up = false;
                                // Frames sent before the close still arrive;
                                // the engine's host learns of the close late.
                                self.send_on(conn, false, || Packet::ServerDisconnect(conn));
                            }
                        }
                    }
                }
                ClientOutput::NeedCredentials { .. } => {
                    let delay = self.rng.millis(0, 300);
                    self.credentials_due[i] = Some(self.now().saturating_add(delay));
                }
                ClientOutput::Signal(event) => match event {
                    ClientSignal::Dropped { batch, .. } => {
                        assert!(self.dropped.insert(batch.clone()), "{batch} dropped twice");
                    }
                    ClientSignal::Acked { batch, sequence } => {
                        if let Some(old) = self.acked.insert(batch.clone(), sequence) {
                            assert_eq!(old, sequence, "{batch} acked with two sequences");
                        }
                    }
                    ClientSignal::Failed | ClientSignal::AuthFailed => {
                        let delay = self.rng.millis(100, 5000);
                        self.reconnect_due[i] = Some(self.now().saturating_add(delay));
                    }
                    ClientSignal::Disconnected { .. }
                        if self.clients[i].state() == ConnectionState::Disconnected =>
                    {
                        let delay = self.rng.millis(100, 5000);
                        self.reconnect_due[i] = Some(self.now().saturating_add(delay));
                    }
                    _ => {}
                },
            }
        }
    }

    fn connect(&mut self, i: usize) {
        let now = self.now();
        if self.clients[i]
            .connect(now, Credentials::new(format!("token-{i}")))
            .is_ok()
        {
            self.client_outputs(i);
        }
    }

    fn workload(&mut self, i: usize) {
        let now = self.now();
        if self.rng.chance(0.04) {
            let len = 1 + self.rng.below(3) as usize;
            let mutations: Vec<Mutation> = (0..len)
                .map(|_| {
                    let page = format!("p{}", self.rng.below(2));
                    let element = format!("e{}", self.rng.below(12));
                    if self.rng.chance(0.2) {
                        Mutation::Delete {
                            page: page.into(),
                            element: element.into(),
                        }
                    } else {
                        self.value += 1;
                        Mutation::Upsert {
                            page: page.into(),
                            element: element.into(),
                            data: Payload::from(
                                format!(r#"{{"v":{},"by":{i}}}"#, self.value).as_str(),
                            ),
                        }
                    }
                })
                .collect();
            if let Ok(batch) = self.clients[i].mutate(now, mutations) {
                self.made.push((i, batch, len));
            }
        }
        if self.rng.chance(0.002) {
            // A batch the engine refuses (an element id over the limit):
            // it must be reported dropped and never applied.
            let bad = vec![Mutation::Delete {
                page: "p0".into(),
                element: "x".repeat(300).into(),
            }];
            if let Ok(batch) = self.clients[i].mutate(now, bad) {
                self.made.push((i, batch, 1));
            }
        }
        if self.rng.chance(0.02) {
            let (x, y) = (self.rng.below(1000) as f64, self.rng.below(1000) as f64);
            let _ = self.clients[i].cursor(now, x, y);
        }
        if self.rng.chance(0.0005) {
            self.clients[i].close(now);
        }
        self.client_outputs(i);
    }

    // ---- the server side -----------------------------------------------

    fn route_notices(&mut self) {
        let mut conns: Vec<ConnId> = self.h.inbox.keys().copied().collect();
        conns.sort();
        for conn in conns {
            for notice in self.h.take(conn) {
                self.notify(conn, &notice);
            }
        }
    }

    fn notify(&mut self, conn: ConnId, notice: &Notice) {
        let Some(link) = self.links.get(&conn) else {
            return;
        };
        if !link.up || link.epoch != self.epoch {
            return;
        }
        let (client, transport) = (link.client, link.transport);
        let frame = wire::encode_notice(notice).expect("notices encode");
        // The server-side JSON equals the owned message's.
        debug_assert_eq!(
            frame,
            ServerMessage::from_notice(notice)
                .to_json()
                .unwrap()
                .into_bytes()
        );
        self.send_on(conn, true, || {
            Packet::ToClient(client, transport, frame.clone())
        });
        if matches!(
            notice,
            Notice::SessionTimeout { .. } | Notice::SessionClosed { .. }
        ) {
            let code = if matches!(notice, Notice::SessionTimeout { .. }) {
                4002
            } else {
                4000
            };
            self.send_on(conn, true, || Packet::Closed(client, transport, Some(code)));
            self.send_on(conn, false, || Packet::ServerDisconnect(conn));
            if let Some(l) = self.links.get_mut(&conn) {
                l.up = false;
            }
        }
    }

    fn cut(&mut self, conn: ConnId) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        if !link.up {
            return;
        }
        link.up = false;
        let (client, transport) = (link.client, link.transport);
        self.cuts += 1;
        // In-flight frames of this socket are lost.
        self.queue.retain(|_, p| match p {
            Packet::ToServer(c, _) => *c != conn,
            Packet::ToClient(ci, t, _) => !(*ci == client && *t == transport),
            _ => true,
        });
        let late = self.faults.late_close_ms;
        let a = self.now().saturating_add(self.rng.millis(1, late));
        let b = self.now().saturating_add(self.rng.millis(1, late));
        self.schedule(a, Packet::Closed(client, transport, None));
        self.schedule(b, Packet::ServerDisconnect(conn));
    }

    fn crash(&mut self) {
        self.crashes += 1;
        self.h.crash();
        self.epoch += 1;
        let mut live: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, l)| l.up)
            .map(|(c, _)| *c)
            .collect();
        live.sort();
        for conn in live {
            self.cut(conn);
        }
        // The new engine never knew these connections.
        self.queue
            .retain(|_, p| !matches!(p, Packet::ServerDisconnect(_) | Packet::ToServer(..)));
    }

    fn deliver(&mut self, packet: Packet) {
        let now = self.now();
        match packet {
            Packet::ToServer(conn, frame) => {
                let Some(link) = self.links.get(&conn) else {
                    return;
                };
                if link.epoch != self.epoch {
                    return;
                }
                let client = link.client;
                let message = ClientMessage::from_json(&frame).expect("client frames decode");
                if let Some(reply) = wire::dispatch(
                    &mut self.h.engine,
                    now,
                    conn,
                    &Self::identity(client),
                    message,
                ) {
                    self.h.drain();
                    let frame = reply.to_json().expect("replies encode").into_bytes();
                    let (c, t) = (client, self.links[&conn].transport);
                    if self.links[&conn].up {
                        self.send_on(conn, true, || Packet::ToClient(c, t, frame.clone()));
                    }
                }
                self.h.drain();
                self.route_notices();
            }
            Packet::ServerDisconnect(conn) => {
                if self.links.get(&conn).is_some_and(|l| l.epoch == self.epoch) {
                    self.h.disconnect(conn);
                    self.route_notices();
                }
            }
            Packet::ToClient(i, transport, frame) => {
                let message = ServerMessage::from_json(&frame).expect("server frames decode");
                self.clients[i].handle_message(now, transport, message);
                self.client_outputs(i);
            }
            Packet::Opened(i, transport) => {
                self.clients[i].transport_open(now, transport);
                self.client_outputs(i);
            }
            Packet::OpenFailed(i, transport) => {
                self.clients[i].transport_failed(
                    now,
                    transport,
                    ConnectFailure::Network("refused".into()),
                );
                self.client_outputs(i);
            }
            Packet::Closed(i, transport, code) => {
                self.clients[i].transport_closed(now, transport, code);
                self.client_outputs(i);
            }
        }
    }

    /// One tick: deliveries, timers, then (if `chaos`) faults and workload.
    fn step(&mut self, chaos: bool) {
        let target = self.now().saturating_add(TICK);
        while let Some((&(at, order), _)) = self.queue.iter().next() {
            if at > target {
                break;
            }
            let packet = self.queue.remove(&(at, order)).expect("present");
            self.h.advance_to(at);
            self.route_notices();
            self.deliver(packet);
        }
        self.h.advance_to(target);
        self.route_notices();
        let now = self.now();
        for i in 0..self.clients.len() {
            if self.clients[i].poll_timeout().is_some_and(|t| t <= now) {
                self.clients[i].handle_timeout(now);
                self.client_outputs(i);
            }
            if self.credentials_due[i].is_some_and(|t| t <= now) {
                self.credentials_due[i] = None;
                let _ = self.clients[i]
                    .provide_credentials(now, Credentials::new(format!("token-{i}")));
                self.client_outputs(i);
            }
            if self.reconnect_due[i].is_some_and(|t| t <= now) {
                self.reconnect_due[i] = None;
                self.connect(i);
            }
            if chaos {
                self.workload(i);
            }
        }
        if chaos {
            if self
                .rng
                .chance(self.faults.cut_per_tick * self.links.len().min(8) as f64)
            {
                let up: Vec<ConnId> = {
                    let mut v: Vec<ConnId> = self
                        .links
                        .iter()
                        .filter(|(_, l)| l.up)
                        .map(|(c, _)| *c)
                        .collect();
                    v.sort();
                    v
                };
                if !up.is_empty() {
                    let pick = up[self.rng.below(up.len() as u64) as usize];
                    self.cut(pick);
                }
            }
            if self.rng.chance(self.faults.crash_per_tick) {
                self.crash();
            }
            if self.outage_until.is_none() && self.rng.chance(self.faults.outage_per_tick) {
                let length = self.rng.millis(500, 8000);
                self.outage_until = Some(self.now().saturating_add(length));
                self.h.store.fail_all = true;
            }
        }
        if self.outage_until.is_some_and(|t| t <= self.now())
            || (!chaos && self.outage_until.is_some())
        {
            self.outage_until = None;
            self.h.store.fail_all = false;
        }
    }

    fn quiet(&self) -> bool {
        let stored = self
            .h
            .engine
            .session(BOARD)
            .is_some_and(|s| s.durable_sequence == s.sequence);
        stored
            && self.queue.is_empty()
            && self
                .clients
                .iter()
                .all(|c| c.state() == ConnectionState::Connected && c.unacked_batches() == 0)
    }
}

/// Runs one world; returns a summary line, or panics with the seed.
fn run(seed: u64) -> String {
    let mut rng = Rng(seed ^ 0x5EED);
    let clients = 2 + rng.below(3) as usize;
    let durability = if rng.chance(0.25) {
        Durability::AckOnApply
    } else {
        Durability::AckOnStore
    };
    let mut sim = Sim::new(seed, clients, durability);
    for i in 0..clients {
        sim.connect(i);
    }
    // Chaos: 60 s of virtual time.
    for _ in 0..6000 {
        sim.step(true);
    }
    // Heal: the network is calm, nobody makes new work, everyone reconnects.
    let chaos = std::mem::replace(&mut sim.faults, Faults::calm());
    sim.reconnect_due.iter_mut().for_each(|d| *d = None);
    for i in 0..clients {
        if matches!(
            sim.clients[i].state(),
            ConnectionState::Disconnected | ConnectionState::Failed | ConnectionState::AuthFailed
        ) {
            sim.connect(i);
        }
    }
    let mut healed_after = None;
    for tick in 0..60_000 {
        sim.step(false);
        if sim.quiet() {
            healed_after = Some(tick);
            break;
        }
        // Stragglers that gave up during the heal are started again.
        for i in 0..clients {
            if matches!(
                sim.clients[i].state(),
                ConnectionState::Failed | ConnectionState::Disconnected
            ) {
                sim.connect(i);
            }
        }
    }
    let ctx = format!(
        "seed {seed} ({clients} clients, {durability:?}, {chaos:?}, {} crashes, {} cuts)",
        sim.crashes, sim.cuts
    );
    assert!(
        healed_after.is_some(),
        "{ctx}: not quiet 10 min after healing: states {:?}, unacked {:?}, {} packets queued",
        sim.clients.iter().map(Client::state).collect::<Vec<_>>(),
        sim.clients
            .iter()
            .map(Client::unacked_batches)
            .collect::<Vec<_>>(),
        sim.queue.len()
    );

    // Every replica equals the engine's board.
    let session = sim.h.engine.session(BOARD).expect("board is live");
    let pages = sim.h.engine.pages(BOARD).expect("board is live").clone();
    for (i, c) in sim.clients.iter().enumerate() {
        assert_eq!(
            c.replica().sequence(),
            Some(session.sequence),
            "{ctx}: client {i} at another sequence"
        );
        assert_eq!(
            c.replica().pages(),
            &pages,
            "{ctx}: client {i} replica differs"
        );
    }
    // The store's log is gapless and replays to the same board.
    let stored = &sim.h.store.boards()[BOARD];
    for (k, e) in stored.events.iter().enumerate() {
        assert_eq!(e.seq, k as u64 + 1, "{ctx}: stored log has a gap");
    }
    assert_eq!(
        stored.replayed(),
        pages,
        "{ctx}: store replays to another board"
    );

    // Every batch applied exactly once, or dropped and never applied.
    let mut applied: HashMap<&BatchId, Vec<u64>> = HashMap::new();
    for e in &stored.events {
        applied.entry(&e.batch).or_default().push(e.seq);
    }
    for (i, batch, len) in &sim.made {
        let seqs = applied.get(batch).cloned().unwrap_or_default();
        if sim.dropped.contains(batch) {
            assert!(seqs.is_empty(), "{ctx}: dropped batch {batch} was applied");
            continue;
        }
        assert_eq!(
            seqs.len(),
            *len,
            "{ctx}: client {i} batch {batch} applied {} of {len}",
            seqs.len()
        );
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "{ctx}: batch {batch} not contiguous: {seqs:?}"
        );
        if let Some(acked) = sim.acked.get(batch) {
            assert_eq!(
                seqs.last(),
                Some(acked),
                "{ctx}: batch {batch} acked at another sequence"
            );
        }
    }
    format!(
        "{ctx}: {} batches made, {} dropped, board at {}, transcript hash {:016x}",
        sim.made.len(),
        sim.dropped.len(),
        session.sequence,
        {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            sim.h.transcript.hash(&mut hasher);
            hasher.finish()
        }
    )
}

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("HUDDLE_SIM_SEED") {
        return vec![seed.parse().expect("HUDDLE_SIM_SEED is a u64")];
    }
    let n = std::env::var("HUDDLE_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48);
    (0..n).collect()
}

#[test]
fn replicas_converge_and_every_batch_is_applied_once_or_dropped() {
    let mut made = 0usize;
    for seed in seeds() {
        let result = std::panic::catch_unwind(|| run(seed));
        match result {
            Ok(summary) => {
                made += 1;
                if std::env::var("HUDDLE_SIM_VERBOSE").is_ok() {
                    eprintln!("{summary}");
                }
            }
            Err(e) => {
                eprintln!("replay: HUDDLE_SIM_SEED={seed} cargo test -p huddle-client --test client_network");
                std::panic::resume_unwind(e);
            }
        }
    }
    assert!(made > 0);
}

#[test]
fn a_seed_replays_identically() {
    // Same seed, same world: the summaries (which include every count and
    // the final sequence) are equal.
    assert_eq!(run(7), run(7));
}
