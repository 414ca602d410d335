//! The embedding example (`examples/embed.rs`), run: it serves on a free
//! port, a WebSocket client joins a board, writes, and gets its ack; on the
//! signal the service closes the socket with 1012 after `session_closed`,
//! drains, closes its SQLite store and returns, and a reopened store finds
//! the write flushed. And the README shows the example verbatim.

#[allow(dead_code)]
#[path = "../examples/embed.rs"]
mod embed;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle::{SqliteOptions, SqliteStore, Store};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

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

async fn send(ws: &mut Socket, value: Value) {
    ws.send(Message::text(value.to_string()))
        .await
        .expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_serves_a_room_and_shuts_down_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("embed.db");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn({
        let db = db.clone();
        async move {
            let signal = async {
                let _ = stopped.await;
            };
            embed::run(listener, &db, signal)
                .await
                .map_err(|e| e.to_string())
        }
    });

    let url = format!("ws://{addr}/boards/b/alice");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    send(&mut ws, json!({"type": "join", "board": "b"})).await;
    let joined = next(&mut ws).await.expect("joined");
    assert_eq!(joined["type"], "joined", "{joined}");
    send(
        &mut ws,
        json!({"type": "mutate", "batch": "b1", "mutations": [
            {"op": "upsert", "page": "p", "element": "e", "data": {"x": 1}}]}),
    )
    .await;
    let ack = loop {
        let frame = next(&mut ws).await.expect("the ack");
        if frame["type"] == "ack" {
            break frame;
        }
    };
    assert_eq!(ack, json!({"type": "ack", "batch": "b1", "sequence": 1}));

    stop.send(()).expect("the service is running");
    let closed = next(&mut ws).await.expect("session_closed");
    assert_eq!(closed["type"], "session_closed", "{closed}");
    assert_eq!(next(&mut ws).await, Err(Some(1012)), "service restart");
    let result = tokio::time::timeout(Duration::from_secs(30), service)
        .await
        .expect("the service stops")
        .expect("no panic");
    assert_eq!(result, Ok(()));

    // The store was drained and closed: a new one on the file finds the
    // board flushed through the write.
    let store = SqliteStore::open(&db, SqliteOptions::default())
        .await
        .expect("reopen");
    let board = store
        .load_board(&"b".into())
        .await
        .expect("load")
        .expect("the board");
    assert_eq!(board.pages_sequence, 1);
    assert_eq!(board.pages.element_count(), 1);
}

#[test]
fn the_readme_shows_the_example_verbatim() {
    let readme = include_str!("../../../README.md");
    let example = include_str!("../examples/embed.rs");
    // `ignore`: huddle-core runs the README's other Rust blocks as its
    // doctests, without this crate; this file runs the example instead.
    let block = format!("```rust,ignore\n{example}```\n");
    assert!(
        readme.contains(&block),
        "README.md must show crates/huddle/examples/embed.rs verbatim in a ```rust,ignore block"
    );
}
