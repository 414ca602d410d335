//! Operator routes: `GET /healthz`, `GET /metrics` (no auth) and
//! `GET /stats` (admin).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use huddle_store::Store;
use huddle_tokio::prometheus_client::encoding::prometheus_text;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: `200 {"status":"ok"}`; `503` once shutdown has begun.
pub async fn healthz<S: Store + 'static>(State(state): State<AppState<S>>) -> Response {
    if state.is_shutting_down() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "shutting_down"})),
        )
            .into_response();
    }
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /metrics`: the state's registry (the driver's metrics, the
/// server's, the process's) in the Prometheus text format 0.0.4, after
/// refreshing the driver's gauges read from its shards.
pub async fn metrics<S: Store + 'static>(State(state): State<AppState<S>>) -> Response {
    state.driver.refresh_metrics().await;
    let mut text = String::with_capacity(16 * 1024);
    if let Err(e) = prometheus_text::encode(&mut text, &state.registry) {
        return ApiError::internal(format!("encoding the metrics: {e}")).into_response();
    }
    (
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

/// `GET /stats`: the engine's statistics over all shards, plus
/// `connections` and `uptime_seconds`.
pub async fn stats<S: Store + 'static>(
    State(state): State<AppState<S>>,
) -> Result<Json<Value>, ApiError> {
    let stats = state.driver.stats().await;
    let mut value = serde_json::to_value(&stats).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Value::Object(map) = &mut value {
        map.insert(
            "connections".into(),
            json!(state.driver.metrics().connections_open()),
        );
        map.insert(
            "uptime_seconds".into(),
            json!(state.started.elapsed().as_secs()),
        );
        map.insert("shards".into(), json!(state.driver.shards()));
    }
    Ok(Json(value))
}
