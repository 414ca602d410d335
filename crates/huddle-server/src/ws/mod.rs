//! `GET /ws?token=<jwt>`: authenticates the token, registers the
//! connection with the driver, and upgrades, handing the socket to the
//! driver's WebSocket pump ([`huddle_tokio::axum`]: frame limits, write
//! timeouts, the close handshake, slow consumers, deadlines).
//!
//! A missing, malformed, badly signed, expired or not yet valid (`nbf`)
//! token, or one whose `sub`, `room` or `name` breaks the id rule, is
//! refused before the upgrade with `401 {"code":"UNAUTHORIZED"}`. Once
//! shutdown has begun, upgrades are refused with `503 UNAVAILABLE`.
//!
//! An upgraded socket has two deadlines: its `join` must come within
//! `--join-timeout` (else close 4006), and it is closed with 4001 when its
//! token expires.

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use huddle_core::BoardId;
use huddle_store::Store;
use huddle_tokio::Member;
use serde::Deserialize;

use crate::auth::TokenError;
use crate::error::ApiError;
use crate::state::{now_millis, now_secs, AppState};

/// The query of `GET /ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// The user token from `POST /users`.
    pub token: Option<String>,
}

/// `GET /ws?token=`.
pub async fn upgrade<S: Store + 'static>(
    State(state): State<AppState<S>>,
    query: Result<Query<WsQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let token = query.ok().and_then(|Query(q)| q.token).unwrap_or_default();
    let settings = &state.settings;
    let verified = state.keys.verify(&token, now_secs()).and_then(|claims| {
        claims
            .check_text(settings.max_id_bytes, settings.max_display_name_bytes)
            .map(|()| claims)
    });
    let claims = match verified {
        Ok(claims) => claims,
        Err(e) => {
            state.metrics.upgrade("unauthorized");
            let message = match e {
                TokenError::Missing => "missing token (GET /ws?token=<jwt>)".to_owned(),
                other => other.to_string(),
            };
            return ApiError::unauthorized(message).into_response();
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            state.metrics.upgrade("not_websocket");
            return ApiError::invalid_with_status(rejection.status(), rejection.body_text())
                .into_response();
        }
    };
    if state.is_shutting_down() {
        state.metrics.upgrade("unavailable");
        return ApiError::unavailable("the server is shutting down").into_response();
    }
    let board = BoardId::from(claims.room.as_str());
    // The stored room's type wins anyway (the store reports it at load);
    // a store error here only loses the hint.
    let session_type = match state.driver.store().room(&board).await {
        Ok(room) => room.map(|r| r.session_type),
        Err(e) => {
            tracing::warn!(error = %e, room = %board, "room lookup at upgrade failed");
            None
        }
    };
    let token_expiry = tokio::time::Instant::now() + claims.expires_in(now_millis());
    let mut member = Member::new(board, claims.sub.as_str(), claims.name);
    member.session_type = session_type;
    let connection = match state.driver.connect(member) {
        Ok(connection) => connection,
        Err(e) => {
            state.metrics.upgrade("unavailable");
            return ApiError::unavailable(e.to_string()).into_response();
        }
    };
    state.metrics.upgrade("accepted");
    tracing::debug!(conn = connection.id.0, user = %claims.sub, room = %claims.room, "websocket accepted");
    huddle_tokio::axum::upgrade(ws, connection, settings.socket, Some(token_expiry))
}
