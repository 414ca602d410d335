//! The simulated host's store: the reference model of the storage contract
//! ([`huddle_store::reference`]) as one host sees it, plus the faults and
//! load shapes a test may ask for.

use std::collections::{BTreeMap, BTreeSet};

use huddle_core::{
    BoardId, Effect, FailureKind, SessionType, StorageFailure, StorageOutcome, Timestamp,
    UserSessionId, UserSessionRecord,
};
use huddle_store::reference::{BoardRecord, LoadShape, Owner, ReferenceStore};
use huddle_store::{storage_failure, Room, StoreError, UnknownBoard, LOAD_HISTORY};

/// What the harness performs effects against: the simulated host's store.
///
/// [`MemoryStore`] is the default; [`crate::HostStore`] is one of several
/// hosts on a shared model, and a real backend plugs in through
/// [`crate::BlockingEffectStore`].
pub trait EffectStore {
    /// Performs one effect at `now` and returns what the host reports.
    fn perform(&mut self, effect: &Effect, now: Timestamp) -> StorageOutcome;

    /// The reference model behind the store, if it is one the harness can
    /// read: then the harness checks the shared invariants
    /// ([`crate::invariants`]) against it as outputs leave the engine.
    fn model(&self) -> Option<&ReferenceStore> {
        None
    }

    /// The engine released the board ([`huddle_core::Output::Released`]):
    /// drop what is held for it (an ownership epoch). Nothing by default.
    fn release(&mut self, board: &BoardId) {
        let _ = board;
    }
}

impl EffectStore for MemoryStore {
    fn perform(&mut self, effect: &Effect, now: Timestamp) -> StorageOutcome {
        MemoryStore::perform(self, effect, now)
    }

    fn model(&self) -> Option<&ReferenceStore> {
        Some(&self.model)
    }

    fn release(&mut self, board: &BoardId) {
        self.owner.release(board);
    }
}

/// What the host reports for the model's answer to an effect: the one
/// place where a store's typed refusal becomes the engine's outcome.
pub fn to_outcome(result: Result<StorageOutcome, StoreError>) -> StorageOutcome {
    match result {
        Ok(outcome) => outcome,
        Err(e) => StorageOutcome::Failed(storage_failure(&e)),
    }
}

/// One host on the reference model, with fault injection.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    model: ReferenceStore,
    owner: Owner,
    /// When set, `LoadBoard` of a board the store does not hold answers
    /// `NotFound` instead of an empty board.
    pub strict: bool,
    /// Events handed to loads: this many of the log's tail (at least those
    /// after the flushed state). Default (0) means the contract's 1000.
    pub load_tail: usize,
    /// Batch records handed to loads: each user's last this-many batches
    /// (from the whole log). Default (0) means the contract's 1024.
    pub batch_window: usize,
    /// Fail the next this-many effects (with `fail_kind`).
    pub fail_next: u32,
    /// Fail every effect while set (with `fail_kind`).
    pub fail_all: bool,
    /// The kind of the failures `fail_next` and `fail_all` inject
    /// (transient by default).
    pub fail_kind: FailureKind,
    /// Boards another owner holds: every effect for them fails fenced.
    pub fenced: BTreeSet<BoardId>,
    /// Effects performed (including failed ones).
    pub calls: u64,
    /// The model's refusals, oldest first (fenced writes, gaps...).
    pub refusals: Vec<StoreError>,
}

impl MemoryStore {
    /// The model (every board, room and record stored).
    pub fn model(&self) -> &ReferenceStore {
        &self.model
    }

    /// The boards the model has a record of.
    pub fn boards(&self) -> &BTreeMap<BoardId, BoardRecord> {
        self.model.boards()
    }

    /// The user session record with this id, if stored.
    pub fn user_session(&self, id: UserSessionId) -> Option<&UserSessionRecord> {
        self.model.user_session(id)
    }

    /// This host's ownership epochs.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Forgets every epoch (the host restarted: it loads boards again).
    pub fn forget_epochs(&mut self) {
        self.owner.clear();
    }

    /// The load shape the knobs ask for.
    fn shape(&self) -> LoadShape {
        shape_of(self.load_tail, self.batch_window)
    }

    /// Performs an effect (or fails it, if a fault is armed).
    pub fn perform(&mut self, effect: &Effect, now: Timestamp) -> StorageOutcome {
        let _ = now;
        self.calls += 1;
        if self.fenced.contains(effect.board()) {
            return StorageOutcome::fenced(format!("board {} is owned elsewhere", effect.board()));
        }
        if self.fail_all {
            return StorageOutcome::Failed(StorageFailure::new(
                self.fail_kind,
                "store unavailable",
            ));
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return StorageOutcome::Failed(StorageFailure::new(self.fail_kind, "injected failure"));
        }
        let unknown = if self.strict {
            UnknownBoard::NotFound
        } else {
            UnknownBoard::CreateEmpty
        };
        let shape = self.shape();
        let result = self.owner.perform(&mut self.model, effect, unknown, shape);
        if let Err(e) = &result {
            self.refusals.push(e.clone());
        }
        to_outcome(result)
    }

    /// Creates a room of a type (as `POST /rooms` would); a room that
    /// exists keeps its type.
    pub fn create_room(&mut self, board: &str, kind: SessionType) {
        let room = Room {
            id: board.into(),
            name: board.into(),
            session_type: kind,
            created_at: crate::T0,
        };
        // Taken ids keep their room, as the contract says.
        let _ = self.model.create_room(room);
    }
}

/// A load shape from the harness's knobs (0 means the contract's value).
pub(crate) fn shape_of(load_tail: usize, batch_window: usize) -> LoadShape {
    LoadShape {
        history: if load_tail == 0 {
            LOAD_HISTORY
        } else {
            u64::try_from(load_tail).unwrap_or(u64::MAX)
        },
        batches_per_user: if batch_window == 0 {
            LoadShape::CONTRACT.batches_per_user
        } else {
            batch_window
        },
        // A window set by count is by count only.
        batch_max_age: if batch_window == 0 {
            LoadShape::CONTRACT.batch_max_age
        } else {
            std::time::Duration::ZERO
        },
    }
}
