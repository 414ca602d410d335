//! The records a store holds, and the write requests it takes.

use std::sync::Arc;

use huddle_core::{
    BoardId, Event, FlushBatch, SessionType, SnapshotCause, SnapshotId, Timestamp, UserId,
    UserSessionStatus,
};

use crate::epoch::Epoch;

/// A room: what `POST /rooms` creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    /// The board id (the room's id).
    pub id: BoardId,
    /// Its display name.
    pub name: String,
    /// Ephemeral or persistent.
    pub session_type: SessionType,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Events to append to one board's log: one entry of a group commit.
#[derive(Clone, Debug, PartialEq)]
pub struct AppendBatch {
    /// The board.
    pub board: BoardId,
    /// The writer's ownership epoch.
    pub epoch: Epoch,
    /// Contiguous, ascending events (shared with the engine's effect).
    pub events: Arc<[Event]>,
}

/// A flush: the board state as of `batch.through`, written atomically.
#[derive(Clone, Debug, PartialEq)]
pub struct FlushWrite {
    /// The board.
    pub board: BoardId,
    /// The writer's ownership epoch.
    pub epoch: Epoch,
    /// The engine's flush batch.
    pub batch: Arc<FlushBatch>,
}

/// What [`crate::Store::board_summary`] says about a board, without
/// loading it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoardSummary {
    /// The last sequence stored: the log's end, or the flushed state's
    /// sequence if that is later.
    pub sequence: u64,
    /// Snapshots held.
    pub snapshots: usize,
}

impl BoardSummary {
    /// The summary of a loaded board (what the default
    /// [`crate::Store::board_summary`] answers).
    pub fn of(loaded: &huddle_core::LoadedBoard) -> Self {
        BoardSummary {
            sequence: loaded
                .events
                .last()
                .map_or(0, |e| e.seq)
                .max(loaded.pages_sequence),
            snapshots: loaded.snapshot_count,
        }
    }
}

/// What [`crate::Store::list_snapshots`] says about a stored snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The store's id for it.
    pub id: SnapshotId,
    /// The board.
    pub board: BoardId,
    /// The sequence it reflects.
    pub version: u64,
    /// When it was taken.
    pub created_at: Timestamp,
    /// Why.
    pub created_by: SnapshotCause,
    /// How many elements it holds.
    pub elements: usize,
}

/// Which user session records to list (each is an index in the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionIndex {
    /// All sessions of a board.
    Board(BoardId),
    /// All sessions of a user.
    User(UserId),
    /// All sessions with a status.
    Status(UserSessionStatus),
}
