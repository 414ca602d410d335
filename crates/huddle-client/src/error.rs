//! The client's typed errors. A refused call changes nothing.

use core::time::Duration;

use thiserror::Error;

use huddle_core::BoardId;

/// Why a client call was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A batch must hold at least one mutation.
    #[error("a batch needs at least one mutation")]
    EmptyBatch,
    /// More mutations than `max_batch_len`.
    #[error("batch of {len} mutations is over the limit of {max}")]
    BatchTooLong {
        /// The batch's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An upsert's data is not one JSON value (the wire carries JSON).
    #[error("mutation {index} has data that is not JSON")]
    DataNotJson {
        /// Its index in the batch.
        index: usize,
    },
    /// The unacknowledged work would exceed `max_unacked_mutations`.
    #[error("offline queue full: {held} mutations held, limit {limit}")]
    QueueFull {
        /// Mutations held now.
        held: usize,
        /// The limit.
        limit: usize,
    },
    /// Presence and snapshot requests need a live connection; they are
    /// never queued.
    #[error("not connected")]
    NotConnected,
    /// A cursor coordinate is not finite.
    #[error("cursor coordinates must be finite")]
    InvalidCoordinate,
    /// `connect` while already connected or connecting.
    #[error("already connected or connecting")]
    AlreadyActive,
    /// `provide_credentials` when no attempt waits for them.
    #[error("no attempt is waiting for credentials")]
    NoCredentialsRequested,
    /// The batch counter is at its end (only after importing recovery data
    /// with a corrupt `next_batch`): a new batch id could repeat an old one,
    /// which the server would take for a retry. Start a new `Client`
    /// without that recovery data.
    #[error("batch ids are exhausted for this client id")]
    BatchIdsExhausted,
}

/// Why recovery data was refused (nothing was imported).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// Older than `recovery_max_age`.
    #[error("recovery data is stale ({age:?} old, limit {max_age:?})")]
    Stale {
        /// Its age.
        age: Duration,
        /// The limit.
        max_age: Duration,
    },
    /// It belongs to another board.
    #[error("recovery data is for board {found}, this client is for {expected}")]
    WrongBoard {
        /// This client's board.
        expected: BoardId,
        /// The data's board.
        found: BoardId,
    },
    /// The client already holds unacknowledged work (import into a fresh
    /// client, before new mutations).
    #[error("the client already holds unacknowledged work")]
    NotEmpty,
    /// It would exceed `max_unacked_mutations`.
    #[error("recovery data holds {held} mutations, over the limit of {limit}")]
    TooLarge {
        /// Mutations in the data.
        held: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not recovery data of a supported format.
    #[error("malformed recovery data: {0}")]
    Malformed(String),
}
