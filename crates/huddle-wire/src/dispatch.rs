//! Turning decoded client messages into engine calls: the part of a host
//! that every transport shares.

use super::{ClientMessage, ServerMessage};
use huddle_core::Engine;
use huddle_core::ErrorCode;
use huddle_core::JoinRequest;
use huddle_core::SessionType;
use huddle_core::Timestamp;
use huddle_core::{BoardId, ConnId, UserId};

/// Who is on a connection, as the host authenticated it (the reference
/// server reads it from the JWT). Build it with [`Identity::new`] and the
/// setters; it is `#[non_exhaustive]`, so that what a host can say about
/// a connection can grow without breaking it.
///
/// ```
/// use huddle_core::SessionType;
/// use huddle_wire::Identity;
///
/// let anywhere = Identity::new("alice", "Alice");
/// assert_eq!(anywhere.board, None);
/// let scoped = Identity::new("alice", "Alice")
///     .board("board-1")
///     .session_type(SessionType::Persistent);
/// assert_eq!(scoped.board.as_ref().map(|b| b.as_str()), Some("board-1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The user.
    pub user: UserId,
    /// Their display name.
    pub display_name: String,
    /// The only board this connection may join (`None`, the default: any
    /// board).
    pub board: Option<BoardId>,
    /// The session type a board opened by this connection gets if the store
    /// does not know it (`None`, the default: the engine's
    /// [`default_session_type`](huddle_core::Config::default_session_type)).
    pub session_type: Option<SessionType>,
}

impl Identity {
    /// `user`, shown as `display_name`, allowed on any board.
    pub fn new(user: impl Into<UserId>, display_name: impl Into<String>) -> Self {
        Identity {
            user: user.into(),
            display_name: display_name.into(),
            board: None,
            session_type: None,
        }
    }

    /// Scopes the connection to one board: a `join` of another is refused
    /// (`UNAUTHORIZED`).
    #[must_use]
    pub fn board(mut self, board: impl Into<BoardId>) -> Self {
        self.board = Some(board.into());
        self
    }

    /// Sets the session type a board opened by this connection gets if the
    /// store does not know it.
    #[must_use]
    pub fn session_type(mut self, kind: SessionType) -> Self {
        self.session_type = Some(kind);
        self
    }
}

/// Applies one client message to the engine for `conn`.
///
/// Returns the `error` to send back at once when the engine (or the
/// identity's board scope) refuses the message; everything else the
/// connection is told arrives through [`Engine::poll_output`]. A refused
/// message changes nothing.
pub fn dispatch(
    engine: &mut Engine,
    now: Timestamp,
    conn: ConnId,
    identity: &Identity,
    message: ClientMessage,
) -> Option<ServerMessage> {
    let refuse = |code: ErrorCode, message: String| Some(ServerMessage::error(code, message, None));
    match message {
        ClientMessage::Join {
            board,
            last_sequence,
        } => {
            if identity
                .board
                .as_ref()
                .is_some_and(|allowed| *allowed != board)
            {
                return refuse(
                    ErrorCode::Unauthorized,
                    format!("this token is not valid for board {board}"),
                );
            }
            let mut request =
                JoinRequest::new(board, identity.user.clone(), &identity.display_name);
            if let Some(seq) = last_sequence {
                request = request.last_sequence(seq);
            }
            if let Some(kind) = identity.session_type {
                request = request.session_type(kind);
            }
            engine
                .join(now, conn, request)
                .err()
                .and_then(|e| refuse(e.code(), e.to_string()))
        }
        ClientMessage::Mutate { batch, mutations } => {
            match engine.apply_mutations(now, conn, batch.clone(), mutations) {
                Ok(_) => None,
                Err(e) => Some(ServerMessage::error(e.code(), e.to_string(), Some(batch))),
            }
        }
        ClientMessage::Cursor { x, y } => engine
            .update_presence(now, conn, x, y)
            .err()
            .and_then(|e| refuse(e.code(), e.to_string())),
        ClientMessage::Snapshot => engine
            .request_snapshot(now, conn)
            .err()
            .and_then(|e| refuse(e.code(), e.to_string())),
        ClientMessage::Leave => engine
            .leave(now, conn)
            .err()
            .and_then(|e| refuse(e.code(), e.to_string())),
        ClientMessage::Ping => {
            engine.ping(now, conn);
            None
        }
    }
}
