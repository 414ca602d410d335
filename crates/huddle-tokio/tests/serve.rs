//! `huddle_tokio::axum::serve_until`: the app's axum server and the driver
//! stop together in the driver's order (sockets closed with 1012 after
//! `session_closed`, the listener closed, the driver refusing new
//! connections), and an HTTP request that outlives the driver's shutdown
//! by the timeout is reported, not waited for.

mod common;

use std::time::Duration;

use axum::extract::{Path, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use huddle_store::InMemoryStore;
use huddle_tokio::axum::{accept, serve_until, ServeError, SocketOptions};
use huddle_tokio::{close, Driver, DriverError, Member};
use tokio::io::AsyncWriteExt;
use tokio::sync::{oneshot, Notify};
use tokio_tungstenite::tungstenite::Message;

type Rooms = Driver<InMemoryStore>;

async fn ws(
    ws: WebSocketUpgrade,
    Path((board, user)): Path<(String, String)>,
    State(rooms): State<Rooms>,
) -> Response {
    accept(
        &rooms,
        ws,
        Member::new(board, user.clone(), user),
        SocketOptions::new(),
    )
}

/// Serves `app` with `rooms` on a free port until the returned sender
/// fires; the task gives `serve_until`'s result.
async fn start(
    rooms: &Rooms,
    app: Router,
    timeout: Duration,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ServeError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let rooms = rooms.clone();
    let task = tokio::spawn(async move {
        let signal = async {
            let _ = stopped.await;
        };
        serve_until(listener, app, &rooms, signal, timeout).await
    });
    (addr, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_and_the_driver_stop_together_in_the_drivers_order() {
    let rooms = Driver::start(common::config(1), InMemoryStore::new());
    let app = Router::new()
        .route("/{board}/{user}", get(ws))
        .with_state(rooms.clone());
    let (addr, stop, task) = start(&rooms, app, Duration::from_secs(10)).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/b/alice"))
        .await
        .expect("connect");
    socket
        .send(Message::text(r#"{"type":"join","board":"b"}"#))
        .await
        .expect("send");
    let mut types = Vec::new();
    let mut code = None;
    let mut stop = Some(stop);
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a frame within 10 s")
        .transpose()
    {
        match frame {
            Message::Text(text) => {
                let value: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON");
                types.push(value["type"].as_str().unwrap_or_default().to_owned());
                // Joined: now the signal.
                if let Some(stop) = stop.take() {
                    stop.send(()).expect("serving");
                }
            }
            Message::Close(frame) => code = frame.map(|f| u16::from(f.code)),
            _ => {}
        }
    }
    assert_eq!(
        types.first().map(String::as_str),
        Some("joined"),
        "{types:?}"
    );
    assert_eq!(
        types.last().map(String::as_str),
        Some("session_closed"),
        "{types:?}"
    );
    assert_eq!(code, Some(close::SERVICE_RESTART));
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve_until returns")
        .expect("no panic");
    assert!(result.is_ok(), "{result:?}");
    // Both are stopped: the driver refuses, the listener is gone.
    let refused = rooms.connect(Member::new("b", "bob", "Bob"));
    assert_eq!(refused.err(), Some(DriverError::ShuttingDown));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_open_past_the_timeout_is_reported_not_waited_for() {
    let rooms = Driver::start(common::config(1), InMemoryStore::new());
    let started = std::sync::Arc::new(Notify::new());
    let app = Router::new().route(
        "/hang",
        get({
            let started = started.clone();
            move || async move {
                started.notify_one();
                std::future::pending::<()>().await;
            }
        }),
    );
    let timeout = Duration::from_millis(300);
    let (addr, stop, task) = start(&rooms, app, timeout).await;
    let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET /hang HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .expect("request");
    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("the handler runs");
    stop.send(()).expect("serving");
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve_until returns despite the open request")
        .expect("no panic");
    assert!(
        matches!(result, Err(ServeError::ServerTimedOut(t)) if t == timeout),
        "{result:?}"
    );
    // The driver's part was done before: it refuses new connections.
    let refused = rooms.connect(Member::new("b", "bob", "Bob"));
    assert_eq!(refused.err(), Some(DriverError::ShuttingDown));
}
