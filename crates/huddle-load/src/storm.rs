//! The reconnect storm (`huddle load --storm`): what a server goes through
//! when a load balancer, a network partition or its own restart drops every
//! connection at once and every client comes back at the same moment.
//!
//! 1. **Prime**: every client (joined, as in a timed run) sends
//!    `--storm-batches` batches one after the other, each after the previous
//!    one's `ack`, and keeps reading: the highest sequence it has seen (its
//!    acks, the other clients' `events`) is the `last_sequence` it will
//!    reconnect with. Once all are acknowledged, the broadcasts are given a
//!    moment to arrive ([`SETTLE`]).
//! 2. **Drop**: every socket is closed at once (a TCP close, no WebSocket
//!    close handshake). With `--storm-restart CMD`, `sh -c CMD` runs next
//!    and the clients wait for `/healthz` to answer 200.
//! 3. **Reconnect**: every client connects and joins with its
//!    `last_sequence`, all at the same moment, each within
//!    `--storm-timeout`. Measured: each join's latency (connect to
//!    `joined`), the time until the last client has its `joined` (all are
//!    re-synced then: the sync is part of `joined`), delta and full syncs
//!    (by reason), and the clients refused (by why).
//! 4. **Check**: nothing acknowledged was lost. A client's `joined` must
//!    show a board sequence at least its last ack's, and after the storm
//!    one fresh join per board (a user of its own, full sync) must hold
//!    every upsert acknowledged before the drop with its data.
//!
//! The server's CPU seconds from the drop to the last `joined` and its
//! peak memory come from its `/metrics` (after a restart: the new
//! process's CPU since it started).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use futures_util::SinkExt;
use hdrhistogram::Histogram;
use huddle_core::Pages;
use huddle_wire::{JoinedMessage, ServerMessage, WireSync};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{connect_and_join_at, new_histogram, ClientResult, Socket};
use crate::frames::{ClientFrames, FrameSet};
use crate::report::{ms, LatencySummary};
use crate::scrape::{scrape, ProcessScrape, ServerCost};
use crate::setup::Setup;
use crate::LoadArgs;

/// Time given to the last broadcasts between the last ack and the drop.
pub(crate) const SETTLE: Duration = Duration::from_millis(500);

/// Board checks (fresh full-sync joins) in flight at once.
const CHECKS_IN_FLIGHT: usize = 32;

/// Joins the check tries per board before it counts the board unchecked.
pub const CHECK_ATTEMPTS: u32 = 3;

/// How often `/healthz` is asked after a restart command.
const HEALTH_POLL: Duration = Duration::from_millis(50);

/// What the storm measured.
#[derive(Clone, Debug, Default)]
pub struct StormReport {
    /// Clients that were connected when the connections were dropped.
    pub dropped: usize,
    /// From the drop until `/healthz` answered after `--storm-restart`.
    pub restart: Option<Duration>,
    /// From the start of the reconnects until the last client had its
    /// `joined` (`None` if no client got one).
    pub resync_time: Option<Duration>,
    /// Each reconnected client's connect + join latency.
    pub join_latency: LatencySummary,
    /// Joins answered with a delta.
    pub delta_syncs: u64,
    /// Events in those deltas.
    pub delta_events: u64,
    /// Joins answered with a full sync, by reason.
    pub full_syncs: BTreeMap<String, u64>,
    /// Clients that did not get a `joined`, by why.
    pub refused: BTreeMap<String, u64>,
    /// Upserts acknowledged before the drop that the check looked for.
    pub checked_mutations: u64,
    /// Of those, missing or with other data afterwards (plus clients whose
    /// `joined` showed a sequence below their last ack).
    pub lost_mutations: u64,
    /// The first few losses, described.
    pub losses: Vec<String>,
    /// Boards the check could not read (all 3 check joins failed
    /// or gave no full sync), by the last attempt's why.
    pub unchecked_boards: BTreeMap<String, u64>,
    /// The server's CPU from the drop to the last `joined`, and memory.
    pub server: ServerCost,
}

impl StormReport {
    /// Clients refused.
    pub fn refused_count(&self) -> u64 {
        self.refused.values().sum()
    }

    /// Boards the check could not read.
    pub fn unchecked_count(&self) -> u64 {
        self.unchecked_boards.values().sum()
    }

    /// Full syncs of any reason.
    pub fn full_sync_count(&self) -> u64 {
        self.full_syncs.values().sum()
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        json!({
            "dropped": self.dropped,
            "restart_seconds": secs(self.restart),
            "resync_seconds": secs(self.resync_time),
            "join_latency": self.join_latency.to_json(),
            "delta_syncs": self.delta_syncs,
            "delta_events": self.delta_events,
            "full_syncs": self.full_syncs,
            "refused": self.refused,
            "refused_clients": self.refused_count(),
            "checked_mutations": self.checked_mutations,
            "lost_mutations": self.lost_mutations,
            "losses": self.losses,
            "unchecked_boards": self.unchecked_count(),
            "unchecked_why": self.unchecked_boards,
            "server": self.server.to_json(),
        })
    }
}

impl fmt::Display for StormReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  reconnect storm: {} clients dropped at once",
            self.dropped
        )?;
        if let Some(restart) = self.restart {
            writeln!(f, "    server restarted and healthy after {}", ms(restart))?;
        }
        match self.resync_time {
            Some(t) => writeln!(f, "    every client re-synced after {}", ms(t))?,
            None => writeln!(f, "    no client re-synced")?,
        }
        let l = &self.join_latency;
        writeln!(f, "    join latency ({} joins): {}", l.count, l.line())?;
        let full: Vec<String> = self
            .full_syncs
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        writeln!(
            f,
            "    syncs: {} delta ({} events), {} full{}",
            self.delta_syncs,
            self.delta_events,
            self.full_sync_count(),
            if full.is_empty() {
                String::new()
            } else {
                format!(" ({})", full.join(", "))
            }
        )?;
        write!(f, "    refused clients: {}", self.refused_count())?;
        for (why, n) in &self.refused {
            write!(f, "\n      {why}: {n}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "    acknowledged upserts checked after the storm: {}, lost: {}{}",
            self.checked_mutations,
            self.lost_mutations,
            if self.unchecked_count() > 0 {
                format!(" ({} boards could not be checked)", self.unchecked_count())
            } else {
                String::new()
            }
        )?;
        for (why, n) in &self.unchecked_boards {
            writeln!(f, "      unchecked, {why}: {n}")?;
        }
        for loss in &self.losses {
            writeln!(f, "      {loss}")?;
        }
        if let Some(line) = self.server.line() {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// One client after the prime phase.
pub(crate) struct Primed {
    /// The connection (until the drop).
    socket: Option<Socket>,
    /// The highest board sequence the client saw.
    last_seen: u64,
    /// Acknowledged batches: `(batch number, ack sequence)`.
    acked: Vec<(u64, u64)>,
    /// Ack latencies, microseconds.
    latency: Histogram<u64>,
    /// Errors by what.
    errors: BTreeMap<String, u64>,
    /// `events` frames received.
    event_frames: u64,
    /// Mutations per batch.
    batch: u64,
}

impl Primed {
    /// Batches acknowledged.
    pub(crate) fn acked_batches(&self) -> u64 {
        self.acked.len() as u64
    }

    /// The prime phase as a timed run's client result (every ack counts
    /// as measured).
    pub(crate) fn result(&self) -> ClientResult {
        let batches = self.acked_batches();
        let mutations = batches * self.batch;
        ClientResult {
            latency: self.latency.clone(),
            measured_batches: batches,
            measured_mutations: mutations,
            errors: self.errors.clone(),
            event_frames: self.event_frames,
            unacked: 0,
        }
    }

    fn count(&mut self, what: impl Into<String>) {
        *self.errors.entry(what.into()).or_default() += 1;
    }

    /// Takes what a frame says about the board's sequence; gives the ack
    /// if it is one.
    fn see(&mut self, text: &str) -> Option<ServerMessage> {
        let msg = match ServerMessage::from_json(text.as_bytes()) {
            Ok(msg) => msg,
            Err(e) => {
                self.count(format!("undecodable frame: {e}"));
                return None;
            }
        };
        match &msg {
            ServerMessage::Events { events } => {
                self.event_frames += 1;
                if let Some(last) = events.last() {
                    self.last_seen = self.last_seen.max(last.seq);
                }
                None
            }
            ServerMessage::Ack { sequence, .. } => {
                self.last_seen = self.last_seen.max(*sequence);
                Some(msg)
            }
            ServerMessage::Error { .. } => Some(msg),
            _ => None,
        }
    }
}

/// Phase 1 for one client: `batches` batches acknowledged one after the
/// other, then reading until the drop.
pub(crate) async fn prime(
    mut socket: Socket,
    joined: Box<JoinedMessage>,
    frames: Arc<ClientFrames>,
    batches: u64,
    limit: Duration,
    done: mpsc::UnboundedSender<()>,
    mut drop_now: watch::Receiver<bool>,
) -> Primed {
    let mut p = Primed {
        socket: None,
        last_seen: joined.sequence,
        acked: Vec::with_capacity(batches as usize),
        latency: new_histogram(),
        errors: BTreeMap::new(),
        event_frames: 0,
        batch: frames.batch,
    };
    let mut alive = true;
    'batches: for n in 0..batches {
        let sent = Instant::now();
        if let Err(e) = socket.send(Message::Text(frames.frame(n).into())).await {
            p.count(format!("send failed: {e}"));
            alive = false;
            break;
        }
        loop {
            let text = match timeout(limit, socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => {
                    p.count(format!("receive failed: {e}"));
                    alive = false;
                    break 'batches;
                }
                Ok(None) => {
                    p.count("connection closed");
                    alive = false;
                    break 'batches;
                }
                Err(_) => {
                    p.count("no ack (timeout)");
                    break 'batches;
                }
            };
            match p.see(text.as_str()) {
                Some(ServerMessage::Ack { batch, sequence })
                    if frames.batch_number(batch.as_str()) == Some(n) =>
                {
                    let micros = sent.elapsed().as_micros() as u64;
                    p.latency.saturating_record(micros.max(1));
                    p.acked.push((n, sequence));
                    break;
                }
                Some(ServerMessage::Error { code, batch, .. }) => {
                    p.count(code.as_str());
                    if batch.and_then(|b| frames.batch_number(b.as_str())) == Some(n) {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    let _ = done.send(());
    // Keep reading (the other clients' broadcasts) until the drop.
    while alive {
        tokio::select! {
            _ = drop_now.changed() => break,
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let _ = p.see(text.as_str());
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    p.count("connection lost before the drop");
                    alive = false;
                }
            },
        }
    }
    if alive {
        p.socket = Some(socket);
    }
    p
}

/// Waits until every prime task has sent `done`, gives the broadcasts
/// [`SETTLE`], and tells all to stop reading.
pub(crate) async fn await_primed(
    mut done: mpsc::UnboundedReceiver<()>,
    clients: usize,
    drop_now: &watch::Sender<bool>,
) {
    for _ in 0..clients {
        if done.recv().await.is_none() {
            break;
        }
    }
    sleep(SETTLE).await;
    let _ = drop_now.send(true);
}

/// One reconnect's outcome.
struct Rejoin {
    started: Instant,
    finished: Instant,
    result: Result<(Socket, Box<JoinedMessage>), String>,
}

/// Phases 2 to 4: drops every primed connection, reconnects all, checks.
pub(crate) async fn drop_and_reconnect(
    args: &LoadArgs,
    setup: &Setup,
    frames: &FrameSet,
    primed: &mut [Primed],
) -> StormReport {
    let http = reqwest::Client::new();
    let mut report = StormReport::default();
    let before = scrape(&http, &args.url).await;

    // 2. Drop every connection at once.
    let sockets: Vec<Socket> = primed.iter_mut().filter_map(|p| p.socket.take()).collect();
    report.dropped = sockets.len();
    let dropped_at = Instant::now();
    drop(sockets);
    let mut start_scrape = before;
    if let Some(command) = &args.storm_restart {
        match restart(&http, &args.url, command, args.storm_timeout).await {
            Ok(()) => {
                report.restart = Some(dropped_at.elapsed());
                // A new process: its CPU counts from zero.
                start_scrape = Some(ProcessScrape {
                    cpu_seconds: Some(0.0),
                    ..ProcessScrape::default()
                });
            }
            Err(why) => {
                *report.refused.entry(why).or_default() += primed.len() as u64;
                return report;
            }
        }
    }

    // 3. Everyone reconnects at once.
    let storm_start = Instant::now();
    let mut tasks = Vec::with_capacity(primed.len());
    for (index, p) in primed.iter().enumerate() {
        let url = setup.ws_url(index, &setup.tokens[index]);
        let board = setup.boards[index % setup.boards.len()].clone();
        let last = p.last_seen;
        let limit = args.storm_timeout;
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let result = connect_and_join_at(&url, &board, Some(last), limit)
                .await
                .map(|j| (j.socket, j.joined));
            Rejoin {
                started,
                finished: Instant::now(),
                result,
            }
        }));
    }
    let mut latency = new_histogram();
    let mut last_joined = None;
    let mut open = Vec::with_capacity(tasks.len());
    for (index, task) in tasks.into_iter().enumerate() {
        let rejoin = match task.await {
            Ok(rejoin) => rejoin,
            Err(e) => {
                *report
                    .refused
                    .entry(format!("task failed: {e}"))
                    .or_default() += 1;
                continue;
            }
        };
        let (socket, joined) = match rejoin.result {
            Ok(ok) => ok,
            Err(why) => {
                *report.refused.entry(why).or_default() += 1;
                continue;
            }
        };
        let micros = rejoin.finished.duration_since(rejoin.started).as_micros() as u64;
        latency.saturating_record(micros.max(1));
        last_joined = last_joined.max(Some(rejoin.finished));
        match &joined.sync {
            WireSync::Delta { events } => {
                report.delta_syncs += 1;
                report.delta_events += events.len() as u64;
            }
            WireSync::Full { reason, .. } => {
                let why = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{reason:?}"));
                *report.full_syncs.entry(why).or_default() += 1;
            }
        }
        if let Some(&(n, acked)) = primed[index].acked.last() {
            if joined.sequence < acked {
                report.lost_mutations += frames.for_client(index).batch;
                note(
                    &mut report.losses,
                    format!(
                        "client {index}: joined at sequence {} after batch {n} was acked at {acked}",
                        joined.sequence
                    ),
                );
            }
        }
        open.push(socket);
    }
    report.resync_time = last_joined.map(|t| t.duration_since(storm_start));
    report.join_latency = LatencySummary::from_histogram(&latency);
    let after = scrape(&http, &args.url).await;
    report.server = ServerCost::from_scrapes(start_scrape, after, None, 0);
    drop(open);

    // 4. Every acknowledged upsert is on its board.
    check_boards(args, setup, frames, primed, &mut report).await;
    report
}

/// Runs the restart command, then waits for `/healthz`.
async fn restart(
    http: &reqwest::Client,
    base: &str,
    command: &str,
    limit: Duration,
) -> Result<(), String> {
    let command = command.to_owned();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .status()
    })
    .await
    .map_err(|e| format!("restart command: {e}"))?
    .map_err(|e| format!("restart command: {e}"))?;
    if !status.success() {
        return Err(format!("restart command failed: {status}"));
    }
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    let deadline = Instant::now() + limit;
    loop {
        let healthy = http
            .get(&url)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if healthy {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err("server not healthy after the restart".into());
        }
        sleep(HEALTH_POLL).await;
    }
}

/// Joins every board afresh (full sync) and looks for each acknowledged
/// upsert of its clients.
async fn check_boards(
    args: &LoadArgs,
    setup: &Setup,
    frames: &FrameSet,
    primed: &[Primed],
    report: &mut StormReport,
) {
    let boards = setup.boards.len();
    let mut checks = stream::iter(setup.boards.iter().enumerate().map(|(b, board)| {
        let url = setup.ws_url(b, &setup.verifiers[b]);
        async move {
            let mut why = String::new();
            for _ in 0..CHECK_ATTEMPTS {
                match connect_and_join_at(&url, board, None, args.storm_timeout).await {
                    Ok(client) => match client.joined.sync {
                        WireSync::Full { pages, .. } => return (b, Ok(pages)),
                        WireSync::Delta { .. } => why = "a delta to a join without sequence".into(),
                    },
                    Err(e) => why = e,
                }
            }
            (b, Err(why))
        }
    }))
    .buffer_unordered(CHECKS_IN_FLIGHT);
    while let Some((b, result)) = checks.next().await {
        let pages = match result {
            Ok(pages) => pages,
            Err(why) => {
                *report.unchecked_boards.entry(why).or_default() += 1;
                continue;
            }
        };
        for (index, p) in primed.iter().enumerate().skip(b).step_by(boards) {
            check_client(&pages, &frames.for_client(index), index, p, report);
        }
    }
}

fn check_client(
    pages: &Pages,
    frames: &ClientFrames,
    index: usize,
    primed: &Primed,
    report: &mut StormReport,
) {
    for &(n, _) in &primed.acked {
        for (page, element, data) in frames.upserts(n) {
            report.checked_mutations += 1;
            let found = pages.get(page, &element).map(|d| d.as_bytes());
            if found != Some(data.as_bytes()) {
                report.lost_mutations += 1;
                let what = match found {
                    None => "missing".to_owned(),
                    Some(other) => format!("holds {}", String::from_utf8_lossy(other)),
                };
                note(
                    &mut report.losses,
                    format!("client {index}, batch {n}: {page}/{element} {what}"),
                );
            }
        }
    }
}

/// Keeps the first few loss descriptions.
fn note(losses: &mut Vec<String>, what: String) {
    if losses.len() < 10 {
        losses.push(what);
    }
}
