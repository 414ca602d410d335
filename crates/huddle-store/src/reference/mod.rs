//! The reference model of the storage contract: what a store must do, in
//! one place, pure and synchronous.
//!
//! [`ReferenceStore`] holds rooms, each board's ownership epoch, its
//! gapless event log, its state as of a watermark, its snapshots, and user
//! session records, and answers every operation of the [`crate::Store`]
//! trait with exactly that trait's semantics:
//!
//! - a board is owned through a lease ([`crate::lease`]) on the model's
//!   own clock ([`ReferenceStore::now`], which tests advance):
//!   [`ReferenceStore::acquire_board`] grants it when the board is free,
//!   its lease expired or the node holds it already, raising the epoch;
//!   [`ReferenceStore::renew_leases`] and
//!   [`ReferenceStore::release_board`] run it on and free it;
//! - writes to a board carry an [`Epoch`] and are refused with
//!   [`StoreError::Fenced`] unless it is the board's current one, and with
//!   [`StoreError::LeaseExpired`] once its lease has ended;
//! - an append skips events the log already holds (appends are idempotent)
//!   and refuses one that would leave a gap ([`StoreError::Gap`]); a batch
//!   that fails writes nothing, and the batches of one group commit are
//!   answered independently, in order;
//! - a flush makes the board state as of `through`, or changes nothing: one
//!   the state already reflects is a success, one that starts past the
//!   watermark or reaches past the log is refused;
//! - a load hands out the state, a contiguous run of the log (every event
//!   after the state, at least the last [`crate::LOAD_HISTORY`]), each
//!   user's recent batch records (merged from the whole log), and the
//!   snapshot count and newest version;
//! - snapshots are listed newest first and pruned oldest first;
//! - user session records are replaced by id and listed by index.
//!
//! Every operation validates before it changes anything, so a refused
//! request changes nothing. Nothing here blocks, sleeps or fails on its
//! own: [`crate::InMemoryStore`] is this model behind a mutex; the
//! virtual-time harness (`huddle-testkit`) and the simulator
//! (`huddle-sim`) build on it, adding their faults, latency and crash
//! modelling. [`Owner`] performs an engine effect against the model the
//! way [`crate::Performer`] does against a [`crate::Store`]: it holds one
//! host's epochs.

mod board;
mod owner;
mod shape;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use std::time::Duration;

use huddle_core::{
    BatchRecord, BoardId, BoardOwner, Event, LoadedBoard, Snapshot, SnapshotId, UserSessionId,
    UserSessionRecord,
};

pub use board::{BoardRecord, LeaseRecord};
pub use owner::Owner;
pub use shape::LoadShape;

use crate::epoch::Epoch;
use crate::error::StoreError;
use crate::lease::{Acquired, Node};
use crate::load::check_loaded;
use crate::model::{AppendBatch, BoardSummary, FlushWrite, Room, SessionIndex, SnapshotMeta};
use crate::validate::{
    already_held, check_epoch, check_events, check_snapshot, plan_flush, FlushPlan,
};

/// The storage contract in memory (see the module docs). Iteration orders
/// are deterministic, so a simulation built on it replays exactly.
#[derive(Clone, Debug, Default)]
pub struct ReferenceStore {
    rooms: BTreeMap<BoardId, Room>,
    boards: BTreeMap<BoardId, BoardRecord>,
    sessions: BTreeMap<u64, UserSessionRecord>,
    snapshots_made: u64,
    /// The model's clock: milliseconds, only moved forward.
    now: u64,
}

impl ReferenceStore {
    /// An empty store.
    pub fn new() -> Self {
        ReferenceStore::default()
    }

    /// The model's clock, in milliseconds: what leases run on.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves the clock forward by `by`.
    pub fn advance_clock(&mut self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now = self.now.saturating_add(by);
    }

    /// Moves the clock to `now` (milliseconds) unless it is there already
    /// (the clock never goes back).
    pub fn set_clock(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// Every board the store has a record of (acquired, or written).
    pub fn boards(&self) -> &BTreeMap<BoardId, BoardRecord> {
        &self.boards
    }

    /// One board's records.
    pub fn board(&self, board: &BoardId) -> Option<&BoardRecord> {
        self.boards.get(board)
    }

    /// Every room.
    pub fn rooms(&self) -> &BTreeMap<BoardId, Room> {
        &self.rooms
    }

    /// The board, if `epoch` is its current one and its lease runs;
    /// `Fenced` or `LeaseExpired` otherwise (a board nobody acquired has
    /// epoch none, which is never current).
    fn owned(&mut self, board: &BoardId, epoch: Epoch) -> Result<&mut BoardRecord, StoreError> {
        let now = self.now;
        let (current, live) = self.boards.get(board).map_or((Epoch::NONE, false), |b| {
            (b.epoch, b.live_lease(now).is_some())
        });
        check_epoch(board, epoch, current, live)?;
        Ok(self.boards.entry(board.clone()).or_default())
    }

    /// Creates a room, or refuses a taken id with `RoomExists`.
    pub fn create_room(&mut self, room: Room) -> Result<(), StoreError> {
        if self.rooms.contains_key(&room.id) {
            return Err(StoreError::RoomExists(room.id));
        }
        self.rooms.insert(room.id.clone(), room);
        Ok(())
    }

    /// The room with this id.
    pub fn room(&self, id: &BoardId) -> Option<&Room> {
        self.rooms.get(id)
    }

    /// Grants `node` the board's lease if it is free, expired or the
    /// node's already; raises the epoch (every earlier one is fenced off
    /// from now on) and runs the lease for the node's TTL. Refused with
    /// `OwnedElsewhere`, changing nothing, while another node's lease runs.
    pub fn acquire_board(&mut self, board: &BoardId, node: &Node) -> Result<Acquired, StoreError> {
        let now = self.now;
        let stored = self.boards.entry(board.clone()).or_default();
        if let Some(lease) = stored.live_lease(now) {
            if lease.owner.node != node.id() {
                return Err(StoreError::OwnedElsewhere {
                    board: board.clone(),
                    owner: lease.owner.clone(),
                });
            }
        }
        let took_over = stored
            .lease
            .as_ref()
            .is_some_and(|l| l.owner.node != node.id());
        stored.epoch = stored.epoch.next();
        stored.lease = Some(LeaseRecord {
            owner: node.owner.clone(),
            until: now.saturating_add(node.ttl_millis()),
        });
        Ok(Acquired {
            epoch: stored.epoch,
            took_over,
        })
    }

    /// Runs on, for the node's TTL from now, every live lease of `node`
    /// among `boards`; answers those (the boards the node still holds), in
    /// the order asked.
    pub fn renew_leases(&mut self, node: &Node, boards: &[BoardId]) -> Vec<BoardId> {
        let now = self.now;
        let until = now.saturating_add(node.ttl_millis());
        let mut held = Vec::new();
        for board in boards {
            let Some(stored) = self.boards.get_mut(board) else {
                continue;
            };
            if let Some(lease) = stored.lease.as_mut().filter(|l| l.until > now) {
                if lease.owner.node == node.id() {
                    lease.until = until;
                    if !held.contains(board) {
                        held.push(board.clone());
                    }
                }
            }
        }
        held
    }

    /// Frees the board at once if `epoch` is its current one (later writes
    /// with it are fenced); otherwise changes nothing.
    pub fn release_board(&mut self, board: &BoardId, epoch: Epoch) {
        if let Some(stored) = self.boards.get_mut(board).filter(|b| b.epoch == epoch) {
            stored.lease = None;
        }
    }

    /// The node whose lease on the board runs, if any.
    pub fn board_owner(&self, board: &BoardId) -> Option<BoardOwner> {
        let stored = self.boards.get(board)?;
        stored.live_lease(self.now).map(|l| l.owner.clone())
    }

    /// Loads a board as the contract says ([`LoadShape::CONTRACT`]).
    pub fn load_board(&self, board: &BoardId) -> Result<Option<LoadedBoard>, StoreError> {
        let loaded = self.load_board_shaped(board, LoadShape::CONTRACT);
        if let Ok(Some(loaded)) = &loaded {
            let log_end = self.boards.get(board).map_or(0, BoardRecord::log_end);
            check_loaded(loaded, log_end).map_err(StoreError::Corrupt)?;
        }
        loaded
    }

    /// Loads a board with another [`LoadShape`] (test hosts). `None` if the
    /// store knows nothing of it; a room alone gives an empty board of the
    /// room's type.
    pub fn load_board_shaped(
        &self,
        board: &BoardId,
        shape: LoadShape,
    ) -> Result<Option<LoadedBoard>, StoreError> {
        let room = self.rooms.get(board);
        let Some(stored) = self.boards.get(board).filter(|b| b.is_known()) else {
            return Ok(room.map(|r| LoadedBoard {
                session_type: Some(r.session_type),
                ..LoadedBoard::empty()
            }));
        };
        let start = shape.window_start(stored.pages_sequence, stored.log_end());
        let skip = usize::try_from(start).unwrap_or(usize::MAX);
        Ok(Some(LoadedBoard {
            session_type: room.map(|r| r.session_type),
            pages: stored.pages.clone(),
            pages_sequence: stored.pages_sequence,
            events: stored.events.iter().skip(skip).cloned().collect(),
            snapshot_count: stored.snapshots.len(),
            last_snapshot_version: stored.snapshots.iter().map(|(_, s)| s.version).max(),
            batches: BatchRecord::recent(stored.events.iter().rev(), shape.batches_per_user),
        }))
    }

    /// A board's stored sequence and snapshot count; `None` exactly when
    /// [`ReferenceStore::load_board`] answers `None`.
    pub fn board_summary(&self, board: &BoardId) -> Option<BoardSummary> {
        match self.boards.get(board).filter(|b| b.is_known()) {
            Some(stored) => Some(BoardSummary {
                sequence: stored.sequence(),
                snapshots: stored.snapshots.len(),
            }),
            None => self.rooms.contains_key(board).then(BoardSummary::default),
        }
    }

    /// Appends one board's events (one entry of a group commit).
    pub fn append(&mut self, batch: &AppendBatch) -> Result<(), StoreError> {
        check_events(&batch.board, &batch.events)?;
        let stored = self.owned(&batch.board, batch.epoch)?;
        let held = already_held(&batch.board, &batch.events, stored.log_end())?;
        stored
            .events
            .extend(batch.events.iter().skip(held).cloned());
        Ok(())
    }

    /// A group commit: each batch in order, answered independently.
    pub fn append_events(&mut self, batches: &[AppendBatch]) -> Vec<Result<(), StoreError>> {
        batches.iter().map(|batch| self.append(batch)).collect()
    }

    /// Up to `limit` events after `after`, ascending.
    pub fn read_events(&self, board: &BoardId, after: u64, limit: usize) -> Vec<Event> {
        let skip = usize::try_from(after).unwrap_or(usize::MAX);
        self.boards.get(board).map_or_else(Vec::new, |b| {
            b.events.iter().skip(skip).take(limit).cloned().collect()
        })
    }

    /// Writes a flush: the state as of `through`, or nothing on error.
    pub fn flush(&mut self, write: &FlushWrite) -> Result<(), StoreError> {
        let stored = self.owned(&write.board, write.epoch)?;
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

    /// Stores a snapshot; ids are `1`, `2`, ... in storing order.
    pub fn store_snapshot(
        &mut self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> Result<SnapshotId, StoreError> {
        check_snapshot(&snapshot)?;
        self.owned(&snapshot.board, epoch)?;
        self.snapshots_made += 1;
        let id = SnapshotId::from(self.snapshots_made.to_string());
        let stored = self.owned(&snapshot.board, epoch)?;
        stored.snapshots.push((id.clone(), snapshot));
        Ok(id)
    }

    /// A board's snapshots, newest first.
    pub fn list_snapshots(&self, board: &BoardId) -> Vec<SnapshotMeta> {
        self.boards.get(board).map_or_else(Vec::new, |b| {
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

    /// One snapshot of a board.
    pub fn get_snapshot(&self, board: &BoardId, id: &SnapshotId) -> Option<Snapshot> {
        let b = self.boards.get(board)?;
        b.snapshots
            .iter()
            .find(|(sid, _)| sid == id)
            .map(|(_, s)| Snapshot::clone(s))
    }

    /// Deletes all but the newest `keep_last` snapshots; how many it
    /// deleted.
    pub fn prune_snapshots(
        &mut self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> Result<usize, StoreError> {
        let stored = self.owned(board, epoch)?;
        let excess = stored.snapshots.len().saturating_sub(keep_last);
        stored.snapshots.drain(..excess);
        Ok(excess)
    }

    /// Inserts or replaces (by id) a user session record, with the epoch
    /// held for its board.
    pub fn put_user_session(
        &mut self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> Result<(), StoreError> {
        self.owned(&record.board_id, epoch)?;
        self.sessions.insert(record.id.0, record);
        Ok(())
    }

    /// The user session record with this id, if stored.
    pub fn user_session(&self, id: UserSessionId) -> Option<&UserSessionRecord> {
        self.sessions.get(&id.0)
    }

    /// User session records by one index, by start time, then id.
    pub fn user_sessions(&self, index: &SessionIndex) -> Vec<UserSessionRecord> {
        let mut out: Vec<UserSessionRecord> = self
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
