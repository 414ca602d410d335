//! The demo whiteboard (`huddle serve --demo`): a page at `/` that uses the
//! JavaScript client (`clients/js`, served from `/demo/client/`), and an
//! open endpoint that gives anyone a token for the demo room.
//!
//! Everything is built into the binary (`include_str!`); nothing needs Node
//! to build or run. The routes exist only with `--demo`: the token endpoint
//! has no authentication, so a demo server must never be exposed as a
//! production one (`docs/operations.md`).
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /demo/{file}` | the page's script and style |
//! | `GET /demo/client/{path}` | the client package's modules |
//! | `POST /demo/token` | `201 {"token", "expires_at", "board", "user_id", "display_name"}` |
//!
//! `POST /demo/token` takes an optional body `{"user_id"?, "display_name"?}`
//! (a page that reloads asks again for the same user); without one it makes
//! a guest. The demo room (`demo`, persistent) is created on first use.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use huddle_core::{BoardId, SessionType, Timestamp};
use huddle_store::{Room, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::body::{check_text, parse_object};
use crate::error::ApiError;
use crate::state::{now, now_secs, AppState};

/// The demo room's id.
pub const DEMO_BOARD: &str = "demo";

/// The page's own files: `(name, content type, text)`.
const PAGE_FILES: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("../../demo/app.js")),
    ("board.js", JS, include_str!("../../demo/board.js")),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../demo/style.css"),
    ),
];

/// The client package's modules, as published (`clients/js/src`).
const CLIENT_FILES: &[(&str, &str)] = &[
    ("index.js", include_str!("../../demo/client/index.js")),
    ("driver.js", include_str!("../../demo/client/driver.js")),
    ("machine.js", include_str!("../../demo/client/machine.js")),
    ("assembly.js", include_str!("../../demo/client/assembly.js")),
    ("backoff.js", include_str!("../../demo/client/backoff.js")),
    ("config.js", include_str!("../../demo/client/config.js")),
    ("errors.js", include_str!("../../demo/client/errors.js")),
    (
        "persistence.js",
        include_str!("../../demo/client/persistence.js"),
    ),
    ("outgoing.js", include_str!("../../demo/client/outgoing.js")),
    ("recovery.js", include_str!("../../demo/client/recovery.js")),
    ("replica.js", include_str!("../../demo/client/replica.js")),
    ("storage.js", include_str!("../../demo/client/storage.js")),
    ("wire.js", include_str!("../../demo/client/wire.js")),
];

const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("../../demo/index.html");

/// The demo's routes (merged into the app only with `--demo`).
pub fn routes<S: Store + 'static>() -> Router<AppState<S>> {
    Router::new()
        .route("/", get(index))
        .route("/demo/token", post(token::<S>))
        .route("/demo/client/{file}", get(client_file))
        .route("/demo/{file}", get(page_file))
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

async fn page_file(Path(file): Path<String>) -> Result<Response, ApiError> {
    PAGE_FILES
        .iter()
        .find(|(name, _, _)| *name == file)
        .map(|(_, kind, text)| asset(kind, text))
        .ok_or_else(|| ApiError::no_route(format!("no demo file {file}")))
}

async fn client_file(Path(file): Path<String>) -> Result<Response, ApiError> {
    CLIENT_FILES
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, text)| asset(JS, text))
        .ok_or_else(|| ApiError::no_route(format!("no client module {file}")))
}

fn asset(kind: &str, text: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, kind.to_owned()),
            (CACHE_CONTROL, "no-cache".to_owned()),
        ],
        text,
    )
        .into_response()
}

/// Body of `POST /demo/token` (optional, as is every field).
#[derive(Debug, Default, Deserialize)]
struct DemoUser {
    user_id: Option<String>,
    display_name: Option<String>,
}

/// Answer of `POST /demo/token`.
#[derive(Debug, Serialize)]
struct DemoToken {
    token: String,
    expires_at: String,
    board: &'static str,
    user_id: String,
    display_name: String,
}

async fn token<S: Store + 'static>(
    State(state): State<AppState<S>>,
    body: Bytes,
) -> Result<(StatusCode, Json<DemoToken>), ApiError> {
    let req: DemoUser = if body.iter().all(u8::is_ascii_whitespace) {
        DemoUser::default()
    } else {
        parse_object(&body)?
    };
    let settings = &state.settings;
    let (user_id, guest_name) = match req.user_id {
        Some(id) => (id.clone(), id),
        None => {
            let tag = random_hex(3)?;
            (format!("guest-{tag}"), format!("Guest {tag}"))
        }
    };
    check_text("user_id", &user_id, 1, settings.max_id_bytes)?;
    let display_name = req.display_name.unwrap_or(guest_name);
    check_text(
        "display_name",
        &display_name,
        1,
        settings.max_display_name_bytes,
    )?;
    let room = Room {
        id: BoardId::from(DEMO_BOARD),
        name: "Demo board".to_owned(),
        session_type: SessionType::Persistent,
        created_at: now(),
    };
    match state.driver.store().create_room(room).await {
        Ok(()) => tracing::info!(room = DEMO_BOARD, "demo room created"),
        Err(StoreError::RoomExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let (token, exp) = state
        .keys
        .issue(
            &user_id,
            &display_name,
            DEMO_BOARD,
            now_secs(),
            settings.token_ttl,
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(DemoToken {
            token,
            expires_at: Timestamp::from_millis(exp.saturating_mul(1000)).to_string(),
            board: DEMO_BOARD,
            user_id,
            display_name,
        }),
    ))
}

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| ApiError::internal(format!("no randomness from the OS: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
