//! `GET /rooms/{id}/snapshots` and `GET /rooms/{id}/snapshots/{sid}`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use huddle_core::{BoardId, SnapshotId};
use huddle_store::Store;
use serde::Serialize;

use super::body::{check_text, PagesJson};
use crate::error::ApiError;
use crate::state::AppState;

/// One entry of the snapshot list.
#[derive(Debug, Serialize)]
pub struct SnapshotEntry {
    /// The store's id.
    pub id: String,
    /// The sequence it reflects.
    pub version: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// `auto-save`, `on-disconnect`, `manual` or `archive`.
    pub created_by: &'static str,
    /// Elements it holds (an extension).
    pub elements: usize,
}

async fn require_room<S: Store>(store: &S, board: &BoardId) -> Result<(), ApiError> {
    match store.room(board).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::board_not_found(format!("room {board} not found"))),
    }
}

/// `GET /rooms/{id}/snapshots`: newest first.
pub async fn list<S: Store + 'static>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
) -> Result<Json<Vec<SnapshotEntry>>, ApiError> {
    check_text("id", &id, 1, state.settings.max_id_bytes)?;
    let board = BoardId::from(id.as_str());
    let store = state.driver.store();
    require_room(store, &board).await?;
    let list = store.list_snapshots(&board).await?;
    Ok(Json(
        list.into_iter()
            .map(|m| SnapshotEntry {
                id: m.id.to_string(),
                version: m.version,
                created_at: m.created_at.to_string(),
                created_by: m.created_by.as_str(),
                elements: m.elements,
            })
            .collect(),
    ))
}

#[derive(Serialize)]
struct SnapshotBody<'a> {
    id: &'a str,
    version: u64,
    created_at: String,
    created_by: &'static str,
    pages: PagesJson<'a>,
}

/// `GET /rooms/{id}/snapshots/{sid}`: the snapshot with all its pages.
pub async fn get<S: Store + 'static>(
    State(state): State<AppState<S>>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_text("id", &id, 1, state.settings.max_id_bytes)?;
    check_text("snapshot id", &sid, 1, state.settings.max_id_bytes)?;
    let board = BoardId::from(id.as_str());
    let store = state.driver.store();
    require_room(store, &board).await?;
    let snapshot = store
        .get_snapshot(&board, &SnapshotId::from(sid.as_str()))
        .await?
        .ok_or_else(|| {
            ApiError::board_not_found(format!("snapshot {sid} of room {id} not found"))
        })?;
    let body = SnapshotBody {
        id: &sid,
        version: snapshot.version,
        created_at: snapshot.created_at.to_string(),
        created_by: snapshot.created_by.as_str(),
        pages: PagesJson(&snapshot.pages),
    };
    Ok(Json(body).into_response())
}
