//! # huddle-sqlite
//!
//! Huddle's embedded store: a [`huddle_store::Store`] on one SQLite file.
//!
//! ## The model
//!
//! - **One file, created on first use.** [`SqliteStore::open`] takes a
//!   path; the file and its parent directories are created if missing. A
//!   file that is not Huddle's ([`OpenError::Foreign`],
//!   [`OpenError::NotADatabase`]) or was written by a newer Huddle
//!   ([`OpenError::TooNew`]) is refused before anything is written to it.
//! - **Schema versions.** The file is marked with
//!   `PRAGMA application_id =` [`APPLICATION_ID`] and its schema version is
//!   `PRAGMA user_version`; older files are migrated forward, one
//!   transaction per step.
//! - **Durable commits.** Write-ahead logging with `synchronous = FULL`: a
//!   write is confirmed only after its commit is fsynced, so a confirmed
//!   append survives a crash or a power loss.
//! - **Group commit.** One dedicated thread owns the connection. It takes
//!   every request queued while it was busy and commits all appends among
//!   them, of any number of boards, in one transaction: one fsync for many
//!   batches. A batch refused by the rules (fenced, gap, malformed) fails
//!   alone.
//! - **The log in chunks.** The events of one append of a board are one
//!   row, encoded in one blob (`huddle_store::chunk`), not one row per event: one
//!   insert per batch instead of one per mutation.
//! - **Space used again.** The pages of pruned snapshots are reused by
//!   later writes; a file created by this version also gives them back to
//!   the file system once more than a quarter of it is free (`space.rs`).
//! - **Off the async runtime.** Callers await a reply from the thread; no
//!   SQLite call ever runs on a runtime worker.
//!
//! `docs/storage.md` describes the schema and the durability promise.
//!
//! ```
//! use huddle_core::BoardId;
//! use huddle_sqlite::{SqliteOptions, SqliteStore};
//! use huddle_store::Store;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("data/huddle.db"), SqliteOptions::default())
//!     .await
//!     .unwrap();
//! let node = huddle_store::Node::new("node-1", "ws://node-1.example/ws");
//! let epoch = store.acquire_board(&BoardId::from("b"), &node).await.unwrap().epoch;
//! assert_eq!(epoch.get(), 1);
//! # });
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod checkpoint;
mod db;
mod error;
mod migrate_chunks;
mod open;
mod options;
mod schema;
mod space;
mod store;
mod worker;

pub use error::OpenError;
pub use options::{SqliteOptions, Synchronous};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use store::SqliteStore;
