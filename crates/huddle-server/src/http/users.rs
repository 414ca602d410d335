//! `POST /users`: a token for one user in one room.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use huddle_core::{BoardId, Timestamp};
use huddle_store::Store;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::body::{check_text, parse_object};
use crate::error::ApiError;
use crate::state::{now_secs, AppState};

/// Body of `POST /users`.
#[derive(Debug, Deserialize)]
pub struct CreateUser {
    /// The user id.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
    /// The room the token is for (must exist).
    pub room_id: String,
    /// Token lifetime in seconds (default `--token-ttl`).
    pub ttl_seconds: Option<u64>,
}

/// Answer of `POST /users`.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserToken {
    /// The HS256 JWT for `GET /ws?token=`.
    pub token: String,
    /// When it expires (RFC 3339, UTC).
    pub expires_at: String,
    /// The user id (an extension).
    pub user_id: String,
    /// The room id (an extension).
    pub room_id: String,
}

/// `POST /users`: `201 {"token", "expires_at"}`; `404` for an unknown room.
pub async fn create<S: Store + 'static>(
    State(state): State<AppState<S>>,
    body: Bytes,
) -> Result<(StatusCode, Json<UserToken>), ApiError> {
    let req: CreateUser = parse_object(&body)?;
    let settings = &state.settings;
    check_text("user_id", &req.user_id, 1, settings.max_id_bytes)?;
    check_text(
        "display_name",
        &req.display_name,
        1,
        settings.max_display_name_bytes,
    )?;
    check_text("room_id", &req.room_id, 1, settings.max_id_bytes)?;
    let ttl = match req.ttl_seconds {
        None => settings.token_ttl,
        Some(0) => return Err(ApiError::invalid("`ttl_seconds` must be at least 1")),
        Some(secs) if Duration::from_secs(secs) > settings.max_token_ttl => {
            return Err(ApiError::invalid(format!(
                "`ttl_seconds` must be at most {}",
                settings.max_token_ttl.as_secs()
            )))
        }
        Some(secs) => Duration::from_secs(secs),
    };
    let board = BoardId::from(req.room_id.as_str());
    if state.driver.store().room(&board).await?.is_none() {
        return Err(ApiError::board_not_found(format!(
            "room {} not found",
            req.room_id
        )));
    }
    let (token, exp) = state
        .keys
        .issue(
            &req.user_id,
            &req.display_name,
            &req.room_id,
            now_secs(),
            ttl,
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(UserToken {
            token,
            expires_at: Timestamp::from_millis(exp.saturating_mul(1000)).to_string(),
            user_id: req.user_id,
            room_id: req.room_id,
        }),
    ))
}
