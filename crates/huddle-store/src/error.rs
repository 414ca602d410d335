//! The one error type of every store operation.

use huddle_core::{BoardId, BoardOwner};

use crate::epoch::Epoch;

/// Why a store operation failed. A failed write has written nothing
/// (except [`StoreError::Injected`] from a "lost confirmation" fault, which
/// models exactly the case where the caller cannot know).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create_room` for an id that already exists; the stored room is
    /// unchanged.
    #[error("room {0} already exists")]
    RoomExists(BoardId),
    /// The write carried an epoch that is not the board's current one: a
    /// newer owner has acquired the board (or this one never did).
    #[error(
        "board {board}: epoch {presented} is fenced off (the current owner holds epoch {current})"
    )]
    Fenced {
        /// The board.
        board: BoardId,
        /// The epoch the write carried.
        presented: Epoch,
        /// The board's current epoch in the store.
        current: Epoch,
    },
    /// `acquire_board` while another node's lease on the board runs; the
    /// board is unchanged.
    #[error("board {board} is owned by node {} ({})", owner.node, owner.url)]
    OwnedElsewhere {
        /// The board.
        board: BoardId,
        /// The node whose lease runs.
        owner: BoardOwner,
    },
    /// The write carried the board's current epoch, but its lease has
    /// expired or was released: the writer no longer owns the board.
    #[error("board {board}: the lease of epoch {epoch} has expired or was released")]
    LeaseExpired {
        /// The board.
        board: BoardId,
        /// The epoch the write carried.
        epoch: Epoch,
    },
    /// The host performing an effect never acquired the board (it did not
    /// load it), so it has no epoch to write with.
    #[error("board {0}: this host has not acquired the board (load it first)")]
    NotAcquired(BoardId),
    /// An append would leave a gap in the board's log.
    #[error("board {board}: the log ends at {log_end}, an append cannot start at {first}")]
    Gap {
        /// The board.
        board: BoardId,
        /// The last stored sequence.
        log_end: u64,
        /// The first sequence of the append that is not already stored.
        first: u64,
    },
    /// A flush starts after the stored state's watermark: the changes in
    /// between would be missing from the board state.
    #[error(
        "board {board}: the state is as of {pages_sequence}, a flush cannot start at {first_seq}"
    )]
    FlushGap {
        /// The board.
        board: BoardId,
        /// The stored state's watermark.
        pages_sequence: u64,
        /// The flush's first sequence.
        first_seq: u64,
    },
    /// A flush reaches past the end of the log: board state would get ahead
    /// of the durable events.
    #[error(
        "board {board}: a flush through {through} is ahead of the log, which ends at {log_end}"
    )]
    FlushAhead {
        /// The board.
        board: BoardId,
        /// The flush's watermark.
        through: u64,
        /// The last stored sequence.
        log_end: u64,
    },
    /// The request itself is malformed (a batch that is not contiguous, a
    /// sequence of 0, a number too large for the store); nothing was written.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Stored data could not be decoded or is inconsistent.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The backend failed (IO, connection, shut down); retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A fault injected by [`crate::Faulty`].
    #[error("injected fault: {0}")]
    Injected(&'static str),
}

impl StoreError {
    /// True if the same request may succeed later (the backend was
    /// unavailable or a fault was injected). Fencing, gaps, invalid requests
    /// and corruption do not go away by retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Injected(_))
    }
}
