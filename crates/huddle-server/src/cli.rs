//! The command line: `huddle serve [flags]`.
//!
//! Every flag is also an environment variable, `HUDDLE_` + the flag in upper
//! snake case (`--idle-timeout-ephemeral` is `HUDDLE_IDLE_TIMEOUT_EPHEMERAL`);
//! a flag given on the command line wins over the variable. Durations are
//! written like `250ms`, `30s`, `5m` ([`huddle_duration`], the syntax of
//! every Huddle binary). Defaults are the spec's numbers: counts and
//! limits are read from huddle-core's [`Config`] and [`Limits`] defaults
//! (one place); durations and byte sizes are written out in the flags' own
//! syntax, so that `--help` shows them so, and a test checks that the
//! engine configuration the defaults give is `Config::default()` but for
//! the server's two deliberate differences (`config.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use huddle_core::{Config, Limits};
use huddle_duration::parse_duration;

use crate::byte_size::parse_bytes;

/// Huddle: a session engine for realtime collaboration backends.
#[derive(Debug, Parser)]
#[command(name = "huddle", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reference server (HTTP + WebSocket).
    Serve(Box<ServeArgs>),
    /// Drive a running server with WebSocket clients and report
    /// throughput and ack latency (the `huddle-load` crate; only in a
    /// build with the `load` feature).
    #[cfg(feature = "load")]
    Load(Box<huddle_load::LoadArgs>),
}

/// Colour assignment rule (`--color-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorPolicyArg {
    /// Index = participants already present, modulo 8 (the seed's rule).
    Seed,
    /// The least-used colour, first in palette order on ties.
    LeastUsed,
}

/// When SQLite syncs its log to disk (`--sqlite-synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SynchronousArg {
    /// Every commit is fsynced before anything it holds is acknowledged:
    /// survives a process crash and a power loss.
    Full,
    /// Commits survive a process crash (kill -9), but the last ones may be
    /// lost on a power loss or OS crash. Faster on slow disks.
    Normal,
}

/// When a batch is acknowledged (`--durability`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// Once its events are stored (nothing acknowledged is ever lost).
    AckOnStore,
    /// As soon as it is applied (the seed's behaviour; a crash can lose
    /// acknowledged batches).
    AckOnApply,
}

/// Flags of `huddle serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "HUDDLE_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,

    /// Directory of the SQLite database (`huddle.db`) and the generated admin key.
    #[arg(long, env = "HUDDLE_DATA_DIR", default_value = "./huddle-data")]
    pub data_dir: PathBuf,

    /// Admin key for the HTTP API (`Authorization: Bearer <key>`). Default:
    /// generated on first start and stored in `<data-dir>/admin.key`.
    #[arg(long, env = "HUDDLE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// HS256 secret that signs and verifies user tokens. Default: the admin key.
    #[arg(long, env = "HUDDLE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of a token from `POST /users` without `ttl_seconds`.
    #[arg(long, env = "HUDDLE_TOKEN_TTL", default_value = "1h", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// Longest `ttl_seconds` that `POST /users` accepts.
    #[arg(long, env = "HUDDLE_MAX_TOKEN_TTL", default_value = "30days", value_parser = parse_duration)]
    pub max_token_ttl: Duration,

    /// Idle time before an ephemeral room's session is archived.
    #[arg(long, env = "HUDDLE_IDLE_TIMEOUT_EPHEMERAL", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout_ephemeral: Duration,

    /// Idle time before a persistent room's session is archived (with a snapshot).
    #[arg(long, env = "HUDDLE_IDLE_TIMEOUT_PERSISTENT", default_value = "15m", value_parser = parse_duration)]
    pub idle_timeout_persistent: Duration,

    /// Inactivity before a user session times out (`session_timeout`, close 4002).
    #[arg(long, env = "HUDDLE_INACTIVITY_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub inactivity_timeout: Duration,

    /// Auto-save (flush + snapshot) interval while a room has participants.
    #[arg(long, env = "HUDDLE_AUTOSAVE_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub autosave_interval: Duration,

    /// Missed events from which a join gets a full sync instead of a delta.
    #[arg(long, env = "HUDDLE_DELTA_THRESHOLD", default_value_t = Config::default().delta_threshold,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub delta_threshold: u64,

    /// Events kept in memory per board for delta sync (default: the delta threshold).
    #[arg(long, env = "HUDDLE_HISTORY_LEN")]
    pub history_len: Option<usize>,

    /// Snapshots kept per board.
    #[arg(long, env = "HUDDLE_SNAPSHOT_RETENTION", default_value_t = Config::default().snapshot_retention)]
    pub snapshot_retention: usize,

    /// Minimum time between two manual snapshots of one board (sooner:
    /// `error RATE_LIMITED`).
    #[arg(long, env = "HUDDLE_MANUAL_SNAPSHOT_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub manual_snapshot_interval: Duration,

    /// Largest WebSocket text frame, in bytes. Up to 4 times this, a frame
    /// gets `error PAYLOAD_TOO_LARGE`; beyond, the connection is closed (1009).
    #[arg(long, env = "HUDDLE_MAX_FRAME_BYTES", default_value_t = huddle_tokio::axum::DEFAULT_MAX_FRAME_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(1..=(u32::MAX as u64)))]
    pub max_frame_bytes: u64,

    /// Most mutations in one `mutate`.
    #[arg(long, env = "HUDDLE_MAX_BATCH", default_value_t = Limits::default().max_batch_len)]
    pub max_batch: usize,

    /// Most participants (distinct users) per board.
    #[arg(long, env = "HUDDLE_MAX_PARTICIPANTS", default_value_t = Limits::default().max_participants)]
    pub max_participants: usize,

    /// Largest `data` of one upsert, in bytes.
    #[arg(long, env = "HUDDLE_MAX_PAYLOAD_BYTES", default_value_t = Limits::default().max_payload_bytes)]
    pub max_payload_bytes: usize,

    /// Mutations accepted per board but not yet flushed before `RATE_LIMITED`.
    #[arg(long, env = "HUDDLE_MAX_PENDING_PER_BOARD", default_value_t = Limits::default().max_pending_per_board)]
    pub max_pending_per_board: u64,

    /// Longest board, user, page, element or batch id, in bytes.
    #[arg(long, env = "HUDDLE_MAX_ID_BYTES", default_value_t = Limits::default().max_id_bytes)]
    pub max_id_bytes: usize,

    /// Longest display name, in bytes.
    #[arg(long, env = "HUDDLE_MAX_DISPLAY_NAME_BYTES", default_value_t = Limits::default().max_display_name_bytes)]
    pub max_display_name_bytes: usize,

    /// Unflushed mutations of a board that start a flush before the next auto-save.
    #[arg(long, env = "HUDDLE_FLUSH_THRESHOLD", default_value_t = Config::default().flush_threshold)]
    pub flush_threshold: u64,

    /// Minimum interval between two broadcast cursor updates of one connection.
    #[arg(long, env = "HUDDLE_PRESENCE_INTERVAL", default_value = "50ms", value_parser = parse_duration)]
    pub presence_interval: Duration,

    /// Batch ids remembered per user and board for idempotent retries at
    /// least, whatever their age.
    #[arg(long, env = "HUDDLE_DEDUP_WINDOW", default_value_t = Config::default().dedup_window)]
    pub dedup_window: usize,

    /// Every batch younger than this is remembered for idempotent retries,
    /// whatever their number (within --dedup-max-bytes).
    #[arg(long, env = "HUDDLE_DEDUP_MAX_AGE", default_value = "5m", value_parser = parse_duration)]
    pub dedup_max_age: Duration,

    /// The most bytes a board's remembered batch ids may take; beyond, the
    /// oldest are forgotten first.
    #[arg(long, env = "HUDDLE_DEDUP_MAX_BYTES", default_value_t = Config::default().dedup_max_bytes)]
    pub dedup_max_bytes: usize,

    /// Appends of one board at the store at once (group commits in flight
    /// per shard): more than one lets a batch go with the store's next
    /// commit instead of waiting for the previous one's confirmation.
    #[arg(long, env = "HUDDLE_APPENDS_IN_FLIGHT", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub appends_in_flight: u16,

    /// First retry delay after a failed store write (doubles per failure).
    #[arg(long, env = "HUDDLE_STORAGE_RETRY_INITIAL", default_value = "500ms", value_parser = parse_duration)]
    pub storage_retry_initial: Duration,

    /// Longest retry delay after repeated store failures.
    #[arg(long, env = "HUDDLE_STORAGE_RETRY_MAX", default_value = "30s", value_parser = parse_duration)]
    pub storage_retry_max: Duration,

    /// Colour assignment rule.
    #[arg(long, env = "HUDDLE_COLOR_POLICY", value_enum, default_value = "seed")]
    pub color_policy: ColorPolicyArg,

    /// When a batch is acknowledged.
    #[arg(
        long,
        env = "HUDDLE_DURABILITY",
        value_enum,
        default_value = "ack-on-store"
    )]
    pub durability: DurabilityArg,

    /// Engine shards (threads of board sessions); 0 = one per CPU core.
    #[arg(long, env = "HUDDLE_SHARDS", default_value_t = 0)]
    pub shards: usize,

    /// Messages queued per connection before it is treated as a slow consumer.
    #[arg(long, env = "HUDDLE_OUTBOUND_CAPACITY", default_value_t = huddle_tokio::DEFAULT_OUTBOUND_CAPACITY as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub outbound_capacity: u64,

    /// Client messages one connection may have waiting for its shard before
    /// further ones get `error RATE_LIMITED`.
    #[arg(long, env = "HUDDLE_INBOUND_CAPACITY", default_value_t = huddle_tokio::DEFAULT_INBOUND_CAPACITY as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub inbound_capacity: u64,

    /// Inputs a shard handles per wake-up before it delivers outputs.
    #[arg(long, env = "HUDDLE_MAX_INPUTS_PER_WAKE", default_value_t = huddle_tokio::DEFAULT_MAX_INPUTS_PER_WAKE as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_inputs_per_wake: u64,

    /// The shortest time between two wake-ups of a busy shard: what arrives
    /// meanwhile is handled together (one group commit, one `events` frame
    /// per recipient and board). `0ms`: wake for every message.
    #[arg(long, env = "HUDDLE_SHARD_TICK", default_value = "1ms", value_parser = parse_duration)]
    pub shard_tick: Duration,

    /// Worker threads of the server's runtime; 0 = one per CPU core.
    #[arg(long, env = "HUDDLE_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// Tasks a runtime worker runs between two polls of the kernel for
    /// socket and timer events while it has tasks to run (tokio's
    /// `event_interval`).
    #[arg(long, env = "HUDDLE_EVENT_INTERVAL", default_value_t = 61,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub event_interval: u32,

    /// Tasks a runtime worker runs from its own queue between two looks
    /// at the shared queue (tokio's `global_queue_interval`); 0 = tokio's
    /// default.
    #[arg(long, env = "HUDDLE_GLOBAL_QUEUE_INTERVAL", default_value_t = 0)]
    pub global_queue_interval: u32,

    /// Store a record of every user session (start, end, status) for
    /// auditing (`true` or `false`).
    #[arg(long, env = "HUDDLE_STORE_USER_SESSIONS", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub store_user_sessions: bool,

    /// When SQLite syncs its log to disk: `full` (fsync per commit) or
    /// `normal` (survives crashes of the process, not of the machine).
    #[arg(
        long,
        env = "HUDDLE_SQLITE_SYNCHRONOUS",
        value_enum,
        default_value = "full"
    )]
    pub sqlite_synchronous: SynchronousArg,

    /// Longest wait for a client's socket to take one outgoing frame; a
    /// client that reads slower is disconnected.
    #[arg(long, env = "HUDDLE_WRITE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub write_timeout: Duration,

    // ---- connection deadlines, caps and decode limits (issue 17) ----
    /// Longest wait for a complete HTTP request head (request line and
    /// headers), counted from when the connection is ready for a request:
    /// right after accept, and after the previous response on a kept-alive
    /// connection (so it is also the idle keep-alive timeout).
    #[arg(long, env = "HUDDLE_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_header_timeout: Duration,

    /// Keep HTTP connections open between requests (`true` or `false`);
    /// an idle one is closed after `--http-header-timeout`.
    #[arg(long, env = "HUDDLE_HTTP_KEEP_ALIVE", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub http_keep_alive: bool,

    /// Longest wait after a WebSocket upgrade for the client's `join`; a
    /// socket without one is closed with 4006.
    #[arg(long, env = "HUDDLE_JOIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub join_timeout: Duration,

    /// Most TCP connections open at once (HTTP and WebSocket); further ones
    /// get `503` with `Retry-After`. 0: the descriptor limit
    /// (`RLIMIT_NOFILE`) minus a reserve for the store and the process.
    #[arg(long, env = "HUDDLE_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Most TCP connections open at once from one remote IP address; 0:
    /// no limit of its own.
    #[arg(long, env = "HUDDLE_MAX_CONNECTIONS_PER_IP", default_value_t = 1024)]
    pub max_connections_per_ip: usize,

    /// Most levels of arrays and objects in an upsert's `data`; deeper
    /// gets `error DATA_TOO_DEEP`.
    #[arg(long, env = "HUDDLE_MAX_DATA_DEPTH", default_value_t = huddle_wire::DEFAULT_MAX_DATA_DEPTH as u32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_data_depth: u32,

    /// Most payload bytes of the events a board keeps for delta sync
    /// (beside --history-len); beyond, the oldest leave the history and a
    /// join that needs them gets a full sync (`no_history`). Bytes, or with
    /// a unit: 64MiB.
    #[arg(long, env = "HUDDLE_MAX_HISTORY_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub max_history_bytes: usize,

    /// Most payload bytes accepted on a board but not yet flushed (beside
    /// --max-pending-per-board); beyond, `error RATE_LIMITED`.
    #[arg(long, env = "HUDDLE_MAX_PENDING_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub max_pending_bytes: usize,

    /// Most payload bytes of all elements of one board; a batch that could
    /// grow it beyond gets `error BOARD_TOO_LARGE`.
    #[arg(long, env = "HUDDLE_MAX_BOARD_BYTES", default_value = "256MiB", value_parser = parse_bytes)]
    pub max_board_bytes: usize,

    /// Largest board (payload bytes) a snapshot is taken of: a manual one of
    /// a larger board gets `error SNAPSHOT_TOO_LARGE`, an automatic one is
    /// skipped (logged, counted in huddle_snapshots_skipped_total).
    #[arg(long, env = "HUDDLE_MAX_SNAPSHOT_BYTES", default_value = "256MiB", value_parser = parse_bytes)]
    pub max_snapshot_bytes: usize,

    /// Unflushed payload bytes of a board that start a flush before the
    /// next auto-save (as --flush-threshold does for mutations).
    #[arg(long, env = "HUDDLE_FLUSH_THRESHOLD_BYTES", default_value = "16MiB", value_parser = parse_bytes)]
    pub flush_threshold_bytes: usize,
    // ---- end of the issue 17 block ----
    /// Seed of the engine's randomness (session ids); 0 = from the OS.
    #[arg(long, env = "HUDDLE_SEED", default_value_t = 0)]
    pub seed: u64,

    /// Longest wait for sessions to be flushed at shutdown.
    #[arg(long, env = "HUDDLE_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// SQLite database file name inside the data dir.
    #[arg(long, env = "HUDDLE_DB_FILE", default_value = "huddle.db")]
    pub db_file: String,

    /// Serve the demo whiteboard at `/` and hand out tokens for its room to
    /// anyone (`POST /demo/token`). Unsafe in production: no auth.
    #[arg(long, env = "HUDDLE_DEMO")]
    pub demo: bool,

    /// PostgreSQL (15 or later) to store boards in instead of SQLite, e.g.
    /// `postgres://huddle:secret@db.example:5432/huddle`; TLS by its
    /// `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`) and `sslrootcert` (a CA file), as with libpq.
    /// Default: SQLite in the data dir.
    #[arg(long, env = "HUDDLE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// This node's id in a cluster (unique per node; letters, digits, `-`,
    /// `_`, `.`, `:`). Default: `node-` and 16 random hex digits drawn on
    /// the first start and kept in `<data-dir>/node.id`.
    #[arg(long, env = "HUDDLE_NODE_ID", value_parser = crate::node::parse_node_id)]
    pub node_id: Option<String>,

    /// The WebSocket URL clients reach this node at (`ws://` or `wss://`),
    /// which redirects to this node name. Default: `ws://<bound address>/ws`.
    #[arg(long, env = "HUDDLE_ADVERTISE_URL", value_parser = crate::node::parse_advertise_url)]
    pub advertise_url: Option<String>,

    /// How long this node's board leases run without a renewal: another
    /// node may take a board over this long after this node stopped
    /// renewing (crashed, paused, cut off from the database). The node
    /// renews several times per TTL and stops acknowledging a board's
    /// writes it could not renew well before it runs out
    /// (`docs/operations.md`, "Several nodes").
    #[arg(long, env = "HUDDLE_LEASE_TTL", default_value = "5s", value_parser = parse_lease_ttl)]
    pub lease_ttl: Duration,

    /// Most PostgreSQL connections the server holds (with `--database-url`).
    #[arg(long, env = "HUDDLE_DATABASE_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub database_max_connections: u64,
}

impl ServeArgs {
    /// The flags' defaults (as `huddle serve` with no arguments and no
    /// `HUDDLE_*` variables).
    pub fn defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        // Parsing an empty command line cannot fail: every flag has a default.
        match Only::try_parse_from(["huddle"]) {
            Ok(only) => only.args,
            Err(e) => unreachable!("defaults must parse: {e}"),
        }
    }
}

/// A lease TTL: a duration from 1 s to 10 min (shorter leases cannot be
/// renewed reliably over a database round trip; longer ones make a
/// crashed node's boards wait that long).
fn parse_lease_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(600) {
        return Err(format!("{text}: a lease TTL is from 1s to 10m"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_gives_the_spec_defaults() {
        let cli = Cli::try_parse_from(["huddle", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen, "127.0.0.1:7878".parse().unwrap());
        assert_eq!(args.data_dir, PathBuf::from("./huddle-data"));
        assert_eq!(args.admin_key, None);
        assert_eq!(args.idle_timeout_ephemeral, Duration::from_secs(300));
        assert_eq!(args.idle_timeout_persistent, Duration::from_secs(900));
        assert_eq!(args.inactivity_timeout, Duration::from_secs(1800));
        assert_eq!(args.autosave_interval, Duration::from_secs(30));
        assert_eq!(args.delta_threshold, 1000);
        assert_eq!(args.snapshot_retention, 50);
        assert_eq!(args.manual_snapshot_interval, Duration::from_secs(10));
        assert_eq!(args.max_frame_bytes, 1_048_576);
        assert_eq!(args.max_batch, 1000);
        assert_eq!(args.max_participants, 256);
        assert_eq!(args.presence_interval, Duration::from_millis(50));
        assert_eq!(args.shard_tick, huddle_tokio::DEFAULT_TICK);
        assert_eq!(args.durability, DurabilityArg::AckOnStore);
        assert_eq!(args.http_header_timeout, Duration::from_secs(10));
        assert!(args.http_keep_alive);
        assert_eq!(args.join_timeout, Duration::from_secs(10));
        assert_eq!(args.max_connections, 0);
        assert_eq!(args.max_connections_per_ip, 1024);
        assert_eq!(
            usize::try_from(args.max_data_depth).unwrap(),
            huddle_wire::DEFAULT_MAX_DATA_DEPTH
        );
    }

    #[test]
    fn flags_parse_durations_and_limits() {
        let cli = Cli::try_parse_from([
            "huddle",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--idle-timeout-ephemeral",
            "250ms",
            "--autosave-interval",
            "2s",
            "--max-frame-bytes",
            "1024",
            "--max-batch",
            "10",
            "--color-policy",
            "least-used",
            "--store-user-sessions",
            "false",
            "--max-board-bytes",
            "1MiB",
            "--max-snapshot-bytes",
            "4096",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen.port(), 0);
        assert_eq!(args.idle_timeout_ephemeral, Duration::from_millis(250));
        assert_eq!(args.autosave_interval, Duration::from_secs(2));
        assert_eq!(args.max_frame_bytes, 1024);
        assert_eq!(args.max_batch, 10);
        assert_eq!(args.color_policy, ColorPolicyArg::LeastUsed);
        assert!(!args.store_user_sessions);
        assert_eq!(args.max_board_bytes, 1 << 20);
        assert_eq!(args.max_snapshot_bytes, 4096);
    }

    #[cfg(feature = "load")]
    #[test]
    fn node_flags_parse_and_are_checked() {
        let cli = Cli::try_parse_from([
            "huddle",
            "serve",
            "--node-id",
            "eu-1",
            "--advertise-url",
            "wss://eu-1.example/ws",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.node_id.as_deref(), Some("eu-1"));
        assert_eq!(args.advertise_url.as_deref(), Some("wss://eu-1.example/ws"));
        let defaults = ServeArgs::defaults();
        assert_eq!((defaults.node_id, defaults.advertise_url), (None, None));
        for argv in [
            ["huddle", "serve", "--node-id", "a b"],
            ["huddle", "serve", "--advertise-url", "http://x/ws"],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }

    #[test]
    fn load_is_a_subcommand() {
        let cli = Cli::try_parse_from(["huddle", "load", "--admin-key", "k"]).unwrap();
        assert!(matches!(cli.command, Command::Load(_)));
    }

    #[test]
    fn bad_values_are_refused() {
        for argv in [
            ["huddle", "serve", "--idle-timeout-ephemeral", "5"],
            ["huddle", "serve", "--max-frame-bytes", "0"],
            ["huddle", "serve", "--listen", "nowhere"],
            ["huddle", "serve", "--durability", "maybe"],
            ["huddle", "serve", "--max-data-depth", "0"],
            ["huddle", "serve", "--join-timeout", "10"],
            ["huddle", "serve", "--max-board-bytes", "64MB"],
            ["huddle", "serve", "--max-history-bytes", "lots"],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }

    /// Every flag has its `HUDDLE_` + upper snake case env var.
    #[test]
    fn every_flag_has_its_env_var() {
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        let mut seen = 0;
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" || long == "version" {
                continue;
            }
            let want = format!("HUDDLE_{}", long.replace('-', "_").to_uppercase());
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(env.as_deref(), Some(want.as_str()), "--{long}");
            seen += 1;
        }
        assert!(seen >= 30, "only {seen} flags");
    }

    /// Env vars are read (tested through clap's own lookup of a variable
    /// that only this test sets).
    #[test]
    fn env_vars_are_read() {
        // Tests run in threads of one process: no other test looks at
        // these two settings (both are outside the engine's config).
        std::env::set_var("HUDDLE_SHUTDOWN_TIMEOUT", "2s");
        std::env::set_var("HUDDLE_DB_FILE", "env.db");
        let cli = Cli::try_parse_from(["huddle", "serve"]);
        let flag_wins = Cli::try_parse_from(["huddle", "serve", "--db-file", "flag.db"]);
        std::env::remove_var("HUDDLE_SHUTDOWN_TIMEOUT");
        std::env::remove_var("HUDDLE_DB_FILE");
        let Command::Serve(args) = cli.unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(args.shutdown_timeout, Duration::from_secs(2));
        assert_eq!(args.db_file, "env.db");
        let Command::Serve(args) = flag_wins.unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(args.db_file, "flag.db");
    }

    #[test]
    fn lease_ttl_is_bounded() {
        assert_eq!(ServeArgs::defaults().lease_ttl, Duration::from_secs(5));
        assert_eq!(parse_lease_ttl("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_lease_ttl("10m"), Ok(Duration::from_secs(600)));
        for bad in ["500ms", "11m", "0s", "2"] {
            assert!(parse_lease_ttl(bad).is_err(), "{bad}");
        }
    }
}
