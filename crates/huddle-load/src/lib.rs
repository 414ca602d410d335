//! Load generator for the Huddle reference server (`huddle load`).
//!
//! [`run`] creates rooms and tokens over the server's HTTP API (admin
//! key), connects `--clients` WebSocket clients spread over `--boards`
//! boards (and over the nodes of a cluster, `--connect-url`, each client
//! following its node's `redirect` to the board's owner), joins them, and has them send `mutate` batches at a total rate
//! (or as fast as a per-client window of unacknowledged batches allows)
//! for a duration. It measures the ack latency (batch sent -> `ack`
//! received) in a histogram, the throughput of acknowledged mutations and
//! the errors by code, shows a progress bar on a TTY, and returns a
//! [`LoadReport`] whose `Display` is the closing report.
//!
//! The generator is meant to cost little next to the server: frames are
//! pre-encoded (only the batch id is written per send), broadcasts of
//! other clients' events are counted without being decoded, and every
//! client is a reader task and a writer task on the caller's (multi-thread)
//! runtime.
//!
//! ```no_run
//! # async fn demo() -> Result<(), huddle_load::LoadError> {
//! let mut args = huddle_load::LoadArgs::with_defaults("http://127.0.0.1:7878", "secret");
//! args.clients = 10;
//! let report = huddle_load::run(args).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod args;
mod client;
mod cpu;
mod error;
mod fd_limit;
mod frames;
mod progress;
mod report;
mod scrape;
mod setup;
mod storm;

pub use args::LoadArgs;
pub use error::LoadError;
pub use report::{CpuUsage, LatencySummary, LoadReport, ServerCost, StormReport};
pub use scrape::ProcessScrape;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use client::{ClientPlan, Shared};

/// How long after the end of the run unacknowledged batches are waited for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Client connections opened at once while the run is set up (the storm
/// itself reconnects all at once).
const CONNECTS_IN_FLIGHT: usize = 256;

/// Runs one load test as `args` describe and returns its report (and
/// writes it as JSON where `--json` says).
///
/// Errors are returned only for a run that could not start (bad
/// arguments, the HTTP setup failed, a client could not connect or join);
/// errors during the run are counted in the report.
pub async fn run(args: LoadArgs) -> Result<LoadReport, LoadError> {
    args.validate()?;
    fd_limit::check(args.clients)?;
    let setup = setup::prepare(&args).await?;
    let frames = frames::FrameSet::new(&args)?;
    let joined = connect_all(&setup).await?;
    let redirects = joined.iter().map(|j| u64::from(j.redirects)).sum();
    let mut report = if args.storm {
        let joined = joined.into_iter().map(|j| (j.socket, j.joined)).collect();
        storm_run(&args, &setup, &frames, joined).await
    } else {
        let sockets = joined.into_iter().map(|j| j.socket).collect();
        timed_run(&args, &frames, sockets).await
    };
    report.redirects = redirects;
    if let Some(path) = &args.json {
        let text = format!("{:#}\n", report.to_json());
        let written = if path.as_os_str() == "-" {
            use std::io::Write as _;
            std::io::stdout().write_all(text.as_bytes())
        } else {
            std::fs::write(path, text)
        };
        written.map_err(|e| LoadError::Args(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(report)
}

/// Connects and joins every client (a bounded number at a time), through
/// the nodes of `--connect-url` ([`setup::Setup::ws_url`]), each at its
/// board's owner.
async fn connect_all(setup: &setup::Setup) -> Result<Vec<client::Joined>, LoadError> {
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTS_IN_FLIGHT));
    let mut joins = Vec::with_capacity(setup.tokens.len());
    for (index, token) in setup.tokens.iter().enumerate() {
        let url = setup.ws_url(index, token);
        let board = setup.boards[index % setup.boards.len()].clone();
        let gate = gate.clone();
        joins.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            client::connect_and_join_at(&url, &board, None, client::CONNECT_TIMEOUT)
                .await
                .map_err(|what| LoadError::Client(format!("{board}: {what}")))
        }));
    }
    let mut joined = Vec::with_capacity(joins.len());
    for join in joins {
        joined.push(
            join.await
                .map_err(|e| LoadError::Client(format!("client task failed: {e}")))??,
        );
    }
    Ok(joined)
}

/// The timed load: every client sends for `--duration` after `--warmup`.
async fn timed_run(
    args: &LoadArgs,
    frames: &frames::FrameSet,
    sockets: Vec<client::Socket>,
) -> LoadReport {
    let shared = Arc::new(Shared::default());
    let http = reqwest::Client::new();
    let cpu_start = cpu::sample(args.server_pid);
    let begin = Instant::now() + Duration::from_millis(50);
    let measure_from = begin + args.warmup;
    let stop_at = measure_from + args.duration;
    let progress = progress::Progress::start(args, shared.clone(), measure_from, stop_at);
    // The server's own CPU time at both ends of the measured period.
    let window_scrapes = tokio::spawn({
        let (http, nodes) = (http.clone(), args.node_urls());
        async move {
            tokio::time::sleep_until(measure_from).await;
            let start = scrape::scrape_nodes(&http, &nodes).await;
            tokio::time::sleep_until(stop_at).await;
            (start, scrape::scrape_nodes(&http, &nodes).await)
        }
    });

    let mut tasks = Vec::with_capacity(args.clients);
    for (index, socket) in sockets.into_iter().enumerate() {
        let plan = ClientPlan {
            frames: frames.for_client(index),
            window: args.window,
            interval: args.send_interval(),
            begin: begin + args.stagger(index),
            measure_from,
            stop_at,
            drain_until: stop_at + DRAIN_TIMEOUT,
        };
        tasks.push(tokio::spawn(client::drive(socket, plan, shared.clone())));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => results.push(result),
            Err(e) => shared.count_error(&format!("client task panicked: {e}")),
        }
    }
    let cpu_end = cpu::sample(args.server_pid);
    progress.finish();
    let (start, end) = window_scrapes.await.unwrap_or_default();
    let last = scrape::scrape_nodes(&http, &args.node_urls()).await;
    let mut report = LoadReport::build(
        args,
        results,
        &shared,
        args.duration,
        cpu::usage(cpu_start, cpu_end),
    );
    report.server = ServerCost::from_scrapes(start, end, last, report.acked_mutations);
    report
}

/// The reconnect storm ([`storm`]).
async fn storm_run(
    args: &LoadArgs,
    setup: &setup::Setup,
    frames: &frames::FrameSet,
    joined: Vec<(client::Socket, Box<huddle_wire::JoinedMessage>)>,
) -> LoadReport {
    let shared = Shared::default();
    let http = reqwest::Client::new();
    let cpu_start = cpu::sample(args.server_pid);
    let start_scrape = scrape::scrape(&http, &args.url).await;
    let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
    let (drop_tx, drop_rx) = tokio::sync::watch::channel(false);
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(joined.len());
    for (index, (socket, joined)) in joined.into_iter().enumerate() {
        tasks.push(tokio::spawn(storm::prime(
            socket,
            joined,
            frames.for_client(index),
            args.storm_batches,
            args.storm_timeout,
            done_tx.clone(),
            drop_rx.clone(),
        )));
    }
    drop(done_tx);
    storm::await_primed(done_rx, tasks.len(), &drop_tx).await;
    let primed_for = began.elapsed().saturating_sub(storm::SETTLE);
    let end_scrape = scrape::scrape(&http, &args.url).await;
    let mut primed = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(p) => primed.push(p),
            Err(e) => shared.count_error(&format!("client task panicked: {e}")),
        }
    }
    let cpu_end = cpu::sample(args.server_pid);
    let results = primed.iter().map(storm::Primed::result).collect();
    let mut report = LoadReport::build(
        args,
        results,
        &shared,
        primed_for,
        cpu::usage(cpu_start, cpu_end),
    );
    report.server =
        ServerCost::from_scrapes(start_scrape, end_scrape, None, report.acked_mutations);
    if primed.len() == args.clients {
        report.storm = Some(storm::drop_and_reconnect(args, setup, frames, &mut primed).await);
    }
    report
}
