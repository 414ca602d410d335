//! `POST /rooms` and `GET /rooms/{id}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use huddle_core::{BoardBytes, BoardId, BoardOwner, SessionState, SessionType};
use huddle_store::{Room, SessionIndex, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::body::{check_text, parse_object};
use crate::error::ApiError;
use crate::state::{now, AppState};

/// Longest room name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Body of `POST /rooms`.
#[derive(Debug, Deserialize)]
pub struct CreateRoom {
    /// The room id; generated when absent.
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// `ephemeral` or `persistent`.
    pub session_type: SessionType,
}

/// Answer of `POST /rooms`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomCreated {
    /// The room id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ephemeral` or `persistent`.
    pub session_type: SessionType,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `POST /rooms`: `201` with the room, `409 CONFLICT` if the id exists.
pub async fn create<S: Store + 'static>(
    State(state): State<AppState<S>>,
    body: Bytes,
) -> Result<(StatusCode, Json<RoomCreated>), ApiError> {
    let req: CreateRoom = parse_object(&body)?;
    let max_id = state.settings.max_id_bytes;
    if let Some(id) = &req.id {
        check_text("id", id, 1, max_id)?;
    }
    check_text("name", &req.name, 0, MAX_NAME_BYTES)?;
    let created_at = now();
    // A generated id is retried once on the (astronomically unlikely) clash.
    let attempts = if req.id.is_some() { 1 } else { 2 };
    for _ in 0..attempts {
        let id = match &req.id {
            Some(id) => id.clone(),
            None => generate_id()?,
        };
        let room = Room {
            id: BoardId::from(id.as_str()),
            name: req.name.clone(),
            session_type: req.session_type,
            created_at,
        };
        match state.driver.store().create_room(room).await {
            Ok(()) => {
                tracing::info!(room = %id, kind = ?req.session_type, "room created");
                return Ok((
                    StatusCode::CREATED,
                    Json(RoomCreated {
                        id,
                        name: req.name,
                        session_type: req.session_type,
                        created_at: created_at.to_string(),
                    }),
                ));
            }
            Err(StoreError::RoomExists(_)) if req.id.is_none() => continue,
            Err(StoreError::RoomExists(id)) => {
                return Err(ApiError::conflict(format!("room {id} already exists")))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict("could not generate a free room id"))
}

fn generate_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(format!("no randomness from the OS: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// One participant in `GET /rooms/{id}`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Participant {
    /// The user.
    pub user_id: String,
    /// Their display name.
    pub display_name: String,
    /// Their colour, `#RRGGBB`.
    pub color: String,
}

/// Answer of `GET /rooms/{id}`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoomDetails {
    /// The room id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ephemeral` or `persistent`.
    pub session_type: SessionType,
    /// `created`, `active`, `idle` or `archived`.
    pub state: SessionState,
    /// The board's current sequence (stored, without a live session).
    pub sequence: u64,
    /// Participants present.
    pub active_participants: usize,
    /// Age of the live session in seconds (0 without one).
    pub duration_seconds: u64,
    /// Participants present, in join order.
    pub participants: Vec<Participant>,
    /// When the room was created (RFC 3339, UTC).
    pub created_at: String,
    /// The node that serves the board (`{"node", "url"}`), `null` when no
    /// node holds it.
    pub owner: Option<BoardOwner>,
    /// The bytes the live session holds, by kind (`elements`, `reserved`,
    /// `history`, `pending`, `encoded_events`, `encoded_elements`); `null`
    /// when this node holds no session of the board.
    #[serde(default)]
    pub bytes: Option<BoardBytes>,
}

/// `GET /rooms/{id}`: the live session's state, or for a room without one
/// `archived` (it had one) / `created` (never), with its stored sequence.
pub async fn details<S: Store + 'static>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
) -> Result<Json<RoomDetails>, ApiError> {
    check_text("id", &id, 1, state.settings.max_id_bytes)?;
    let board = BoardId::from(id.as_str());
    let store = state.driver.store();
    let room = store
        .room(&board)
        .await?
        .ok_or_else(|| ApiError::board_not_found(format!("room {id} not found")))?;
    let mut details = RoomDetails {
        id,
        name: room.name,
        session_type: room.session_type,
        state: SessionState::Created,
        sequence: 0,
        active_participants: 0,
        duration_seconds: 0,
        participants: Vec::new(),
        created_at: room.created_at.to_string(),
        owner: None,
        bytes: None,
    };
    match state.driver.session(&board).await {
        Some(info) => {
            // A session here: this node serves the board once it holds the
            // lease; while it loads (or was refused: its joins are being
            // redirected) the owner is whoever the store says.
            details.owner = if state.driver.holds_lease(&board) {
                Some(state.settings.node.as_owner())
            } else {
                store.board_owner(&board).await?
            };
            details.state = info.state;
            details.sequence = info.sequence;
            details.bytes = Some(info.bytes);
            details.duration_seconds = now().saturating_duration_since(info.created_at).as_secs();
            details.participants = info
                .participants
                .iter()
                .map(|p| Participant {
                    user_id: p.user.to_string(),
                    display_name: p.display_name.to_string(),
                    color: p.color.hex().to_owned(),
                })
                .collect();
            details.active_participants = details.participants.len();
        }
        None => {
            // Not served here: the node whose lease runs, if any.
            details.owner = store.board_owner(&board).await?;
            let (sequence, had_session) = stored_history(store, &board).await?;
            details.sequence = sequence;
            if had_session {
                details.state = SessionState::Archived;
            }
        }
    }
    Ok(Json(details))
}

/// A board's stored sequence, and whether it ever had a session (events,
/// snapshots or user session records in the store).
async fn stored_history<S: Store>(store: &S, board: &BoardId) -> Result<(u64, bool), StoreError> {
    let (sequence, snapshots) = store
        .board_summary(board)
        .await?
        .map_or((0, 0), |s| (s.sequence, s.snapshots));
    if sequence > 0 || snapshots > 0 {
        return Ok((sequence, true));
    }
    let sessions = store
        .user_sessions(SessionIndex::Board(board.clone()))
        .await?;
    Ok((sequence, !sessions.is_empty()))
}
