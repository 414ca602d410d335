//! # huddle-postgres
//!
//! Huddle's PostgreSQL store (15 or later): a [`huddle_store::Store`] on
//! tokio-postgres with a connection pool (deadpool-postgres), for teams
//! that run several Huddle nodes or already run PostgreSQL. SQLite
//! (`huddle-sqlite`) stays the embedded default.
//!
//! ## The model
//!
//! - **One database, checked before it is touched.** [`PostgresStore::connect`]
//!   takes a connection URL. The connection's current schema (normally
//!   `public`) must be empty (a new database: it is migrated) or Huddle's,
//!   marked by the `huddle_schema` table. Tables of anyone else
//!   ([`OpenError::Foreign`]) or a schema written by a newer Huddle
//!   ([`OpenError::TooNew`]) are refused before anything is written.
//! - **Versioned migrations** are SQL files in `migrations/` (migration 5
//!   with a Rust step, `migrate_chunks.rs`), applied in order, each in one
//!   transaction with its version bump, under an advisory lock (nodes
//!   starting together migrate once).
//! - **Durable commits.** A write is confirmed when PostgreSQL confirmed its
//!   `COMMIT` (with the server's default `synchronous_commit = on`, after
//!   its WAL record was flushed).
//! - **Group commit.** Appends go through one task, in the order they
//!   arrive; it takes every append queued meanwhile, of any number of
//!   boards and callers, as one group, whose events go in as one event
//!   chunk per board (one row whose blob holds the board's new events:
//!   `huddle_store::chunk`, `migrations/0005_event_chunks.sql`), all with
//!   one array insert per transaction (`INSERT ... SELECT * FROM
//!   UNNEST(...)`), not one row per event. Each group is one
//!   transaction, and the next group starts once it has locked and
//!   checked its boards, without waiting for its commit (up to
//!   `PostgresOptions::open_transactions` open at once); one board's
//!   appends are still applied and committed in order (see
//!   `appender.rs`).
//!   Each batch is answered on its own: a fenced, gapped or malformed batch
//!   writes nothing and does not affect the others (checked inside the
//!   transaction before anything is written).
//! - **Epoch fencing** inside every write transaction: the board's row in
//!   `boards` is locked (appends: `SELECT ... FOR KEY SHARE`, which an
//!   acquire's `FOR UPDATE` waits for and makes wait) and its epoch
//!   compared before writing, so a stale owner can never write after a
//!   newer one acquired the board, and the new owner reads every event the
//!   old one committed (a board's log end is the largest sequence of its
//!   event chunks, not a column appends update:
//!   `migrations/0004_derived_log_end.sql`); the board's lease
//!   (`migrations/0002_leases.sql`) is read there too, on the database's clock (`clock_timestamp()`), so
//!   a node whose lease expired writes nothing either.
//! - **Typed faults.** A lost connection or a restarting server is
//!   [`huddle_store::StoreError::Unavailable`] (retryable) and the pool
//!   reconnects by itself; damaged rows are `Corrupt`; a fenced write is
//!   `Fenced`; bad requests are `Invalid`.
//! - **TLS** as libpq does it: the connection string's `sslmode`
//!   (`disable`, `prefer` by default, `require`, `verify-ca`,
//!   `verify-full`) and `sslrootcert` (a PEM file of trusted CAs; Mozilla's
//!   roots without it), on rustls (see [`TlsSettings`]). A server that does
//!   not offer the TLS the mode requires, or whose certificate fails the
//!   mode's checks, is [`OpenError::Tls`].
//!
//! `docs/storage.md` describes the schema and the durability promise;
//! `docs/operations.md` how to run `huddle serve --database-url`.
//!
//! ```no_run
//! use huddle_core::BoardId;
//! use huddle_postgres::{PostgresOptions, PostgresStore};
//! use huddle_store::Store;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect(
//!     "postgres://huddle@127.0.0.1:5432/huddle",
//!     PostgresOptions::default(),
//! )
//! .await?;
//! let node = huddle_store::Node::new("node-1", "ws://node-1.example/ws");
//! let epoch = store.acquire_board(&BoardId::from("b"), &node).await?.epoch;
//! assert!(epoch.get() >= 1);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod appender;
mod db;
mod error;
mod migrate_chunks;
mod options;
mod schema;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

pub use error::OpenError;
pub use options::PostgresOptions;
pub use schema::{APPLICATION, SCHEMA_VERSION};
pub use store::PostgresStore;
pub use tls::{SslMode, TlsSettings};
