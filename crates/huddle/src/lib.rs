//! # huddle
//!
//! Huddle is a session engine for realtime collaboration backends
//! (whiteboards, shared documents). This crate is what a Rust service
//! depends on to embed it: one version, one import, the engine's types,
//! the store traits and backends, the tokio driver and the axum WebSocket
//! pump, re-exported from the crates that define them.
//!
//! | feature | what |
//! |---|---|
//! | `sqlite` (default) | `SqliteStore`, the embedded store (WAL, durable group commit) |
//! | `postgres` | `PostgresStore`, for several nodes on one database |
//! | `axum` | `huddle::axum`: the WebSocket pump for axum 0.8 (frame limits, write timeouts, the close handshake, join and credential deadlines) and `serve_until` (the axum server and the driver stopped together) |
//!
//! ## The pieces
//!
//! - [`Driver`] runs the engines (one per shard) on the current tokio
//!   runtime and performs their storage through a [`Store`];
//!   [`DriverConfig::new`] has the documented defaults.
//! - [`Driver::connect`] registers a connection for a [`Member`] (a user on
//!   one board, as the app authenticated them) and returns a
//!   [`Connection`]: a [`ConnSender`] for the client's messages and a queue
//!   of [`Outbound`] frames for the socket. With the `axum` feature,
//!   `huddle::axum::accept` does that and pumps the socket.
//! - [`Driver::serve_until`] waits for a signal, then shuts down in the one
//!   documented order: stop accepting ([`Driver::shutdown_started`] is the
//!   HTTP server's graceful-shutdown signal), end the sessions
//!   (`session_closed`, close 1012), drain storage, close the store. With
//!   the `axum` feature, `huddle::axum::serve_until` also runs the axum
//!   server and lets it finish after the driver.
//! - [`Driver::metrics`] are the driver's own [`Metrics`]
//!   (`prometheus-client` types, re-exported as [`prometheus_client`]):
//!   [`Metrics::register`] puts them into the service's own registry,
//!   [`Driver::refresh_metrics`] before a scrape updates the gauges read
//!   from the shards.
//!
//! ## Example
//!
//! A driver on an in-memory store, one member joining and writing, and the
//! shutdown:
//!
//! ```
//! use std::time::Duration;
//!
//! use huddle::{ClientMessage, Driver, DriverConfig, InMemoryStore, Member, Outbound};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let driver = Driver::start(DriverConfig::new().shards(1), InMemoryStore::new());
//! let mut conn = driver.connect(Member::new("board-1", "alice", "Alice")).unwrap();
//! let join = ClientMessage::from_json(br#"{"type":"join","board":"board-1"}"#).unwrap();
//! conn.sender.send(join).unwrap();
//! let Some(Outbound::Text(joined)) = conn.outbound.recv().await else { panic!() };
//! assert!(joined.starts_with(br#"{"type":"joined""#));
//!
//! driver.serve_until(async {}, Duration::from_secs(5)).await.unwrap();
//! // Every connection was closed with 1012 ("service restart").
//! while let Some(frame) = conn.outbound.recv().await {
//!     if let Outbound::Close { code, .. } = frame {
//!         assert_eq!(code, huddle::close::SERVICE_RESTART);
//!     }
//! }
//! # }
//! ```
//!
//! `examples/embed.rs` is a complete axum service with rooms on SQLite in
//! about 30 lines of code (the repository's README shows it): a route that
//! hands each authenticated member to `huddle::axum::accept`, and
//! `huddle::axum::serve_until`, which runs the server beside the driver and
//! stops both in the driver's shutdown order.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The engine itself, sans IO (`huddle-core`): for hosts that drive it
/// without the tokio driver, and for every type the re-exports below leave
/// out.
pub use huddle_core as core;
/// The store traits, the in-memory store, the conformance suite
/// (`huddle-store`).
pub use huddle_store as store;
/// The tokio driver (`huddle-tokio`).
pub use huddle_tokio as driver;
/// The wire protocol: client and server messages, the JSON codec, close
/// codes (`huddle-wire`).
pub use huddle_wire as wire;

pub use huddle_core::{
    BoardId, ColorPolicy, Config, Durability, ErrorCode, Limits, SessionType, Stats, UserId,
};
pub use huddle_store::{InMemoryStore, Node, Room, Store, StoreError, UnknownBoard};
/// The metrics library of [`Metrics`] (`prometheus-client`): its
/// `Registry`, metric types and encoders, in the version the driver uses.
pub use huddle_tokio::prometheus_client;
pub use huddle_tokio::{
    close, ConnSender, Connection, Driver, DriverConfig, DriverError, Member, Metrics, Outbound,
    OutboundQueue,
};
pub use huddle_wire::{ClientMessage, Identity, ServerMessage};

#[cfg(feature = "axum")]
pub use huddle_tokio::axum;

/// The SQLite store (`huddle-sqlite`).
#[cfg(feature = "sqlite")]
pub use huddle_sqlite as sqlite;
#[cfg(feature = "sqlite")]
pub use huddle_sqlite::{SqliteOptions, SqliteStore};

/// The PostgreSQL store (`huddle-postgres`).
#[cfg(feature = "postgres")]
pub use huddle_postgres as postgres;
#[cfg(feature = "postgres")]
pub use huddle_postgres::{PostgresOptions, PostgresStore};
