//! [`DriverConfig`]: how many shards, how deep the outbound queues are,
//! the engine's configuration and what unknown boards are, with the
//! documented defaults (those of `huddle serve` too, which builds its
//! configuration from them).

use std::time::Duration;

use huddle_core::Config;
use huddle_store::{Node, UnknownBoard};

/// The default of [`DriverConfig::outbound_capacity`].
pub const DEFAULT_OUTBOUND_CAPACITY: usize = 1024;

/// The default of [`DriverConfig::max_frame_bytes`] (1 MiB): one frame
/// limit both ways, for the frames the driver sends and those the
/// WebSocket pump takes.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;

/// The default of [`DriverConfig::inbound_capacity`].
pub const DEFAULT_INBOUND_CAPACITY: usize = 1024;

/// The default of [`DriverConfig::max_inputs_per_wake`].
pub const DEFAULT_MAX_INPUTS_PER_WAKE: usize = 256;

/// The default of [`DriverConfig::tick`] (1 ms).
pub const DEFAULT_TICK: Duration = Duration::from_millis(1);

/// The driver's configuration. Start from [`DriverConfig::new`] (the
/// defaults below) and change what you need with the setters:
///
/// | setting | default |
/// |---|---|
/// | [`engine`](Self::engine) | [`Config::default`] with [`store_user_sessions`](Config::store_user_sessions) on |
/// | [`shards`](Self::shards) | the number of cores |
/// | [`outbound_capacity`](Self::outbound_capacity) | [`DEFAULT_OUTBOUND_CAPACITY`] (1024 frames) |
/// | [`max_frame_bytes`](Self::max_frame_bytes) | [`DEFAULT_MAX_FRAME_BYTES`] (1 MiB) |
/// | [`inbound_capacity`](Self::inbound_capacity) | [`DEFAULT_INBOUND_CAPACITY`] (1024 messages) |
/// | [`seed`](Self::seed) | drawn from the operating system at every start |
/// | [`unknown_board`](Self::unknown_board) | [`UnknownBoard::CreateEmpty`] |
/// | [`node`](Self::node) | [`Node::default`]: `local`, alone on its store, 1 h lease TTL |
/// | [`max_inputs_per_wake`](Self::max_inputs_per_wake) | [`DEFAULT_MAX_INPUTS_PER_WAKE`] (256) |
/// | [`tick`](Self::tick) | [`DEFAULT_TICK`] (1 ms) |
///
/// ```
/// use huddle_store::UnknownBoard;
/// use huddle_tokio::DriverConfig;
///
/// let config = DriverConfig::new().shards(2).unknown_board(UnknownBoard::NotFound);
/// assert_eq!(config.shards, 2);
/// assert_eq!(config.outbound_capacity, 1024);
/// assert!(config.engine.store_user_sessions);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DriverConfig {
    /// The engine configuration every shard's engine gets. The driver's
    /// default stores user session records
    /// ([`Config::store_user_sessions`]: each start and end is written with
    /// [`huddle_store::Store::put_user_session`], retried like any write,
    /// so that they can be listed later with `Store::user_sessions`).
    pub engine: Config,
    /// How many shards (engines, tasks). Default: the number of cores
    /// ([`std::thread::available_parallelism`]). A board always lives on the
    /// shard its id hashes to.
    pub shards: usize,
    /// Frames a connection's outbound queue holds before the connection is
    /// disconnected as a slow consumer (default 1024). Two more slots are
    /// kept for the final error and close frames.
    pub outbound_capacity: usize,
    /// The largest frame, in bytes, both ways (default
    /// [`DEFAULT_MAX_FRAME_BYTES`], the reference server's
    /// `--max-frame-bytes`). The WebSocket pump takes its limit from here
    /// ([`ConnSender::max_frame_bytes`](crate::ConnSender::max_frame_bytes)):
    /// a client frame above it gets `error PAYLOAD_TOO_LARGE`, one above
    /// four times it closes the socket (`axum::HARD_FRAME_MULTIPLE`). A `joined` answer whose sync does not fit is sent as the `joined` frame and
    /// `joined_part` frames, each within it, one after the other in the
    /// connection's queue (each takes a slot of `outbound_capacity`;
    /// `docs/protocol.md`, "Large syncs in parts"). The host checks the
    /// limit against the engine's limits at startup with
    /// [`huddle_wire::check_frame_limit`].
    pub max_frame_bytes: usize,
    /// Client messages a connection may have queued for its shard before
    /// [`ConnSender::send`](crate::ConnSender::send) answers
    /// [`DriverError::Overloaded`](crate::DriverError::Overloaded)
    /// (default 1024).
    pub inbound_capacity: usize,
    /// Seed of the engines' user session ids (shard `i` uses `seed + i`).
    /// `None` (the default): [`Driver::start`](crate::Driver::start) draws
    /// a fresh one from the operating system, so that no restart hands out
    /// the ids of an earlier run. `Some(seed)` is taken as is: the same
    /// ids on every run, for deterministic tests only.
    pub seed: Option<u64>,
    /// What a join of a board the store does not know gets.
    pub unknown_board: UnknownBoard,
    /// This node of the cluster: its id and advertised URL (what another
    /// node's refused join names) and its lease TTL (default
    /// [`huddle_store::DEFAULT_LEASE_TTL`]). The driver renews its leases
    /// every third of the TTL, stops acking a board's writes three quarters
    /// of a TTL after the last renewal the store granted and ends its
    /// session as fenced by five sixths (see `docs/driver.md`). The default is a single node, `local`.
    pub node: Node,
    /// Inputs a shard handles per wake-up before it polls outputs and
    /// yields (default 256): bounds the latency one busy shard adds.
    pub max_inputs_per_wake: usize,
    /// The shortest time between two wake-ups of a busy shard (default
    /// [`DEFAULT_TICK`], 1 ms). A shard that was waiting handles an input
    /// at once; after a wake-up that handled inputs it waits out the rest
    /// of the tick, and whatever arrived meanwhile (client messages, store
    /// reports) is handled together in the next wake-up: one group commit,
    /// one `events` frame per recipient and board, one hand-over of frames
    /// per connection. Under load this trades at most one tick of latency
    /// for less work per mutation (`docs/performance.md`); a wake-up that
    /// handled [`max_inputs_per_wake`](Self::max_inputs_per_wake) inputs
    /// does not wait (there is a backlog). Zero: wake for every input.
    pub tick: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            engine: Config::new().store_user_sessions(true),
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            outbound_capacity: DEFAULT_OUTBOUND_CAPACITY,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            inbound_capacity: DEFAULT_INBOUND_CAPACITY,
            seed: None,
            unknown_board: UnknownBoard::CreateEmpty,
            max_inputs_per_wake: DEFAULT_MAX_INPUTS_PER_WAKE,
            tick: DEFAULT_TICK,
            node: Node::default(),
        }
    }
}

impl DriverConfig {
    /// The defaults (the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the engine configuration every shard's engine gets.
    pub fn engine(mut self, engine: Config) -> Self {
        self.engine = engine;
        self
    }

    /// Sets the number of shards (at least one is started).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Sets the frames a connection's outbound queue holds.
    pub fn outbound_capacity(mut self, frames: usize) -> Self {
        self.outbound_capacity = frames;
        self
    }

    /// Sets [`max_frame_bytes`](Self::max_frame_bytes).
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes;
        self
    }

    /// Sets the client messages a connection may have queued.
    pub fn inbound_capacity(mut self, messages: usize) -> Self {
        self.inbound_capacity = messages;
        self
    }

    /// Sets a fixed seed (deterministic tests only).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets what a join of a board the store does not know gets.
    pub fn unknown_board(mut self, unknown: UnknownBoard) -> Self {
        self.unknown_board = unknown;
        self
    }

    /// Sets this node of the cluster.
    pub fn node(mut self, node: Node) -> Self {
        self.node = node;
        self
    }

    /// Sets the inputs a shard handles per wake-up.
    pub fn max_inputs_per_wake(mut self, inputs: usize) -> Self {
        self.max_inputs_per_wake = inputs;
        self
    }

    /// Sets [`tick`](Self::tick), the shortest time between two wake-ups
    /// of a busy shard.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }
}
