//! The world of one seed: the engine and its host, the store model, the
//! network, the clients, the clock, and what the invariants have observed.

use std::collections::BTreeMap;

use huddle_client::{Client, ClientConfig};
use huddle_core::{BatchId, BoardId, Config, Durability, Engine, SessionType, Timestamp};

use crate::clock::Clock;
use crate::faults::Faults;
use crate::invariants::Observed;
use crate::network::Network;
use crate::rng::Rng;
use crate::store::StoreModel;
use crate::trace::Trace;

/// What a run is allowed to do.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Virtual milliseconds of the chaos phase.
    pub ticks: u64,
    /// Print the trace.
    pub verbose: bool,
    /// Hosts sharing the store (1: the single-host simulation; from 2,
    /// [`crate::cluster`]).
    pub hosts: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ticks: 1_000_000,
            verbose: false,
            hosts: 1,
        }
    }
}

/// One board of the world.
#[derive(Clone, Debug)]
pub struct BoardSpec {
    /// Its id.
    pub id: BoardId,
    /// The type its joiners ask for.
    pub kind: SessionType,
}

/// A client machine and what the world plans for it.
#[derive(Debug)]
pub struct SimClient {
    /// The machine under test.
    pub client: Client,
    /// Its board (index into [`World::boards`]).
    pub board: usize,
    /// Its user (several clients may share one: two tabs).
    pub user: usize,
    /// When the pre-reconnect hook answers.
    pub credentials_due: Option<Timestamp>,
    /// When the world connects it again after it stopped trying.
    pub reconnect_due: Option<Timestamp>,
    /// When it next does something (mutate, cursor, snapshot, close...).
    pub next_action: Timestamp,
}

/// Batches clients made and what became of them.
#[derive(Debug, Default)]
pub struct Ledger {
    /// (client, batch, mutations) in the order made.
    pub made: Vec<(usize, BatchId, usize)>,
    /// Mutations per batch made.
    pub lens: BTreeMap<BatchId, usize>,
    /// Batches the clients gave up on, with the length of their board's
    /// stored log at that moment.
    pub dropped: BTreeMap<BatchId, u64>,
    /// Batches acknowledged, with their sequence.
    pub acked: BTreeMap<BatchId, u64>,
    /// Longest pause between a client's actions, ms (the seed's activity).
    pub max_gap_ms: u64,
    /// Distinct payload counter.
    pub value: u64,
}

/// Counts for the report.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Steps (clock advances).
    pub steps: u64,
    /// Host crashes.
    pub crashes: u64,
    /// Takeovers by a second host ([`crate::takeover`]).
    pub takeovers: u64,
    /// Late writes of a taken-over host that the store fenced.
    pub fenced_writes: u64,
    /// Client process restarts (with recovery).
    pub client_restarts: u64,
    /// Sockets dropped.
    pub cuts: u64,
    /// Large clock jumps.
    pub jumps: u64,
    /// Bad confirmations sent (each refused).
    pub bad_confirms: u64,
    /// Effects performed by the store.
    pub effects: u64,
    /// Effects failed by the store.
    pub failed_effects: u64,
    /// Appends issued while another of their board was in flight
    /// (`appends_in_flight` above one).
    pub pipelined: u64,
    /// Appends the store refused as a gap (issued after one that failed).
    pub gaps_refused: u64,
    /// Effects failed as fenced (the engine ends the board's session).
    pub fences: u64,
    /// `Output::Drained` seen (after the final shutdown).
    pub drained: u64,
    /// Joins answered with a delta.
    pub deltas: u64,
    /// Joins answered with a full state.
    pub fulls: u64,
    /// Early `handle_timeout` calls.
    pub early_timeouts: u64,
    /// Boards archived.
    pub archives: u64,
    /// Boards closed by the host.
    pub closes: u64,
    /// Flushes the host asked for.
    pub host_flushes: u64,
    /// User sessions that timed out.
    pub session_timeouts: u64,
    /// Batches applied again after the user's dedup window moved past
    /// them (the engine's documented limit).
    pub window_reapplied: u64,
    /// Host pauses ([`crate::cluster`]).
    pub pauses: u64,
    /// Partitions of a host from the store.
    pub partitions: u64,
    /// Lease renewals that failed (the host was cut off from the store).
    pub renewals_failed: u64,
    /// Leases a host lost (not renewed in time, or not renewed).
    pub leases_lost: u64,
    /// Writes a host refused itself: its lease's safe window had closed.
    pub lease_refused: u64,
    /// Writes the store fenced off in a multi-host run (another host's
    /// epoch is current, or the writer's lease ran out in the store).
    pub store_fenced: u64,
    /// `redirect`s sent to clients.
    pub redirects: u64,
}

/// Everything of one seed.
#[derive(Debug)]
pub struct World {
    /// The seed.
    pub seed: u64,
    /// Budget and output.
    pub settings: Settings,
    /// The seed's generator.
    pub rng: Rng,
    /// The fault mix in force.
    pub faults: Faults,
    /// The fault mix of the chaos phase.
    pub chaos_faults: Faults,
    /// Whether clients act and faults strike (the chaos phase).
    pub chaos: bool,
    /// Virtual time.
    pub clock: Clock,
    /// The trace.
    pub trace: Trace,
    /// The engine's configuration.
    pub config: Config,
    /// The engine of the host in service.
    pub engine: Engine,
    /// The engine instance of the host in service (each crash or takeover
    /// starts a new one).
    pub instance: u64,
    /// Engine instances so far, of every host.
    pub instances: u64,
    /// The host in service (index; always 0 with one host).
    pub current: usize,
    /// Every other host, parked ([`crate::cluster`]; `None` at `current`).
    pub parked: Vec<Option<crate::parked::Parked>>,
    /// The hosts of a multi-host run (`None`: one host).
    pub cluster: Option<crate::cluster::Cluster>,
    /// The leases of the host in service (`None`: one host, whose leases
    /// never run out).
    pub lease: Option<crate::lease::Leases>,
    /// What is durable.
    pub store: StoreModel,
    /// Sockets and frames.
    pub net: Network,
    /// The clients.
    pub clients: Vec<SimClient>,
    /// Their configuration (a restarted client gets it too).
    pub client_config: ClientConfig,
    /// The boards.
    pub boards: Vec<BoardSpec>,
    /// What the simulator's own invariants track.
    pub obs: Observed,
    /// The invariants shared with the property tests and the fuzz target.
    pub inv: huddle_testkit::invariants::Observer,
    /// Batches.
    pub ledger: Ledger,
    /// Counts.
    pub counters: Counters,
    /// The first invariant violation.
    pub failure: Option<String>,
}

impl World {
    /// Builds the world of `seed`: its fault mix, boards and clients.
    pub fn new(seed: u64, settings: Settings) -> Self {
        let mut rng = Rng::new(seed);
        let hosts = settings.hosts.clamp(1, crate::cluster::MAX_HOSTS);
        let cluster = (hosts > 1).then(|| crate::cluster::Cluster::draw(seed, hosts));
        // Several hosts ack on store only (see `crate::cluster`).
        let durability = if rng.chance(0.2) && cluster.is_none() {
            Durability::AckOnApply
        } else {
            Durability::AckOnStore
        };
        let mut faults = Faults::draw(&mut rng, durability == Durability::AckOnStore);
        if cluster.is_some() {
            // Real hosts take boards over; they crash one at a time.
            faults.takeover = 0.0;
            faults.crash = 0.0;
        }
        let mut config = Config::new().durability(durability);
        // Small limits so that backpressure, flushes and full syncs happen.
        config.limits.max_pending_per_board = rng.pick(&[40, 200, 10_000]);
        config.flush_threshold = rng.pick(&[4, 16, 64]);
        config.delta_threshold = rng.pick(&[20, 100, 1000]);
        config.history_len = rng.pick(&[10, 100, 2000]) as usize;
        config.snapshot_retention = rng.pick(&[2, 50]) as usize;
        // Short timeouts in some seeds, so that sessions are archived and
        // reloaded, and user sessions time out, many times in one run.
        if rng.chance(0.4) {
            config.idle_timeout_ephemeral = rng.millis(1_000, 60_000);
            config.idle_timeout_persistent = rng.millis(1_000, 120_000);
            config.inactivity_timeout = rng.millis(10_000, 180_000);
            config.autosave_interval = rng.millis(1_000, 30_000);
        }
        config.presence_interval = rng.millis(0, 100);
        config.storage_retry_initial = rng.millis(1, 1_000);
        config.storage_retry_max = config.storage_retry_initial.max(rng.millis(1, 30_000));
        config.appends_in_flight = rng.pick(&[1, 1, 2, 4]);
        // User session records are effects like any write: the store model
        // checks that a session's end is never overwritten by its start.
        config.store_user_sessions = true;
        // Byte budgets small enough to bite in some seeds: the board cap,
        // pending and history bytes, the snapshot cap. Drawn from a stream
        // of their own, so that every other draw of a seed stays as it was.
        let mut budgets = Rng::new(seed ^ 0x0b17_e5b0_d6e7_0017);
        if budgets.chance(0.3) {
            let limits = &mut config.limits;
            limits.max_board_bytes = budgets.pick(&[300, 2_000, 20_000]) as usize;
            limits.max_pending_bytes = budgets.pick(&[100, 1_000, 10_000]) as usize;
            limits.max_history_bytes = budgets.pick(&[50, 500, 5_000]) as usize;
            limits.max_snapshot_bytes = budgets.pick(&[200, 2_000, 20_000]) as usize;
            config.flush_threshold_bytes = budgets.pick(&[50, 500]) as usize;
        }
        let board_count = 1 + rng.below(3) as usize;
        let boards = (0..board_count)
            .map(|b| BoardSpec {
                id: BoardId::from(format!("board-{b}")),
                kind: if rng.chance(0.5) {
                    SessionType::Persistent
                } else {
                    SessionType::Ephemeral
                },
            })
            .collect::<Vec<_>>();
        let client_count = 2 + rng.below(5) as usize;
        let users = 1 + rng.below(client_count as u64) as usize;
        let mut client_config = ClientConfig::default();
        client_config.backoff.jitter = 0.2;
        client_config.max_unacked_mutations = 200;
        let clients = (0..client_count)
            .map(|i| {
                let board = rng.below(board_count as u64) as usize;
                let mut client = Client::new(
                    client_config.clone(),
                    boards[board].id.clone(),
                    rng.next_u64(),
                );
                client.set_client_id(format!("c{i}-{seed:x}"));
                SimClient {
                    client,
                    board,
                    user: i % users,
                    credentials_due: None,
                    reconnect_due: None,
                    next_action: crate::clock::T0,
                }
            })
            .collect();
        let max_gap_ms = rng.pick(&[100, 1_500, 10_000]);
        let engine = Engine::new(config.clone(), seed);
        let mut store = StoreModel::default();
        store.durable.load_tail = rng.pick(&[0, 10, 1000]) as usize;
        let inv = huddle_testkit::invariants::Observer::new(&config);
        let mut clock = Clock::new();
        let mut lease = None;
        if let Some(c) = &cluster {
            clock.host = crate::clock::HostClock::skewed(c.skews[0]);
            let now = clock.host_now();
            lease = Some(crate::lease::Leases::new(c.nodes[0].clone(), now));
            let mut owner = huddle_store::reference::Owner::of_node(c.nodes[0].clone());
            store
                .durable
                .exchange_host(&mut owner, &mut Default::default());
        }
        let mut world = World {
            seed,
            trace: Trace::new(settings.verbose),
            settings,
            rng,
            faults,
            chaos_faults: faults,
            chaos: true,
            clock,
            config,
            engine,
            instance: 1,
            instances: 1,
            current: 0,
            parked: vec![None],
            cluster,
            lease,
            store,
            client_config,
            net: Network::default(),
            clients,
            boards,
            obs: Observed::default(),
            inv,
            ledger: Ledger {
                max_gap_ms,
                ..Ledger::default()
            },
            counters: Counters::default(),
            failure: None,
        };
        let others: Vec<_> = world
            .cluster
            .as_ref()
            .map(|c| {
                c.nodes
                    .iter()
                    .cloned()
                    .zip(c.skews.clone())
                    .skip(1)
                    .collect()
            })
            .unwrap_or_default();
        for (node, skew) in others {
            world.instances += 1;
            let parked = crate::parked::Parked::new(&world, world.instances, node, skew);
            world.parked.push(Some(parked));
        }
        world
    }

    /// Records the first invariant violation (later ones are consequences).
    pub fn fail(&mut self, message: String) {
        if self.failure.is_none() {
            crate::trace!(self, "VIOLATION {message}");
            self.failure = Some(message);
        }
    }

    /// The board index of a board id.
    pub fn board_index(&self, id: &str) -> Option<usize> {
        self.boards.iter().position(|b| b.id.as_str() == id)
    }
}
