//! Typed errors. Every rejected input returns one of these and changes
//! nothing. Each error maps to a wire [`ErrorCode`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{BoardId, EffectId};

/// The protocol's error codes (`code` in an `error` message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Unknown board.
    BoardNotFound,
    /// The connection has not joined a board.
    NotJoined,
    /// The user session timed out.
    SessionExpired,
    /// Malformed or inadmissible message.
    InvalidMessage,
    /// Over a size limit.
    PayloadTooLarge,
    /// Backpressure: too much work pending.
    RateLimited,
    /// The board has its maximum of participants.
    RoomFull,
    /// Bad or missing credentials.
    Unauthorized,
    /// Storage could not serve the request; retry later. (An extension of
    /// the spec's list: a failed board load must give a retryable error.)
    Unavailable,
    /// The connection read its frames too slowly: its outbound queue
    /// filled up and the host closed it (an extension of the spec's list;
    /// the tokio driver sends it before closing with 1008, and a client
    /// reconnects and re-syncs).
    SlowConsumer,
    /// Element `data` nested deeper than the host's limit (an extension of
    /// the spec's list: the engine keeps `data` opaque, the wire decoder
    /// measures it).
    DataTooDeep,
    /// A batch id the user already used for a batch with other content: the
    /// first batch stands, this one is not applied (an extension of the
    /// spec's list; see `docs/decisions.md`, idempotent batches).
    BatchIdReused,
    /// A manual snapshot was asked for although the board has not changed
    /// since its newest snapshot (stored or being stored): there is nothing
    /// new to store (an extension of the spec's list).
    SnapshotUnchanged,
    /// A batch could grow the board beyond `Limits::max_board_bytes`: it
    /// is not applied (an extension of the spec's list). Deleting elements
    /// or writing smaller data makes room.
    BoardTooLarge,
    /// A manual snapshot was asked for although the board is larger than
    /// `Limits::max_snapshot_bytes` (an extension of the spec's list).
    SnapshotTooLarge,
}

impl ErrorCode {
    /// The wire form, e.g. `"BOARD_NOT_FOUND"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BoardNotFound => "BOARD_NOT_FOUND",
            ErrorCode::NotJoined => "NOT_JOINED",
            ErrorCode::SessionExpired => "SESSION_EXPIRED",
            ErrorCode::InvalidMessage => "INVALID_MESSAGE",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::RoomFull => "ROOM_FULL",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::SlowConsumer => "SLOW_CONSUMER",
            ErrorCode::DataTooDeep => "DATA_TOO_DEEP",
            ErrorCode::BatchIdReused => "BATCH_ID_REUSED",
            ErrorCode::SnapshotUnchanged => "SNAPSHOT_UNCHANGED",
            ErrorCode::BoardTooLarge => "BOARD_TOO_LARGE",
            ErrorCode::SnapshotTooLarge => "SNAPSHOT_TOO_LARGE",
        }
    }

    /// Whether the same request may succeed if sent again later unchanged.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::RateLimited | ErrorCode::Unavailable)
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which id or field of a request was malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The board id.
    Board,
    /// The user id.
    User,
    /// The display name.
    DisplayName,
    /// A page id.
    Page,
    /// An element id.
    Element,
    /// The batch id.
    Batch,
    /// A cursor coordinate.
    Coordinate,
}

/// Why [`crate::Engine::join`] refused, or why a waiting join failed later.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The connection already holds a user session (or a join in progress).
    #[error("this connection has already joined board {0}")]
    AlreadyJoined(BoardId),
    /// An id or the display name is empty, too long or holds a control
    /// character ([`crate::check_text`]).
    #[error("invalid {0:?}: empty, longer than the limit or with control characters")]
    InvalidField(Field),
    /// The board session has its maximum of participants.
    #[error("board {board} is full ({max} participants)")]
    RoomFull {
        /// The board.
        board: BoardId,
        /// The limit.
        max: usize,
    },
    /// The store knows no such board.
    #[error("board {0} not found")]
    BoardNotFound(BoardId),
    /// The board's stored state could not be loaded; retry later.
    #[error("board {board} could not be loaded: {reason}")]
    LoadFailed {
        /// The board.
        board: BoardId,
        /// What the store or the engine's validation said.
        reason: String,
    },
    /// The host is shutting down ([`crate::Engine::shutdown`]): no new
    /// joins. Wire code `UNAVAILABLE`: join again later (a restarted or
    /// another host serves the board).
    #[error("the host is shutting down")]
    ShuttingDown,
    /// The board's session ended while this join waited for it because
    /// another host owns the board now. Wire code `UNAVAILABLE`: join
    /// again (routing lands on the new owner).
    #[error("board {0} is served by another host now")]
    Moved(BoardId),
}

impl JoinError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            JoinError::AlreadyJoined(_) | JoinError::InvalidField(_) => ErrorCode::InvalidMessage,
            JoinError::RoomFull { .. } => ErrorCode::RoomFull,
            JoinError::BoardNotFound(_) => ErrorCode::BoardNotFound,
            JoinError::LoadFailed { .. } | JoinError::ShuttingDown | JoinError::Moved(_) => {
                ErrorCode::Unavailable
            }
        }
    }
}

/// Why the engine refused a request from a connection that must have joined
/// (mutate, cursor, snapshot, leave).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The connection holds no user session (never joined, left, or is
    /// still waiting for its board to load).
    #[error("not joined to a board")]
    NotJoined,
    /// The connection's user session timed out for inactivity.
    #[error("the session expired after inactivity")]
    SessionExpired,
}

impl SessionError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            SessionError::NotJoined => ErrorCode::NotJoined,
            SessionError::SessionExpired => ErrorCode::SessionExpired,
        }
    }
}

/// Why [`crate::Engine::request_snapshot`] refused a manual snapshot. Nothing
/// was flushed or stored.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Not joined, or the session expired.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The board has not changed since its newest snapshot (stored or in
    /// flight), which is at `version`.
    #[error("the board has not changed since its snapshot at version {version}")]
    Unchanged {
        /// The newest snapshot's version (the board's sequence).
        version: u64,
    },
    /// The board holds more payload bytes than a snapshot may take
    /// (`Limits::max_snapshot_bytes`).
    #[error("the board holds {bytes} bytes, over the snapshot limit of {max}")]
    TooLarge {
        /// The board's payload bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A snapshot of the board is being stored; one at a time.
    #[error("a snapshot of this board is being stored; retry later")]
    InFlight,
    /// The previous manual snapshot was taken less than
    /// `manual_snapshot_interval` ago.
    #[error("a manual snapshot was taken {since:?} ago, the minimum interval is {interval:?}; retry later")]
    TooSoon {
        /// Time since the previous manual snapshot.
        since: core::time::Duration,
        /// The configured minimum interval.
        interval: core::time::Duration,
    },
}

impl SnapshotError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            SnapshotError::Session(e) => e.code(),
            SnapshotError::Unchanged { .. } => ErrorCode::SnapshotUnchanged,
            SnapshotError::TooLarge { .. } => ErrorCode::SnapshotTooLarge,
            SnapshotError::InFlight | SnapshotError::TooSoon { .. } => ErrorCode::RateLimited,
        }
    }
}

/// Why [`crate::Engine::apply_mutations`] rejected a batch. Nothing of the
/// batch was applied.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MutateError {
    /// Not joined, or the session expired.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The batch has no mutations.
    #[error("empty batch")]
    EmptyBatch,
    /// An id is empty, too long or holds a control character
    /// ([`crate::check_text`]).
    #[error("invalid {field:?} in mutation {index}: empty, longer than the limit or with control characters")]
    InvalidField {
        /// Which field.
        field: Field,
        /// Index of the offending mutation (0 for the batch id).
        index: usize,
    },
    /// More mutations than `max_batch_len`.
    #[error("batch of {len} mutations is over the limit of {max}")]
    BatchTooLong {
        /// Mutations in the batch.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A payload is larger than `max_payload_bytes`.
    #[error("mutation {index} carries {len} bytes, over the limit of {max}")]
    PayloadTooLarge {
        /// Index of the offending mutation.
        index: usize,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The board has too many mutations waiting to be stored.
    #[error("board has {pending} mutations pending (limit {max}); retry later")]
    Backpressure {
        /// Mutations pending.
        pending: u64,
        /// The limit.
        max: u64,
    },
    /// The board has too many payload bytes waiting to be stored
    /// (`Limits::max_pending_bytes`).
    #[error("board has {pending} payload bytes pending, {len} more would pass the limit of {max}; retry later")]
    PendingBytes {
        /// Payload bytes pending.
        pending: usize,
        /// The batch's payload bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The batch could grow the board beyond `Limits::max_board_bytes`.
    #[error("board holds {bytes} payload bytes (and {reserved} in batches not yet stored); this batch could add {growth}, over the limit of {max}")]
    BoardTooLarge {
        /// The board's payload bytes.
        bytes: usize,
        /// The most the batches accepted but not yet visible may add.
        reserved: usize,
        /// The most this batch could add.
        growth: usize,
        /// The limit.
        max: usize,
    },
    /// The user already sent a batch with this id and other mutations
    /// (within the idempotency window): that batch stands, this one is not
    /// applied.
    #[error("batch id already used for other mutations (applied through sequence {sequence})")]
    BatchIdReused {
        /// The last sequence of the batch that has this id.
        sequence: u64,
    },
    /// The board's sequence cannot grow by this batch (only reachable with
    /// a stored sequence near `u64::MAX`).
    #[error("the board's sequence is exhausted")]
    SequenceExhausted,
}

impl MutateError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            MutateError::Session(e) => e.code(),
            MutateError::EmptyBatch | MutateError::InvalidField { .. } => ErrorCode::InvalidMessage,
            MutateError::BatchTooLong { .. } | MutateError::PayloadTooLarge { .. } => {
                ErrorCode::PayloadTooLarge
            }
            MutateError::Backpressure { .. } | MutateError::PendingBytes { .. } => {
                ErrorCode::RateLimited
            }
            MutateError::BoardTooLarge { .. } => ErrorCode::BoardTooLarge,
            MutateError::BatchIdReused { .. } => ErrorCode::BatchIdReused,
            MutateError::SequenceExhausted => ErrorCode::Unavailable,
        }
    }
}

/// Why a presence (cursor) update was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// Not joined, or the session expired.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A coordinate is NaN or infinite.
    #[error("cursor coordinates must be finite")]
    InvalidCoordinate,
}

impl PresenceError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            PresenceError::Session(e) => e.code(),
            PresenceError::InvalidCoordinate => ErrorCode::InvalidMessage,
        }
    }
}

/// Why an operator request on a board (flush, close, snapshot) was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BoardError {
    /// No session for this board is in memory.
    #[error("no session for board {0}")]
    BoardNotFound(BoardId),
    /// The board is still loading or already closing.
    #[error("board {0} is loading or closing")]
    Busy(BoardId),
}

impl BoardError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            BoardError::BoardNotFound(_) => ErrorCode::BoardNotFound,
            BoardError::Busy(_) => ErrorCode::Unavailable,
        }
    }
}

/// Why [`crate::Engine::handle_storage`] ignored a storage outcome. The
/// engine's state is unchanged in every case.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfirmError {
    /// No effect with this id is outstanding: never issued, already
    /// reported (a duplicate), or belonging to a board that is gone.
    #[error("no outstanding effect {0:?}")]
    UnknownEffect(EffectId),
    /// The outcome does not fit the effect (e.g. `Loaded` for an append).
    #[error("outcome does not match effect {0:?}")]
    MismatchedOutcome(EffectId),
}
