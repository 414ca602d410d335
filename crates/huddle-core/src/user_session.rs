//! User sessions: one join of one user to one board.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{BoardId, ConnId, UserId, UserSessionId};
use crate::time::Timestamp;

/// A user session's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSessionStatus {
    /// Live.
    Active,
    /// Left or disconnected.
    Ended,
    /// Timed out for inactivity.
    Timeout,
}

/// The record of a user session, as the host may store it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSessionRecord {
    /// Its id.
    pub id: UserSessionId,
    /// The board.
    pub board_id: BoardId,
    /// The user.
    pub user_id: UserId,
    /// The connection it runs on.
    pub conn: ConnId,
    /// When it joined.
    pub started_at: Timestamp,
    /// The last mutation, presence update or snapshot request.
    pub last_activity: Timestamp,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// Its status.
    pub status: UserSessionStatus,
    /// What the host said about the client (user agent, address...).
    pub client_info: Option<Arc<str>>,
}
