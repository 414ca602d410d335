use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle_store::InMemoryStore;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::harness::{admin, args, create_room, state_with, token};
use crate::cli::ServeArgs;
use crate::http::router;
use crate::state::AppState;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    addr: std::net::SocketAddr,
    app: axum::Router,
    state: AppState<Arc<InMemoryStore>>,
}

async fn server(args: &ServeArgs) -> Server {
    let state = state_with(args);
    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.clone();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Server { addr, app, state }
}

async fn connect(s: &Server, token: &str) -> Ws {
    let url = format!("ws://{}/ws?token={token}", s.addr);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// The next text frame as JSON (skipping nothing; fails on timeout).
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("timed out waiting for a frame")
            .expect("stream ended")
            .expect("read failed");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// The next frame of a given type, skipping others.
async fn recv_type(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let v = recv(ws).await;
        if v["type"] == kind {
            return v;
        }
    }
}

async fn expect_close(ws: &mut Ws) -> u16 {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("timed out waiting for close");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) => return 1005,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("read failed before close: {e}"),
            None => panic!("ended without a close frame"),
        }
    }
}

#[tokio::test]
async fn join_mutate_ack_and_broadcast() {
    let s = server(&args()).await;
    create_room(&s.app, "r", "persistent").await;
    let mut alice = connect(&s, &token(&s.app, "alice", "r").await).await;
    send(&mut alice, json!({"type":"join","board":"r"})).await;
    let joined = recv(&mut alice).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["board"], "r");
    assert_eq!(joined["sync"]["kind"], "full");
    assert_eq!(joined["sync"]["reason"], "initial");

    let mut bob = connect(&s, &token(&s.app, "bob", "r").await).await;
    send(
        &mut bob,
        json!({"type":"join","board":"r","last_sequence":0}),
    )
    .await;
    let joined = recv(&mut bob).await;
    assert_eq!(joined["type"], "joined");
    assert_eq!(joined["participants"].as_array().unwrap().len(), 2);
    let hello = recv_type(&mut alice, "participant_joined").await;
    assert_eq!(hello["user_id"], "bob");

    send(
        &mut alice,
        json!({"type":"mutate","batch":"b1","mutations":[
            {"op":"upsert","page":"p","element":"e","data":{"x":1.50,"t":"hi"}}]}),
    )
    .await;
    let ack = recv_type(&mut alice, "ack").await;
    assert_eq!(ack, json!({"type":"ack","batch":"b1","sequence":1}));
    let events = recv_type(&mut bob, "events").await;
    assert_eq!(events["events"][0]["seq"], 1);
    assert_eq!(events["events"][0]["user"], "alice");

    let (_, room) = admin(&s.app, "GET", "/rooms/r", None).await;
    assert_eq!(room["state"], "active");
    assert_eq!(room["sequence"], 1);
    assert_eq!(room["active_participants"], 2);
    assert_eq!(room["participants"][0]["user_id"], "alice");
    assert!(room["participants"][0]["color"]
        .as_str()
        .unwrap()
        .starts_with('#'));

    // Manual snapshot, then it is listed and readable.
    send(&mut alice, json!({"type":"snapshot"})).await;
    let snap = recv_type(&mut alice, "snapshot").await;
    let (_, list) = admin(&s.app, "GET", "/rooms/r/snapshots", None).await;
    assert_eq!(list[0]["id"], snap["id"]);
    assert_eq!(list[0]["created_by"], "manual");
    let sid = list[0]["id"].as_str().unwrap().to_owned();
    let (status, one) = admin(&s.app, "GET", &format!("/rooms/r/snapshots/{sid}"), None).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert_eq!(one["version"], 1);
    assert_eq!(one["pages"], json!({"p":{"e":{"x":1.50,"t":"hi"}}}));
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_stays_usable() {
    let s = server(&args()).await;
    create_room(&s.app, "r", "ephemeral").await;
    let mut ws = connect(&s, &token(&s.app, "alice", "r").await).await;

    ws.send(Message::text("{not json")).await.unwrap();
    assert_eq!(recv(&mut ws).await["code"], "INVALID_MESSAGE");
    send(&mut ws, json!({"type":"dance"})).await;
    assert_eq!(recv(&mut ws).await["code"], "INVALID_MESSAGE");
    for frame in [
        json!({"type":"mutate","batch":"b","mutations":[{"op":"delete","page":"p","element":"e"}]}),
        json!({"type":"cursor","x":1,"y":2}),
        json!({"type":"snapshot"}),
        json!({"type":"leave"}),
    ] {
        send(&mut ws, frame.clone()).await;
        assert_eq!(recv(&mut ws).await["code"], "NOT_JOINED", "{frame}");
    }
    ws.send(Message::binary(b"{}".to_vec())).await.unwrap();
    assert_eq!(recv(&mut ws).await["code"], "INVALID_MESSAGE");
    send(&mut ws, json!({"type":"join","board":"other"})).await;
    assert_eq!(recv(&mut ws).await["code"], "UNAUTHORIZED");

    // Over the soft limit (1024), under the hard one (4096).
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(2000));
    ws.send(Message::text(big)).await.unwrap();
    let err = recv(&mut ws).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "PAYLOAD_TOO_LARGE");

    send(&mut ws, json!({"type":"join","board":"r"})).await;
    assert_eq!(recv(&mut ws).await["type"], "joined");
    send(&mut ws, json!({"type":"join","board":"r"})).await;
    assert_eq!(recv(&mut ws).await["code"], "INVALID_MESSAGE");
    // A batch over --max-batch (5).
    let muts: Vec<Value> = (0..6)
        .map(|i| json!({"op":"delete","page":"p","element":format!("e{i}")}))
        .collect();
    send(
        &mut ws,
        json!({"type":"mutate","batch":"big","mutations":muts}),
    )
    .await;
    let err = recv(&mut ws).await;
    assert_eq!(err["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(err["batch"], "big");
    send(&mut ws, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut ws).await, json!({"type":"pong"}));

    // Beyond the hard limit: closed with 1009.
    let huge = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(5000));
    ws.send(Message::text(huge)).await.unwrap();
    assert_eq!(expect_close(&mut ws).await, 1009);
}

#[tokio::test]
async fn inactivity_timeout_closes_with_4002() {
    let mut a = args();
    a.inactivity_timeout = Duration::from_millis(300);
    let s = server(&a).await;
    create_room(&s.app, "r", "ephemeral").await;
    let mut ws = connect(&s, &token(&s.app, "alice", "r").await).await;
    send(&mut ws, json!({"type":"join","board":"r"})).await;
    assert_eq!(recv(&mut ws).await["type"], "joined");
    let timeout = recv_type(&mut ws, "session_timeout").await;
    assert_eq!(timeout["board"], "r");
    assert_eq!(expect_close(&mut ws).await, 4002);
}

#[tokio::test]
async fn shutdown_closes_connections_with_1012_and_archives() {
    let s = server(&args()).await;
    create_room(&s.app, "r", "persistent").await;
    let mut ws = connect(&s, &token(&s.app, "alice", "r").await).await;
    send(&mut ws, json!({"type":"join","board":"r"})).await;
    assert_eq!(recv(&mut ws).await["type"], "joined");
    send(
        &mut ws,
        json!({"type":"mutate","batch":"b1","mutations":[
        {"op":"upsert","page":"p","element":"e","data":1}]}),
    )
    .await;
    assert_eq!(recv_type(&mut ws, "ack").await["sequence"], 1);
    s.state.begin_shutdown();
    assert!(crate::shutdown::drain(&s.state.driver, Duration::from_secs(10)).await);
    assert_eq!(expect_close(&mut ws).await, 1012);
    let (_, room) = admin(&s.app, "GET", "/rooms/r", None).await;
    assert_eq!(room["state"], "archived", "{room}");
    assert_eq!(room["sequence"], 1);
    let (_, list) = admin(&s.app, "GET", "/rooms/r/snapshots", None).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["created_by"] == "archive"),
        "{list}"
    );
    // New upgrades are refused.
    let url = format!(
        "ws://{}/ws?token={}",
        s.addr,
        token(&s.app, "bob", "r").await
    );
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    let _ = CloseCode::Normal;
}

#[tokio::test]
async fn a_client_close_is_answered_and_ends_the_user_session() {
    let s = server(&args()).await;
    create_room(&s.app, "r", "ephemeral").await;
    let mut alice = connect(&s, &token(&s.app, "alice", "r").await).await;
    send(&mut alice, json!({"type":"join","board":"r"})).await;
    assert_eq!(recv(&mut alice).await["type"], "joined");
    let mut bob = connect(&s, &token(&s.app, "bob", "r").await).await;
    send(&mut bob, json!({"type":"join","board":"r"})).await;
    assert_eq!(recv(&mut bob).await["type"], "joined");
    alice.close(None).await.unwrap();
    // The close handshake completes: the server echoes the close frame.
    let echoed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(msg) = alice.next().await {
            if let Ok(Message::Close(_)) = msg {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(echoed, "no close frame echoed");
    let left = recv_type(&mut bob, "participant_left").await;
    assert_eq!(left["user_id"], "alice");
}
