//! [`DriverConfig`]: how many shards, how deep the outbound queues are,
//! the engine's configuration and what unknown boards are.

use huddle_core::Config;
use huddle_store::{Node, UnknownBoard};

/// The driver's configuration.
#[derive(Clone, Debug)]
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
    /// The largest frame sent to a connection, in bytes (default 1 MiB,
    /// the reference server's `--max-frame-bytes`). A `joined` answer
    /// whose sync does not fit is sent as the `joined` frame and
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
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            engine: Config {
                store_user_sessions: true,
                ..Config::default()
            },
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            outbound_capacity: 1024,
            max_frame_bytes: 1 << 20,
            inbound_capacity: 1024,
            seed: None,
            unknown_board: UnknownBoard::CreateEmpty,
            max_inputs_per_wake: 256,
            node: Node::default(),
        }
    }
}
