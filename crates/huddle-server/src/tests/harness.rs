//! A test app: in-memory store, one shard, admin key `test-key`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use huddle_store::InMemoryStore;
use huddle_tokio::Driver;
use serde_json::Value;
use tower::ServiceExt;

use crate::auth::TokenKeys;
use crate::cli::ServeArgs;
use crate::config::ServerSettings;
use crate::http::router;
use crate::serve::driver_config;
use crate::state::AppState;

pub const KEY: &str = "test-key";

pub fn args() -> ServeArgs {
    let mut args = ServeArgs::defaults();
    args.max_frame_bytes = 1024;
    args.max_batch = 5;
    args
}

pub fn state_with(args: &ServeArgs) -> AppState<Arc<InMemoryStore>> {
    // The server's own driver configuration (its frame limit, the pump's
    // too), on one shard.
    let config = driver_config(args, &node()).shards(1);
    let driver = Driver::start(config, Arc::new(InMemoryStore::new()));
    AppState::new(
        driver,
        TokenKeys::new(KEY.as_bytes()),
        KEY,
        ServerSettings::from_args(args, node()),
    )
}

/// The test app's node identity.
pub fn node() -> crate::node::NodeIdentity {
    crate::node::NodeIdentity {
        id: "node-test".into(),
        url: "ws://127.0.0.1:1/ws".into(),
    }
}

pub fn app() -> (Router, AppState<Arc<InMemoryStore>>) {
    let state = state_with(&args());
    (router(state.clone()), state)
}

/// Sends one request; returns the status and the JSON body (`Null` if
/// the body is not JSON).
pub async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(key) = auth {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub async fn admin(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    call(app, method, uri, Some(KEY), body).await
}

pub async fn create_room(app: &Router, id: &str, kind: &str) {
    let body = format!(r#"{{"id":"{id}","name":"Room {id}","session_type":"{kind}"}}"#);
    let (status, _) = admin(app, "POST", "/rooms", Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED);
}

pub async fn token(app: &Router, user: &str, room: &str) -> String {
    let body = format!(r#"{{"user_id":"{user}","display_name":"User {user}","room_id":"{room}"}}"#);
    let (status, value) = admin(app, "POST", "/users", Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    value["token"].as_str().unwrap().to_owned()
}

/// `GET /metrics`: checks the answer is 200 with the Prometheus text
/// encoder's content type, and returns the page.
pub async fn metrics_page(app: &Router) -> String {
    let res = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        huddle_tokio::prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    );
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}
