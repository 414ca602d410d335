//! [`Driver`]: the handle a host keeps. It starts the shard tasks, routes
//! each connection to the shard that owns its board, and asks the shards
//! for session info, stats and shutdown.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use huddle_core::{BoardId, ConnId, SessionInfo, Stats};
use huddle_store::{Performer, Store};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::DriverConfig;
use crate::connection::{ConnSender, ConnShared, Connection};
use crate::error::DriverError;
use crate::member::Member;
use crate::metrics::Metrics;
use crate::seed;
use crate::shard::{self, Input};

/// Runs the engines of one host on the current tokio runtime. Cheap to
/// clone (an `Arc`); every clone drives the same shards.
///
/// See the [crate docs](crate) for the model.
///
/// ```
/// use std::time::Duration;
///
/// use huddle_store::InMemoryStore;
/// use huddle_tokio::{Driver, DriverConfig, DriverError, Member};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let driver = Driver::start(DriverConfig::new().shards(1), InMemoryStore::new());
/// let conn = driver.connect(Member::new("board-1", "alice", "Alice")).unwrap();
/// // ... hand `conn` to the socket's pump ...
/// driver.shutdown_within(Duration::from_secs(5)).await.unwrap();
/// assert_eq!(
///     driver.connect(Member::new("board-1", "bob", "Bob")).unwrap_err(),
///     DriverError::ShuttingDown
/// );
/// # drop(conn);
/// # }
/// ```
pub struct Driver<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Driver<S> {
    fn clone(&self) -> Self {
        Driver {
            inner: self.inner.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("shards", &self.inner.shards.len())
            .field(
                "shutting_down",
                &self.inner.shutting_down.load(Ordering::Relaxed),
            )
            .finish()
    }
}

struct Inner<S> {
    config: DriverConfig,
    shards: Vec<mpsc::UnboundedSender<Input>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The lease renewal task (ends with the shards).
    renewal: JoinHandle<()>,
    performer: Arc<Performer<S>>,
    metrics: Arc<Metrics>,
    next_conn: AtomicU64,
    shutting_down: AtomicBool,
    /// Turns true when shutdown begins (for [`Driver::shutdown_started`]).
    shutdown_begun: watch::Sender<bool>,
}

/// The shard of `board` among `shards` (at least one).
pub(crate) fn shard_index(board: &BoardId, shards: usize) -> usize {
    // `DefaultHasher::new()` has fixed keys: the same board maps to the
    // same shard in every process with the same shard count.
    let mut h = std::hash::DefaultHasher::new();
    board.as_str().hash(&mut h);
    (h.finish() % shards.max(1) as u64) as usize
}

impl<S: Store + 'static> Driver<S> {
    /// Starts `config.shards` shard tasks (at least one) on the current
    /// tokio runtime, each with its own engine, all performing their
    /// storage through `store`. Without a configured
    /// [`seed`](DriverConfig::seed), the engines' seed is drawn from the
    /// operating system here, on every start.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn start(config: DriverConfig, store: S) -> Self {
        let performer = Arc::new(Performer::with_node(
            store,
            config.unknown_board,
            config.node.clone(),
        ));
        let metrics = Arc::new(Metrics::default());
        let clock = Clock::start();
        let count = config.shards.max(1);
        let seed = seed::resolve(config.seed);
        let mut shards = Vec::with_capacity(count);
        let mut tasks = Vec::with_capacity(count);
        for index in 0..count {
            let (tx, rx) = mpsc::unbounded_channel();
            let task = shard::spawn(shard::ShardSetup {
                index,
                seed: seed.wrapping_add(index as u64),
                config: config.clone(),
                performer: performer.clone(),
                metrics: metrics.clone(),
                clock,
                inputs: rx,
                self_tx: tx.downgrade(),
            });
            shards.push(tx);
            tasks.push(task);
        }
        let weak = shards.iter().map(|s| s.downgrade()).collect();
        let renewal = crate::renewal::spawn(performer.clone(), weak, metrics.clone());
        Driver {
            inner: Arc::new(Inner {
                config,
                shards,
                tasks: Mutex::new(tasks),
                renewal,
                performer,
                metrics,
                next_conn: AtomicU64::new(1),
                shutting_down: AtomicBool::new(false),
                shutdown_begun: watch::Sender::new(false),
            }),
        }
    }

    /// Registers a new connection for `member`: it may then `join` only
    /// `member.board`, whose shard it talks to.
    ///
    /// Refused with [`DriverError::ShuttingDown`] once
    /// [`shutdown`](Self::shutdown) has begun.
    pub fn connect(&self, member: Member) -> Result<Connection, DriverError> {
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::Acquire) {
            return Err(DriverError::ShuttingDown);
        }
        let board = &member.board;
        let shard = &inner.shards[self.shard_of(board)];
        let id = ConnId(inner.next_conn.fetch_add(1, Ordering::Relaxed));
        // Two slots more than the capacity: the final error and close.
        let (tx, rx) = crate::outbound::queue(inner.config.outbound_capacity);
        let shared = Arc::new(ConnShared::default());
        shard
            .send(Input::Open {
                conn: id,
                identity: member.into(),
                outbound: tx,
                shared: shared.clone(),
            })
            .map_err(|_| DriverError::ShuttingDown)?;
        let sender = ConnSender::new(
            id,
            shard.clone(),
            shared,
            inner.config.inbound_capacity,
            inner.config.max_frame_bytes,
            inner.metrics.clone(),
        );
        Ok(Connection {
            id,
            sender,
            outbound: rx,
        })
    }

    /// The shard that owns `board` (a fixed hash of its id).
    pub fn shard_of(&self, board: &BoardId) -> usize {
        shard_index(board, self.inner.shards.len())
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.inner.shards.len()
    }

    /// The live session of `board`, from its shard (`None` if no session is
    /// in memory, or the shard has stopped).
    pub async fn session(&self, board: &BoardId) -> Option<SessionInfo> {
        let (reply, answer) = oneshot::channel();
        let shard = &self.inner.shards[self.shard_of(board)];
        shard
            .send(Input::Session {
                board: board.clone(),
                reply,
            })
            .ok()?;
        answer.await.ok().flatten()
    }

    /// Engine statistics summed over all shards (shards that have stopped
    /// count nothing).
    pub async fn stats(&self) -> Stats {
        let mut answers = Vec::with_capacity(self.inner.shards.len());
        for shard in &self.inner.shards {
            let (reply, answer) = oneshot::channel();
            if shard.send(Input::Stats { reply }).is_ok() {
                answers.push(answer);
            }
        }
        let mut total = Stats::default();
        for answer in answers {
            if let Ok(s) = answer.await {
                shard::add_stats(&mut total, &s);
            }
        }
        total
    }

    /// The driver's metrics: this driver's own (another driver in the
    /// process counts apart). Put them into a registry with
    /// [`Metrics::register`]; call [`refresh_metrics`](Self::refresh_metrics)
    /// before each scrape.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Brings the metrics read from the shards up to date
    /// (`huddle_bytes_held`, from [`stats`](Self::stats)): call it before
    /// encoding a registry that holds them. The counters need no refresh.
    pub async fn refresh_metrics(&self) {
        let stats = self.stats().await;
        self.inner.metrics.set_bytes_held(&stats);
    }

    /// This driver's metrics alone in the Prometheus text format (version
    /// 0.0.4), refreshed first: [`refresh_metrics`](Self::refresh_metrics)
    /// and [`Metrics::render_prometheus`].
    pub async fn render_metrics(&self) -> String {
        self.refresh_metrics().await;
        self.inner.metrics.render_prometheus()
    }

    /// The store.
    pub fn store(&self) -> &S {
        self.inner.performer.store()
    }

    /// Whether this node holds the board's lease now: its load was granted
    /// and the lease not lost or released since. A session that is still loading, or
    /// whose load was refused because another node owns the board (the
    /// joins get a redirect), does not count.
    pub fn holds_lease(&self, board: &BoardId) -> bool {
        self.inner.performer.epoch(board).is_some()
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Shuts down gracefully: refuses new connections, closes every board
    /// session (flushing it; a persistent one also stores its `archive`
    /// snapshot), waits until the store confirmed all of it, closes every
    /// connection with 1012 ("service restart"), and ends the shard tasks.
    ///
    /// It waits as long as storage keeps failing (the engine retries with
    /// backoff): wrap it in `tokio::time::timeout` to bound it. Calling it
    /// again (or from another clone) waits for the same shutdown.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.inner.shutdown_begun.send_replace(true);
        for shard in &self.inner.shards {
            let _ = shard.send(Input::Shutdown);
        }
        let tasks: Vec<JoinHandle<()>> = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a shard task failed");
            }
        }
        // Another caller may hold the handles: wait for every shard to be gone.
        for shard in &self.inner.shards {
            shard.closed().await;
        }
        // Every session was archived and its lease released: renew no more.
        self.inner.renewal.abort();
    }

    /// Completes once shutdown has begun (at once if it has): hand it to
    /// the HTTP server's graceful shutdown (axum's
    /// `with_graceful_shutdown`), so that it stops accepting when the
    /// driver does.
    pub fn shutdown_started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut begun = self.inner.shutdown_begun.subscribe();
        async move {
            // The sender lives as long as the driver; gone means stopped.
            let _ = begun.wait_for(|begun| *begun).await;
        }
    }

    /// Serves until `signal` completes (SIGTERM, Ctrl-C, a test's
    /// trigger), then shuts down in the one order `docs/driver.md` gives
    /// ([`shutdown_within`](Self::shutdown_within)).
    pub async fn serve_until(
        &self,
        signal: impl Future<Output = ()>,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        signal.await;
        self.shutdown_within(timeout).await
    }

    /// Shuts down and closes the store, within `timeout`:
    ///
    /// 1. stops accepting: [`connect`](Self::connect) answers
    ///    [`DriverError::ShuttingDown`] and
    ///    [`shutdown_started`](Self::shutdown_started) completes (the
    ///    HTTP server stops accepting);
    /// 2. ends every session ([`shutdown`](Self::shutdown)): joined
    ///    connections get `session_closed`, every connection is closed with
    ///    1012, and each board is flushed (a persistent room stores its
    ///    `archive` snapshot) and released;
    /// 3. once storage has confirmed all of it, closes the store
    ///    ([`Store::close`]: SQLite's thread ends after its last commit,
    ///    PostgreSQL's pool is closed).
    ///
    /// [`DriverError::ShutdownTimedOut`] if steps 2 and 3 took longer than
    /// `timeout` (storage kept failing): what was not confirmed by then
    /// is not stored, but every acknowledged batch is in the log already.
    pub async fn shutdown_within(&self, timeout: Duration) -> Result<(), DriverError> {
        let done = async {
            self.shutdown().await;
            self.store().close().await;
        };
        match tokio::time::timeout(timeout, done).await {
            Ok(()) => Ok(()),
            Err(_) => Err(DriverError::ShutdownTimedOut(timeout)),
        }
    }
}
