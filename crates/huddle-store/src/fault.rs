//! A fault-injecting wrapper around any store, for simulation tests.
//!
//! [`Faulty`] passes every call through to the store it wraps, except
//! where its [`Faults`] plan says otherwise. Calls are counted (1-based,
//! from the moment a fault is armed) among those the plan's [`Target`]
//! selects:
//!
//! - [`Faults::fail_nth`]: the nth call fails before reaching the store
//!   (nothing written);
//! - [`Faults::fail_from`]: every call from the nth on fails that way (the
//!   store is down), until [`Faults::clear`];
//! - [`Faults::lose_confirmation_nth`]: the nth call is performed, then
//!   reported as failed (the write happened, its confirmation was lost),
//!   so the caller retries something already stored;
//! - [`Faults::duplicate_nth`]: the nth call is delivered to the store
//!   twice and both are confirmed (a duplicated request and confirmation);
//!   the caller gets the second confirmation;
//! - [`Faults::set_delay`]: every selected call waits this long (tokio
//!   time, so paused-clock tests stay instant) before it reaches the store.
//!
//! ```
//! use huddle_store::{Faulty, InMemoryStore, Node, Store, Target};
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let store = Faulty::new(InMemoryStore::new());
//! store.faults().target(Target::Writes).fail_nth(1);
//! let node = Node::default();
//! assert!(store.acquire_board(&"b".into(), &node).await.is_err());
//! assert!(store.acquire_board(&"b".into(), &node).await.is_ok());
//! # });
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use huddle_core::{
    BoardId, BoardOwner, Event, LoadedBoard, Snapshot, SnapshotId, UserSessionRecord,
};

use crate::epoch::Epoch;
use crate::error::StoreError;
use crate::lease::{Acquired, Node};
use crate::model::{AppendBatch, BoardSummary, FlushWrite, Room, SessionIndex, SnapshotMeta};
use crate::store::Store;

/// The store operations, for targeting faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// [`Store::create_room`]
    CreateRoom,
    /// [`Store::room`]
    Room,
    /// [`Store::acquire_board`]
    AcquireBoard,
    /// [`Store::renew_leases`]
    RenewLeases,
    /// [`Store::release_board`]
    ReleaseBoard,
    /// [`Store::board_owner`]
    BoardOwner,
    /// [`Store::load_board`]
    LoadBoard,
    /// [`Store::board_summary`]
    BoardSummary,
    /// [`Store::append_events`]
    AppendEvents,
    /// [`Store::read_events`]
    ReadEvents,
    /// [`Store::flush`]
    Flush,
    /// [`Store::store_snapshot`]
    StoreSnapshot,
    /// [`Store::list_snapshots`]
    ListSnapshots,
    /// [`Store::get_snapshot`]
    GetSnapshot,
    /// [`Store::prune_snapshots`]
    PruneSnapshots,
    /// [`Store::put_user_session`]
    PutUserSession,
    /// [`Store::user_sessions`]
    UserSessions,
}

impl Op {
    /// True for operations that change the store.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Op::CreateRoom
                | Op::AcquireBoard
                | Op::RenewLeases
                | Op::ReleaseBoard
                | Op::AppendEvents
                | Op::Flush
                | Op::StoreSnapshot
                | Op::PruneSnapshots
                | Op::PutUserSession
        )
    }
}

/// Which calls a plan counts and affects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// Every call.
    #[default]
    All,
    /// Calls that change the store.
    Writes,
    /// One operation.
    Only(Op),
}

impl Target {
    fn selects(self, op: Op) -> bool {
        match self {
            Target::All => true,
            Target::Writes => op.is_write(),
            Target::Only(o) => o == op,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fail,
    LoseConfirmation,
    Duplicate,
}

#[derive(Clone, Copy, Debug)]
struct Rule {
    at: u64,
    from_on: bool,
    kind: Kind,
}

#[derive(Debug, Default)]
struct Plan {
    target: Target,
    rules: Vec<Rule>,
    delay: Option<Duration>,
    /// Calls the target selected so far.
    selected: u64,
    /// All calls.
    calls: u64,
    /// Faults injected.
    injected: u64,
}

/// What to do with one call.
#[derive(Clone, Copy, Debug)]
struct Decision {
    kind: Option<Kind>,
    delay: Option<Duration>,
}

/// The fault plan of a [`Faulty`] store; a cheap handle, shared with it.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    plan: Arc<Mutex<Plan>>,
}

impl Faults {
    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn arm(&self, n: u64, from_on: bool, kind: Kind) -> &Self {
        let mut plan = self.plan();
        let at = plan.selected.saturating_add(n.max(1));
        plan.rules.push(Rule { at, from_on, kind });
        self
    }

    /// Counts and affects only these calls (also resets the count).
    pub fn target(&self, target: Target) -> &Self {
        let mut plan = self.plan();
        plan.target = target;
        plan.selected = 0;
        plan.rules.clear();
        self
    }

    /// The nth selected call from now fails; nothing is written.
    pub fn fail_nth(&self, n: u64) -> &Self {
        self.arm(n, false, Kind::Fail)
    }

    /// Every selected call from the nth from now on fails.
    pub fn fail_from(&self, n: u64) -> &Self {
        self.arm(n, true, Kind::Fail)
    }

    /// The nth selected call from now is performed, then reported failed.
    pub fn lose_confirmation_nth(&self, n: u64) -> &Self {
        self.arm(n, false, Kind::LoseConfirmation)
    }

    /// The nth selected call from now reaches the store twice.
    pub fn duplicate_nth(&self, n: u64) -> &Self {
        self.arm(n, false, Kind::Duplicate)
    }

    /// Every selected call waits `delay` first (`None`: no delay).
    pub fn set_delay(&self, delay: Option<Duration>) -> &Self {
        self.plan().delay = delay;
        self
    }

    /// Disarms every fault and the delay (the target stays).
    pub fn clear(&self) -> &Self {
        let mut plan = self.plan();
        plan.rules.clear();
        plan.delay = None;
        self
    }

    /// Calls seen so far, selected or not.
    pub fn calls(&self) -> u64 {
        self.plan().calls
    }

    /// Faults injected so far (failures, lost confirmations, duplicates).
    pub fn injected(&self) -> u64 {
        self.plan().injected
    }

    fn decide(&self, op: Op) -> Decision {
        let mut plan = self.plan();
        plan.calls += 1;
        if !plan.target.selects(op) {
            return Decision {
                kind: None,
                delay: None,
            };
        }
        plan.selected += 1;
        let n = plan.selected;
        let kind = plan
            .rules
            .iter()
            .find(|r| r.at == n || (r.from_on && n >= r.at))
            .map(|r| r.kind);
        plan.rules.retain(|r| r.from_on || r.at > n);
        if kind.is_some() {
            plan.injected += 1;
        }
        Decision {
            kind,
            delay: plan.delay,
        }
    }
}

/// A store that injects the faults its [`Faults`] plan asks for.
#[derive(Debug, Default)]
pub struct Faulty<S> {
    inner: S,
    faults: Faults,
}

impl<S: Store> Faulty<S> {
    /// Wraps `inner` with no fault armed.
    pub fn new(inner: S) -> Self {
        Faulty {
            inner,
            faults: Faults::default(),
        }
    }

    /// The fault plan (a handle: clone it to arm faults from elsewhere).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Runs `call` (once, twice, or not at all) as the plan decides.
    async fn run<T, F, Fut>(&self, op: Op, call: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let decision = self.faults.decide(op);
        if let Some(delay) = decision.delay {
            tokio::time::sleep(delay).await;
        }
        match decision.kind {
            None => call().await,
            Some(Kind::Fail) => Err(StoreError::Injected("the call failed")),
            Some(Kind::LoseConfirmation) => {
                let _ = call().await;
                Err(StoreError::Injected("the confirmation was lost"))
            }
            Some(Kind::Duplicate) => {
                let _ = call().await;
                call().await
            }
        }
    }
}

impl<S: Store> Store for Faulty<S> {
    fn create_room(&self, room: Room) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.run(Op::CreateRoom, move || self.inner.create_room(room.clone()))
    }

    fn room(&self, id: &BoardId) -> impl Future<Output = Result<Option<Room>, StoreError>> + Send {
        self.run(Op::Room, move || self.inner.room(id))
    }

    fn acquire_board(
        &self,
        board: &BoardId,
        node: &Node,
    ) -> impl Future<Output = Result<Acquired, StoreError>> + Send {
        self.run(Op::AcquireBoard, move || {
            self.inner.acquire_board(board, node)
        })
    }

    fn renew_leases(
        &self,
        node: &Node,
        boards: &[BoardId],
    ) -> impl Future<Output = Result<Vec<BoardId>, StoreError>> + Send {
        self.run(Op::RenewLeases, move || {
            self.inner.renew_leases(node, boards)
        })
    }

    fn release_board(
        &self,
        board: &BoardId,
        epoch: Epoch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.run(Op::ReleaseBoard, move || {
            self.inner.release_board(board, epoch)
        })
    }

    fn board_owner(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardOwner>, StoreError>> + Send {
        self.run(Op::BoardOwner, move || self.inner.board_owner(board))
    }

    fn load_board(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<LoadedBoard>, StoreError>> + Send {
        self.run(Op::LoadBoard, move || self.inner.load_board(board))
    }

    fn board_summary(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardSummary>, StoreError>> + Send {
        self.run(Op::BoardSummary, move || self.inner.board_summary(board))
    }

    async fn append_events(&self, batches: Vec<AppendBatch>) -> Vec<Result<(), StoreError>> {
        let n = batches.len();
        let all = self
            .run(Op::AppendEvents, || async {
                Ok(self.inner.append_events(batches.clone()).await)
            })
            .await;
        all.unwrap_or_else(|e| vec![Err(e); n])
    }

    fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        self.run(Op::ReadEvents, move || {
            self.inner.read_events(board, after, limit)
        })
    }

    fn flush(&self, write: FlushWrite) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.run(Op::Flush, move || self.inner.flush(write.clone()))
    }

    fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> impl Future<Output = Result<SnapshotId, StoreError>> + Send {
        self.run(Op::StoreSnapshot, move || {
            self.inner.store_snapshot(epoch, snapshot.clone())
        })
    }

    fn list_snapshots(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Vec<SnapshotMeta>, StoreError>> + Send {
        self.run(Op::ListSnapshots, move || self.inner.list_snapshots(board))
    }

    fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        self.run(Op::GetSnapshot, move || self.inner.get_snapshot(board, id))
    }

    fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.run(Op::PruneSnapshots, move || {
            self.inner.prune_snapshots(board, epoch, keep_last)
        })
    }

    fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.run(Op::PutUserSession, move || {
            self.inner.put_user_session(epoch, record.clone())
        })
    }

    fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> impl Future<Output = Result<Vec<UserSessionRecord>, StoreError>> + Send {
        self.run(Op::UserSessions, move || {
            self.inner.user_sessions(index.clone())
        })
    }

    /// Closes the wrapped store (no fault is injected into a close).
    fn close(&self) -> impl Future<Output = ()> + Send {
        self.inner.close()
    }
}
