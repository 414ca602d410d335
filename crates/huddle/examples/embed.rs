//! An axum service with Huddle rooms on SQLite: `cargo run -p huddle-engine
//! --example embed`, then open a WebSocket to ws://127.0.0.1:3000/boards/b/alice.
use std::{future::Future, path::Path as FilePath, time::Duration};

use axum::extract::{Path, State, WebSocketUpgrade};
use axum::{response::Response, routing::get, Router};
use huddle::axum::{accept, serve_until, SocketOptions};
use huddle::{Driver, DriverConfig, Member, SqliteOptions, SqliteStore};

/// Stand-in for real auth: the path names the user, and is trusted.
async fn ws(
    ws: WebSocketUpgrade,
    Path((board, user)): Path<(String, String)>,
    State(rooms): State<Driver<SqliteStore>>,
) -> Response {
    let member = Member::new(board, user.clone(), user);
    accept(&rooms, ws, member, SocketOptions::new())
}

/// Serves on `listener` with SQLite at `db` until `signal`, then stops in order.
pub async fn run(
    listener: tokio::net::TcpListener,
    db: &FilePath,
    signal: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = SqliteStore::open(db, SqliteOptions::new()).await?;
    let rooms = Driver::start(DriverConfig::new(), store);
    let app = Router::new()
        .route("/boards/{board}/{user}", get(ws))
        .with_state(rooms.clone());
    Ok(serve_until(listener, app, &rooms, signal, Duration::from_secs(30)).await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let ctrl_c = async { tokio::signal::ctrl_c().await.unwrap_or(()) };
    run(listener, "huddle-data/embed.db".as_ref(), ctrl_c).await
}
