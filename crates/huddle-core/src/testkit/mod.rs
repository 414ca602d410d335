//! A virtual-time harness for the engine: a simulated host with an
//! in-memory store (with fault injection), a clock you advance, and an inbox
//! per connection. Scenarios built on it read like the spec:
//!
//! ```
//! use huddle_core::testkit::Harness;
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
//! Enabled by the `testkit` feature; not for production hosts.

mod replica;
mod store;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

pub use replica::Replica;
pub use store::{EffectStore, MemoryStore, StoredBoard};

use crate::engine::Engine;
use crate::error::{JoinError, MutateError, PresenceError, SessionError};
use crate::ids::{BatchId, ConnId};
use crate::mutation::Mutation;
use crate::output::{EngineEvent, Notice, Output, Recipients, SessionState};
use crate::storage::{Effect, StorageOutcome};
use crate::time::Timestamp;
use crate::{Accepted, Config, JoinRequest};

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
    pub events: Vec<EngineEvent>,
    /// Effects held (in [`StoreMode::Hold`]), oldest first.
    pub held: VecDeque<Effect>,
    /// Effect handling.
    pub mode: StoreMode,
    /// Every output in order, for determinism checks.
    pub transcript: Vec<String>,
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
            config,
            seed,
        }
    }

    /// Drains the engine's outputs: notices to inboxes, effects to the store
    /// (or held), events to the log. Panics if the engine ever reports an
    /// illegal lifecycle transition.
    pub fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            self.transcript.push(format!("{:?} {output:?}", self.now));
            match output {
                Output::Notify { conn, notice } => self.inbox.entry(conn).or_default().push(notice),
                Output::Broadcast { conns, notice } => {
                    for conn in &conns {
                        self.inbox.entry(*conn).or_default().push(notice.clone());
                    }
                    self.broadcasts.push((conns, notice));
                }
                Output::Effect(effect) => match self.mode {
                    StoreMode::Immediate => {
                        let outcome = self.store.perform(&effect, self.now);
                        self.report(effect.id(), outcome);
                    }
                    StoreMode::Hold => self.held.push_back(effect),
                },
                Output::Event(event) => {
                    if let EngineEvent::StateChanged { from, to, .. } = &event {
                        assert!(
                            SessionState::is_legal_transition(*from, *to),
                            "illegal transition {from:?} -> {to:?}"
                        );
                    }
                    self.events.push(event);
                }
            }
        }
    }

    fn report(&mut self, id: crate::ids::EffectId, outcome: StorageOutcome) {
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
        self.report(effect.id(), outcome);
        self.drain();
        Some(effect)
    }

    /// Reports the oldest held effect as failed (the store is not touched).
    pub fn fail_next(&mut self) -> Option<Effect> {
        let effect = self.held.pop_front()?;
        self.report(
            effect.id(),
            StorageOutcome::Failed("injected failure".into()),
        );
        self.drain();
        Some(effect)
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
        let r = self.engine.join(self.now, conn, request);
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
    pub fn snapshot(&mut self, conn: ConnId) -> Result<(), SessionError> {
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
