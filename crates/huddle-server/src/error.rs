//! HTTP errors: a status and a JSON body `{"code", "message"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// An error answer of the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The machine-readable code, e.g. `BOARD_NOT_FOUND`.
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// `400 INVALID_MESSAGE`: a malformed request.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_MESSAGE", message)
    }

    /// `401 UNAUTHORIZED`: no or wrong admin key, or a bad token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// `404 BOARD_NOT_FOUND`: no such room (or no such snapshot of it).
    pub fn board_not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "BOARD_NOT_FOUND", message)
    }

    /// `404 NOT_FOUND`: no such route.
    pub fn no_route(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// `405 METHOD_NOT_ALLOWED`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "method not allowed on this route",
        )
    }

    /// `409 CONFLICT`: the room id exists.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    /// `503 UNAVAILABLE`: storage failed or the server is shutting down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
    }

    /// `500 INTERNAL`: a bug or corrupt stored data.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }

    /// `INVALID_MESSAGE` with another 4xx status (e.g. 426 for a `/ws`
    /// request that is not a WebSocket upgrade).
    pub fn invalid_with_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "INVALID_MESSAGE", message)
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<huddle_store::StoreError> for ApiError {
    fn from(e: huddle_store::StoreError) -> Self {
        tracing::warn!(error = %e, "store call of an HTTP request failed");
        ApiError::unavailable(format!("storage failed: {e}"))
    }
}

/// The code of an error answer, left in its response's extensions for
/// `huddle_http_errors_total{code}` (`crate::http::count_http_errors`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message: &self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        // Counted by the router's layer, which has the server's metrics.
        response.extensions_mut().insert(HttpErrorCode(self.code));
        response
    }
}
