//! The in-memory backend: the store contract with nothing durable, for
//! tests, examples and hosts that want no persistence. It is also the
//! reference the other backends are compared with in the conformance suite.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use huddle_core::{BoardId, Event, LoadedBoard, Pages, Snapshot, SnapshotId, UserSessionRecord};

use crate::epoch::Epoch;
use crate::error::StoreError;
use crate::load::{check_loaded, load_window_start, recent_batches};
use crate::model::{AppendBatch, BoardSummary, FlushWrite, Room, SessionIndex, SnapshotMeta};
use crate::store::Store;
use crate::validate::{
    already_held, check_epoch, check_events, check_snapshot, plan_flush, FlushPlan,
};

/// A store in memory. Every operation completes at once; clones share
/// nothing (wrap it in an `Arc` to share one).
#[derive(Debug, Default)]
pub struct InMemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashMap<BoardId, Room>,
    boards: HashMap<BoardId, Board>,
    sessions: HashMap<u64, UserSessionRecord>,
    snapshots_made: u64,
}

#[derive(Debug, Default)]
struct Board {
    epoch: Epoch,
    /// The whole log: `events[i].seq == i + 1`.
    events: Vec<Event>,
    pages: Pages,
    pages_sequence: u64,
    /// Oldest first.
    snapshots: Vec<(SnapshotId, Arc<Snapshot>)>,
}

impl Board {
    fn log_end(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }

    fn is_known(&self) -> bool {
        !self.events.is_empty() || self.pages_sequence > 0 || !self.snapshots.is_empty()
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Critical sections validate before they change anything, so the
        // data behind a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Owned board or `Fenced` (a board nobody acquired has epoch none).
    fn owned<'a>(
        inner: &'a mut Inner,
        board: &BoardId,
        epoch: Epoch,
    ) -> Result<&'a mut Board, StoreError> {
        let current = inner.boards.get(board).map_or(Epoch::NONE, |b| b.epoch);
        check_epoch(board, epoch, current)?;
        Ok(inner.boards.entry(board.clone()).or_default())
    }

    fn create_room_now(&self, room: Room) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.rooms.contains_key(&room.id) {
            return Err(StoreError::RoomExists(room.id));
        }
        inner.rooms.insert(room.id.clone(), room);
        Ok(())
    }

    fn acquire_now(&self, board: &BoardId) -> Epoch {
        let mut inner = self.lock();
        let stored = inner.boards.entry(board.clone()).or_default();
        stored.epoch = stored.epoch.next();
        stored.epoch
    }

    fn load_now(&self, board: &BoardId) -> Result<Option<LoadedBoard>, StoreError> {
        let inner = self.lock();
        let room = inner.rooms.get(board);
        let stored = inner.boards.get(board).filter(|b| b.is_known());
        let Some(stored) = stored else {
            return Ok(room.map(|r| LoadedBoard {
                session_type: Some(r.session_type),
                ..LoadedBoard::empty()
            }));
        };
        let log_end = stored.log_end();
        let start = load_window_start(stored.pages_sequence, log_end);
        let skip = usize::try_from(start).unwrap_or(usize::MAX);
        let loaded = LoadedBoard {
            session_type: room.map(|r| r.session_type),
            pages: stored.pages.clone(),
            pages_sequence: stored.pages_sequence,
            events: stored.events.iter().skip(skip).cloned().collect(),
            snapshot_count: stored.snapshots.len(),
            last_snapshot_version: stored.snapshots.iter().map(|(_, s)| s.version).max(),
            batches: recent_batches(stored.events.iter().rev()),
        };
        check_loaded(&loaded, log_end).map_err(StoreError::Corrupt)?;
        Ok(Some(loaded))
    }

    fn append_now(&self, batches: Vec<AppendBatch>) -> Vec<Result<(), StoreError>> {
        let mut inner = self.lock();
        batches
            .into_iter()
            .map(|batch| {
                check_events(&batch.board, &batch.events)?;
                let stored = Self::owned(&mut inner, &batch.board, batch.epoch)?;
                let held = already_held(&batch.board, &batch.events, stored.log_end())?;
                stored
                    .events
                    .extend(batch.events.iter().skip(held).cloned());
                Ok(())
            })
            .collect()
    }

    fn read_events_now(&self, board: &BoardId, after: u64, limit: usize) -> Vec<Event> {
        let inner = self.lock();
        let skip = usize::try_from(after).unwrap_or(usize::MAX);
        inner.boards.get(board).map_or_else(Vec::new, |b| {
            b.events.iter().skip(skip).take(limit).cloned().collect()
        })
    }

    fn flush_now(&self, write: FlushWrite) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let stored = Self::owned(&mut inner, &write.board, write.epoch)?;
        let batch = &write.batch;
        if plan_flush(&write.board, batch, stored.pages_sequence, stored.log_end())?
            == FlushPlan::AlreadyApplied
        {
            return Ok(());
        }
        batch.apply_to(&mut stored.pages);
        stored.pages_sequence = batch.through;
        Ok(())
    }

    fn store_snapshot_now(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> Result<SnapshotId, StoreError> {
        check_snapshot(&snapshot)?;
        let mut inner = self.lock();
        Self::owned(&mut inner, &snapshot.board, epoch)?;
        inner.snapshots_made += 1;
        let id = SnapshotId::from(inner.snapshots_made.to_string());
        let stored = Self::owned(&mut inner, &snapshot.board, epoch)?;
        stored.snapshots.push((id.clone(), snapshot));
        Ok(id)
    }

    fn list_snapshots_now(&self, board: &BoardId) -> Vec<SnapshotMeta> {
        let inner = self.lock();
        inner.boards.get(board).map_or_else(Vec::new, |b| {
            b.snapshots
                .iter()
                .rev()
                .map(|(id, s)| SnapshotMeta {
                    id: id.clone(),
                    board: s.board.clone(),
                    version: s.version,
                    created_at: s.created_at,
                    created_by: s.created_by,
                    elements: s.pages.element_count(),
                })
                .collect()
        })
    }

    fn get_snapshot_now(&self, board: &BoardId, id: &SnapshotId) -> Option<Snapshot> {
        let inner = self.lock();
        let b = inner.boards.get(board)?;
        b.snapshots
            .iter()
            .find(|(sid, _)| sid == id)
            .map(|(_, s)| Snapshot::clone(s))
    }

    fn prune_now(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let stored = Self::owned(&mut inner, board, epoch)?;
        let excess = stored.snapshots.len().saturating_sub(keep_last);
        stored.snapshots.drain(..excess);
        Ok(excess)
    }

    fn put_session_now(&self, epoch: Epoch, record: UserSessionRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        Self::owned(&mut inner, &record.board_id, epoch)?;
        inner.sessions.insert(record.id.0, record);
        Ok(())
    }

    fn sessions_now(&self, index: &SessionIndex) -> Vec<UserSessionRecord> {
        let inner = self.lock();
        let mut out: Vec<UserSessionRecord> = inner
            .sessions
            .values()
            .filter(|r| match index {
                SessionIndex::Board(b) => &r.board_id == b,
                SessionIndex::User(u) => &r.user_id == u,
                SessionIndex::Status(s) => &r.status == s,
            })
            .cloned()
            .collect();
        out.sort_by_key(|r| (r.started_at, r.id));
        out
    }
}

impl Store for InMemoryStore {
    async fn create_room(&self, room: Room) -> Result<(), StoreError> {
        self.create_room_now(room)
    }

    async fn room(&self, id: &BoardId) -> Result<Option<Room>, StoreError> {
        Ok(self.lock().rooms.get(id).cloned())
    }

    async fn acquire_board(&self, board: &BoardId) -> Result<Epoch, StoreError> {
        Ok(self.acquire_now(board))
    }

    async fn load_board(&self, board: &BoardId) -> Result<Option<LoadedBoard>, StoreError> {
        self.load_now(board)
    }

    async fn board_summary(&self, board: &BoardId) -> Result<Option<BoardSummary>, StoreError> {
        let inner = self.lock();
        let room = inner.rooms.contains_key(board);
        Ok(match inner.boards.get(board).filter(|b| b.is_known()) {
            Some(stored) => Some(BoardSummary {
                sequence: stored.log_end().max(stored.pages_sequence),
                snapshots: stored.snapshots.len(),
            }),
            None => room.then(BoardSummary::default),
        })
    }

    async fn append_events(&self, batches: Vec<AppendBatch>) -> Vec<Result<(), StoreError>> {
        self.append_now(batches)
    }

    async fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(self.read_events_now(board, after, limit))
    }

    async fn flush(&self, write: FlushWrite) -> Result<(), StoreError> {
        self.flush_now(write)
    }

    async fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> Result<SnapshotId, StoreError> {
        self.store_snapshot_now(epoch, snapshot)
    }

    async fn list_snapshots(&self, board: &BoardId) -> Result<Vec<SnapshotMeta>, StoreError> {
        Ok(self.list_snapshots_now(board))
    }

    async fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.get_snapshot_now(board, id))
    }

    async fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> Result<usize, StoreError> {
        self.prune_now(board, epoch, keep_last)
    }

    async fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> Result<(), StoreError> {
        self.put_session_now(epoch, record)
    }

    async fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> Result<Vec<UserSessionRecord>, StoreError> {
        Ok(self.sessions_now(&index))
    }
}
