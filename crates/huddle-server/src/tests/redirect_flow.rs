//! Routing between two in-process servers: node A's store refuses the
//! board's acquire because node B holds it (a wrapper around the in-memory
//! store answers `OwnedElsewhere`, as a store with leases does). A join at
//! A gets the `redirect` frame naming B and close 4003; the Rust client
//! machine, driven over real WebSockets from A's URL, follows it and ends
//! served by B.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle_client::{
    Client, ClientConfig, ClientOutput, ClientSignal, ConnectFailure, ConnectionState, Credentials,
    TransportId,
};
use huddle_core::{
    BoardId, BoardOwner, Event, LoadedBoard, Mutation, Snapshot, SnapshotId, UserSessionRecord,
};
use huddle_store::{
    Acquired, AppendBatch, BoardSummary, Epoch, FlushWrite, InMemoryStore, Node as LeaseNode, Room,
    SessionIndex, SnapshotMeta, Store, StoreError, UnknownBoard,
};
use huddle_tokio::{Driver, DriverConfig};
use huddle_wire::{close, ServerMessage};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::harness::{admin, args, create_room, token, KEY};
use crate::auth::TokenKeys;
use crate::config::{engine_config, ServerSettings};
use crate::http::router;
use crate::node::NodeIdentity;
use crate::state::{now, AppState};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ROOM: &str = "r";

/// The in-memory store, except that acquiring `board` is refused: `owner`
/// holds its lease.
struct OwnedElsewhere {
    inner: InMemoryStore,
    board: BoardId,
    owner: BoardOwner,
}

impl Store for OwnedElsewhere {
    fn create_room(&self, room: Room) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.create_room(room)
    }
    fn room(&self, id: &BoardId) -> impl Future<Output = Result<Option<Room>, StoreError>> + Send {
        self.inner.room(id)
    }
    async fn acquire_board(
        &self,
        board: &BoardId,
        node: &LeaseNode,
    ) -> Result<Acquired, StoreError> {
        if *board == self.board {
            return Err(StoreError::OwnedElsewhere {
                board: board.clone(),
                owner: self.owner.clone(),
            });
        }
        self.inner.acquire_board(board, node).await
    }
    fn renew_leases(
        &self,
        node: &LeaseNode,
        boards: &[BoardId],
    ) -> impl Future<Output = Result<Vec<BoardId>, StoreError>> + Send {
        self.inner.renew_leases(node, boards)
    }
    fn release_board(
        &self,
        board: &BoardId,
        epoch: Epoch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.release_board(board, epoch)
    }
    fn board_owner(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardOwner>, StoreError>> + Send {
        self.inner.board_owner(board)
    }
    fn load_board(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<LoadedBoard>, StoreError>> + Send {
        self.inner.load_board(board)
    }
    fn board_summary(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardSummary>, StoreError>> + Send {
        self.inner.board_summary(board)
    }
    fn append_events(
        &self,
        batches: Vec<AppendBatch>,
    ) -> impl Future<Output = Vec<Result<(), StoreError>>> + Send {
        self.inner.append_events(batches)
    }
    fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        self.inner.read_events(board, after, limit)
    }
    fn flush(&self, write: FlushWrite) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.flush(write)
    }
    fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> impl Future<Output = Result<SnapshotId, StoreError>> + Send {
        self.inner.store_snapshot(epoch, snapshot)
    }
    fn list_snapshots(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Vec<SnapshotMeta>, StoreError>> + Send {
        self.inner.list_snapshots(board)
    }
    fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        self.inner.get_snapshot(board, id)
    }
    fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.inner.prune_snapshots(board, epoch, keep_last)
    }
    fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.put_user_session(epoch, record)
    }
    fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> impl Future<Output = Result<Vec<UserSessionRecord>, StoreError>> + Send {
        self.inner.user_sessions(index)
    }
}

struct Node<S> {
    url: String,
    app: axum::Router,
    _state: AppState<S>,
}

/// Binds a loopback port and serves `store` there as node `id`.
async fn node<S: Store + 'static>(id: &str, store: S) -> Node<S> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let args = args();
    let config = DriverConfig {
        engine: engine_config(&args),
        shards: 1,
        unknown_board: UnknownBoard::NotFound,
        ..DriverConfig::default()
    };
    let driver = Driver::start(config, store);
    let identity = NodeIdentity {
        id: id.into(),
        url: url.clone(),
    };
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

/// Node B (serves the room) and node A (whose store says B holds it).
async fn cluster() -> (Node<Arc<OwnedElsewhere>>, Node<Arc<InMemoryStore>>) {
    let b = node("node-b", Arc::new(InMemoryStore::new())).await;
    let owner = BoardOwner {
        node: "node-b".into(),
        url: b.url.clone(),
    };
    let store = Arc::new(OwnedElsewhere {
        inner: InMemoryStore::new(),
        board: ROOM.into(),
        owner,
    });
    let a = node("node-a", store).await;
    // One database in a real cluster; here each node's store has the room.
    create_room(&a.app, ROOM, "persistent").await;
    create_room(&b.app, ROOM, "persistent").await;
    (a, b)
}

async fn open(url: &str, token: &str) -> Result<Ws, String> {
    tokio_tungstenite::connect_async(format!("{url}?token={token}"))
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_join_at_a_node_that_does_not_own_the_board_gets_redirect_and_4003() {
    let (a, b) = cluster().await;
    let token = token(&a.app, "alice", ROOM).await;
    let mut ws = open(&a.url, &token).await.unwrap();
    ws.send(Message::text(
        json!({"type":"join","board":ROOM}).to_string(),
    ))
    .await
    .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a frame")
        .expect("open")
        .expect("read");
    let Message::Text(text) = frame else {
        panic!("{frame:?}")
    };
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
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
    // The board was not loaded at A, and A does not claim it.
    let (_, room) = admin(&a.app, "GET", "/rooms/r", None).await;
    assert_eq!(room["owner"], Value::Null, "{room}");
    assert_eq!(room["active_participants"], 0);
    let text = metrics_text(&a.app).await;
    let redirects = text
        .lines()
        .find_map(|l| l.strip_prefix("huddle_redirects_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .expect("huddle_redirects_total in /metrics");
    assert!(redirects >= 1, "{redirects}");
}

async fn metrics_text(app: &axum::Router) -> String {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .uri("/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A host of the client machine over real sockets: `Connect` opens the
/// URL it names (or `home`), frames go to `handle_message`, closes to
/// `transport_closed`. Runs until the client is connected and has no
/// unacknowledged batch; returns the events seen and the URL of the
/// transport it ended on.
async fn drive(client: &mut Client, home: &str) -> (Vec<ClientSignal>, String) {
    let mut events = Vec::new();
    let mut current: Option<(TransportId, Ws, String)> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not served in time: {events:?}"
        );
        while let Some(output) = client.poll_output() {
            match output {
                ClientOutput::Connect {
                    transport,
                    credentials,
                    url,
                } => {
                    let url = url.unwrap_or_else(|| home.to_owned());
                    match open(&url, &credentials.token).await {
                        Ok(ws) => {
                            current = Some((transport, ws, url));
                            client.transport_open(now(), transport);
                        }
                        Err(e) => {
                            client.transport_failed(now(), transport, ConnectFailure::Network(e))
                        }
                    }
                }
                ClientOutput::Send { transport, message } => {
                    if let Some((t, ws, _)) = current.as_mut().filter(|(t, ..)| *t == transport) {
                        let text = message.to_json().unwrap();
                        if ws.send(Message::text(text)).await.is_err() {
                            let t = *t;
                            current = None;
                            client.transport_closed(now(), t, None);
                        }
                    }
                }
                ClientOutput::Close { transport } => {
                    if current.as_ref().is_some_and(|(t, ..)| *t == transport) {
                        if let Some((_, mut ws, _)) = current.take() {
                            let _ = ws.close(None).await;
                        }
                    }
                }
                ClientOutput::NeedCredentials { .. } => {
                    panic!("a redirect needs no new credentials")
                }
                ClientOutput::Signal(e) => events.push(e),
            }
        }
        if client.state() == ConnectionState::Connected && client.unacked_batches() == 0 {
            let url = current.map(|(.., url)| url).unwrap_or_default();
            return (events, url);
        }
        let Some((t, ws, _)) = current.as_mut() else {
            if let Some(at) = client.poll_timeout() {
                tokio::time::sleep(Duration::from_millis(
                    at.as_millis().saturating_sub(now().as_millis()),
                ))
                .await;
                client.handle_timeout(now());
                continue;
            }
            panic!("the client stopped: {:?} {events:?}", client.state());
        };
        let t = *t;
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let message = ServerMessage::from_json(text.as_bytes()).unwrap();
                client.handle_message(now(), t, message);
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                current = None;
                client.transport_closed(now(), t, frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => {
                current = None;
                client.transport_closed(now(), t, None);
            }
            Err(_) => panic!("no frame from the server in 5 s: {events:?}"),
        }
    }
}

#[tokio::test]
async fn the_client_machine_follows_the_redirect_and_is_served_by_the_owner() {
    let (a, b) = cluster().await;
    let token = token(&a.app, "alice", ROOM).await;
    let mut client = Client::new(ClientConfig::default(), ROOM, 11);
    client
        .mutate(
            now(),
            vec![Mutation::Upsert {
                page: "p".into(),
                element: "e".into(),
                data: "1".into(),
            }],
        )
        .unwrap();
    client.connect(now(), Credentials::new(token)).unwrap();
    let (events, served_by) = drive(&mut client, &a.url).await;
    assert_eq!(served_by, b.url, "ended on the owner");
    assert!(
        events.contains(&ClientSignal::Redirected {
            node: "node-b".into(),
            url: b.url.clone(),
            hop: 1,
        }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientSignal::Acked { sequence: 1, .. })),
        "{events:?}"
    );
    assert_eq!(client.replica().sequence(), Some(1));
    // B serves the board, and says so.
    let (_, room) = admin(&b.app, "GET", "/rooms/r", None).await;
    assert_eq!(
        room["owner"],
        json!({"node":"node-b","url":b.url}),
        "{room}"
    );
    assert_eq!(room["active_participants"], 1);
    assert_eq!(room["sequence"], 1);
    let (_, room) = admin(&a.app, "GET", "/rooms/r", None).await;
    assert_eq!(room["owner"], Value::Null);
    assert_eq!(room["sequence"], 0, "nothing was written at A");
}
