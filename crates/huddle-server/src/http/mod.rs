//! The HTTP API (`docs/protocol.md`, "HTTP API"): the router, the admin key
//! check, and the fallbacks that keep every error a `{"code", "message"}`
//! body.
//!
//! | route | auth | module |
//! |---|---|---|
//! | `POST /rooms`, `GET /rooms/{id}` | admin | [`rooms`] |
//! | `GET /rooms/{id}/snapshots[/{sid}]` | admin | [`snapshots`] |
//! | `POST /users` | admin | [`users`] |
//! | `GET /stats` | admin | [`ops`] |
//! | `GET /healthz`, `GET /metrics` | none | [`ops`] |
//! | `GET /ws?token=` | user token | [`crate::ws`] |
//! | `GET /`, `GET /demo/...`, `POST /demo/token` | none; only with `--demo` | [`demo`] |

pub mod body;
pub mod demo;
pub mod ops;
pub mod rooms;
pub mod snapshots;
pub mod users;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use huddle_store::Store;

use crate::auth::is_admin;
use crate::error::{ApiError, HttpErrorCode};
use crate::state::AppState;

/// The whole app: admin routes, open routes and the WebSocket endpoint.
pub fn router<S: Store + 'static>(state: AppState<S>) -> Router {
    let admin = Router::new()
        .route("/rooms", post(rooms::create::<S>))
        .route("/rooms/{id}", get(rooms::details::<S>))
        .route("/rooms/{id}/snapshots", get(snapshots::list::<S>))
        .route("/rooms/{id}/snapshots/{sid}", get(snapshots::get::<S>))
        .route("/users", post(users::create::<S>))
        .route("/stats", get(ops::stats::<S>))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_admin::<S>,
        ));
    let open = if state.settings.demo {
        demo::routes::<S>()
    } else {
        Router::new()
    };
    Router::new()
        .merge(admin)
        .merge(open)
        .route("/healthz", get(ops::healthz::<S>))
        .route("/metrics", get(ops::metrics::<S>))
        .route("/ws", get(crate::ws::upgrade::<S>))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_http_errors::<S>,
        ))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Seconds a client over a connection cap is told to wait
/// (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

/// What a connection over a cap is served (`crate::gate`): `/healthz` as
/// usual, so that a health check still sees the process alive, and `503
/// UNAVAILABLE` with `Retry-After` for everything else.
pub fn overflow_router<S: Store + 'static>(state: AppState<S>) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz::<S>))
        .fallback(over_capacity)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_http_errors::<S>,
        ))
        .with_state(state)
}

async fn over_capacity() -> Response {
    let mut response = ApiError::unavailable("too many connections: retry later").into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(RETRY_AFTER_SECS),
    );
    response
}

/// Logs every request at `debug` (`warn` for a 5xx answer), with its
/// status and duration. The query is left out: it may hold a token.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if response.status().is_server_error() {
        tracing::warn!(%method, %path, status, ?elapsed, "request failed");
    } else {
        tracing::debug!(%method, %path, status, ?elapsed, "request");
    }
    response
}

/// Counts an error answer (an [`ApiError`]'s, marked with its
/// [`HttpErrorCode`]) in the server's `huddle_http_errors_total{code}`.
async fn count_http_errors<S: Store + 'static>(
    State(state): State<AppState<S>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(HttpErrorCode(code)) = response.extensions().get::<HttpErrorCode>() {
        state.metrics.http_error(code);
    }
    response
}

/// Refuses a request without `Authorization: Bearer <admin key>`.
async fn require_admin<S: Store + 'static>(
    State(state): State<AppState<S>>,
    request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !is_admin(header, &state.admin_key) {
        let why = if header.is_none() {
            "missing Authorization: Bearer <admin key>"
        } else {
            "wrong admin key"
        };
        return ApiError::unauthorized(why).into_response();
    }
    next.run(request).await
}

async fn no_route(request: Request) -> ApiError {
    ApiError::no_route(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
