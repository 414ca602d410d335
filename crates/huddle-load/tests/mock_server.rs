//! The load generator against a minimal in-process mock of the server's
//! contract (rooms, tokens, join, mutate -> ack, broadcasts to the other
//! clients of a board, joins with a delta or a full sync, `/metrics` with
//! process figures, `/healthz`, and a node of a cluster that answers every
//! join with a `redirect` to another node and close 4003), so that the
//! generator is tested without the real server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use huddle_core::{BoardOwner, Color, FullSyncReason, Pages, UserSessionId};
use huddle_wire::{ClientMessage, JoinedMessage, ServerMessage, WireEvent, WireSync};
use serde_json::{json, Value};
use tokio::sync::broadcast;

const KEY: &str = "mock-key";

/// Per board: a broadcast of `(sender connection, events frame)`.
type Boards = Arc<Mutex<HashMap<String, broadcast::Sender<(u64, String)>>>>;

/// Per board: the elements and every event, in order.
type States = Arc<Mutex<HashMap<String, (Pages, Vec<WireEvent>)>>>;

#[derive(Clone, Default)]
struct Mock {
    sequences: Arc<Mutex<HashMap<String, u64>>>,
    boards: Boards,
    states: States,
    next_conn: Arc<AtomicU64>,
    /// Refuse every n-th batch with RATE_LIMITED (0: never).
    refuse_every: u64,
    /// `/metrics` scrapes so far.
    scrapes: Arc<AtomicU64>,
    /// A reconnect (a join with `last_sequence`) empties the board, as a
    /// server that lost acknowledged work would.
    lose_on_reconnect: bool,
    /// A node that owns no board: every join is redirected to this
    /// WebSocket URL (set once the owner's address is known).
    redirect_to: Arc<Mutex<Option<String>>>,
    /// Joins redirected so far.
    redirected: Arc<AtomicU64>,
}

/// The mock's `/metrics`: scrape `n` (from 1) reports `n * CPU_STEP` CPU
/// seconds, `n` MiB resident and `n * 2` MiB peak.
const CPU_STEP: f64 = 0.25;
const MIB: u64 = 1 << 20;

async fn metrics(State(m): State<Mock>) -> String {
    let n = m.scrapes.fetch_add(1, Ordering::SeqCst) + 1;
    format!(
        "# HELP process_cpu_seconds_total x\n# TYPE process_cpu_seconds_total counter\n\
         process_cpu_seconds_total {:.2}\nprocess_resident_memory_bytes {}\n\
         process_resident_memory_peak_bytes {}\nhuddle_uptime_seconds 1\n",
        n as f64 * CPU_STEP,
        n * MIB,
        n * 2 * MIB
    )
}

async fn rooms(State(m): State<Mock>, Json(body): Json<Value>) -> impl IntoResponse {
    let id = body["id"].as_str().unwrap_or("r").to_owned();
    m.sequences.lock().unwrap().insert(id.clone(), 0);
    m.states
        .lock()
        .unwrap()
        .insert(id.clone(), Default::default());
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
                let owner = m.redirect_to.lock().unwrap().clone();
                let reply = match ClientMessage::from_json(text.as_bytes()) {
                    Ok(ClientMessage::Join { board, .. }) if owner.is_some() => {
                        m.redirected.fetch_add(1, Ordering::SeqCst);
                        let owner = BoardOwner { node: "owner".into(), url: owner.unwrap_or_default() };
                        let frame = ServerMessage::Redirect { board, owner }.to_json().unwrap();
                        let _ = socket.send(Message::Text(frame.into())).await;
                        let close = CloseFrame { code: 4003, reason: "redirect".into() };
                        let _ = socket.send(Message::Close(Some(close))).await;
                        return;
                    }
                    Ok(ClientMessage::Join { board, last_sequence }) => {
                        assert_eq!(board.as_str(), room);
                        rx = Some(m.boards.lock().unwrap()[&room].subscribe());
                        let mut states = m.states.lock().unwrap();
                        let (pages, events) = states.get_mut(&room).unwrap();
                        if m.lose_on_reconnect && last_sequence.is_some() {
                            *pages = Pages::new();
                        }
                        let sequence = m.sequences.lock().unwrap()[&room];
                        let sync = match last_sequence {
                            Some(last) if last <= sequence => WireSync::Delta {
                                events: events.iter().filter(|e| e.seq > last).cloned().collect(),
                            },
                            Some(_) => WireSync::Full { reason: FullSyncReason::Ahead, pages: pages.clone() },
                            None => WireSync::Full { reason: FullSyncReason::Initial, pages: pages.clone() },
                        };
                        ServerMessage::Joined(Box::new(JoinedMessage {
                            session_id: UserSessionId(conn),
                            board,
                            color: Color::from_index(0),
                            participants: vec![],
                            sequence,
                            history_from: 0,
                            sync,
                            parts: 0,
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
                                let mut states = m.states.lock().unwrap();
                                let (pages, events) = states.get_mut(&room).unwrap();
                                for mutation in &mutations {
                                    *s += 1;
                                    pages.apply(mutation);
                                    events.push(WireEvent {
                                        seq: *s,
                                        user: "u".into(),
                                        mutation: mutation.clone(),
                                    });
                                }
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
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
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
    assert!(report.storm.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_cpu_and_memory_come_from_its_metrics() {
    let mock = Mock::default();
    let url = start(mock.clone()).await;
    let dir = std::env::temp_dir().join(format!("huddle-load-json-{}", std::process::id()));
    let mut args = args(&url);
    args.json = Some(dir.clone());
    let report = huddle_load::run(args).await.expect("run");
    println!("{report}");
    // Scrapes 1 and 2 frame the measured period, scrape 3 follows the run.
    assert_eq!(mock.scrapes.load(Ordering::SeqCst), 3);
    let cost = report.server;
    assert!(
        (cost.cpu_seconds.unwrap() - CPU_STEP).abs() < 1e-9,
        "{cost:?}"
    );
    let per_100k = CPU_STEP * 100_000.0 / report.acked_mutations as f64;
    let measured = cost.cpu_seconds_per_100k_mutations.unwrap();
    assert!(
        (measured - per_100k).abs() < 1e-9,
        "{measured} vs {per_100k}"
    );
    assert_eq!(cost.peak_memory_bytes, Some(6 * MIB));
    assert_eq!(cost.memory_bytes, Some(3 * MIB));
    let text = report.to_string();
    assert!(text.contains("per 100 000 acked mutations"), "{text}");
    assert!(text.contains("peak 6.0 MiB"), "{text}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&dir).unwrap()).unwrap();
    let _ = std::fs::remove_file(&dir);
    assert_eq!(json["acked_mutations"], report.acked_mutations);
    assert_eq!(json["server"]["cpu_seconds_per_100k_mutations"], measured);
    assert_eq!(json["server"]["peak_memory_bytes"], 6 * MIB);
    assert!(json["ack_latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert!(json["storm"].is_null());
}

/// A mock node that redirects every join to `owner` (an `http://` base).
async fn redirecting_node(owner: &str) -> (Mock, String) {
    let node = Mock::default();
    *node.redirect_to.lock().unwrap() =
        Some(format!("ws://{}/ws", owner.trim_start_matches("http://")));
    let url = start(node.clone()).await;
    (node, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_spread_over_nodes_follow_redirects_to_the_owner() {
    let owner = Mock::default();
    let owner_url = start(owner.clone()).await;
    let (front, front_url) = redirecting_node(&owner_url).await;
    let mut args = args(&owner_url);
    // Clients 0, 3, 4 join through the front node (client i is on board
    // i % 2, through node (i % 2 + i / 2) % 2), 1, 2, 5 at the owner.
    args.connect_urls = vec![front_url, owner_url.clone()];
    let report = huddle_load::run(args).await.expect("run");
    println!("{report}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.redirects, 3, "{report}");
    assert_eq!(front.redirected.load(Ordering::SeqCst), 3);
    assert!(report.acked_batches > 10, "{report}");
    // Every client ended up on the owner: each batch was broadcast there.
    assert!(report.event_frames > 0);
    // The server cost sums both nodes' /metrics (scraped 3 times each).
    assert_eq!(owner.scrapes.load(Ordering::SeqCst), 3);
    assert_eq!(front.scrapes.load(Ordering::SeqCst), 3);
    assert!(
        (report.server.cpu_seconds.unwrap() - 2.0 * CPU_STEP).abs() < 1e-9,
        "{:?}",
        report.server
    );
    assert_eq!(report.server.peak_memory_bytes, Some(2 * 6 * MIB));
    assert!(report
        .to_string()
        .contains("joins redirected to the board's owner: 3"));
    assert_eq!(report.to_json()["redirects"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_redirect_to_each_other_stop_the_run() {
    let owner_url = start(Mock::default()).await;
    let (one, one_url) = redirecting_node("http://127.0.0.1:1").await;
    let (two, two_url) = redirecting_node(&one_url).await;
    *one.redirect_to.lock().unwrap() =
        Some(format!("ws://{}/ws", two_url.trim_start_matches("http://")));
    let mut args = args(&owner_url);
    args.connect_urls = vec![one_url];
    let err = huddle_load::run(args).await.expect_err("a redirect loop");
    assert!(err.to_string().contains("more than 3 redirects"), "{err}");
    // The first connection and 3 redirects, then the join gives up.
    let hops = one.redirected.load(Ordering::SeqCst) + two.redirected.load(Ordering::SeqCst);
    assert!(hops >= 4, "{hops}");
}

fn storm_args(url: &str) -> huddle_load::LoadArgs {
    let mut args = args(url);
    args.storm = true;
    args.clients = 40;
    args.boards = 4;
    args.storm_batches = 3;
    args.storm_timeout = Duration::from_secs(10);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_against_the_mock() {
    let mock = Mock::default();
    let url = start(mock.clone()).await;
    let report = huddle_load::run(storm_args(&url)).await.expect("run");
    println!("{report}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.acked_batches, 40 * 3, "{report}");
    let storm = report.storm.as_ref().expect("a storm report");
    assert_eq!(storm.dropped, 40);
    assert_eq!(storm.refused_count(), 0, "{storm:?}");
    assert_eq!(storm.join_latency.count, 40);
    // Every client saw the board's last sequence before the drop: an
    // empty delta each; the mock's deltas hold the events after it.
    assert_eq!(storm.delta_syncs, 40, "{storm:?}");
    assert_eq!(storm.delta_events, 0, "{storm:?}");
    assert_eq!(storm.full_sync_count(), 0);
    assert!(storm.resync_time.unwrap() >= storm.join_latency.max);
    assert_eq!(storm.checked_mutations, 40 * 3 * 5);
    assert_eq!(storm.lost_mutations, 0, "{:?}", storm.losses);
    assert_eq!(storm.unchecked_count(), 0, "{:?}", storm.unchecked_boards);
    assert!(storm.restart.is_none());
    // Scrapes: before and after the prime phase, at the drop, after the
    // reconnects (4 in all); the storm's CPU is the last two apart.
    assert_eq!(mock.scrapes.load(Ordering::SeqCst), 4);
    assert!((storm.server.cpu_seconds.unwrap() - CPU_STEP).abs() < 1e-9);
    assert_eq!(storm.server.peak_memory_bytes, Some(8 * MIB));
    let text = report.to_string();
    assert!(
        text.contains("reconnect storm: 40 clients dropped"),
        "{text}"
    );
    assert!(text.contains("40 delta"), "{text}");
    assert!(text.contains("lost: 0"), "{text}");
    let json = report.to_json();
    assert_eq!(json["storm"]["refused_clients"], 0);
    assert_eq!(json["storm"]["lost_mutations"], 0);
    assert_eq!(json["storm"]["delta_syncs"], 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_finds_lost_work_and_runs_the_restart_command() {
    let url = start(Mock {
        lose_on_reconnect: true,
        ..Mock::default()
    })
    .await;
    let mut args = storm_args(&url);
    let marker = std::env::temp_dir().join(format!("huddle-load-restart-{}", std::process::id()));
    args.storm_restart = Some(format!("touch {}", marker.display()));
    let report = huddle_load::run(args).await.expect("run");
    println!("{report}");
    let storm = report.storm.as_ref().expect("a storm report");
    assert!(marker.exists(), "the restart command ran");
    let _ = std::fs::remove_file(&marker);
    assert!(storm.restart.is_some());
    assert_eq!(storm.checked_mutations, 40 * 3 * 5);
    assert_eq!(storm.lost_mutations, storm.checked_mutations, "{storm:?}");
    assert!(storm.losses[0].contains("missing"), "{:?}", storm.losses);
    assert!(report.to_string().contains("lost: 600"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_restart_refuses_every_client() {
    let url = start(Mock::default()).await;
    let mut args = storm_args(&url);
    args.storm_restart = Some("exit 3".into());
    let report = huddle_load::run(args).await.expect("run");
    let storm = report.storm.as_ref().expect("a storm report");
    assert_eq!(storm.refused_count(), 40, "{storm:?}");
    assert!(storm
        .refused
        .keys()
        .any(|k| k.contains("restart command failed")));
    assert!(storm.resync_time.is_none());
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
