//! The WebSocket pump (`huddle_tokio::axum`) on real sockets, with options
//! other than the defaults: the soft and hard frame limits (the driver's
//! `max_frame_bytes` and four times it), the join
//! deadline, an expiry, and `accept` refusing once shutdown has begun;
//! each counted in the driver's metrics. (`huddle serve`'s black-box tests
//! cover the rest with the server's flags.)

mod common;

use std::time::Duration;

use axum::extract::{Path, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use huddle_store::InMemoryStore;
use huddle_tokio::axum::{accept, upgrade, SocketOptions};
use huddle_tokio::{close, Driver, Member};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

type Rooms = Driver<InMemoryStore>;
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn options() -> SocketOptions {
    SocketOptions::new().join_timeout(Duration::from_millis(300))
}

/// `/{board}/{user}` pumps with [`options`]; `/expiring/{board}/{user}`
/// also closes the socket 300 ms after the upgrade.
async fn serve(rooms: Rooms) -> String {
    async fn ws(
        ws: WebSocketUpgrade,
        Path((board, user)): Path<(String, String)>,
        State(rooms): State<Rooms>,
    ) -> Response {
        accept(
            &rooms,
            ws,
            Member::new(board, user.clone(), user),
            options(),
        )
    }
    async fn expiring(
        ws: WebSocketUpgrade,
        Path((board, user)): Path<(String, String)>,
        State(rooms): State<Rooms>,
    ) -> Response {
        let connection = rooms
            .connect(Member::new(board, user.clone(), user))
            .expect("connect");
        let expires = Instant::now() + Duration::from_millis(300);
        upgrade(ws, connection, options(), Some(expires))
    }
    let app = Router::new()
        .route("/{board}/{user}", get(ws))
        .route("/expiring/{board}/{user}", get(expiring))
        .with_state(rooms);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("ws://{addr}")
}

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

/// The next text frame as JSON, or the close code.
async fn next(ws: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).expect("JSON"))
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn send(ws: &mut Socket, text: String) {
    ws.send(Message::text(text)).await.expect("send");
}

#[tokio::test]
async fn frames_over_the_soft_limit_are_refused_and_over_the_hard_one_close() {
    // The pump takes its frame limit from the driver: one setting.
    let config = common::config(1).max_frame_bytes(512);
    let rooms = Driver::start(config, InMemoryStore::new());
    let base = serve(rooms.clone()).await;
    let mut ws = connect(&format!("{base}/b/alice")).await;
    send(&mut ws, r#"{"type":"join","board":"b"}"#.into()).await;
    assert_eq!(next(&mut ws).await.expect("joined")["type"], "joined");
    // Within the limit: handled.
    send(
        &mut ws,
        format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(400)),
    )
    .await;
    assert_eq!(next(&mut ws).await.expect("pong")["type"], "pong");
    // 513..=2048 bytes: refused, the socket stays.
    send(
        &mut ws,
        format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(600)),
    )
    .await;
    let refused = next(&mut ws).await.expect("an error");
    assert_eq!(refused["code"], "PAYLOAD_TOO_LARGE", "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("limit of 512 bytes"), "{refused}");
    send(&mut ws, "not json".into()).await;
    let refused = next(&mut ws).await.expect("an error");
    assert_eq!(refused["code"], "INVALID_MESSAGE", "{refused}");
    // Over 4 x 512 bytes: the socket is closed with 1009.
    send(&mut ws, "x".repeat(2100)).await;
    assert_eq!(next(&mut ws).await, Err(Some(close::MESSAGE_TOO_BIG)));
    let metrics = rooms.metrics();
    assert_eq!(metrics.frames_refused("PAYLOAD_TOO_LARGE"), 1);
    assert_eq!(metrics.frames_refused("INVALID_MESSAGE"), 1);
    assert_eq!(metrics.frames_refused("FRAME_TOO_BIG"), 1);
    assert!(metrics.frames_received() >= 3);
}

#[tokio::test]
async fn a_socket_without_a_join_is_closed_at_the_join_deadline() {
    let rooms = Driver::start(common::config(1), InMemoryStore::new());
    let base = serve(rooms.clone()).await;
    let mut ws = connect(&format!("{base}/b/alice")).await;
    let started = std::time::Instant::now();
    assert_eq!(next(&mut ws).await, Err(Some(close::JOIN_TIMEOUT)));
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(rooms.metrics().ws_closed("join_timeout"), 1);
}

#[tokio::test]
async fn a_socket_is_closed_when_it_expires() {
    let rooms = Driver::start(common::config(1), InMemoryStore::new());
    let base = serve(rooms.clone()).await;
    let mut ws = connect(&format!("{base}/expiring/b/alice")).await;
    send(&mut ws, r#"{"type":"join","board":"b"}"#.into()).await;
    assert_eq!(next(&mut ws).await.expect("joined")["type"], "joined");
    assert_eq!(next(&mut ws).await, Err(Some(close::AUTH_FAILED)));
    assert_eq!(rooms.metrics().ws_closed("token_expired"), 1);
}

#[tokio::test]
async fn accept_answers_503_once_shutdown_has_begun() {
    let rooms = Driver::start(common::config(1), InMemoryStore::new());
    let base = serve(rooms.clone()).await;
    rooms.shutdown().await;
    match tokio_tungstenite::connect_async(format!("{base}/b/alice")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
}
