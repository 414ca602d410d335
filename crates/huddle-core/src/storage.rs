//! The effect/confirm contract with the host's storage.
//!
//! The engine never performs IO. When it needs the store it emits an
//! [`Effect`] through [`crate::Output::Effect`]; the host performs it and
//! reports exactly one [`StorageOutcome`] for it, with the same
//! [`EffectId`], to [`crate::Engine::handle_storage`]. Nothing counts as
//! stored before that. A failed effect carries a [`StorageFailure`] whose
//! kind decides what happens: a transient failure is retried by the engine
//! (with backoff), a fenced one ends the board's session (another host owns
//! the board now), an invalid one is not retried (see
//! [`crate::FailureKind`]). No failure loses acknowledged data: nothing is
//! acknowledged before it is stored.
//!
//! When a board session has ended and every effect issued for it has been
//! reported, the engine emits [`crate::Output::Released`]: the host may then
//! drop what it holds for the board (its ownership epoch).
//!
//! What a store must guarantee:
//! - `AppendEvents` is durable when confirmed `Stored`. Appends of one board
//!   are issued in sequence order, at most
//!   [`Config::appends_in_flight`](crate::Config::appends_in_flight) at a
//!   time (one by default). A store applies them in the order issued, or
//!   refuses one that would leave a gap in the log (it writes nothing; the
//!   engine re-sends it after the earlier ones). After a failure the same
//!   events may be appended again: a store must accept events it already
//!   holds (same board and sequence) as a success.
//! - `Flush` writes the board state as of `through` atomically.
//! - `LoadBoard` returns state and log consistent with each other (see
//!   [`LoadedBoard`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use core::time::Duration;

use crate::config::SessionType;
use crate::digest::BatchDigest;
use crate::failure::StorageFailure;
use crate::ids::{BatchId, BoardId, EffectId, ElementId, PageId, SnapshotId, UserId};
use crate::mutation::{Event, Mutation, Payload};
use crate::pages::Pages;
use crate::time::Timestamp;
use crate::user_session::UserSessionRecord;

/// Storage work for the host.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Load a board: answer with [`StorageOutcome::Loaded`] or
    /// [`StorageOutcome::NotFound`]. Joins wait for it.
    LoadBoard {
        /// The effect's id.
        id: EffectId,
        /// The board.
        board: BoardId,
    },
    /// Append events to the board's log (contiguous, ascending sequence).
    AppendEvents {
        /// The effect's id.
        id: EffectId,
        /// The board.
        board: BoardId,
        /// The events, shared with the engine's history.
        events: Arc<[Event]>,
    },
    /// Write the board state: the last write of every element changed in
    /// the sequence range, grouped by page.
    Flush {
        /// The effect's id.
        id: EffectId,
        /// The board.
        board: BoardId,
        /// What to write.
        batch: Arc<FlushBatch>,
    },
    /// Store a snapshot; answer with [`StorageOutcome::SnapshotStored`].
    StoreSnapshot {
        /// The effect's id.
        id: EffectId,
        /// The snapshot.
        snapshot: Arc<Snapshot>,
    },
    /// Delete all but the newest `keep_last` snapshots of the board.
    PruneSnapshots {
        /// The effect's id.
        id: EffectId,
        /// The board.
        board: BoardId,
        /// How many to keep.
        keep_last: usize,
    },
    /// Insert or replace (by id) a user session record (only with
    /// [`Config::store_user_sessions`](crate::Config::store_user_sessions));
    /// answer with [`StorageOutcome::Stored`]. Of one user session at most
    /// one record is in flight at a time, so a later record (its end) is
    /// never overwritten by an earlier one (its start).
    StoreUserSession {
        /// The effect's id.
        id: EffectId,
        /// The record, written under the epoch held for its board.
        record: Arc<UserSessionRecord>,
    },
}

impl StorageOutcome {
    /// A transient failure (retried with backoff).
    pub fn transient(message: impl Into<String>) -> Self {
        StorageOutcome::Failed(StorageFailure::transient(message))
    }

    /// A fenced failure (another owner holds the board).
    pub fn fenced(message: impl Into<String>) -> Self {
        StorageOutcome::Failed(StorageFailure::fenced(message))
    }

    /// An invalid-request or corrupt-data failure (not retried).
    pub fn invalid(message: impl Into<String>) -> Self {
        StorageOutcome::Failed(StorageFailure::invalid(message))
    }
}

impl Effect {
    /// The effect's id.
    pub fn id(&self) -> EffectId {
        match self {
            Effect::LoadBoard { id, .. }
            | Effect::AppendEvents { id, .. }
            | Effect::Flush { id, .. }
            | Effect::StoreSnapshot { id, .. }
            | Effect::PruneSnapshots { id, .. }
            | Effect::StoreUserSession { id, .. } => *id,
        }
    }

    /// The board the effect is about.
    pub fn board(&self) -> &BoardId {
        match self {
            Effect::LoadBoard { board, .. }
            | Effect::AppendEvents { board, .. }
            | Effect::Flush { board, .. }
            | Effect::PruneSnapshots { board, .. } => board,
            Effect::StoreSnapshot { snapshot, .. } => &snapshot.board,
            Effect::StoreUserSession { record, .. } => &record.board_id,
        }
    }
}

/// What the host reports for an effect.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StorageOutcome {
    /// The board was loaded (answer to `LoadBoard`).
    Loaded(Box<LoadedBoard>),
    /// The store has no such board (answer to `LoadBoard`). Waiting joins
    /// get `BOARD_NOT_FOUND`. A host that creates boards on first use answers
    /// [`LoadedBoard::empty`] instead.
    NotFound,
    /// The work is durably stored (answer to `AppendEvents`, `Flush`,
    /// `PruneSnapshots`, `StoreUserSession`).
    Stored,
    /// The snapshot is stored under this id (answer to `StoreSnapshot`).
    SnapshotStored(SnapshotId),
    /// Another node holds the board's lease (answer to `LoadBoard` in a
    /// cluster): this host must not serve the board. Its waiting joins are
    /// told where the board is served.
    OwnedElsewhere(BoardOwner),
    /// The work failed; nothing of it may be assumed stored. The failure's
    /// kind decides whether the engine retries (see [`crate::FailureKind`]).
    Failed(StorageFailure),
}

/// The node that holds a board's lease, as the store knows it: where a
/// host that does not own a board sends the board's joins.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BoardOwner {
    /// The owner's node id (unique in the cluster).
    pub node: String,
    /// The URL at which clients reach the owner's WebSocket endpoint.
    pub url: String,
}

/// A board as the store holds it.
///
/// `pages` is the state as of `pages_sequence` (the last flush). `events`
/// is a contiguous, ascending run of the log that reaches at least from
/// `pages_sequence + 1` to the log's end (the events not yet flushed), and
/// preferably starts earlier, so that delta sync keeps working after a
/// reload: the engine replays the events after `pages_sequence` onto the
/// pages (they become pending again) and keeps the last `history_len` for
/// delta sync. The board's sequence is the last event's, or
/// `pages_sequence` if there are none after it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadedBoard {
    /// The room's stored type, if the store knows it; else the joiner's.
    pub session_type: Option<SessionType>,
    /// Elements as of `pages_sequence`.
    pub pages: Pages,
    /// The sequence the pages reflect.
    pub pages_sequence: u64,
    /// The tail of the event log (see above).
    pub events: Vec<Event>,
    /// How many snapshots the store holds for this board.
    pub snapshot_count: usize,
    /// The version of the newest stored snapshot, if any.
    pub last_snapshot_version: Option<u64>,
    /// The recent batches of the board (every batch of the idempotency
    /// window: see [`BatchRecord::recent`]), with their digests, so that a
    /// batch re-sent after a restart is recognised even when its events are
    /// older than `events` reaches. May be empty (then only batches within
    /// `events` are recognised, without their content); order does not
    /// matter. A record beyond the board's sequence makes the load
    /// inconsistent.
    #[serde(default)]
    pub batches: Vec<BatchRecord>,
}

/// A batch the log holds: who sent it, its id, its last sequence, its
/// content digest and when it was applied.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BatchRecord {
    /// The author.
    pub user: UserId,
    /// The client's batch id.
    pub batch: BatchId,
    /// The sequence of its last mutation.
    pub last_seq: u64,
    /// The digest of its mutations ([`BatchDigest::of`]); `None` when the
    /// store does not know it (a record written before digests were): a
    /// re-send of that batch id is then acknowledged whatever its content.
    #[serde(default)]
    pub digest: Option<BatchDigest>,
    /// When it was applied (its events' `at`).
    #[serde(default)]
    pub at: Timestamp,
}

impl BatchRecord {
    /// The batches a load hands the engine, from a log read newest first:
    /// every batch applied less than `max_age` before the log's newest
    /// event, and each user's `per_user` most recent ones whatever their
    /// age; ordered by last sequence, oldest first. Each batch's digest is
    /// computed from its events as read, so the log must hold every event
    /// of the batches it reaches (a whole log, or one that starts at a
    /// batch boundary). What a store hands a load in
    /// [`LoadedBoard::batches`].
    pub fn recent<'a>(
        newest_first: impl IntoIterator<Item = &'a Event>,
        per_user: usize,
        max_age: Duration,
    ) -> Vec<Self> {
        let mut seen: HashMap<&UserId, HashSet<&BatchId>> = HashMap::new();
        let mut out: Vec<BatchRecord> = Vec::new();
        let mut cutoff = None;
        // The events of the batch being read, newest first.
        let mut run: Vec<&Event> = Vec::new();
        let mut flush = |run: &mut Vec<&'a Event>, out: &mut Vec<BatchRecord>| {
            let Some(last) = run.first() else {
                return;
            };
            let cutoff: Timestamp = *cutoff.get_or_insert(last.at.saturating_sub(max_age));
            let batches = seen.entry(&last.author).or_default();
            let wanted = batches.len() < per_user || last.at > cutoff;
            if wanted && batches.insert(&last.batch) {
                out.push(BatchRecord {
                    user: last.author.clone(),
                    batch: last.batch.clone(),
                    last_seq: last.seq,
                    digest: Some(BatchDigest::of_events(run.iter().rev().copied())),
                    at: last.at,
                });
            }
            run.clear();
        };
        for e in newest_first {
            let same = run.last().is_some_and(|r| {
                r.author == e.author && r.batch == e.batch && r.at == e.at && r.seq == e.seq + 1
            });
            if !same {
                flush(&mut run, &mut out);
            }
            run.push(e);
        }
        flush(&mut run, &mut out);
        out.reverse();
        out
    }
}

impl LoadedBoard {
    /// A board with nothing stored yet.
    pub fn empty() -> Self {
        LoadedBoard::default()
    }
}

/// The changes of one page in a flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageChanges {
    /// Elements to write, with their data.
    pub upserts: Vec<(ElementId, Payload)>,
    /// Elements to remove.
    pub deletes: Vec<ElementId>,
}

/// Everything pending since the last flush, grouped by page, with only the
/// last write per element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlushBatch {
    /// First sequence covered (the one after the previous flush).
    pub first_seq: u64,
    /// Last sequence covered: after this flush the stored board state is as
    /// of `through`.
    pub through: u64,
    /// Changes by page.
    pub pages: IndexMap<PageId, PageChanges>,
    /// The batches whose last event the flush covers, with their digests:
    /// a store keeps them as its batch records (see [`LoadedBoard::batches`]).
    pub batches: Vec<BatchRecord>,
}

impl FlushBatch {
    /// Applies the changes to `pages` (a store's board state).
    pub fn apply_to(&self, pages: &mut Pages) {
        for (page, changes) in &self.pages {
            for (element, data) in &changes.upserts {
                pages.apply(&Mutation::Upsert {
                    page: page.clone(),
                    element: element.clone(),
                    data: data.clone(),
                });
            }
            for element in &changes.deletes {
                pages.apply(&Mutation::Delete {
                    page: page.clone(),
                    element: element.clone(),
                });
            }
        }
    }
}

/// Why a snapshot was taken (`created_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SnapshotCause {
    /// The periodic auto-save.
    #[serde(rename = "auto-save")]
    AutoSave,
    /// A participant left.
    #[serde(rename = "on-disconnect")]
    OnDisconnect,
    /// Someone asked for it.
    #[serde(rename = "manual")]
    Manual,
    /// A persistent session was archived.
    #[serde(rename = "archive")]
    Archive,
}

impl SnapshotCause {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotCause::AutoSave => "auto-save",
            SnapshotCause::OnDisconnect => "on-disconnect",
            SnapshotCause::Manual => "manual",
            SnapshotCause::Archive => "archive",
        }
    }
}

/// A whole board at one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The board.
    pub board: BoardId,
    /// The sequence it reflects.
    pub version: u64,
    /// All elements of all pages.
    pub pages: Pages,
    /// When it was taken.
    pub created_at: Timestamp,
    /// Why.
    pub created_by: SnapshotCause,
}
