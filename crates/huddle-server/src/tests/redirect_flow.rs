//! Routing between two in-process nodes that share one store with real
//! leases (an in-memory store, each node its own driver and node id): a
//! client joined at node B first, so B holds the board's lease. A join at
//! node A gets the `redirect` frame naming B and close 4003, and A's
//! `GET /rooms/{id}` names B; the Rust client (`huddle_client::net`) that
//! starts at A's URL follows the redirect and is served by B. The same
//! over three processes on PostgreSQL is `tests/cluster.rs`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle_client::net::{spawn, NetConfig};
use huddle_client::{ClientSignal, ConnectionState, Credentials};
use huddle_core::Mutation;
use huddle_store::InMemoryStore;
use huddle_tokio::Driver;
use huddle_wire::close;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::harness::{admin, args, create_room, metrics_page, token, KEY};
use crate::auth::TokenKeys;
use crate::config::ServerSettings;
use crate::http::router;
use crate::node::NodeIdentity;
use crate::serve::driver_config;
use crate::state::AppState;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ROOM: &str = "r";

struct Node {
    url: String,
    app: axum::Router,
    _state: AppState<Arc<InMemoryStore>>,
}

/// Binds a loopback port and serves `store` there as node `id`.
async fn node(id: &str, store: Arc<InMemoryStore>) -> Node {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let args = args();
    let identity = NodeIdentity {
        id: id.into(),
        url: url.clone(),
    };
    let config = driver_config(&args, &identity)
        .shards(1)
        .node(huddle_store::Node::new(id, url.clone()));
    let driver = Driver::start(config, store);
    let state = AppState::new(
        driver,
        TokenKeys::new(KEY.as_bytes()),
        KEY,
        ServerSettings::from_args(&args, identity),
    );
    let app = router(state.clone());
    let service = app.clone();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Node {
        url,
        app,
        _state: state,
    }
}

async fn open(url: &str, token: &str) -> Ws {
    tokio_tungstenite::connect_async(format!("{url}?token={token}"))
        .await
        .expect("WebSocket upgrade")
        .0
}

/// The next text frame as JSON.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame")
            .expect("open")
            .expect("read");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Nodes A and B on one store; the room is joined at B (the returned
/// socket keeps it there), so B holds its lease.
async fn cluster() -> (Node, Node, Ws) {
    let store = Arc::new(InMemoryStore::new());
    let a = node("node-a", store.clone()).await;
    let b = node("node-b", store).await;
    create_room(&b.app, ROOM, "persistent").await;
    let mut keeper = open(&b.url, &token(&b.app, "keeper", ROOM).await).await;
    keeper
        .send(Message::text(
            json!({"type":"join","board":ROOM}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut keeper).await["type"], "joined");
    (a, b, keeper)
}

#[tokio::test]
async fn a_join_at_a_node_that_does_not_own_the_board_gets_redirect_and_4003() {
    let (a, b, _keeper) = cluster().await;
    let token = token(&a.app, "alice", ROOM).await;
    let mut ws = open(&a.url, &token).await;
    ws.send(Message::text(
        json!({"type":"join","board":ROOM}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({"type":"redirect","board":ROOM,"node":"node-b","url":b.url})
    );
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => break u16::from(f.code),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(code, close::REDIRECT);
    // The board was not loaded at A, and A names its owner.
    let (_, room) = admin(&a.app, "GET", "/rooms/r", None).await;
    assert_eq!(
        room["owner"],
        json!({"node":"node-b","url":b.url}),
        "{room}"
    );
    assert_eq!(room["active_participants"], 0);
    let text = metrics_page(&a.app).await;
    let redirects = text
        .lines()
        .find_map(|l| l.strip_prefix("huddle_redirects_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .expect("huddle_redirects_total in /metrics");
    assert!(redirects >= 1, "{redirects}");
}

#[tokio::test]
async fn the_client_follows_the_redirect_and_is_served_by_the_owner() {
    let (a, b, _keeper) = cluster().await;
    let token = token(&a.app, "alice", ROOM).await;
    let mut client = spawn(NetConfig::new(&a.url, ROOM, Credentials::new(token)));
    let upsert = Mutation::Upsert {
        page: "p".into(),
        element: "e".into(),
        data: "1".into(),
    };
    client.mutate(vec![upsert]).await.unwrap();
    let mut signals = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let seen = client.observe().await.unwrap();
        if seen.state == ConnectionState::Connected
            && seen.unacked_batches == 0
            && seen.replica.sequence() == Some(1)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not served: {signals:?}"
        );
        while let Some(signal) = client.try_signal() {
            signals.push(signal);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while let Some(signal) = client.try_signal() {
        signals.push(signal);
    }
    assert!(
        signals.contains(&ClientSignal::Redirected {
            node: "node-b".into(),
            url: b.url.clone(),
            hop: 1,
        }),
        "{signals:?}"
    );
    // B serves the board to both, and says so; A wrote nothing.
    let (_, room) = admin(&b.app, "GET", "/rooms/r", None).await;
    assert_eq!(
        room["owner"],
        json!({"node":"node-b","url":b.url}),
        "{room}"
    );
    assert_eq!(room["active_participants"], 2);
    assert_eq!(room["sequence"], 1);
    client.close().await;
}
