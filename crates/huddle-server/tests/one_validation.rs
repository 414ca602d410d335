//! Black-box tests of one validation for every door (issue 17, findings 4
//! and 5): control characters in WebSocket ids and token claims, `nbf`,
//! and the nesting limit of element `data`. Each checks the error and that
//! nothing was applied.

mod support;

use huddle_server::auth::Claims;
use huddle_wire::{ClientMessage, ServerMessage};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::{Opts, Server, Ws, ADMIN_KEY};

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed with the server's secret (the admin key by default).
fn mint(sub: &str, room: &str, nbf: Option<u64>) -> String {
    // The server's HS256 provider (the server builds jsonwebtoken without
    // a crypto backend of its own).
    huddle_server::token_crypto::install();
    let now = now_secs();
    let claims = Claims {
        sub: sub.into(),
        name: "Someone".into(),
        room: room.into(),
        iat: now,
        exp: now + 600,
        nbf,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(ADMIN_KEY.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_websocket_ids_are_refused() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    let cases = [
        ("b\u{0}1", "p", "e"),
        ("b2", "p\n", "e"),
        ("b3", "p", "e\r\n"),
        ("b4", "p", "\u{1b}[2J"),
    ];
    for (batch, page, element) in cases {
        let frame = json!({"type": "mutate", "batch": batch, "mutations": [
            {"op": "upsert", "page": page, "element": element, "data": 1}]});
        ws.send_text(&frame.to_string()).await;
        let (code, got_batch) = ws.recv_error().await;
        assert_eq!(code, "INVALID_MESSAGE", "{batch:?} {page:?} {element:?}");
        assert_eq!(got_batch.as_deref(), Some(batch));
    }
    ws.assert_usable().await;
    assert_eq!(server.sequence("r1").await, 0);
    // HTTP says the same of the same ids.
    let (status, body) = server
        .post(
            "/rooms",
            json!({"id": "r\n2", "name": "x", "session_type": "ephemeral"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_MESSAGE"))
    );
    // Ids in paths too (percent-encoded newline, NUL, ESC).
    for path in [
        "/rooms/r%0A1",
        "/rooms/r%001/snapshots",
        "/rooms/r1/snapshots/s%1B1",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("INVALID_MESSAGE")),
            "{path}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_claims_obey_the_id_rule_and_nbf() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    for bad in [
        mint("ali\nce", "r1", None),
        mint("bob\u{0}", "r1", None),
        mint("", "r1", None),
        mint("carol", "r1", Some(now_secs() + 3600)),
    ] {
        assert_eq!(
            Ws::try_connect(&server.ws_url(&bad)).await.err(),
            Some(401),
            "{bad}"
        );
    }
    // A well-formed token of the same shape works, nbf passed included.
    let good = mint("carol", "r1", Some(now_secs().saturating_sub(5)));
    let mut ws = Ws::connect(&server.ws_url(&good)).await;
    let joined = ws.join("r1", None).await;
    assert_eq!(joined.participants.len(), 1);
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn mutate_frame(batch: &str, data: &str) -> String {
    format!(
        r#"{{"type":"mutate","batch":"{batch}","mutations":[{{"op":"upsert","page":"p","element":"e","data":{data}}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_nested_too_deep_is_refused_with_data_too_deep() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    // 100 000 levels: 200 kB, under the frame and payload limits.
    ws.send_text(&mutate_frame("deep", &nested(100_000))).await;
    let (code, batch) = ws.recv_error().await;
    assert_eq!(code, "DATA_TOO_DEEP");
    assert_eq!(batch.as_deref(), Some("deep"));
    ws.send_text(&mutate_frame("just-over", &nested(65))).await;
    assert_eq!(ws.recv_error().await.0, "DATA_TOO_DEEP");
    assert_eq!(server.sequence("r1").await, 0);
    // At the limit it is applied, and a joiner gets it back verbatim.
    ws.send_text(&mutate_frame("at", &nested(64))).await;
    match ws.recv_type("ack").await {
        ServerMessage::Ack { batch, sequence } => {
            assert_eq!((batch.as_str(), sequence), ("at", 1));
        }
        other => panic!("{other:?}"),
    }
    let (_, joined) = server.joined("bob", "r1").await;
    let huddle_wire::WireSync::Full { pages, .. } = joined.sync else {
        panic!("not a full sync")
    };
    let (_, page) = pages.iter().next().unwrap();
    let (_, data) = page.into_iter().next().unwrap();
    assert_eq!(data.as_bytes(), nested(64).as_bytes());
    ws.send(&ClientMessage::Ping).await;
    let _ = ws.recv_type("pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_depth_limit_is_a_flag() {
    let server = Server::start_with(Opts::default().flag("--max-data-depth", "3")).await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    ws.send_text(&mutate_frame("b1", r#"{"a":[{"b":1}]}"#))
        .await;
    let _ = ws.recv_type("ack").await;
    ws.send_text(&mutate_frame("b2", r#"{"a":[{"b":[]}]}"#))
        .await;
    assert_eq!(
        ws.recv_error().await,
        ("DATA_TOO_DEEP".into(), Some("b2".into()))
    );
    assert_eq!(server.sequence("r1").await, 1);
}
