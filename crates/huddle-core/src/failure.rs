//! Typed storage failures: what a host reports when an effect failed, and
//! what the engine does about it.
//!
//! The kind decides the engine's reaction, not the message:
//! - [`FailureKind::Transient`]: the same work may succeed later (the
//!   backend was unavailable, a fault was injected, an append was refused
//!   as a gap because an earlier one had not landed yet). The engine keeps
//!   the data pending and retries with backoff.
//! - [`FailureKind::Fenced`]: another owner holds the board (its ownership
//!   epoch moved on). The board's session ends at once and for good:
//!   nothing more is acknowledged, broadcast or retried, every connection
//!   gets [`Notice::SessionClosed`](crate::Notice::SessionClosed) with
//!   [`CloseReason::Moved`](crate::CloseReason::Moved) and should reconnect,
//!   landing on the new owner.
//! - [`FailureKind::Invalid`]: the request or the stored data is invalid or
//!   corrupt; retrying the same work cannot help. What the engine does
//!   depends on the effect (`docs/decisions.md`): a load fails its joins
//!   with `UNAVAILABLE`, a write to the log or the board state ends the
//!   session ([`SessionEnd::WriteFailed`](crate::SessionEnd::WriteFailed)),
//!   a snapshot, a prune or a user-session record is given up and reported.

use serde::{Deserialize, Serialize};

/// How a store failed, as far as the engine is concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// Retry later: nothing is wrong with the work itself.
    #[default]
    Transient,
    /// Another owner holds the board: this host must stop serving it.
    Fenced,
    /// Invalid request or corrupt data: retrying cannot succeed.
    Invalid,
}

/// A failed effect: its kind and what the store said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageFailure {
    /// What the engine does about it.
    pub kind: FailureKind,
    /// What the store said (for logs and for participants told of it).
    pub message: String,
}

impl StorageFailure {
    /// A failure of this kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        StorageFailure {
            kind,
            message: message.into(),
        }
    }

    /// A failure that may go away: the engine retries with backoff.
    pub fn transient(message: impl Into<String>) -> Self {
        StorageFailure::new(FailureKind::Transient, message)
    }

    /// Another owner holds the board: the session ends.
    pub fn fenced(message: impl Into<String>) -> Self {
        StorageFailure::new(FailureKind::Fenced, message)
    }

    /// Invalid request or corrupt data: no retry.
    pub fn invalid(message: impl Into<String>) -> Self {
        StorageFailure::new(FailureKind::Invalid, message)
    }

    /// Whether the engine retries the work.
    pub fn is_transient(&self) -> bool {
        self.kind == FailureKind::Transient
    }
}

impl core::fmt::Display for StorageFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = match self.kind {
            FailureKind::Transient => "transient",
            FailureKind::Fenced => "fenced",
            FailureKind::Invalid => "invalid",
        };
        write!(f, "{kind}: {}", self.message)
    }
}
