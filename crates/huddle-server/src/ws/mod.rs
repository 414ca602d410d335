//! `GET /ws?token=<jwt>`: authenticates the token, registers the
//! connection with the driver, upgrades, and hands the socket to
//! [`socket::run`].
//!
//! A missing, malformed, badly signed, expired or not yet valid (`nbf`)
//! token, or one whose `sub`, `room` or `name` breaks the id rule, is
//! refused before the upgrade with `401 {"code":"UNAUTHORIZED"}`. Once
//! shutdown has begun, upgrades are refused with `503 UNAVAILABLE`.
//!
//! An upgraded socket has two deadlines ([`socket::Deadlines`]): its
//! `join` must come within `--join-timeout` (else close 4006), and it is
//! closed with 4001 when its token expires.

pub mod socket;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use huddle_core::{BoardId, UserId};
use huddle_store::Store;
use huddle_wire::Identity;
use serde::Deserialize;

use crate::auth::TokenError;
use crate::error::ApiError;
use crate::metrics;
use crate::state::{now_millis, now_secs, AppState};

/// The WebSocket read buffer (see its use).
const READ_BUFFER_BYTES: usize = 8 * 1024;

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
            metrics::upgrade("unauthorized");
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
            metrics::upgrade("not_websocket");
            return ApiError::invalid_with_status(rejection.status(), rejection.body_text())
                .into_response();
        }
    };
    if state.is_shutting_down() {
        metrics::upgrade("unavailable");
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
    let identity = Identity {
        user: UserId::from(claims.sub.as_str()),
        display_name: claims.name,
        board: Some(board),
        session_type,
    };
    let connection = match state.driver.connect(identity) {
        Ok(connection) => connection,
        Err(e) => {
            metrics::upgrade("unavailable");
            return ApiError::unavailable(e.to_string()).into_response();
        }
    };
    metrics::upgrade("accepted");
    let limits = socket::FrameLimits {
        soft: settings.max_frame_bytes,
        hard: settings.hard_frame_bytes,
        write_timeout: settings.write_timeout,
        decode: settings.decode_limits,
    };
    let join_timeout = settings.join_timeout;
    tracing::debug!(conn = connection.id.0, user = %claims.sub, room = %claims.room, "websocket accepted");
    // If the upgrade fails, the closure (and with it the connection's
    // sender) is dropped, which disconnects it from the driver.
    ws.max_message_size(limits.hard)
        .max_frame_size(limits.hard)
        // tungstenite zero-fills its whole read buffer before every socket
        // read: at the 128 KiB default that memset was the server's largest
        // CPU cost under load. Bigger frames still arrive, over more reads.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let deadlines = socket::Deadlines {
                join: tokio::time::Instant::now() + join_timeout,
                token_expiry,
            };
            socket::run(socket, connection, limits, deadlines)
        })
}
