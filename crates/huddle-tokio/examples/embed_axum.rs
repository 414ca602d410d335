//! Embedding the Huddle driver in your own axum app: one WebSocket route
//! that speaks Huddle's protocol, a Prometheus page, graceful shutdown.
//!
//! ```text
//! cargo run -p huddle-tokio --example embed_axum   # ADDR=host:port to change
//! # then connect a WebSocket client to
//! #   ws://127.0.0.1:3000/boards/demo/ws?user=alice
//! # and send {"type":"join","board":"demo"}
//! ```
//!
//! Authentication is yours: this example trusts the `user` query
//! parameter. A real app checks a session or token and builds the
//! `Identity` from it.

use std::collections::HashMap;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use huddle_core::ErrorCode;
use huddle_store::InMemoryStore;
use huddle_tokio::{Connection, Driver, DriverConfig, Outbound};
use huddle_wire::{ClientMessage, Identity};

type AppDriver = Driver<InMemoryStore>;

/// Frames larger than this get `PAYLOAD_TOO_LARGE` (the connection stays).
const MAX_FRAME_BYTES: usize = 1 << 20;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Any `huddle_store::Store` works: `huddle_sqlite::SqliteStore` to keep
    // boards across restarts.
    let driver = Driver::start(DriverConfig::default(), InMemoryStore::new());

    let app = Router::new()
        .route("/boards/{board}/ws", get(ws_route))
        .route("/metrics", get(metrics))
        .with_state(driver.clone());

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // Stop accepting, archive every board, close connections with 1012.
    driver.shutdown().await;
    Ok(())
}

async fn metrics(State(driver): State<AppDriver>) -> String {
    driver.metrics().render_prometheus()
}

async fn ws_route(
    ws: WebSocketUpgrade,
    Path(board): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    State(driver): State<AppDriver>,
) -> Response {
    let user = query.get("user").cloned().unwrap_or_else(|| "guest".into());
    let identity = Identity {
        user: user.as_str().into(),
        display_name: user,
        board: Some(board.into()),
        session_type: None,
    };
    ws.on_upgrade(move |socket| async move {
        // Refused only while shutting down: the socket just closes.
        if let Ok(conn) = driver.connect(identity) {
            serve(socket, conn).await;
        }
    })
}

/// Pumps one socket: client frames into the driver, driver frames out.
async fn serve(mut socket: WebSocket, conn: Connection) {
    let Connection {
        sender,
        mut outbound,
        ..
    } = conn;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        let _ = sender.reject(ErrorCode::InvalidMessage, "text frames only".into(), None);
                        continue;
                    }
                    Some(Ok(_)) => continue, // ping/pong are handled by axum
                    Some(Err(_)) | None => break,
                };
                let sent = if text.len() > MAX_FRAME_BYTES {
                    sender.reject(ErrorCode::PayloadTooLarge, "frame too large".into(), None)
                } else {
                    match ClientMessage::from_json(text.as_bytes()) {
                        Ok(msg) => sender.send(msg),
                        Err(e) => sender.reject(e.code(), e.to_string(), None),
                    }
                };
                if sent.is_err() {
                    break; // closed by the driver, or flooding it
                }
            }
            frame = outbound.recv() => match frame {
                Some(Outbound::Text(json)) => {
                    let Ok(text) = Utf8Bytes::try_from(json) else { continue };
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close { code, reason }) => {
                    let close = CloseFrame { code, reason: reason.into() };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    break;
                }
                None => break, // the driver has stopped
            },
        }
    }
    // Dropping the last sender would do the same.
    sender.disconnect();
}
