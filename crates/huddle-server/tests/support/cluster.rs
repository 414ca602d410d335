//! Several `huddle serve` nodes on one PostgreSQL database, and clients
//! that write to their boards continuously (the cluster suite and its
//! failover figures).
//!
//! - [`Cluster::start`] runs nodes named `a`, `b`, `c`, ... (`--node-id`)
//!   on one fresh database of `huddle_postgres::testing`, each with its own
//!   loopback port and the same admin key (so a token of one node is good
//!   at all).
//! - A [`Writer`] is the Rust client machine (`huddle_client::net`) joined
//!   through one node (redirected to the board's owner if that node is not
//!   it) and a task that makes one-upsert batches one after the other until
//!   told to stop, logging with its time everything that matters: every
//!   (re)join, every redirect, every acknowledged batch.
//! - [`check_board`] reads the board's log from the database and checks it
//!   against the writers: gapless from 1, every acknowledged batch in it
//!   exactly once at its acknowledged sequence, nothing else in it, and
//!   every writer's replica equal to the log replayed.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huddle_client::net::{NetClient, NetConfig};
use huddle_client::{Backoff, ClientConfig, ClientSignal, Credentials};
use huddle_core::{BoardId, Pages};
use huddle_postgres::testing::{self, TestDatabase};
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::Store as _;
use tokio::sync::watch;

use super::{poll, settled, upsert, Opts, Server};

/// The longest a writer waits for the ack of one batch (a failover takes
/// a lease TTL and a reconnect; a paused owner as long as the test keeps
/// it paused).
pub const ACK_WAIT: Duration = Duration::from_secs(60);

/// The pause between a writer's ack and its next batch (keeps a dozen
/// writers on debug builds from saturating a shared 2-core machine).
pub const WRITE_PAUSE: Duration = Duration::from_millis(20);

/// Nodes on one database.
pub struct Cluster {
    pub db: TestDatabase,
    /// `nodes[0]` is `a`, `nodes[1]` is `b`, ...
    pub nodes: Vec<Server>,
}

/// The name of node `index` (`a`, `b`, ...).
pub fn node_name(index: usize) -> String {
    char::from(b'a' + index as u8).to_string()
}

impl Cluster {
    /// `n` nodes with `ttl` leases on a fresh database; `None` where no
    /// PostgreSQL can be had (the harness says so, or fails the test with
    /// `HUDDLE_REQUIRE_POSTGRES=1`).
    pub async fn start(n: usize, ttl: &str) -> Option<Cluster> {
        Cluster::start_with(n, ttl, Opts::default).await
    }

    /// [`Cluster::start`] with each node's flags built on `base()`
    /// (`Opts::new` for the server's own defaults).
    pub async fn start_with(n: usize, ttl: &str, base: fn() -> Opts) -> Option<Cluster> {
        let db = testing::database().await?;
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let opts = base()
                .shared_database(&db.url)
                .flag("--node-id", &node_name(i))
                .flag("--lease-ttl", ttl);
            nodes.push(Server::start_with(opts).await);
        }
        Some(Cluster { db, nodes })
    }

    /// Node `name`.
    pub fn node(&self, name: &str) -> &Server {
        &self.nodes[index_of(name)]
    }

    /// Node `name`, to kill, stop or restart it.
    pub fn node_mut(&mut self, name: &str) -> &mut Server {
        &mut self.nodes[index_of(name)]
    }

    /// The nodes other than `name`.
    pub fn others(&self, name: &str) -> impl Iterator<Item = &Server> {
        let skip = index_of(name);
        self.nodes
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != skip)
            .map(|(_, s)| s)
    }

    /// The owner of `board` as node `through` names it (`GET /rooms/{id}`).
    pub async fn owner(&self, through: &str, board: &str) -> String {
        let info = self.node(through).room_info(board).await;
        info["owner"]["node"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn index_of(name: &str) -> usize {
    usize::from(name.as_bytes()[0] - b'a')
}

/// The client machine for `user` in `board`, starting at `node`: quick
/// reconnects, and pings often enough that a connection to a paused node
/// is given up within seconds (the defaults take half a minute).
pub async fn cluster_client(node: &Server, user: &str, board: &str) -> NetClient {
    let token = node.token(user, board).await;
    let mut config = NetConfig::new(
        format!("ws://{}/ws", node.addr),
        board,
        Credentials::new(token),
    );
    config.client = ClientConfig {
        backoff: Backoff {
            first_delay: Duration::from_millis(50),
            base_delay: Duration::from_millis(100),
            multiplier: 2,
            max_delay: Duration::from_millis(500),
            max_attempts: 10_000,
            jitter: 0.0,
        },
        attempt_timeout: Duration::from_secs(3),
        ping_interval: Some(Duration::from_secs(1)),
        pong_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    huddle_client::net::spawn(config)
}

/// What a writer saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A join brought the replica in sync (the first one or a rejoin).
    Synced,
    /// A join was redirected to `node`.
    Redirected {
        node: String,
    },
    /// A batch of this writer was acknowledged at `sequence`.
    Acked {
        batch: String,
        sequence: u64,
    },
    /// A batch was given up (a failure of the test).
    Dropped {
        batch: String,
        code: String,
    },
    /// The writer stopped on its own (a failure of the test).
    Ended(String),
    /// The connection was lost (why), or a reconnect attempt scheduled
    /// (for the failure messages).
    Disconnected(String),
    Reconnecting(u32),
}

/// A writer's log, shared with the test while it runs.
pub type Log = Arc<Mutex<Vec<(Instant, Seen)>>>;

/// A running writer.
pub struct Writer {
    pub user: String,
    pub board: String,
    /// The node it joins through.
    pub through: String,
    pub log: Log,
    task: tokio::task::JoinHandle<NetClient>,
}

/// A stopped writer: its client (still connected) and its log.
pub struct Stopped {
    pub user: String,
    pub board: String,
    pub through: String,
    pub client: NetClient,
    pub log: Vec<(Instant, Seen)>,
}

/// Writers that stop together.
pub struct Writers {
    stop: watch::Sender<bool>,
    pub running: Vec<Writer>,
}

impl Default for Writers {
    fn default() -> Self {
        Writers {
            stop: watch::channel(false).0,
            running: Vec::new(),
        }
    }
}

impl Writers {
    /// Starts a writer for `user` on `board`, joining through node
    /// `through` of `cluster`.
    pub async fn start(&mut self, cluster: &Cluster, through: &str, user: &str, board: &str) {
        let client = cluster_client(cluster.node(through), user, board).await;
        let log: Log = Arc::default();
        let task = tokio::spawn(write(
            client,
            user.to_owned(),
            log.clone(),
            self.stop.subscribe(),
        ));
        self.running.push(Writer {
            user: user.to_owned(),
            board: board.to_owned(),
            through: through.to_owned(),
            log,
            task,
        });
    }

    /// Starts one writer per node on `board`, the one through `owner`
    /// first: once it has an ack, `owner` holds the board; the others are
    /// redirected there. Users are `{board}-{node}`.
    pub async fn start_board(&mut self, cluster: &Cluster, owner: &str, board: &str) {
        cluster.node(owner).room(board, "persistent").await;
        self.start(cluster, owner, &format!("{board}-{owner}"), board)
            .await;
        let first = self.running.len() - 1;
        self.wait_acks(&[first], 1, Instant::now()).await;
        for i in 0..cluster.nodes.len() {
            let name = node_name(i);
            if name != owner {
                self.start(cluster, &name, &format!("{board}-{name}"), board)
                    .await;
            }
        }
    }

    /// The indices of the writers of `board`.
    pub fn of_board(&self, board: &str) -> Vec<usize> {
        (0..self.running.len())
            .filter(|&i| self.running[i].board == board)
            .collect()
    }

    /// The index of the writer of `board` that joins through `through`.
    pub fn index(&self, board: &str, through: &str) -> usize {
        self.running
            .iter()
            .position(|w| w.board == board && w.through == through)
            .unwrap_or_else(|| panic!("no writer of {board} through {through}"))
    }

    /// Acks of the writers `which` since `since`.
    pub fn acks_since(&self, which: &[usize], since: Instant) -> usize {
        which
            .iter()
            .map(|&i| {
                let log = lock(&self.running[i].log);
                log.iter()
                    .filter(|(at, s)| *at >= since && matches!(s, Seen::Acked { .. }))
                    .count()
            })
            .sum()
    }

    /// Waits (bounded by `limit` from now) until the writers `which` have
    /// had `n` acks since `since`; panics with their logs' tails otherwise.
    pub async fn wait_acks_within(
        &self,
        which: &[usize],
        n: usize,
        since: Instant,
        limit: Duration,
    ) {
        let deadline = Instant::now() + limit;
        while self.acks_since(which, since) < n {
            if Instant::now() > deadline {
                panic!(
                    "fewer than {n} acks within {limit:?}: {:#?}",
                    self.tails(which)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`Writers::wait_acks_within`] with the suite's usual bound.
    pub async fn wait_acks(&self, which: &[usize], n: usize, since: Instant) {
        self.wait_acks_within(which, n, since, Duration::from_secs(30))
            .await;
    }

    /// Tells every writer to stop after its current batch's ack, and gives
    /// back what each saw.
    pub async fn stop(self) -> Vec<Stopped> {
        let _ = self.stop.send(true);
        let mut stopped = Vec::with_capacity(self.running.len());
        for w in self.running {
            let client = w.task.await.expect("writer task");
            let log = lock(&w.log).clone();
            stopped.push(Stopped {
                user: w.user,
                board: w.board,
                through: w.through,
                client,
                log,
            });
        }
        stopped
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer's task: a batch, its ack, a short pause, until `stop`.
async fn write(
    mut client: NetClient,
    user: String,
    log: Log,
    stop: watch::Receiver<bool>,
) -> NetClient {
    let note = |seen: Seen| lock(&log).push((Instant::now(), seen));
    let mut n: u64 = 0;
    while !*stop.borrow() {
        let mutation = upsert("p", &format!("{user}-{n}"), &n.to_string());
        let batch = match client.mutate(vec![mutation]).await {
            Ok(batch) => batch,
            Err(e) => {
                note(Seen::Ended(format!("mutate: {e}")));
                return client;
            }
        };
        n += 1;
        let deadline = tokio::time::Instant::now() + ACK_WAIT;
        loop {
            let signal = match tokio::time::timeout_at(deadline, client.next_signal()).await {
                Ok(Some(signal)) => signal,
                Ok(None) => {
                    note(Seen::Ended("the client task ended".into()));
                    return client;
                }
                Err(_) => {
                    note(Seen::Ended(format!(
                        "no ack for {batch} within {ACK_WAIT:?}"
                    )));
                    return client;
                }
            };
            match signal {
                ClientSignal::Synced { .. } => note(Seen::Synced),
                ClientSignal::Redirected { node, .. } => note(Seen::Redirected { node }),
                ClientSignal::Acked { batch: b, sequence } => {
                    let done = b == batch;
                    note(Seen::Acked {
                        batch: b.as_str().to_owned(),
                        sequence,
                    });
                    if done {
                        break;
                    }
                }
                ClientSignal::Dropped { batch: b, code, .. } => {
                    let done = b == batch;
                    note(Seen::Dropped {
                        batch: b.as_str().to_owned(),
                        code: code.as_str().to_owned(),
                    });
                    if done {
                        break;
                    }
                }
                ClientSignal::Disconnected { reason } => {
                    note(Seen::Disconnected(format!("{reason:?}")))
                }
                ClientSignal::Reconnecting { attempt } => note(Seen::Reconnecting(attempt)),
                ClientSignal::Failed | ClientSignal::AuthFailed => {
                    note(Seen::Ended(format!("{signal:?}")));
                    return client;
                }
                _ => {}
            }
        }
        tokio::time::sleep(WRITE_PAUSE).await;
    }
    client
}

/// The first ack in `log` after a rejoin (a `Synced`) at or after `since`.
fn first_ack_after_rejoin_in(log: &[(Instant, Seen)], since: Instant) -> Option<Instant> {
    let rejoined = log
        .iter()
        .position(|(at, s)| *at >= since && *s == Seen::Synced)?;
    log[rejoined..]
        .iter()
        .find(|(_, s)| matches!(s, Seen::Acked { .. }))
        .map(|(at, _)| *at)
}

impl Writers {
    /// The first ack a writer of `board` had after rejoining after
    /// `since`: the first batch the board's next owner acknowledged (a
    /// writer's acks before its rejoin may still come from the old owner).
    pub fn first_ack_after_rejoin(&self, board: &str, since: Instant) -> Option<Instant> {
        self.running
            .iter()
            .filter(|w| w.board == board)
            .filter_map(|w| first_ack_after_rejoin_in(&lock(&w.log), since))
            .min()
    }

    /// Waits, at most `limit`, until the first ack of `board` after a
    /// rejoin after `since`, and gives its delay from `since`; panics
    /// with the writers' logs' tails otherwise.
    pub async fn failover(&self, board: &str, since: Instant, limit: Duration) -> Duration {
        loop {
            if let Some(at) = self.first_ack_after_rejoin(board, since) {
                return at.duration_since(since);
            }
            if since.elapsed() > limit {
                panic!(
                    "{board} not served again within {limit:?}: {:#?}",
                    self.tails(&self.of_board(board))
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The last few entries of the logs of the writers `which`.
    fn tails(&self, which: &[usize]) -> Vec<String> {
        which
            .iter()
            .map(|&i| {
                let w = &self.running[i];
                let log = lock(&w.log);
                let tail = &log[log.len().saturating_sub(6)..];
                format!("{} via {}: {:?}", w.user, w.through, tail)
            })
            .collect()
    }
}

/// Acks of `board`'s writers in `[from, to)`.
pub fn acks_between(stopped: &[Stopped], board: &str, from: Instant, to: Instant) -> usize {
    stopped
        .iter()
        .filter(|w| w.board == board)
        .flat_map(|w| &w.log)
        .filter(|(at, s)| *at >= from && *at < to && matches!(s, Seen::Acked { .. }))
        .count()
}

/// Checks `board` in the database against its writers (see the module
/// docs) and that every writer converged on it; the board's sequence.
pub async fn check_board(db_url: &str, board: &str, stopped: &[Stopped]) -> u64 {
    let writers: Vec<&Stopped> = stopped.iter().filter(|w| w.board == board).collect();
    // What the writers were told, and that nothing went wrong for them.
    let mut acked: BTreeMap<(String, String), u64> = BTreeMap::new();
    for w in &writers {
        for (_, seen) in &w.log {
            match seen {
                Seen::Acked { batch, sequence } => {
                    let old = acked.insert((w.user.clone(), batch.clone()), *sequence);
                    assert!(
                        old.is_none_or(|s| s == *sequence),
                        "{board}: {} {batch} acked at {old:?} and {sequence}",
                        w.user
                    );
                }
                Seen::Dropped { .. } | Seen::Ended(_) => {
                    panic!("{board}: writer {} via {}: {seen:?}", w.user, w.through)
                }
                Seen::Synced
                | Seen::Redirected { .. }
                | Seen::Disconnected(_)
                | Seen::Reconnecting(_) => {}
            }
        }
    }
    assert!(!acked.is_empty(), "{board}: nothing was acknowledged");

    let store = PostgresStore::connect(db_url, PostgresOptions::default().max_connections(2))
        .await
        .expect("connect to the cluster's database");
    let id = BoardId::from(board);
    let log = store.read_events(&id, 0, usize::MAX).await.expect("read");
    let mut stored: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    let mut replayed = Pages::new();
    for (i, e) in log.iter().enumerate() {
        assert_eq!(
            e.seq,
            i as u64 + 1,
            "{board}: the log has a gap before {}",
            e.seq
        );
        stored
            .entry((e.author.as_str().to_owned(), e.batch.as_str().to_owned()))
            .or_default()
            .push(e.seq);
        replayed.apply(&e.mutation);
    }
    for ((user, batch), sequence) in &acked {
        let at = stored.get(&(user.clone(), batch.clone()));
        assert_eq!(
            at,
            Some(&vec![*sequence]),
            "{board}: {user}'s {batch}, acked at {sequence}, is stored at {at:?}"
        );
    }
    let unacked: Vec<_> = stored.keys().filter(|k| !acked.contains_key(*k)).collect();
    assert!(
        unacked.is_empty(),
        "{board}: stored but never acknowledged: {unacked:?}"
    );
    let sequence = log.len() as u64;

    for w in &writers {
        settled(&w.client, sequence).await;
        let seen = w.client.observe().await.expect("client running");
        assert!(
            seen.replica.pages() == &replayed,
            "{board}: {} via {} holds another board than the log",
            w.user,
            w.through
        );
    }
    sequence
}

/// Checks every board of `boards`, then closes the clients.
pub async fn check_and_close(db_url: &str, boards: &[&str], stopped: Vec<Stopped>) {
    for board in boards {
        check_board(db_url, board, &stopped).await;
    }
    for w in stopped {
        w.client.close().await;
    }
}

/// Waits until `node` names `owner` as the owner of `board`.
pub async fn wait_owner(node: &Server, board: &str, owner: &str) {
    poll(&format!("{owner} owns {board}"), || async {
        let info = node.room_info(board).await;
        (info["owner"]["node"] == owner).then_some(())
    })
    .await
}

/// A counter of `node`'s `/metrics` (0 when absent).
pub async fn counter(node: &Server, name: &str) -> f64 {
    let (_, text) = node.get_text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}
