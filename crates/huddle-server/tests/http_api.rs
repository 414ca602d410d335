//! Black-box tests of the HTTP API (`docs/protocol.md`, "HTTP"): every row,
//! the admin key, and the error bodies.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{Opts, Server};

fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() >= 20 && s.as_bytes()[10] == b'T' && s.ends_with('Z'))
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "body: {body}");
    assert_eq!(body["code"], want_code, "body: {body}");
    assert!(body["message"].is_string(), "no message: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_rooms_answers_201_and_409_for_a_duplicate() {
    let server = Server::start().await;
    let (status, body) = server
        .post(
            "/rooms",
            json!({"id": "r1", "name": "Room one", "session_type": "persistent"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "r1");
    assert_eq!(body["name"], "Room one");
    assert_eq!(body["session_type"], "persistent");
    assert!(is_rfc3339_utc(&body["created_at"]), "{body}");

    let (status, body) = server
        .post(
            "/rooms",
            json!({"id": "r1", "name": "again", "session_type": "ephemeral"}),
        )
        .await;
    assert_error(status, &body, 409, "CONFLICT");

    // Without an id the server picks one.
    let (status, body) = server
        .post(
            "/rooms",
            json!({"name": "anon", "session_type": "ephemeral"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("generated id");
    assert!(!id.is_empty());
    assert_eq!(body["session_type"], "ephemeral");
    assert_eq!(server.room_info(id).await["name"], "anon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_rooms_rejects_bad_bodies() {
    let server = Server::start().await;
    for body in [
        json!({"id": "x", "session_type": "persistent"}),
        json!({"id": "x", "name": "n", "session_type": "forever"}),
        json!({"id": "x", "name": "n"}),
        json!("not an object"),
    ] {
        let (status, answer) = server.post("/rooms", body.clone()).await;
        assert_error(status, &answer, 400, "INVALID_MESSAGE");
    }
    // Nothing was created.
    let (status, _) = server.get("/rooms/x").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_users_gives_a_jwt_and_its_expiry() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (status, body) = server
        .post(
            "/users",
            json!({"user_id": "alice", "display_name": "Alice", "room_id": "r1", "ttl_seconds": 600}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().expect("token");
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    assert!(is_rfc3339_utc(&body["expires_at"]), "{body}");
    // The JWT's header says HS256.
    let header = token.split('.').next().unwrap();
    let header = base64url_decode(header);
    let header: Value = serde_json::from_slice(&header).expect("JWT header JSON");
    assert_eq!(header["alg"], "HS256");

    // The token works.
    let mut ws = support::Ws::connect(&server.ws_url(token)).await;
    let joined = ws.join("r1", None).await;
    assert_eq!(joined.participants[0].user.as_str(), "alice");
    assert_eq!(&*joined.participants[0].display_name, "Alice");

    // A missing field.
    let (status, body) = server
        .post("/users", json!({"user_id": "bob", "room_id": "r1"}))
        .await;
    assert_error(status, &body, 400, "INVALID_MESSAGE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_room_reports_created_active_and_archived() {
    let server = Server::start().await;
    let (status, body) = server.get("/rooms/nope").await;
    assert_error(status, &body, 404, "BOARD_NOT_FOUND");

    server.room("r1", "ephemeral").await;
    let info = server.room_info("r1").await;
    assert_eq!(info["id"], "r1");
    assert_eq!(info["name"], "room r1");
    assert_eq!(info["session_type"], "ephemeral");
    assert_eq!(info["state"], "created");
    assert_eq!(info["sequence"], 0);
    assert_eq!(info["active_participants"], 0);
    assert!(info["duration_seconds"].is_number(), "{info}");
    assert_eq!(info["participants"], json!([]));
    assert_eq!(info["owner"], Value::Null, "no node serves it yet");

    let (mut ws, _) = server.joined("alice", "r1").await;
    let seq = ws
        .mutate("b1", vec![support::upsert("p", "e1", r#"{"x":1}"#)])
        .await;
    assert_eq!(seq, 1);
    let info = server.room_info("r1").await;
    assert_eq!(info["state"], "active");
    assert_eq!(info["sequence"], 1);
    assert_eq!(info["active_participants"], 1);
    let p = &info["participants"][0];
    assert_eq!(p["user_id"], "alice");
    assert_eq!(p["display_name"], "User alice");
    assert_eq!(p["color"], "#FF6B6B");
    // This node serves it: a random node id drawn at start, and the
    // default advertised URL (the bound address).
    let node = info["owner"]["node"].as_str().unwrap_or_default();
    assert!(node.starts_with("node-") && node.len() == 21, "{info}");
    assert_eq!(info["owner"]["url"], format!("ws://{}/ws", server.addr));

    // Leave: idle, then archived after the 1 s idle timeout; the stored
    // sequence is still reported.
    ws.send(&huddle_wire::ClientMessage::Leave).await;
    let info = server.wait_state("r1", "archived").await;
    assert_eq!(info["sequence"], 1);
    assert_eq!(info["active_participants"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_is_the_node_id_and_advertised_url_given() {
    let opts = Opts::default()
        .flag("--node-id", "eu-1")
        .flag("--advertise-url", "wss://eu-1.example/ws");
    let server = Server::start_with(opts).await;
    server.room("r1", "ephemeral").await;
    let (_ws, _) = server.joined("alice", "r1").await;
    let info = server.room_info("r1").await;
    assert_eq!(
        info["owner"],
        json!({"node": "eu-1", "url": "wss://eu-1.example/ws"}),
        "{info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_listed_newest_first_and_fetched() {
    let server =
        Server::start_with(support::Opts::default().flag("--manual-snapshot-interval", "0s")).await;
    server.room("r1", "persistent").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    ws.mutate("b1", vec![support::upsert("p1", "e1", r#"{"v":1}"#)])
        .await;
    ws.send(&huddle_wire::ClientMessage::Snapshot).await;
    let first = ws.recv_type("snapshot").await;
    ws.mutate(
        "b2",
        vec![
            support::upsert("p1", "e1", r#"{"v":2}"#),
            support::upsert("p2", "e2", "[1,2]"),
        ],
    )
    .await;
    ws.send(&huddle_wire::ClientMessage::Snapshot).await;
    // Auto-save snapshots may come in between; find the manual one at 3.
    let second = loop {
        match ws.recv_type("snapshot").await {
            huddle_wire::ServerMessage::Snapshot(info)
                if info.version == 3 && info.created_by.as_str() == "manual" =>
            {
                break info
            }
            _ => continue,
        }
    };
    let huddle_wire::ServerMessage::Snapshot(first) = first else {
        unreachable!()
    };
    assert_eq!(first.version, 1);

    let (status, list) = server.get("/rooms/r1/snapshots").await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().expect("array").clone();
    assert!(list.len() >= 2, "{list:?}");
    let versions: Vec<u64> = list
        .iter()
        .map(|s| s["version"].as_u64().unwrap())
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {versions:?}"
    );
    for s in &list {
        assert!(s["id"].is_string(), "{s}");
        assert!(is_rfc3339_utc(&s["created_at"]), "{s}");
        assert!(s["created_by"].is_string(), "{s}");
    }
    let listed = list
        .iter()
        .find(|s| s["id"] == second.id.as_str())
        .expect("manual snapshot listed");
    assert_eq!(listed["created_by"], "manual");

    let (status, snap) = server
        .get(&format!("/rooms/r1/snapshots/{}", second.id.as_str()))
        .await;
    assert_eq!(status, 200, "{snap}");
    assert_eq!(snap["version"], 3);
    assert_eq!(snap["created_by"], "manual");
    assert_eq!(
        snap["pages"],
        json!({"p1": {"e1": {"v": 2}}, "p2": {"e2": [1, 2]}})
    );

    let (status, body) = server.get("/rooms/r1/snapshots/does-not-exist").await;
    assert_eq!(status, 404, "{body}");
    // A snapshot is found only under its own room.
    server.room("r2", "persistent").await;
    let (status, body) = server
        .get(&format!("/rooms/r2/snapshots/{}", second.id.as_str()))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get("/rooms/nope/snapshots").await;
    assert_error(status, &body, 404, "BOARD_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_healthz_and_metrics() {
    let server = Server::start().await;
    let (status, stats) = server.get("/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["active_sessions"], 0);
    assert_eq!(stats["idle_sessions"], 0);
    assert_eq!(stats["total_participants"], 0);

    server.room("r1", "ephemeral").await;
    let (_a, _) = server.joined("alice", "r1").await;
    let (_b, _) = server.joined("bob", "r1").await;
    let (_, stats) = server.get("/stats").await;
    assert_eq!(stats["active_sessions"], 1, "{stats}");
    assert_eq!(stats["total_participants"], 2, "{stats}");

    let (status, _) = server.get_text("/healthz").await;
    assert_eq!(status, 200);
    let (status, text) = server.get_text("/metrics").await;
    assert_eq!(status, 200);
    // Prometheus text format: comment lines and `name{labels} value` samples.
    let samples: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(!samples.is_empty(), "no samples in /metrics:\n{text}");
    for line in &samples {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "not a Prometheus sample: {line}"
        );
    }
    assert!(text.contains("# TYPE"), "no # TYPE lines:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_admin_key() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let routes: [(Method, &str, Option<Value>); 6] = [
        (
            Method::POST,
            "/rooms",
            Some(json!({"id": "r2", "name": "n", "session_type": "ephemeral"})),
        ),
        (
            Method::POST,
            "/users",
            Some(json!({"user_id": "u", "display_name": "U", "room_id": "r1"})),
        ),
        (Method::GET, "/rooms/r1", None),
        (Method::GET, "/rooms/r1/snapshots", None),
        (Method::GET, "/rooms/r1/snapshots/any", None),
        (Method::GET, "/stats", None),
    ];
    for (method, path, body) in routes {
        for key in [None, Some("wrong-key")] {
            let (status, answer) = server
                .request(method.clone(), path, key, body.as_ref())
                .await;
            assert_error(status, &answer, 401, "UNAUTHORIZED");
        }
    }
    // Nothing was created by the refused calls.
    let (status, _) = server.get("/rooms/r2").await;
    assert_eq!(status, 404);
    // Health and metrics need no key.
    assert_eq!(server.get_text("/healthz").await.0, 200);
    assert_eq!(server.get_text("/metrics").await.0, 200);
}

/// Base64url without padding (JWT segments), for the header check.
fn base64url_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {text}"),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &c in text.as_bytes() {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_room_is_idle_until_its_timeout() {
    let server = Server::start_with(
        support::Opts::default()
            .flag("--idle-timeout-ephemeral", "5m")
            .flag("--idle-timeout-persistent", "5m"),
    )
    .await;
    server.room("r1", "ephemeral").await;
    let (ws, _) = server.joined("alice", "r1").await;
    ws.close().await;
    let info = server.wait_state("r1", "idle").await;
    assert_eq!(info["active_participants"], 0, "{info}");
    let (_, stats) = server.get("/stats").await;
    assert_eq!(stats["idle_sessions"], 1, "{stats}");
    assert_eq!(stats["active_sessions"], 0, "{stats}");
    // A join brings it back.
    let (_ws, _) = server.joined("bob", "r1").await;
    assert_eq!(server.room_info("r1").await["state"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_save_on_disconnect_and_retention() {
    let server = Server::start_with(
        support::Opts::default()
            .flag("--idle-timeout-persistent", "5m")
            .flag("--snapshot-retention", "3")
            .flag("--manual-snapshot-interval", "0s"),
    )
    .await;
    server.room("r1", "persistent").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    let (bob, _) = server.joined("bob", "r1").await;
    alice
        .mutate("b1", vec![support::upsert("p", "e", "1")])
        .await;
    // Auto-save (every 500 ms here) while participants are present.
    let causes = |list: &Value| -> Vec<String> {
        list.as_array()
            .map(|l| {
                l.iter()
                    .map(|s| s["created_by"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    support::poll("an auto-save snapshot", || async {
        let (_, list) = server.get("/rooms/r1/snapshots").await;
        causes(&list)
            .contains(&"auto-save".to_owned())
            .then_some(())
    })
    .await;
    // A leave after a change: an on-disconnect snapshot.
    alice
        .mutate("b2", vec![support::upsert("p", "e", "2")])
        .await;
    bob.close().await;
    support::poll("an on-disconnect snapshot at version 2", || async {
        let (_, list) = server.get("/rooms/r1/snapshots").await;
        list.as_array()
            .is_some_and(|l| {
                l.iter()
                    .any(|s| s["created_by"] == "on-disconnect" && s["version"] == 2)
            })
            .then_some(())
    })
    .await;
    // Retention: at most 3 kept, the newest ones.
    for i in 0..5 {
        alice
            .mutate(&format!("m{i}"), vec![support::upsert("p", "e", "3")])
            .await;
        // A manual snapshot is refused (`RATE_LIMITED`) while another of
        // the board is being stored, an auto-save included: ask again.
        'asked: loop {
            alice.send(&huddle_wire::ClientMessage::Snapshot).await;
            loop {
                match alice.recv().await {
                    huddle_wire::ServerMessage::Snapshot(info)
                        if info.created_by.as_str() == "manual" && info.version == 3 + i =>
                    {
                        break 'asked;
                    }
                    huddle_wire::ServerMessage::Error {
                        code: huddle_core::ErrorCode::RateLimited,
                        ..
                    } => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue 'asked;
                    }
                    _ => {}
                }
            }
        }
    }
    let list = support::poll("retention applied", || async {
        let (_, list) = server.get("/rooms/r1/snapshots").await;
        (list.as_array().map_or(0, Vec::len) <= 3).then_some(list)
    })
    .await;
    // The newest is at version 7 (an auto-save may share it with the
    // manual one), and the last manual snapshot is kept.
    assert_eq!(list[0]["version"], 7, "{list}");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["created_by"] == "manual" && s["version"] == 7),
        "{list}"
    );
}
