//! The in-memory backend: the store contract with nothing durable, for
//! tests, examples and hosts that want no persistence.
//!
//! It is the [reference model](crate::reference) behind a mutex: every
//! operation completes at once with exactly the model's answer, so it is
//! also what the conformance suite's expectations are checked against.
//! Its leases run on the process's monotonic clock (the "database" is the
//! process), which it sets the model's clock from before every operation.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use huddle_core::{
    BoardId, BoardOwner, Event, LoadedBoard, Snapshot, SnapshotId, UserSessionRecord,
};

use crate::epoch::Epoch;
use crate::error::StoreError;
use crate::lease::{Acquired, Node};
use crate::model::{AppendBatch, BoardSummary, FlushWrite, Room, SessionIndex, SnapshotMeta};
use crate::reference::ReferenceStore;
use crate::store::Store;

/// A store in memory. Every operation completes at once; clones share
/// nothing (wrap it in an `Arc` to share one).
#[derive(Debug)]
pub struct InMemoryStore {
    model: Mutex<ReferenceStore>,
    /// The model's clock reads `base` plus the time since `started`.
    started: Instant,
    base: u64,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        InMemoryStore::from_model(ReferenceStore::default())
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryStore::default()
    }

    /// A store holding what `model` holds; its clock goes on from the
    /// model's.
    pub fn from_model(model: ReferenceStore) -> Self {
        InMemoryStore {
            base: model.now(),
            model: Mutex::new(model),
            started: Instant::now(),
        }
    }

    /// A copy of the model's state (to inspect it in a test).
    pub fn snapshot_model(&self) -> ReferenceStore {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, ReferenceStore> {
        // The model validates before it changes anything, so the data
        // behind a poisoned lock is still consistent.
        let mut model = self.model.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        model.set_clock(self.base.saturating_add(elapsed));
        model
    }
}

impl Store for InMemoryStore {
    async fn create_room(&self, room: Room) -> Result<(), StoreError> {
        self.lock().create_room(room)
    }

    async fn room(&self, id: &BoardId) -> Result<Option<Room>, StoreError> {
        Ok(self.lock().room(id).cloned())
    }

    async fn acquire_board(&self, board: &BoardId, node: &Node) -> Result<Acquired, StoreError> {
        self.lock().acquire_board(board, node)
    }

    async fn renew_leases(
        &self,
        node: &Node,
        boards: &[BoardId],
    ) -> Result<Vec<BoardId>, StoreError> {
        Ok(self.lock().renew_leases(node, boards))
    }

    async fn release_board(&self, board: &BoardId, epoch: Epoch) -> Result<(), StoreError> {
        self.lock().release_board(board, epoch);
        Ok(())
    }

    async fn board_owner(&self, board: &BoardId) -> Result<Option<BoardOwner>, StoreError> {
        Ok(self.lock().board_owner(board))
    }

    async fn load_board(&self, board: &BoardId) -> Result<Option<LoadedBoard>, StoreError> {
        self.lock().load_board(board)
    }

    async fn board_summary(&self, board: &BoardId) -> Result<Option<BoardSummary>, StoreError> {
        Ok(self.lock().board_summary(board))
    }

    async fn append_events(&self, batches: Vec<AppendBatch>) -> Vec<Result<(), StoreError>> {
        self.lock().append_events(&batches)
    }

    async fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(self.lock().read_events(board, after, limit))
    }

    async fn flush(&self, write: FlushWrite) -> Result<(), StoreError> {
        self.lock().flush(&write)
    }

    async fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> Result<SnapshotId, StoreError> {
        self.lock().store_snapshot(epoch, snapshot)
    }

    async fn list_snapshots(&self, board: &BoardId) -> Result<Vec<SnapshotMeta>, StoreError> {
        Ok(self.lock().list_snapshots(board))
    }

    async fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.lock().get_snapshot(board, id))
    }

    async fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> Result<usize, StoreError> {
        self.lock().prune_snapshots(board, epoch, keep_last)
    }

    async fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> Result<(), StoreError> {
        self.lock().put_user_session(epoch, record)
    }

    async fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> Result<Vec<UserSessionRecord>, StoreError> {
        Ok(self.lock().user_sessions(&index))
    }
}
