//! # huddle-tokio
//!
//! Runs Huddle's sans-IO engines ([`huddle_core::Engine`]) on tokio, with
//! storage through any [`huddle_store::Store`]. A service embeds it in its
//! own HTTP/WebSocket stack (axum, hyper, anything): the driver owns the
//! engines, timers and storage calls; the host owns the sockets.
//!
//! ## The model
//!
//! - **Shards.** Boards are spread over `shards` tasks (as many as cores by
//!   default) by a fixed hash of the board id ([`Driver::shard_of`]). Each
//!   shard owns one engine and every session of its boards; nothing is
//!   shared between shards but the store and the [`Metrics`].
//! - **Connections.** [`Driver::connect`] registers a connection with the
//!   shard of its identity's board and returns a [`Connection`]: a
//!   [`ConnSender`] for the client's decoded messages (kept in order;
//!   [`ConnSender::reject`] queues an error the host made itself, e.g. for
//!   bad JSON) and a bounded queue of [`Outbound`] frames for the socket
//!   ([`OutboundQueue`]).
//! - **The driving loop** (one per shard): wait for inputs or the engine's
//!   next deadline; handle every ready input with `now` from the runtime
//!   clock, draining the engine's outputs after each; call
//!   `handle_timeout(now)` when `now >= poll_timeout()`; start a group
//!   commit; hand each connection the frames of this wake-up (a tick) in
//!   one go; sleep until `poll_timeout()`. Deadlines are acted on as soon
//!   as the runtime wakes the task (well within the 250 ms the reference
//!   server promises).
//! - **Storage.** Effects are performed by tasks the shard spawns (through
//!   [`huddle_store::Performer`], which fences with ownership epochs);
//!   their outcomes come back as inputs, so a shard never waits on the
//!   store. Appends of many batches and boards go to the store together
//!   (group commit, one call in flight per shard), and by default
//!   (`Durability::AckOnStore`) a batch is acknowledged only once its
//!   events are stored. The engine says when a board's session is over and
//!   all its effects are reported (`Output::Released`): the shard then
//!   drops the board's epoch; a write the store fences off ends the
//!   session at once (its clients get `session_closed` with reason
//!   `moved`). User session records are effects like any other write
//!   (`Config::store_user_sessions`, on by default here).
//! - **Fan-out and backpressure.** A notice is encoded to JSON once and its
//!   bytes are shared by all recipients. A tick's frames for a connection
//!   are handed to its queue together (its writer wakes once), the
//!   `events` of consecutive batches in one frame within the frame limit.
//!   Each connection's queue holds `outbound_capacity` frames; when a
//!   frame finds it full, the shard
//!   disconnects the connection from the engine and queues, in two slots
//!   kept for it, `{"type":"error","code":"SLOW_CONSUMER",...}` and
//!   [`Outbound::Close`] with code 1008 ([`close::SLOW_CONSUMER`]; a
//!   client reconnects and re-syncs). The
//!   shard never blocks on a socket; others keep working.
//! - **Closes.** After `session_timeout` a connection gets close code 4002;
//!   after `session_closed` 1001 (1012 during shutdown). After a close the
//!   connection is gone from the engine and [`ConnSender::send`] answers
//!   [`DriverError::Closed`]. Dropping the last [`ConnSender`] (or calling
//!   [`ConnSender::disconnect`]) ends its user session.
//! - **Shutdown.** [`Driver::shutdown`]: no new connections; every session
//!   is archived now (flushed; a persistent room also stores its `archive`
//!   snapshot: [`huddle_core::Engine::archive_session`]); every connection
//!   is closed with 1012; each shard ends once the store confirmed all of
//!   it. [`Driver::serve_until`] and [`Driver::shutdown_within`] run that
//!   within a time limit and then close the store ([`huddle_store::Store::close`]),
//!   the one shutdown order (`docs/driver.md`); [`Driver::shutdown_started`]
//!   tells the HTTP server to stop accepting.
//!
//! ## Embedding
//!
//! ```no_run
//! use huddle_wire::ClientMessage;
//! use huddle_store::InMemoryStore;
//! use huddle_tokio::{Driver, DriverConfig, Member, Outbound};
//!
//! # async fn run() {
//! let driver = Driver::start(DriverConfig::default(), InMemoryStore::new());
//! let mut conn = driver.connect(Member::new("board-1", "alice", "Alice")).unwrap();
//! // For each text frame read from the socket:
//! match ClientMessage::from_json(br#"{"type":"join","board":"board-1"}"#) {
//!     Ok(msg) => conn.sender.send(msg).unwrap(),
//!     Err(e) => conn.sender.reject(e.code(), e.to_string(), None).unwrap(),
//! }
//! // Meanwhile, write what comes out to the socket:
//! while let Some(frame) = conn.outbound.recv().await {
//!     match frame {
//!         Outbound::Text(json) => { /* socket.send(json.as_str()) */ }
//!         Outbound::Close { code, reason } => { /* socket.close(code, reason) */ break }
//!     }
//! }
//! driver.shutdown().await;
//! # }
//! ```
//!
//! With the `axum` feature, `huddle_tokio::axum` is that pump for an
//! axum WebSocket, with frame limits, write timeouts, the close handshake
//! and deadlines. The `huddle-engine` crate's `examples/embed.rs` is a
//! complete axum app; `docs/driver.md` explains the design.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod clock;
pub use huddle_wire::close;
mod config;
mod connection;
mod driver;
mod error;
mod member;
mod metrics;
mod outbound;
mod renewal;
mod seed;
mod shard;
mod text_frame;

pub use config::{
    DriverConfig, DEFAULT_INBOUND_CAPACITY, DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_INPUTS_PER_WAKE,
    DEFAULT_OUTBOUND_CAPACITY, DEFAULT_TICK,
};
pub use connection::{ConnSender, Connection};
pub use driver::Driver;
pub use error::DriverError;
pub use member::Member;
pub use outbound::{Outbound, OutboundQueue};
pub use text_frame::TextFrame;

#[cfg(feature = "axum")]
pub mod axum;
pub use metrics::{Metrics, StorageOp, LATENCY_BUCKETS_MS};
/// The metrics library of [`Metrics`], for an embedder's registry.
pub use prometheus_client;
