//! One load client: a WebSocket connection joined to a board (at the
//! board's owner: a `redirect` is followed, as the Rust client does), a writer
//! task that sends pre-encoded batches (paced, within a window of
//! unacknowledged batches) and a reader that matches acks to send times.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use huddle_wire::{ClientMessage, JoinedMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async_with_config, MaybeTlsStream, WebSocketStream};

use crate::frames::ClientFrames;

/// A connected client socket.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Counters shared by every client, read by the progress bar.
#[derive(Default)]
pub(crate) struct Shared {
    /// Acknowledged mutations (whole run, warm-up included).
    pub(crate) acked_mutations: AtomicU64,
    /// Errors of any kind.
    pub(crate) errors: AtomicU64,
    /// Errors outside any client (task failures).
    pub(crate) other_errors: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    pub(crate) fn count_error(&self, what: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut map = self.other_errors.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(what.to_owned()).or_default() += 1;
    }
}

/// What one client is to do.
pub(crate) struct ClientPlan {
    pub(crate) frames: Arc<ClientFrames>,
    pub(crate) window: usize,
    /// Time between two batches; `None`: as fast as the window allows.
    pub(crate) interval: Option<Duration>,
    pub(crate) begin: Instant,
    pub(crate) measure_from: Instant,
    pub(crate) stop_at: Instant,
    pub(crate) drain_until: Instant,
}

/// What one client measured.
pub(crate) struct ClientResult {
    /// Ack latency in microseconds of batches sent in the measured period.
    pub(crate) latency: Histogram<u64>,
    /// Acks received in the measured period.
    pub(crate) measured_batches: u64,
    /// Mutations of those acks.
    pub(crate) measured_mutations: u64,
    /// Errors by code (or by what failed).
    pub(crate) errors: BTreeMap<String, u64>,
    /// `events` frames received (broadcasts of the other clients' batches).
    pub(crate) event_frames: u64,
    /// Batches still unacknowledged at the end of the drain.
    pub(crate) unacked: u64,
}

/// Batches sent and not yet answered, oldest first.
type InFlight = Arc<Mutex<VecDeque<(u64, Instant)>>>;

/// The client's WebSocket settings: a small read buffer, because
/// tungstenite zero-fills the whole buffer before every socket read (at
/// the 128 KiB default, that memset costs more than the rest of the client).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(8 * 1024)
}

/// Most `redirect`s followed in a row by one join (as the Rust and
/// JavaScript clients do, `docs/protocol.md`, "Redirect").
pub(crate) const MAX_REDIRECTS: u32 = 3;

/// A joined client: its socket, the `joined` message, and how many
/// redirects the join followed to reach the board's owner.
pub(crate) struct Joined {
    pub(crate) socket: Socket,
    pub(crate) joined: Box<JoinedMessage>,
    pub(crate) redirects: u32,
}

/// How one connection's join ended.
enum JoinAnswer {
    Joined(Box<Socket>, Box<JoinedMessage>),
    /// Another node owns the board: its WebSocket URL (without a token).
    Redirect(String),
}

/// Connects and joins `board` with `last_sequence` within `limit`,
/// following the server's `redirect`s to the board's owner (at most
/// [`MAX_REDIRECTS`] in a row, with the same token and `join`); gives the
/// joined client, or why it failed.
pub(crate) async fn connect_and_join_at(
    url: &str,
    board: &str,
    last_sequence: Option<u64>,
    limit: Duration,
) -> Result<Joined, String> {
    let deadline = Instant::now() + limit;
    let mut target = url.to_owned();
    let mut redirects = 0;
    loop {
        match join_once(&target, board, last_sequence, deadline).await? {
            JoinAnswer::Joined(socket, joined) => {
                return Ok(Joined {
                    socket: *socket,
                    joined,
                    redirects,
                })
            }
            JoinAnswer::Redirect(owner) => {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(format!(
                        "more than {MAX_REDIRECTS} redirects in a row (the nodes disagree about the owner)"
                    ));
                }
                target = redirect_target(&owner, url)?;
            }
        }
    }
}

/// The owner's `url` with the query (the token) of the URL first
/// connected to.
fn redirect_target(owner: &str, first: &str) -> Result<String, String> {
    if !(owner.starts_with("ws://") || owner.starts_with("wss://")) {
        return Err(format!("a redirect to {owner:?}, which is not a ws:// URL"));
    }
    Ok(match first.split_once('?') {
        Some((_, query)) => {
            let sep = if owner.contains('?') { '&' } else { '?' };
            format!("{owner}{sep}{query}")
        }
        None => owner.to_owned(),
    })
}

/// One connection: connect, `join`, and wait for `joined` or a
/// `redirect`.
async fn join_once(
    url: &str,
    board: &str,
    last_sequence: Option<u64>,
    deadline: Instant,
) -> Result<JoinAnswer, String> {
    let (mut ws, _) = timeout_at(
        deadline,
        connect_async_with_config(url, Some(ws_config()), true),
    )
    .await
    .map_err(|_| "connect timed out".to_owned())?
    .map_err(|e| format!("connect: {e}"))?;
    let join = ClientMessage::Join {
        board: board.into(),
        last_sequence,
    }
    .to_json()
    .map_err(|e| e.to_string())?;
    ws.send(Message::Text(join.into()))
        .await
        .map_err(|e| format!("send join: {e}"))?;
    loop {
        let msg = timeout_at(deadline, ws.next())
            .await
            .map_err(|_| "no `joined` in time".to_owned())?;
        match msg {
            Some(Ok(Message::Text(text))) => match ServerMessage::from_json(text.as_bytes()) {
                Ok(ServerMessage::Joined(joined)) => {
                    return Ok(JoinAnswer::Joined(Box::new(ws), joined))
                }
                Ok(ServerMessage::Redirect { owner, .. }) => {
                    // The server closes with 4003 next; nothing to wait for.
                    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Ok(JoinAnswer::Redirect(owner.url));
                }
                Ok(ServerMessage::Error { code, message, .. }) => {
                    return Err(format!("join refused: {code} {message}"))
                }
                Ok(_) => {}
                Err(e) => return Err(format!("undecodable frame: {e}")),
            },
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("closed before `joined`".to_owned()),
        }
    }
}

/// Runs the client's load until its plan ends.
pub(crate) async fn drive(socket: Socket, plan: ClientPlan, shared: Arc<Shared>) -> ClientResult {
    let (sink, stream) = socket.split();
    let in_flight: InFlight = Arc::new(Mutex::new(VecDeque::with_capacity(plan.window)));
    let window = Arc::new(Semaphore::new(plan.window));
    let plan = Arc::new(plan);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let reader = tokio::spawn(read(
        stream,
        plan.clone(),
        in_flight.clone(),
        window.clone(),
        shared.clone(),
        done_rx,
    ));
    let (sink, write_error) = write(sink, &plan, &in_flight, &window).await;
    let _ = done_tx.send(true);
    let mut result = match reader.await {
        Ok(result) => result,
        Err(e) => {
            let mut result = ClientResult::empty();
            result.count(&format!("reader task failed: {e}"));
            result
        }
    };
    if let Some(error) = write_error {
        result.count(&error);
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(mut sink) = sink {
        let _ = timeout(Duration::from_secs(2), sink.send(Message::Close(None))).await;
    }
    result
}

type Sink = SplitSink<Socket, Message>;

/// Sends batches until `stop_at`; gives the sink back (if it still works).
async fn write(
    mut sink: Sink,
    plan: &ClientPlan,
    in_flight: &InFlight,
    window: &Semaphore,
) -> (Option<Sink>, Option<String>) {
    let mut next = plan.begin;
    sleep_until(next).await;
    let mut n: u64 = 0;
    loop {
        let Ok(Ok(permit)) = timeout_at(plan.stop_at, window.acquire()).await else {
            break;
        };
        permit.forget();
        if let Some(interval) = plan.interval {
            sleep_until(next).await;
            next += interval;
            // After a stall (full window), catch up by at most one window.
            let now = Instant::now();
            let lag = interval * plan.window as u32;
            if next + lag < now {
                next = now;
            }
        }
        let now = Instant::now();
        if now >= plan.stop_at {
            break;
        }
        let frame = plan.frames.frame(n);
        lock(in_flight).push_back((n, now));
        if let Err(e) = sink.send(Message::Text(frame.into())).await {
            return (None, Some(format!("send failed: {e}")));
        }
        n += 1;
    }
    (Some(sink), None)
}

/// Reads until the writer is done and every batch is answered (or the
/// drain deadline passes).
async fn read(
    mut stream: SplitStream<Socket>,
    plan: Arc<ClientPlan>,
    in_flight: InFlight,
    window: Arc<Semaphore>,
    shared: Arc<Shared>,
    mut writer_done: tokio::sync::watch::Receiver<bool>,
) -> ClientResult {
    let mut result = ClientResult::empty();
    let batch = plan.frames.batch;
    // Acks of one connection must come with increasing sequences.
    let mut last_sequence = 0u64;
    loop {
        if *writer_done.borrow() && lock(&in_flight).is_empty() {
            break;
        }
        let msg = tokio::select! {
            msg = timeout_at(plan.drain_until, stream.next()) => match msg {
                Ok(msg) => msg,
                Err(_) => break,
            },
            _ = writer_done.changed() => continue,
        };
        let text = match msg {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                result.count(&format!("closed by server ({code})"));
                shared.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                result.count(&format!("receive failed: {e}"));
                shared.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
            None => {
                result.count("connection closed");
                shared.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        };
        // Broadcasts are the bulk of the traffic: count them undecoded.
        if text.as_bytes().starts_with(br#"{"type":"events""#) {
            result.event_frames += 1;
            continue;
        }
        match ServerMessage::from_json(text.as_bytes()) {
            Ok(ServerMessage::Ack {
                batch: id,
                sequence,
            }) => {
                if sequence < last_sequence + batch {
                    result.count("ack sequence out of order");
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
                last_sequence = last_sequence.max(sequence);
                let Some(sent) = plan
                    .frames
                    .batch_number(id.as_str())
                    .and_then(|n| take(&in_flight, n))
                else {
                    result.count("ack for an unknown batch");
                    continue;
                };
                window.add_permits(1);
                shared.acked_mutations.fetch_add(batch, Ordering::Relaxed);
                let now = Instant::now();
                if sent >= plan.measure_from && sent < plan.stop_at {
                    let micros = now.duration_since(sent).as_micros() as u64;
                    result.latency.saturating_record(micros.max(1));
                }
                if now >= plan.measure_from && now <= plan.stop_at {
                    result.measured_batches += 1;
                    result.measured_mutations += batch;
                }
            }
            Ok(ServerMessage::Events { .. }) => result.event_frames += 1,
            Ok(ServerMessage::Error {
                code, batch: id, ..
            }) => {
                result.count(code.as_str());
                shared.errors.fetch_add(1, Ordering::Relaxed);
                let answered = id
                    .and_then(|id| plan.frames.batch_number(id.as_str()))
                    .and_then(|n| take(&in_flight, n));
                if answered.is_some() {
                    window.add_permits(1);
                }
            }
            Ok(ServerMessage::SessionTimeout { .. } | ServerMessage::SessionClosed { .. }) => {
                result.count("session ended by server");
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => {
                result.count(&format!("undecodable frame: {e}"));
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let unacked = lock(&in_flight).len() as u64;
    if unacked > 0 {
        result.unacked = unacked;
        *result.errors.entry("no ack (timeout)".into()).or_default() += unacked;
        shared.errors.fetch_add(unacked, Ordering::Relaxed);
    }
    result
}

/// Removes batch `n` from the in-flight list, giving its send time.
fn take(in_flight: &InFlight, n: u64) -> Option<Instant> {
    let mut list = lock(in_flight);
    // Acks come in order: the match is almost always the first entry.
    let pos = list.iter().position(|&(m, _)| m == n)?;
    list.remove(pos).map(|(_, sent)| sent)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClientResult {
    fn empty() -> Self {
        ClientResult {
            latency: new_histogram(),
            measured_batches: 0,
            measured_mutations: 0,
            errors: BTreeMap::new(),
            event_frames: 0,
            unacked: 0,
        }
    }

    fn count(&mut self, what: &str) {
        *self.errors.entry(what.to_owned()).or_default() += 1;
    }
}

/// A histogram of microseconds from 1 µs to 10 minutes, 3 significant
/// digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}
