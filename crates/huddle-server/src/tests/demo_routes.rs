//! The demo routes (`--demo`): absent without the flag; with it, the page,
//! its files, the client modules and the open token endpoint.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use huddle_store::Store;
use tower::ServiceExt;

use super::harness::{args, call, state_with};
use crate::auth::TokenKeys;
use crate::http::router;

fn demo_app() -> (
    Router,
    crate::state::AppState<std::sync::Arc<huddle_store::InMemoryStore>>,
) {
    let mut a = args();
    a.demo = true;
    let state = state_with(&a);
    (router(state.clone()), state)
}

async fn get_text(app: &Router, uri: &str) -> (StatusCode, String, String) {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn without_the_flag_there_is_no_demo() {
    let state = state_with(&args());
    let app = router(state);
    for uri in ["/", "/demo/app.js", "/demo/client/index.js"] {
        let (status, _, _) = get_text(&app, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    let (status, body) = call(&app, "POST", "/demo/token", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn serves_the_page_its_files_and_the_client() {
    let (app, _) = demo_app();
    let (status, kind, html) = get_text(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.contains(r#"src="/demo/app.js""#));
    for (uri, needle) in [
        ("/demo/app.js", "/demo/client/index.js"),
        ("/demo/board.js", "export function view"),
        ("/demo/style.css", "#badge"),
        ("/demo/client/index.js", "HuddleClient"),
        ("/demo/client/machine.js", "export class ClientMachine"),
        ("/demo/client/wire.js", "decodeServerMessage"),
    ] {
        let (status, _, text) = get_text(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(text.contains(needle), "{uri} lacks {needle}");
    }
    // Every module the client's modules import is served.
    let mut todo = vec!["index.js".to_owned()];
    let mut seen = Vec::new();
    while let Some(file) = todo.pop() {
        if seen.contains(&file) {
            continue;
        }
        let (status, _, text) = get_text(&app, &format!("/demo/client/{file}")).await;
        assert_eq!(status, StatusCode::OK, "{file}, imported by {seen:?}");
        for line in text.lines().filter(|l| l.contains(" from './")) {
            let import = line.split(" from './").nth(1).unwrap();
            todo.push(import.split('\'').next().unwrap().to_owned());
        }
        seen.push(file);
    }
    assert!(seen.len() >= 10, "{seen:?}");
    let (status, _, _) = get_text(&app, "/demo/client/../../Cargo.toml").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get_text(&app, "/demo/nothing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_token_endpoint_makes_guests_and_the_demo_room() {
    let (app, state) = demo_app();
    let (status, body) = call(&app, "POST", "/demo/token", None, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["board"], "demo");
    let user = body["user_id"].as_str().unwrap().to_owned();
    assert!(user.starts_with("guest-"), "{user}");
    let claims = TokenKeys::new(super::harness::KEY.as_bytes())
        .verify(body["token"].as_str().unwrap(), crate::state::now_secs())
        .unwrap();
    assert_eq!(claims.room, "demo");
    assert_eq!(claims.sub, user);
    let room = state.driver.store().room(&"demo".into()).await.unwrap();
    assert!(room.is_some(), "the demo room exists");

    // The same user again (a reload), with a name; the room exists already.
    let (status, again) = call(
        &app,
        "POST",
        "/demo/token",
        None,
        Some(&format!(r#"{{"user_id":"{user}","display_name":"Ann"}}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["user_id"], user.as_str());
    assert_eq!(again["display_name"], "Ann");

    // Bad input: a typed error, nothing issued.
    for body in [
        "[1]",
        r#"{"user_id":""}"#,
        r#"{"display_name":""}"#,
        "not json",
    ] {
        let (status, err) = call(&app, "POST", "/demo/token", None, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(err["code"], "INVALID_MESSAGE", "{body}");
    }
}
