//! The simulated host's store: what a real backend must do, in memory.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::SessionType;
use crate::failure::{FailureKind, StorageFailure};
use crate::ids::{BoardId, SnapshotId, UserSessionId};
use crate::mutation::Event;
use crate::pages::Pages;
use crate::storage::{BatchRecord, Effect, LoadedBoard, Snapshot, StorageOutcome};
use crate::time::Timestamp;
use crate::user_session::UserSessionRecord;

/// One board as stored.
#[derive(Clone, Debug, Default)]
pub struct StoredBoard {
    /// The room's type, if created through the host's API.
    pub session_type: Option<SessionType>,
    /// The whole event log.
    pub events: Vec<Event>,
    /// Board state as of `pages_sequence`.
    pub pages: Pages,
    /// What the flushed state reflects.
    pub pages_sequence: u64,
    /// Snapshots, oldest first.
    pub snapshots: Vec<(SnapshotId, Arc<Snapshot>)>,
}

impl StoredBoard {
    /// The last sequence in the log (or the flushed state).
    pub fn sequence(&self) -> u64 {
        self.events
            .last()
            .map_or(self.pages_sequence, |e| e.seq)
            .max(self.pages_sequence)
    }

    /// The board state from flushed pages plus the log after them.
    pub fn replayed(&self) -> Pages {
        let mut pages = self.pages.clone();
        for e in self.events.iter().filter(|e| e.seq > self.pages_sequence) {
            pages.apply(&e.mutation);
        }
        pages
    }
}

/// What the harness performs effects against: the simulated host's store.
///
/// [`MemoryStore`] is the reference; a real backend plugs in through an
/// adapter that performs each effect to completion before returning.
pub trait EffectStore {
    /// Performs one effect at `now` and returns what the host reports.
    fn perform(&mut self, effect: &Effect, now: Timestamp) -> StorageOutcome;

    /// The engine released the board ([`crate::Output::Released`]): drop
    /// what is held for it (an ownership epoch). Nothing by default.
    fn release(&mut self, board: &BoardId) {
        let _ = board;
    }
}

impl EffectStore for MemoryStore {
    fn perform(&mut self, effect: &Effect, now: Timestamp) -> StorageOutcome {
        MemoryStore::perform(self, effect, now)
    }
}

/// An in-memory store with fault injection.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    /// Boards by id.
    pub boards: HashMap<BoardId, StoredBoard>,
    /// When set, `LoadBoard` of a board the store does not hold answers
    /// `NotFound` instead of an empty board.
    pub strict: bool,
    /// Events handed to loads: this many of the log's tail (at least those
    /// after the flushed state). Default (0) means 1000.
    pub load_tail: usize,
    /// Batch records handed to loads: each user's last this-many batches
    /// (from the whole log). Default (0) means 1024, the engine's default
    /// dedup window.
    pub batch_window: usize,
    /// Fail the next this-many effects (with `fail_kind`).
    pub fail_next: u32,
    /// Fail every effect while set (with `fail_kind`).
    pub fail_all: bool,
    /// The kind of the failures `fail_next` and `fail_all` inject
    /// (transient by default).
    pub fail_kind: FailureKind,
    /// Boards another owner holds: every effect for them fails fenced.
    pub fenced: HashSet<BoardId>,
    /// User session records, by id (replaced on every write).
    pub user_sessions: HashMap<UserSessionId, UserSessionRecord>,
    /// Effects performed (including failed ones).
    pub calls: u64,
    snapshots_made: u64,
}

impl MemoryStore {
    /// Performs an effect (or fails it, if a fault is armed).
    pub fn perform(&mut self, effect: &Effect, now: Timestamp) -> StorageOutcome {
        self.calls += 1;
        if self.fenced.contains(effect.board()) {
            return StorageOutcome::fenced(format!("board {} is owned elsewhere", effect.board()));
        }
        if self.fail_all {
            let failure = StorageFailure::new(self.fail_kind, "store unavailable");
            return StorageOutcome::Failed(failure);
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            let failure = StorageFailure::new(self.fail_kind, "injected failure");
            return StorageOutcome::Failed(failure);
        }
        let _ = now;
        match effect {
            Effect::LoadBoard { board, .. } => self.load(board),
            Effect::AppendEvents { board, events, .. } => {
                let stored = self.boards.entry(board.clone()).or_default();
                for e in events.iter() {
                    let last = stored.sequence();
                    if e.seq <= last {
                        continue; // already held: appends are idempotent
                    }
                    if e.seq != last + 1 {
                        // Transient: the earlier append is re-sent first.
                        return StorageOutcome::transient(format!(
                            "gap: log ends at {last}, append starts at {}",
                            e.seq
                        ));
                    }
                    stored.events.push(e.clone());
                }
                StorageOutcome::Stored
            }
            Effect::Flush { board, batch, .. } => {
                let stored = self.boards.entry(board.clone()).or_default();
                batch.apply_to(&mut stored.pages);
                stored.pages_sequence = stored.pages_sequence.max(batch.through);
                StorageOutcome::Stored
            }
            Effect::StoreSnapshot { snapshot, .. } => {
                self.snapshots_made += 1;
                let id = SnapshotId::from(format!("snap-{}", self.snapshots_made));
                let stored = self.boards.entry(snapshot.board.clone()).or_default();
                stored.snapshots.push((id.clone(), snapshot.clone()));
                StorageOutcome::SnapshotStored(id)
            }
            Effect::PruneSnapshots {
                board, keep_last, ..
            } => {
                if let Some(stored) = self.boards.get_mut(board) {
                    let excess = stored.snapshots.len().saturating_sub(*keep_last);
                    stored.snapshots.drain(..excess);
                }
                StorageOutcome::Stored
            }
            Effect::StoreUserSession { record, .. } => {
                self.user_sessions.insert(record.id, (**record).clone());
                StorageOutcome::Stored
            }
        }
    }

    fn load(&self, board: &BoardId) -> StorageOutcome {
        let Some(stored) = self.boards.get(board) else {
            return if self.strict {
                StorageOutcome::NotFound
            } else {
                StorageOutcome::Loaded(Box::default())
            };
        };
        let tail = if self.load_tail == 0 {
            1000
        } else {
            self.load_tail
        };
        let after_flush = stored
            .events
            .iter()
            .filter(|e| e.seq > stored.pages_sequence)
            .count();
        let keep = tail.max(after_flush).min(stored.events.len());
        let events = stored.events[stored.events.len() - keep..].to_vec();
        StorageOutcome::Loaded(Box::new(LoadedBoard {
            session_type: stored.session_type,
            pages: stored.pages.clone(),
            pages_sequence: stored.pages_sequence,
            events,
            snapshot_count: stored.snapshots.len(),
            last_snapshot_version: stored.snapshots.iter().map(|(_, s)| s.version).max(),
            batches: self.batch_records(stored),
        }))
    }

    /// Each user's last `batch_window` batches, from the whole log.
    fn batch_records(&self, stored: &StoredBoard) -> Vec<BatchRecord> {
        let window = if self.batch_window == 0 {
            1024
        } else {
            self.batch_window
        };
        BatchRecord::recent(stored.events.iter().rev(), window)
    }

    /// Creates a room of a type (as `POST /rooms` would).
    pub fn create_room(&mut self, board: &str, kind: SessionType) {
        self.boards.entry(board.into()).or_default().session_type = Some(kind);
    }
}
