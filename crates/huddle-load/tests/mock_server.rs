//! The load generator against a minimal in-process mock of the server's
//! contract (rooms, tokens, join, mutate -> ack, broadcasts to the other
//! clients of a board), so that the generator is tested without the real
//! server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use huddle_core::{Color, FullSyncReason, Pages, UserSessionId};
use huddle_wire::{ClientMessage, JoinedMessage, ServerMessage, WireSync};
use serde_json::{json, Value};
use tokio::sync::broadcast;

const KEY: &str = "mock-key";

/// Per board: a broadcast of `(sender connection, events frame)`.
type Boards = Arc<Mutex<HashMap<String, broadcast::Sender<(u64, String)>>>>;

#[derive(Clone, Default)]
struct Mock {
    sequences: Arc<Mutex<HashMap<String, u64>>>,
    boards: Boards,
    next_conn: Arc<AtomicU64>,
    /// Refuse every n-th batch with RATE_LIMITED (0: never).
    refuse_every: u64,
}

async fn rooms(State(m): State<Mock>, Json(body): Json<Value>) -> impl IntoResponse {
    let id = body["id"].as_str().unwrap_or("r").to_owned();
    m.sequences.lock().unwrap().insert(id.clone(), 0);
    m.boards
        .lock()
        .unwrap()
        .insert(id.clone(), broadcast::channel(4096).0);
    (
        StatusCode::CREATED,
        Json(
            json!({"id": id, "name": body["name"], "session_type": body["session_type"], "created_at": "2026-01-01T00:00:00Z"}),
        ),
    )
}

async fn users(headers: axum::http::HeaderMap, Json(body): Json<Value>) -> impl IntoResponse {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer mock-key") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": "UNAUTHORIZED", "message": "key"})),
        );
    }
    let token = format!(
        "{}.{}",
        body["room_id"].as_str().unwrap(),
        body["user_id"].as_str().unwrap()
    );
    (
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_at": "2099-01-01T00:00:00Z"})),
    )
}

async fn ws(
    State(m): State<Mock>,
    Query(q): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    let token = q.get("token").cloned().unwrap_or_default();
    upgrade.on_upgrade(move |socket| connection(m, token, socket))
}

async fn connection(m: Mock, token: String, mut socket: WebSocket) {
    let conn = m.next_conn.fetch_add(1, Ordering::Relaxed);
    let room = token.split('.').next().unwrap_or_default().to_owned();
    let mut rx: Option<broadcast::Receiver<(u64, String)>> = None;
    let mut n = 0u64;
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let Some(Ok(Message::Text(text))) = frame else { return };
                let reply = match ClientMessage::from_json(text.as_bytes()) {
                    Ok(ClientMessage::Join { board, .. }) => {
                        assert_eq!(board.as_str(), room);
                        rx = Some(m.boards.lock().unwrap()[&room].subscribe());
                        ServerMessage::Joined(Box::new(JoinedMessage {
                            session_id: UserSessionId(conn),
                            board,
                            color: Color::from_index(0),
                            participants: vec![],
                            sequence: 0,
                            history_from: 0,
                            sync: WireSync::Full { reason: FullSyncReason::Initial, pages: Pages::new() },
                        }))
                    }
                    Ok(ClientMessage::Mutate { batch, mutations }) => {
                        n += 1;
                        if m.refuse_every > 0 && n % m.refuse_every == 0 {
                            ServerMessage::error(huddle_core::ErrorCode::RateLimited, "busy", Some(batch))
                        } else {
                            let sequence = {
                                let mut seqs = m.sequences.lock().unwrap();
                                let s = seqs.get_mut(&room).unwrap();
                                *s += mutations.len() as u64;
                                *s
                            };
                            let events = format!(r#"{{"type":"events","events":[{{"seq":{sequence},"user":"u","op":"delete","page":"p","element":"e"}}]}}"#);
                            let _ = m.boards.lock().unwrap()[&room].send((conn, events));
                            ServerMessage::Ack { batch, sequence }
                        }
                    }
                    Ok(_) => continue,
                    Err(e) => ServerMessage::error(huddle_core::ErrorCode::InvalidMessage, e.to_string(), None),
                };
                if socket.send(Message::Text(reply.to_json().unwrap().into())).await.is_err() {
                    return;
                }
            }
            event = async { rx.as_mut().unwrap().recv().await }, if rx.is_some() => {
                if let Ok((from, text)) = event {
                    if from != conn && socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn start(mock: Mock) -> String {
    let app = Router::new()
        .route("/rooms", post(rooms))
        .route("/users", post(users))
        .route("/ws", get(ws))
        .with_state(mock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn args(url: &str) -> huddle_load::LoadArgs {
    let mut args = huddle_load::LoadArgs::with_defaults(url, KEY);
    args.clients = 6;
    args.boards = 2;
    args.batch = 5;
    args.duration = Duration::from_millis(800);
    args.warmup = Duration::from_millis(200);
    args.no_progress = true;
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_fast_as_possible_against_the_mock() {
    let url = start(Mock::default()).await;
    let report = huddle_load::run(args(&url)).await.expect("run");
    println!("{report}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.acked_batches > 10, "{report}");
    assert_eq!(report.acked_mutations, report.acked_batches * 5);
    assert!(report.latency.count > 0);
    assert!(report.latency.p50 <= report.latency.p99);
    assert!(report.latency.p99 <= report.latency.max);
    assert!(report.event_frames > 0, "broadcasts were received");
    let text = report.to_string();
    assert!(text.contains("acked mutations/s"), "{text}");
    assert!(text.contains("p99.9"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_rate_is_kept() {
    let url = start(Mock::default()).await;
    let mut args = args(&url);
    args.rate = 3000; // 600 batches/s over 6 clients
    args.duration = Duration::from_secs(1);
    let report = huddle_load::run(args).await.expect("run");
    println!("{report}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let rate = report.mutations_per_sec;
    assert!((2000.0..=4000.0).contains(&rate), "rate {rate}: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_code() {
    let url = start(Mock {
        refuse_every: 3,
        ..Mock::default()
    })
    .await;
    let report = huddle_load::run(args(&url)).await.expect("run");
    println!("{report}");
    assert!(
        report.errors.get("RATE_LIMITED").copied().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(report.acked_batches > 0);
    assert!(report.to_string().contains("RATE_LIMITED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_errors_are_reported() {
    let url = start(Mock::default()).await;
    let mut args = args(&url);
    args.admin_key = "wrong".into();
    let err = huddle_load::run(args).await.expect_err("wrong key");
    assert!(err.to_string().contains("401"), "{err}");
    let mut args = huddle_load::LoadArgs::with_defaults("http://127.0.0.1:1", KEY);
    args.no_progress = true;
    assert!(huddle_load::run(args).await.is_err());
}
