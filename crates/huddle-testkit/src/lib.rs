//! # huddle-testkit
//!
//! A virtual-time harness for Huddle's engine: a simulated host whose store
//! is the storage contract's reference model
//! ([`huddle_store::reference`]) with fault injection, a clock you
//! advance, and an inbox per connection. Scenarios built on it read like
//! the spec:
//!
//! ```
//! use huddle_testkit::Harness;
//! use huddle_core::*;
//! use std::time::Duration;
//!
//! let mut h = Harness::new(Config::default());
//! h.join(ConnId(1), JoinRequest::new("b", "alice", "Alice")).unwrap();
//! h.leave(ConnId(1)).unwrap();
//! h.advance(Duration::from_secs(5 * 60));
//! assert!(h.engine.session("b").is_none(), "archived after 5 idle minutes");
//! ```
//!
//! What else is here:
//!
//! - [`MemoryStore`]: the harness's default store, one host on the
//!   reference model, with fault injection and load shaping;
//! - [`SharedStore`] / [`HostStore`]: one reference model shared by
//!   several harnesses, each a host with its own ownership epochs, so a
//!   test can let a second host take a board over and see the first one
//!   fenced;
//! - [`BlockingEffectStore`]: the harness on any [`huddle_store::Store`]
//!   (a real backend), performing each effect to completion;
//! - [`Replica`]: a client's copy of a board built from notices;
//! - [`invariants`]: the checks about the engine and the store that the
//!   property tests, the simulator and the fuzz targets share.
//!
//! For tests and simulations only; not for production hosts.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod blocking;
pub mod invariants;
mod replica;
mod shared;
mod store;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

pub use blocking::BlockingEffectStore;
pub use huddle_store::reference::BoardRecord;
pub use replica::Replica;
pub use shared::{HostStore, SharedStore};
pub use store::{to_outcome, EffectStore, MemoryStore};

use huddle_core::{
    Accepted, BatchId, BoardId, Config, ConnId, Effect, EffectId, Engine, FailureKind, JoinError,
    JoinRequest, MutateError, Mutation, Notice, Output, PresenceError, Recipients, SessionError,
    SessionState, Signal, SnapshotError, StorageFailure, StorageOutcome, Timestamp,
};
use huddle_store::reference::ReferenceStore;
use invariants::{Observer, Violation};

/// What the simulated host does with effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StoreMode {
    /// Perform every effect at once against the store.
    #[default]
    Immediate,
    /// Hold effects in [`Harness::held`] until the test completes them.
    Hold,
}

/// The start of virtual time: 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// Engine + simulated host + virtual clock.
///
/// The store defaults to the in-memory [`MemoryStore`]; any [`EffectStore`]
/// (for example a real backend behind a blocking adapter) can take its place
/// through [`Harness::with_store`].
#[derive(Debug)]
pub struct Harness<S: EffectStore = MemoryStore> {
    /// The engine under test.
    pub engine: Engine,
    /// The host's store; survives [`Harness::crash`].
    pub store: S,
    /// The virtual clock.
    pub now: Timestamp,
    /// Notices delivered, per connection, oldest first (a broadcast is
    /// delivered to each of its recipients' inboxes).
    pub inbox: HashMap<ConnId, Vec<Notice>>,
    /// Every [`Output::Broadcast`] as it left the engine, oldest first.
    pub broadcasts: Vec<(Recipients, Notice)>,
    /// Engine events, oldest first.
    pub events: Vec<Signal>,
    /// Effects held (in [`StoreMode::Hold`]), oldest first.
    pub held: VecDeque<Effect>,
    /// Effect handling.
    pub mode: StoreMode,
    /// Every output in order, for determinism checks.
    pub transcript: Vec<String>,
    /// Boards the engine released ([`Output::Released`]), in order.
    pub released: Vec<BoardId>,
    /// How many times the engine said it is drained ([`Output::Drained`]).
    pub drained: usize,
    /// The shared invariants, checked as outputs leave the engine when
    /// the store exposes its model (the default [`MemoryStore`] does); a
    /// violation panics. `None` turns them off.
    pub observer: Option<Observer>,
    /// Boards whose state an input or output may have changed since the
    /// last state check.
    touched: BTreeSet<BoardId>,
    config: Config,
    seed: u64,
}

impl Harness {
    /// A harness at [`T0`] with an empty store.
    pub fn new(config: Config) -> Self {
        Harness::with_seed(config, 1)
    }

    /// A harness whose engine gets `seed` (user session ids).
    pub fn with_seed(config: Config, seed: u64) -> Self {
        Harness::with_store(config, seed, MemoryStore::default())
    }
}

impl<S: EffectStore> Harness<S> {
    /// A harness at [`T0`] whose engine gets `seed`, performing effects
    /// against `store`.
    pub fn with_store(config: Config, seed: u64, store: S) -> Self {
        Harness {
            engine: Engine::new(config.clone(), seed),
            store,
            now: T0,
            inbox: HashMap::new(),
            broadcasts: Vec::new(),
            events: Vec::new(),
            held: VecDeque::new(),
            mode: StoreMode::Immediate,
            transcript: Vec::new(),
            released: Vec::new(),
            drained: 0,
            observer: Some(Observer::new(&config)),
            touched: BTreeSet::new(),
            config,
            seed,
        }
    }

    /// Drains the engine's outputs: notices to inboxes, effects to the store
    /// (or held), events to the log. Panics if the engine ever reports an
    /// illegal lifecycle transition, or (with the observer on) breaks one
    /// of the shared invariants.
    pub fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            self.transcript.push(format!("{:?} {output:?}", self.now));
            match output {
                Output::Notify { conn, notice } => {
                    if let Notice::Joined(joined) = &notice {
                        self.touched.insert(joined.board.clone());
                    }
                    self.check(|o, engine, model| o.notice(conn, &notice, engine, model, None));
                    self.inbox.entry(conn).or_default().push(notice);
                }
                Output::Broadcast { conns, notice } => {
                    for conn in &conns {
                        self.check(|o, engine, model| {
                            o.notice(*conn, &notice, engine, model, None)
                        });
                        self.inbox.entry(*conn).or_default().push(notice.clone());
                    }
                    self.broadcasts.push((conns, notice));
                }
                Output::Effect(effect) => {
                    self.touched.insert(effect.board().clone());
                    self.check(|o, _, model| o.effect(&effect, model));
                    match self.mode {
                        StoreMode::Immediate => {
                            let outcome = self.store.perform(&effect, self.now);
                            self.report(effect.board(), effect.id(), outcome);
                        }
                        StoreMode::Hold => self.held.push_back(effect),
                    }
                }
                Output::Signal(event) => {
                    if let Signal::StateChanged { board, .. } | Signal::SessionEnded { board, .. } =
                        &event
                    {
                        self.touched.insert(board.clone());
                    }
                    self.check(|o, _, _| o.event(&event));
                    if let Signal::StateChanged { from, to, .. } = &event {
                        assert!(
                            SessionState::is_legal_transition(*from, *to),
                            "illegal transition {from:?} -> {to:?}"
                        );
                    }
                    self.events.push(event);
                }
                Output::Released { board } => {
                    self.store.release(&board);
                    self.released.push(board);
                }
                Output::Drained => self.drained += 1,
            }
        }
        let touched = std::mem::take(&mut self.touched);
        self.check(|o, engine, model| o.state_of(&touched, engine, model));
    }

    /// Runs one shared check, if the observer is on and the store exposes
    /// its model; panics on a violation.
    fn check(
        &mut self,
        what: impl FnOnce(&mut Observer, &Engine, &ReferenceStore) -> Result<(), Violation>,
    ) {
        if let (Some(observer), Some(model)) = (self.observer.as_mut(), self.store.model()) {
            if let Err(e) = what(observer, &self.engine, model) {
                panic!("invariant broken at {:?}: {e}", self.now);
            }
        }
    }

    fn report(&mut self, board: &BoardId, id: EffectId, outcome: StorageOutcome) {
        self.touched.insert(board.clone());
        if matches!(outcome, StorageOutcome::SnapshotStored(_)) {
            // Snapshot + log = replay, once per snapshot stored.
            self.check(|o, _, model| o.snapshots(board, model));
        }
        let result = self.engine.handle_storage(self.now, id, outcome);
        assert!(
            result.is_ok(),
            "engine refused the report of its own effect {id:?}: {result:?}"
        );
    }

    /// Performs the oldest held effect against the store and reports it.
    pub fn complete_next(&mut self) -> Option<Effect> {
        let effect = self.held.pop_front()?;
        let outcome = self.store.perform(&effect, self.now);
        self.report(effect.board(), effect.id(), outcome);
        self.drain();
        Some(effect)
    }

    /// Reports the oldest held effect as failed, transiently (the store is
    /// not touched).
    pub fn fail_next(&mut self) -> Option<Effect> {
        self.fail_next_with(FailureKind::Transient)
    }

    /// Reports the oldest held effect as failed with `kind` (the store is
    /// not touched).
    pub fn fail_next_with(&mut self, kind: FailureKind) -> Option<Effect> {
        let effect = self.held.pop_front()?;
        let failure = StorageFailure::new(kind, "injected failure");
        self.report(effect.board(), effect.id(), StorageOutcome::Failed(failure));
        self.drain();
        Some(effect)
    }

    /// Reports the oldest held effect with `outcome` (the store is not
    /// touched): an answer the reference model never gives, such as a
    /// load refused because another node holds the board's lease.
    pub fn answer_next(&mut self, outcome: StorageOutcome) -> Option<Effect> {
        let effect = self.held.pop_front()?;
        self.report(effect.board(), effect.id(), outcome);
        self.drain();
        Some(effect)
    }

    /// Starts the engine's shutdown and drains.
    pub fn shutdown(&mut self) {
        self.engine.shutdown(self.now);
        self.drain();
    }

    /// Completes held effects until none are left.
    pub fn complete_all(&mut self) {
        while self.complete_next().is_some() {}
    }

    /// Advances the clock by `d`, firing every deadline on the way at its
    /// exact time.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now.saturating_add(d);
        self.advance_to(target);
    }

    /// Advances the clock to `target` (never backwards), firing deadlines.
    pub fn advance_to(&mut self, target: Timestamp) {
        while let Some(deadline) = self.engine.poll_timeout().filter(|d| *d <= target) {
            self.now = self.now.max(deadline);
            self.engine.handle_timeout(self.now);
            self.drain();
        }
        self.now = self.now.max(target);
        self.engine.handle_timeout(self.now);
        self.drain();
    }

    /// Joins and drains.
    pub fn join(&mut self, conn: ConnId, request: JoinRequest) -> Result<(), JoinError> {
        let last = request.last_sequence;
        let r = self.engine.join(self.now, conn, request);
        if let (Some(observer), Ok(())) = (self.observer.as_mut(), &r) {
            // A refused join leaves a pending one's `last_sequence` alone.
            observer.join_requested(conn, last);
        }
        self.drain();
        r
    }

    /// Applies a batch and drains.
    pub fn mutate(
        &mut self,
        conn: ConnId,
        batch: &str,
        mutations: Vec<Mutation>,
    ) -> Result<Accepted, MutateError> {
        let r = self
            .engine
            .apply_mutations(self.now, conn, BatchId::from(batch), mutations);
        self.drain();
        r
    }

    /// Leaves and drains.
    pub fn leave(&mut self, conn: ConnId) -> Result<(), SessionError> {
        let r = self.engine.leave(self.now, conn);
        self.drain();
        r
    }

    /// Disconnects and drains.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.engine.disconnect(self.now, conn);
        self.drain();
    }

    /// Moves a cursor and drains.
    pub fn cursor(&mut self, conn: ConnId, x: f64, y: f64) -> Result<(), PresenceError> {
        let r = self.engine.update_presence(self.now, conn, x, y);
        self.drain();
        r
    }

    /// Requests a manual snapshot and drains.
    pub fn snapshot(&mut self, conn: ConnId) -> Result<(), SnapshotError> {
        let r = self.engine.request_snapshot(self.now, conn);
        self.drain();
        r
    }

    /// Takes the notices delivered to `conn` so far.
    pub fn take(&mut self, conn: ConnId) -> Vec<Notice> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    /// Crashes the host: the engine and everything in flight are lost; the
    /// store keeps what it confirmed. A new engine starts at the same time.
    pub fn crash(&mut self) {
        self.seed = self.seed.wrapping_add(1);
        self.engine = Engine::new(self.config.clone(), self.seed);
        self.held.clear();
        self.inbox.clear();
        self.released.clear();
        self.drained = 0;
        if let Some(observer) = self.observer.as_mut() {
            observer.crashed();
        }
    }
}

/// An upsert, for brevity in tests.
pub fn upsert(page: &str, element: &str, data: &str) -> Mutation {
    Mutation::Upsert {
        page: page.into(),
        element: element.into(),
        data: data.into(),
    }
}

/// A delete, for brevity in tests.
pub fn delete(page: &str, element: &str) -> Mutation {
    Mutation::Delete {
        page: page.into(),
        element: element.into(),
    }
}
