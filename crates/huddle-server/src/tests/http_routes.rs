use axum::http::StatusCode;
use huddle_core::Timestamp;
use huddle_store::Store;
use serde_json::json;

use super::harness::{admin, app, call, create_room, metrics_page, token, KEY};
use crate::state::now_secs;

#[tokio::test]
async fn create_room_then_conflict() {
    let (app, _) = app();
    let (status, body) = admin(
        &app,
        "POST",
        "/rooms",
        Some(r#"{"id":"r1","name":"One","session_type":"persistent"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["id"], "r1");
    assert_eq!(body["name"], "One");
    assert_eq!(body["session_type"], "persistent");
    let created = body["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z'));
    assert!(Timestamp::parse_rfc3339(created).is_some());

    let (status, body) = admin(
        &app,
        "POST",
        "/rooms",
        Some(r#"{"id":"r1","name":"Again","session_type":"ephemeral"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "CONFLICT");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn create_room_generates_an_id() {
    let (app, state) = app();
    let (status, body) = admin(
        &app,
        "POST",
        "/rooms",
        Some(r#"{"name":"Gen","session_type":"ephemeral"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["id"].as_str().unwrap();
    assert!(!id.is_empty());
    let room = state
        .driver
        .store()
        .room(&id.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(room.name, "Gen");
}

#[tokio::test]
async fn bad_bodies_are_400() {
    let (app, _) = app();
    for body in [
        "",
        "not json",
        "[1]",
        r#"{"id":"x","session_type":"ephemeral"}"#,
        r#"{"id":"x","name":"n"}"#,
        r#"{"id":"x","name":"n","session_type":"forever"}"#,
        r#"{"id":"","name":"n","session_type":"ephemeral"}"#,
        r#"{"id":17,"name":"n","session_type":"ephemeral"}"#,
    ] {
        let (status, value) = admin(&app, "POST", "/rooms", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(value["code"], "INVALID_MESSAGE", "{body}");
    }
    create_room(&app, "r", "ephemeral").await;
    for body in [
        r#"{"display_name":"A","room_id":"r"}"#,
        r#"{"user_id":"","display_name":"A","room_id":"r"}"#,
        r#"{"user_id":"a","display_name":"","room_id":"r"}"#,
        r#"{"user_id":"a","display_name":"A","room_id":"r","ttl_seconds":0}"#,
        r#"{"user_id":"a","display_name":"A","room_id":"r","ttl_seconds":-5}"#,
        r#"{"user_id":"a","display_name":"A","room_id":"r","ttl_seconds":999999999999}"#,
    ] {
        let (status, value) = admin(&app, "POST", "/users", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(value["code"], "INVALID_MESSAGE", "{body}");
    }
}

#[tokio::test]
async fn admin_routes_need_the_key() {
    let (app, _) = app();
    create_room(&app, "r", "ephemeral").await;
    for (method, uri) in [
        ("POST", "/rooms"),
        ("GET", "/rooms/r"),
        ("GET", "/rooms/r/snapshots"),
        ("GET", "/rooms/r/snapshots/1"),
        ("POST", "/users"),
        ("GET", "/stats"),
    ] {
        for auth in [None, Some("wrong")] {
            let (status, value) = call(&app, method, uri, auth, Some("{}")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {auth:?}");
            assert_eq!(value["code"], "UNAUTHORIZED");
        }
    }
    // Open routes.
    let (status, _) = call(&app, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_rooms_are_404() {
    let (app, _) = app();
    for uri in [
        "/rooms/nope",
        "/rooms/nope/snapshots",
        "/rooms/nope/snapshots/1",
    ] {
        let (status, value) = admin(&app, "GET", uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(value["code"], "BOARD_NOT_FOUND");
    }
    let (status, value) = admin(
        &app,
        "POST",
        "/users",
        Some(r#"{"user_id":"a","display_name":"A","room_id":"nope"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(value["code"], "BOARD_NOT_FOUND");
    create_room(&app, "r", "ephemeral").await;
    let (status, value) = admin(&app, "GET", "/rooms/r/snapshots/404", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(value["code"], "BOARD_NOT_FOUND");
}

#[tokio::test]
async fn a_room_that_never_had_a_session_is_created() {
    let (app, _) = app();
    create_room(&app, "r", "persistent").await;
    let (status, value) = admin(&app, "GET", "/rooms/r", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value["id"], "r");
    assert_eq!(value["name"], "Room r");
    assert_eq!(value["session_type"], "persistent");
    assert_eq!(value["state"], "created");
    assert_eq!(value["sequence"], 0);
    assert_eq!(value["active_participants"], 0);
    assert_eq!(value["duration_seconds"], 0);
    assert_eq!(value["participants"], json!([]));
    let (status, value) = admin(&app, "GET", "/rooms/r/snapshots", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value, json!([]));
}

#[tokio::test]
async fn users_get_a_token_for_their_room() {
    let (app, state) = app();
    create_room(&app, "r", "ephemeral").await;
    let (status, value) = admin(
        &app,
        "POST",
        "/users",
        Some(r#"{"user_id":"alice","display_name":"Alice","room_id":"r","ttl_seconds":120}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = value["token"].as_str().unwrap();
    let claims = state.keys.verify(token, now_secs()).unwrap();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.name.as_str(),
            claims.room.as_str()
        ),
        ("alice", "Alice", "r")
    );
    let expires = Timestamp::parse_rfc3339(value["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires.as_millis() / 1000, claims.exp);
    assert!(claims.exp >= now_secs() + 119 && claims.exp <= now_secs() + 121);
    // Signed with the admin key by default.
    assert!(crate::auth::TokenKeys::new(KEY.as_bytes())
        .verify(token, now_secs())
        .is_ok());
    let _ = token_for_default_ttl(&app).await;
}

async fn token_for_default_ttl(app: &axum::Router) -> String {
    token(app, "bob", "r").await
}

#[tokio::test]
async fn stats_health_metrics_and_fallbacks() {
    let (app, _) = app();
    let (status, value) = admin(&app, "GET", "/stats", None).await;
    assert_eq!(status, StatusCode::OK);
    for field in [
        "active_sessions",
        "idle_sessions",
        "total_participants",
        "connections",
    ] {
        assert!(value[field].is_number(), "{field}: {value}");
    }
    let (status, value) = call(&app, "GET", "/nothing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(value["code"], "NOT_FOUND");
    let (status, value) = admin(&app, "DELETE", "/rooms/r", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(value["code"], "METHOD_NOT_ALLOWED");

    let text = metrics_page(&app).await;
    for family in [
        "huddle_connections_open",
        "huddle_boards{state=\"active\"}",
        "huddle_mutations_applied_total",
        "huddle_mutations_per_second",
        "huddle_ack_latency_seconds_bucket",
        "huddle_storage_latency_seconds_bucket",
        "huddle_errors_sent_total",
        "huddle_http_errors_total",
    ] {
        assert!(text.contains(family), "{family} missing");
    }
}

#[tokio::test]
async fn ws_refuses_bad_tokens_with_401() {
    let (app, state) = app();
    create_room(&app, "r", "ephemeral").await;
    let (expired, _) = state
        .keys
        .issue(
            "a",
            "A",
            "r",
            now_secs() - 100,
            std::time::Duration::from_secs(10),
        )
        .unwrap();
    let (foreign, _) = crate::auth::TokenKeys::new(b"other")
        .issue(
            "a",
            "A",
            "r",
            now_secs(),
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    for uri in [
        "/ws".to_owned(),
        "/ws?token=".to_owned(),
        "/ws?token=garbage".to_owned(),
        format!("/ws?token={expired}"),
        format!("/ws?token={foreign}"),
    ] {
        let (status, value) = call(&app, "GET", &uri, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(value["code"], "UNAUTHORIZED");
    }
    // A good token on a request that is not an upgrade.
    let good = super::harness::token(&app, "a", "r").await;
    let (status, value) = call(&app, "GET", &format!("/ws?token={good}"), None, None).await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(value["code"], "INVALID_MESSAGE");
}
