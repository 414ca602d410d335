//! # huddle-store
//!
//! Huddle's storage layer: what a host needs to keep boards across
//! restarts, independent of the database.
//!
//! ## The model
//!
//! The engine (`huddle-core`) never performs IO: it hands its host
//! [`Effect`](huddle_core::Effect)s and waits for their outcomes. This crate
//! defines where those effects go:
//!
//! - [`Store`]: the async trait every backend implements: rooms, each
//!   board's event log (appended in batches of many boards at once: group
//!   commit), the board state by page as of a sequence watermark (one
//!   transaction per flush), snapshots (newest first, pruned to the newest
//!   50), user session records, and loading a board the way
//!   [`LoadedBoard`](huddle_core::LoadedBoard) asks. Every write to a board
//!   carries the writer's ownership [`Epoch`]; a stale owner is fenced off
//!   ([`StoreError::Fenced`]) and writes nothing.
//! - [`Performer`]: turns an engine effect into store calls and gives back
//!   the [`StorageOutcome`](huddle_core::StorageOutcome) the engine expects,
//!   holding this host's epochs; [`Performer::perform_appends`] commits many
//!   boards' appends together.
//! - [`reference`](mod@reference): the reference model of the contract, pure and
//!   synchronous ([`reference::ReferenceStore`]): one place that says what
//!   a store must do. The test harness and the simulator build on it.
//! - [`InMemoryStore`]: the reference model behind a mutex (tests, demos).
//! - [`Faulty`]: wraps any store and fails, delays, loses or duplicates
//!   calls on request, for simulation tests.
//! - [`conformance`] (feature `conformance`): the suite every backend's
//!   tests run, through [`conformance_suite!`].
//!
//! `huddle-sqlite` is the embedded backend; `docs/storage.md` describes the
//! durability promise and how to write another backend.
//!
//! ## Using it from a host
//!
//! ```
//! use huddle_core::*;
//! use huddle_store::{InMemoryStore, Performer, UnknownBoard};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let performer = Performer::new(InMemoryStore::new(), UnknownBoard::CreateEmpty);
//! let mut engine = Engine::new(Config::default(), 7);
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! engine.join(now, ConnId(1), JoinRequest::new("b", "alice", "Alice")).unwrap();
//! while let Some(output) = engine.poll_output() {
//!     if let Output::Effect(effect) = output {
//!         // A real host spawns this and reports when it completes.
//!         let outcome = performer.perform(&effect).await;
//!         engine.handle_storage(now, effect.id(), outcome).unwrap();
//!     }
//! }
//! assert!(performer.epoch(&BoardId::from("b")).is_some(), "the load acquired the board");
//! # });
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod chunk;
pub mod codec;
pub mod epoch;
mod error;
mod fault;
pub mod forget;
pub mod lease;
pub mod load;
mod memory;
mod model;
mod perform;
pub mod reference;
pub mod sql;
mod store;
pub mod validate;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use epoch::Epoch;
pub use error::StoreError;
pub use fault::{Faults, Faulty, Op, Target};
pub use lease::{Acquired, Node, DEFAULT_LEASE_TTL};
pub use load::LOAD_HISTORY;
pub use memory::InMemoryStore;
pub use model::{AppendBatch, BoardSummary, FlushWrite, Room, SessionIndex, SnapshotMeta};
pub use perform::{failure_kind, storage_failure, Performer, UnknownBoard};
pub use store::Store;
pub use validate::MAX_SEQUENCE;
