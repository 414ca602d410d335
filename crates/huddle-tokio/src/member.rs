//! [`Member`]: who a new connection is, and the one board it may join:
//! what [`Driver::connect`](crate::Driver::connect) takes. The board is
//! required by construction (it picks the connection's shard).

use huddle_core::{BoardId, SessionType, UserId};
use huddle_wire::Identity;

use crate::error::DriverError;

/// A user on one board, as the host authenticated them. Build it with
/// [`Member::new`] and the setters; it is `#[non_exhaustive]`, so that
/// what a host can say about a member can grow without breaking it.
///
/// ```
/// use huddle_core::SessionType;
/// use huddle_tokio::Member;
///
/// let member = Member::new("board-1", "alice", "Alice").session_type(SessionType::Persistent);
/// assert_eq!(member.board.as_str(), "board-1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// The only board the connection may `join` (it decides the shard).
    pub board: BoardId,
    /// The user.
    pub user: UserId,
    /// Their display name.
    pub display_name: String,
    /// The session type the board gets if the store does not know it
    /// (`None`: the engine's default; a stored room's type always wins).
    pub session_type: Option<SessionType>,
}

impl Member {
    /// `user`, shown as `display_name`, on `board`.
    pub fn new(
        board: impl Into<BoardId>,
        user: impl Into<UserId>,
        display_name: impl Into<String>,
    ) -> Self {
        Member {
            board: board.into(),
            user: user.into(),
            display_name: display_name.into(),
            session_type: None,
        }
    }

    /// Sets the session type a board opened by this connection gets if the
    /// store does not know it.
    pub fn session_type(mut self, kind: SessionType) -> Self {
        self.session_type = Some(kind);
        self
    }
}

/// The wire's identity, scoped to the member's board.
impl From<Member> for Identity {
    fn from(member: Member) -> Self {
        let mut identity = Identity::new(member.user, member.display_name).board(member.board);
        identity.session_type = member.session_type;
        identity
    }
}

/// A wire identity that names its board; [`DriverError::NoBoard`]
/// otherwise.
impl TryFrom<Identity> for Member {
    type Error = DriverError;

    fn try_from(identity: Identity) -> Result<Self, DriverError> {
        Ok(Member {
            board: identity.board.ok_or(DriverError::NoBoard)?,
            user: identity.user,
            display_name: identity.display_name,
            session_type: identity.session_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_an_identity_scoped_to_its_board_and_back() {
        let member = Member::new("b", "u", "U").session_type(SessionType::Persistent);
        let identity = Identity::from(member.clone());
        assert_eq!(identity.board, Some(BoardId::from("b")));
        assert_eq!(Member::try_from(identity), Ok(member));
        let unscoped = Identity::new("u", "U");
        assert_eq!(Member::try_from(unscoped), Err(DriverError::NoBoard));
    }
}
