//! `huddle serve`: open the store (PostgreSQL with `--database-url`,
//! SQLite in the data dir otherwise), start the driver, listen, print the
//! address and the admin key, serve until SIGTERM / Ctrl-C, shut down
//! gracefully. Connections are accepted by [`crate::accept`] (caps,
//! header deadline, accept errors).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use huddle_store::{Store, UnknownBoard};
use huddle_tokio::{Driver, DriverConfig};
use tokio::net::TcpListener;

use crate::accept::{self, Apps, HttpSettings};
use crate::admin_key::{self, KeySource};
use crate::auth::TokenKeys;
use crate::cli::{ServeArgs, SynchronousArg};
use crate::config::{check_frame_limit, engine_config, ServerSettings};
use crate::gate::{Caps, Gate};
use crate::http::{overflow_router, router};
use crate::metrics::ServerMetrics;
use crate::node::NodeIdentity;
use crate::shutdown;
use crate::state::AppState;

/// The driver configuration the flags describe, for this node.
pub fn driver_config(args: &ServeArgs, node: &NodeIdentity) -> DriverConfig {
    let mut config = DriverConfig::new()
        .engine(engine_config(args))
        .unknown_board(UnknownBoard::NotFound)
        .outbound_capacity(usize::try_from(args.outbound_capacity).unwrap_or(usize::MAX))
        // The same limit both ways: a `joined` too large for it goes in parts.
        .max_frame_bytes(usize::try_from(args.max_frame_bytes).unwrap_or(usize::MAX))
        .inbound_capacity(usize::try_from(args.inbound_capacity).unwrap_or(usize::MAX))
        .max_inputs_per_wake(usize::try_from(args.max_inputs_per_wake).unwrap_or(usize::MAX))
        .tick(args.shard_tick)
        // The node holds its boards' leases as itself: a refused acquire
        // on another node names this id and URL in its redirect.
        .node(huddle_store::Node {
            owner: node.as_owner(),
            lease_ttl: args.lease_ttl,
        });
    // 0 = drawn from the OS by the driver at start.
    if args.seed != 0 {
        config = config.seed(args.seed);
    }
    // 0 = the driver's default (the number of cores).
    if args.shards > 0 {
        config = config.shards(args.shards);
    }
    config
}

/// Runs the server until a signal, then shuts down gracefully.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // A frame limit that cannot hold one element or the participants
    // list is a configuration error, before anything is opened.
    check_frame_limit(&args).context("checking --max-frame-bytes against the other limits")?;
    // Bind first: a taken port must not leave a new data dir behind.
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data dir {}", args.data_dir.display()))?;
    let (admin_key, source) = admin_key::resolve(args.admin_key.as_deref(), &args.data_dir)?;
    let node = NodeIdentity::resolve(&args, addr)?;
    let announce_store = |store: &str| announce(addr, &admin_key, source, &args, &node, store);
    match &args.database_url {
        Some(url) => {
            // A node paused inside a transaction keeps its boards' rows
            // locked: PostgreSQL ends such a session after one lease TTL,
            // so that another node can take the boards over.
            let options = PostgresOptions::default()
                .max_connections(
                    usize::try_from(args.database_max_connections).unwrap_or(usize::MAX),
                )
                .idle_transaction_timeout(args.lease_ttl);
            let store = PostgresStore::connect(url, options)
                .await
                .context("opening the PostgreSQL store (--database-url)")?;
            announce_store(&format!("PostgreSQL {}", store.target()));
            serve_store(listener, &args, &admin_key, node, store).await
        }
        None => {
            let db_path = args.data_dir.join(&args.db_file);
            let synchronous = match args.sqlite_synchronous {
                SynchronousArg::Full => Synchronous::Full,
                SynchronousArg::Normal => Synchronous::Normal,
            };
            let store =
                SqliteStore::open(&db_path, SqliteOptions::default().synchronous(synchronous))
                    .await
                    .with_context(|| format!("opening {}", db_path.display()))?;
            announce_store(&format!("SQLite {}", db_path.display()));
            serve_store(listener, &args, &admin_key, node, store).await
        }
    }
}

/// Starts the driver on `store` as `node` and serves until a signal.
async fn serve_store<S: Store + 'static>(
    listener: TcpListener,
    args: &ServeArgs,
    admin_key: &str,
    node: NodeIdentity,
    store: S,
) -> anyhow::Result<()> {
    let driver = Driver::start(driver_config(args, &node), Arc::new(store));
    let secret = args
        .jwt_secret
        .clone()
        .unwrap_or_else(|| admin_key.to_owned());
    let state = AppState::new(
        driver.clone(),
        TokenKeys::new(secret.as_bytes()),
        admin_key,
        ServerSettings::from_args(args, node),
    );
    tokio::spawn(sample_mutations(driver.clone(), state.metrics.clone()));
    let listen = ListenSettings::from_args(args);
    tracing::info!(
        max_connections = listen.caps.total,
        max_connections_per_ip = listen.caps.per_ip,
        "connection caps"
    );
    serve(listener, state, listen, args.shutdown_timeout).await
}

/// How connections are accepted: the caps and the HTTP deadlines.
#[derive(Clone, Copy, Debug)]
pub struct ListenSettings {
    /// `--max-connections` (0: from the descriptor limit),
    /// `--max-connections-per-ip`.
    pub caps: Caps,
    /// `--http-header-timeout`, `--http-keep-alive`.
    pub http: HttpSettings,
}

impl ListenSettings {
    /// The settings the flags describe.
    pub fn from_args(args: &ServeArgs) -> Self {
        ListenSettings {
            caps: Caps::from_flags(args.max_connections, args.max_connections_per_ip),
            http: HttpSettings {
                header_timeout: args.http_header_timeout,
                keep_alive: args.http_keep_alive,
            },
        }
    }
}

/// Prints the address and the admin key (stdout, one line each, flushed).
fn announce(
    addr: SocketAddr,
    key: &str,
    source: KeySource,
    args: &ServeArgs,
    node: &NodeIdentity,
    store: &str,
) {
    let from = match source {
        KeySource::Given => "given".to_owned(),
        KeySource::Stored => format!("from {}", admin_key::key_path(&args.data_dir).display()),
        KeySource::Generated => format!(
            "generated, stored in {}",
            admin_key::key_path(&args.data_dir).display()
        ),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "huddle listening on http://{addr}");
    let _ = writeln!(out, "admin key: {key} ({from})");
    if args.demo {
        let _ = writeln!(
            out,
            "demo: open http://{addr}/ (anyone can get a token for the demo room: not for production)"
        );
    }
    let _ = out.flush();
    tracing::info!(%addr, store, node = %node.id, url = %node.url, "huddle serving");
}

/// Serves `state` on `listener` until a signal, then drains.
pub async fn serve<S: Store + 'static>(
    listener: TcpListener,
    state: AppState<S>,
    listen: ListenSettings,
    shutdown_timeout: Duration,
) -> anyhow::Result<()> {
    let driver = state.driver.clone();
    let apps = Apps {
        app: router(state.clone()),
        overflow: overflow_router(state.clone()),
    };
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel();
    let on_signal = {
        let state = state.clone();
        async move {
            shutdown::signal().await;
            state.begin_shutdown();
            // A second signal while draining: stop at once (what was
            // acknowledged is stored already; pending flushes are redone
            // from the log at the next start).
            tokio::spawn(async {
                shutdown::signal().await;
                tracing::warn!("second signal: exiting without waiting for the flush");
                std::process::exit(130);
            });
            // Flush and close sessions while axum stops accepting; the
            // driver closes every WebSocket (1012).
            let driver = state.driver.clone();
            tokio::spawn(async move {
                let ok = shutdown::drain(&driver, shutdown_timeout).await;
                let _ = drained_tx.send(ok);
            });
        }
    };
    let started = Instant::now();
    accept::serve(
        listener,
        apps,
        Gate::new(listen.caps, state.metrics.clone()),
        listen.http,
        on_signal,
    )
    .await;
    let flushed = drained_rx.await.unwrap_or(false);
    if !flushed {
        // The HTTP server ended without a signal, or the drain failed.
        shutdown::drain(&driver, shutdown_timeout).await;
    }
    tracing::info!(uptime = ?started.elapsed(), "huddle stopped");
    Ok(())
}

/// Samples the driver's mutation count once a second for the
/// `huddle_mutations_per_second` gauge.
async fn sample_mutations<S: Store + 'static>(driver: Driver<S>, metrics: Arc<ServerMetrics>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if driver.is_shutting_down() {
            return;
        }
        metrics.sample_mutations(driver.metrics().mutations_applied(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_node() -> NodeIdentity {
        NodeIdentity {
            id: "node-test".into(),
            url: "ws://127.0.0.1:1/ws".into(),
        }
    }

    #[test]
    fn driver_config_from_flags() {
        let mut args = ServeArgs::defaults();
        let config = driver_config(&args, &test_node());
        assert_eq!(config.unknown_board, UnknownBoard::NotFound);
        assert!(config.shards >= 1);
        let defaults = DriverConfig::new();
        assert_eq!(config.outbound_capacity, defaults.outbound_capacity);
        assert_eq!(config.inbound_capacity, defaults.inbound_capacity);
        assert_eq!(config.max_inputs_per_wake, defaults.max_inputs_per_wake);
        assert_eq!(config.tick, defaults.tick);
        assert_eq!(config.shards, defaults.shards);
        assert_eq!(config.max_frame_bytes, defaults.max_frame_bytes);
        assert_eq!(config.engine, engine_config(&args));
        assert!(config.engine.store_user_sessions);
        assert_eq!(config.seed, None, "seed 0: the driver draws one");
        assert_eq!(config.node.owner, test_node().as_owner());
        assert_eq!(config.node.lease_ttl, args.lease_ttl);
        args.shards = 3;
        args.seed = 42;
        args.inbound_capacity = 7;
        let config = driver_config(&args, &test_node());
        assert_eq!(
            (config.shards, config.seed, config.inbound_capacity),
            (3, Some(42), 7)
        );
    }
}
