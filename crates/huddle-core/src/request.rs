//! What a client asks for when it joins.

use std::sync::Arc;

use crate::config::SessionType;
use crate::ids::{BoardId, UserId};

/// A join: `join(board, user, display_name, last_sequence?, session_type?)`.
/// Build it with [`JoinRequest::new`] and the setters; it is
/// `#[non_exhaustive]`, so that a join can learn more without breaking a
/// host.
///
/// ```
/// use huddle_core::{JoinRequest, SessionType};
///
/// let rejoin = JoinRequest::new("board-1", "alice", "Alice")
///     .last_sequence(41)
///     .session_type(SessionType::Persistent);
/// assert_eq!(rejoin.last_sequence, Some(41));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinRequest {
    /// The board.
    pub board: BoardId,
    /// The user (authenticated by the host).
    pub user: UserId,
    /// Shown to the other participants.
    pub display_name: Arc<str>,
    /// The last sequence the client has, for a delta sync.
    pub last_sequence: Option<u64>,
    /// The session type if this join opens the session and the store does
    /// not know the room's type.
    pub session_type: Option<SessionType>,
    /// Host-supplied client description, kept in the user session record.
    pub client_info: Option<Arc<str>>,
}

impl JoinRequest {
    /// A first join (full sync), default session type, no client info.
    pub fn new(board: impl Into<BoardId>, user: impl Into<UserId>, display_name: &str) -> Self {
        JoinRequest {
            board: board.into(),
            user: user.into(),
            display_name: display_name.into(),
            last_sequence: None,
            session_type: None,
            client_info: None,
        }
    }

    /// Asks for a delta from `seq`.
    pub fn last_sequence(mut self, seq: u64) -> Self {
        self.last_sequence = Some(seq);
        self
    }

    /// Sets the session type.
    pub fn session_type(mut self, kind: SessionType) -> Self {
        self.session_type = Some(kind);
        self
    }

    /// Sets the client info.
    pub fn client_info(mut self, info: &str) -> Self {
        self.client_info = Some(info.into());
        self
    }
}
