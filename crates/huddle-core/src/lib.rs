//! # huddle-core
//!
//! Huddle's session engine for realtime collaboration: a pure, deterministic
//! state machine that runs board sessions (rooms). It performs no IO, reads
//! no clock and spawns nothing. Every input carries `now`; everything the
//! engine wants done leaves it as an [`Output`]:
//!
//! - [`Output::Notify`]: a [`Notice`] for one connection (joined, ack,
//!   errors, pong, its session timeout);
//! - [`Output::Broadcast`]: one [`Notice`] for several connections
//!   (events, participant joined/left, cursor, snapshot, session closed),
//!   carrying its recipients: encode it once, send the bytes to each;
//! - [`Output::Effect`]: storage work ([`Effect`]) that the host performs
//!   and reports back with [`Engine::handle_storage`]; nothing counts as
//!   stored before that;
//! - [`Output::Signal`]: things to log or count ([`Signal`]);
//! - [`Output::Released`]: a board session has ended and every effect of it
//!   has been reported: the host drops what it holds for the board (its
//!   ownership epoch). The host keeps no per-board bookkeeping of its own;
//! - [`Output::Drained`]: after [`Engine::shutdown`], nothing is left.
//!
//! A failed effect is reported with a typed [`StorageFailure`]: transient
//! (retried with backoff), fenced (another host owns the board: the session
//! ends at once and its clients are told to reconnect) or invalid (not
//! retried). See [`FailureKind`].
//!
//! ## The model
//!
//! A **board session** lives through `created -> active -> idle -> archived`.
//! A join for a board not in memory opens a `created` session and asks the
//! host to load the board; joins wait for it. Each **participant** (one per
//! user, however many connections) gets a colour. Each join is a **user
//! session** with its own inactivity timeout. Mutations get per-board
//! **sequence** numbers, are appended to the board's event log through the
//! host, and — once stored — are acknowledged to their author, broadcast to
//! everyone else, and become part of the board state, the delta-sync
//! history and the pending set that the next flush writes. A reconnecting
//! client sends its last sequence and gets the events it missed (a delta)
//! or, past 1000 missed events, the whole board.
//!
//! ## The driving loop
//!
//! After every input, drain [`Engine::poll_output`]; then sleep until
//! [`Engine::poll_timeout`] and call [`Engine::handle_timeout`]. A real host
//! performs effects asynchronously and reports them whenever they finish;
//! this one does it inline against a map:
//!
//! ```
//! use std::collections::HashMap;
//! use huddle_core::*;
//!
//! let mut engine = Engine::new(Config::default(), 7);
//! let mut store: HashMap<BoardId, Vec<Event>> = HashMap::new();
//! let mut now = Timestamp::from_millis(1_700_000_000_000);
//!
//! // One step of a host: perform effects, deliver notices.
//! fn drain(engine: &mut Engine, store: &mut HashMap<BoardId, Vec<Event>>, now: Timestamp, inbox: &mut Vec<(ConnId, Notice)>) {
//!     while let Some(output) = engine.poll_output() {
//!         match output {
//!             Output::Notify { conn, notice } => inbox.push((conn, notice)),
//!             // One notice for several connections: a network host encodes
//!             // it once (`wire::encode_notice`) and sends the bytes to each.
//!             Output::Broadcast { conns, notice } => {
//!                 inbox.extend(conns.iter().map(|c| (*c, notice.clone())));
//!             }
//!             Output::Effect(effect) => {
//!                 let outcome = match &effect {
//!                     Effect::LoadBoard { board, .. } => {
//!                         let mut loaded = LoadedBoard::empty();
//!                         loaded.events = store.get(board).cloned().unwrap_or_default();
//!                         StorageOutcome::Loaded(Box::new(loaded))
//!                     }
//!                     Effect::AppendEvents { board, events, .. } => {
//!                         store.entry(board.clone()).or_default().extend(events.iter().cloned());
//!                         StorageOutcome::Stored
//!                     }
//!                     Effect::StoreSnapshot { snapshot, .. } => {
//!                         StorageOutcome::SnapshotStored(SnapshotId::from(format!("snap-{}", snapshot.version)))
//!                     }
//!                     _ => StorageOutcome::Stored,
//!                 };
//!                 engine.handle_storage(now, effect.id(), outcome).unwrap();
//!             }
//!             Output::Signal(_) => {}
//!             // A host with ownership epochs drops the board's here.
//!             Output::Released { .. } => {}
//!             Output::Drained => {}
//!         }
//!     }
//! }
//!
//! let mut inbox = Vec::new();
//! let (alice, bob) = (ConnId(1), ConnId(2));
//! engine.join(now, alice, JoinRequest::new("board-1", "alice", "Alice")).unwrap();
//! engine.join(now, bob, JoinRequest::new("board-1", "bob", "Bob")).unwrap();
//! drain(&mut engine, &mut store, now, &mut inbox);
//!
//! let upsert = Mutation::Upsert { page: "p1".into(), element: "e1".into(), data: r#"{"x":1}"#.into() };
//! let accepted = engine.apply_mutations(now, alice, "batch-1".into(), vec![upsert]).unwrap();
//! assert_eq!(accepted.sequence, 1);
//! drain(&mut engine, &mut store, now, &mut inbox);
//!
//! // Alice got her ack once the event was stored; Bob got the event.
//! assert!(inbox.iter().any(|(c, n)| *c == alice && matches!(n, Notice::Ack { sequence: 1, .. })));
//! assert!(inbox.iter().any(|(c, n)| *c == bob && matches!(n, Notice::Events(_))));
//!
//! // Both leave; five minutes later the ephemeral board is archived.
//! engine.leave(now, alice).unwrap();
//! engine.leave(now, bob).unwrap();
//! drain(&mut engine, &mut store, now, &mut inbox);
//! while let Some(deadline) = engine.poll_timeout() {
//!     now = deadline;
//!     engine.handle_timeout(now);
//!     drain(&mut engine, &mut store, now, &mut inbox);
//! }
//! assert!(engine.session("board-1").is_none());
//! assert_eq!(store["board-1"].len(), 1);
//!
//! // Shutting down: joins are refused, every session is archived; the host
//! // stops once the engine is drained.
//! engine.join(now, alice, JoinRequest::new("board-1", "alice", "Alice")).unwrap();
//! drain(&mut engine, &mut store, now, &mut inbox);
//! engine.shutdown(now);
//! drain(&mut engine, &mut store, now, &mut inbox);
//! assert!(engine.is_drained());
//! assert!(engine.join(now, bob, JoinRequest::new("board-1", "bob", "Bob")).is_err());
//! ```
//!
//! ## Around this crate
//!
//! This crate is the engine alone; its only dependencies are serde,
//! thiserror, smallvec and indexmap. Beside it:
//!
//! - `huddle-wire`: the protocol (`docs/protocol.md`) as shared types, the
//!   JSON codec with element data passed through verbatim, the close codes,
//!   and `dispatch`, which turns client messages into engine calls;
//! - `huddle-client`: the client connection machine, a second pure state
//!   machine: reconnects with backoff, re-syncs, re-sends unacknowledged
//!   batches with their ids, queues offline work, recovers across restarts;
//! - `huddle-store`: the store traits and backends, and `Performer`, which
//!   turns effects into store calls.
//!
//! The virtual-time harness for tests (a simulated host on the reference
//! store model, scripted clients, a virtual clock) is the `huddle-testkit`
//! crate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Library code never unwraps: a panic on client or storage input is a bug.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod board;
mod budget;
mod colors;
mod config;
mod dedup;
mod delta;
mod digest;
mod element_hash;
mod encoded;
mod engine;
mod error;
mod failure;
mod history;
mod ids;
mod mutation;
mod output;
mod page;
mod page_index;
mod page_part;
mod pages;
mod pending;
mod pending_bytes;
mod request;
mod stats;
mod storage;
mod sync;
mod text_rule;
mod time;
mod timers;
mod user_session;

pub use colors::{Color, ColorPolicy, PALETTE};
pub use config::{Config, Durability, Limits, SessionType};
pub use delta::{DeltaEvents, DeltaIter, DeltaRun, EventRef};
pub use digest::BatchDigest;
pub use encoded::{CommittedEvents, EncodedChunk, EncodedElements, EncodedEvents};
pub use engine::{Accepted, Engine, SessionInfo};
pub use error::{
    BoardError, ConfirmError, ErrorCode, Field, JoinError, MutateError, PresenceError,
    SessionError, SnapshotError,
};
pub use failure::{FailureKind, StorageFailure};
pub use ids::{
    BatchId, BoardId, ConnId, EffectId, ElementId, PageId, SnapshotId, UserId, UserSessionId,
};
pub use mutation::{Event, Mutation, Payload};
pub use output::{
    CloseReason, FullSyncReason, JoinSync, Joined, Notice, Output, ParticipantInfo, Recipients,
    SessionEnd, SessionState, Signal, SnapshotInfo,
};
pub use page::{Iter as PageIter, Page, PageRun};
pub use pages::Pages;
pub use request::JoinRequest;
pub use stats::{BoardBytes, Stats};
pub use storage::{
    BatchRecord, BoardOwner, Effect, FlushBatch, LoadedBoard, PageChanges, Snapshot, SnapshotCause,
    StorageOutcome,
};
pub use text_rule::{check_text, TextProblem};
pub use time::Timestamp;
pub use user_session::{UserSessionRecord, UserSessionStatus};

/// The README's embedding example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
