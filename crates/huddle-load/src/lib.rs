//! Load generator for the Huddle reference server (`huddle load`).
//!
//! [`run`] creates rooms and tokens over the server's HTTP API (admin
//! key), connects `--clients` WebSocket clients spread over `--boards`
//! boards, joins them, and has them send `mutate` batches at a total rate
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
mod frames;
mod progress;
mod report;
mod setup;

pub use args::LoadArgs;
pub use error::LoadError;
pub use report::{CpuUsage, LatencySummary, LoadReport};

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use client::{ClientPlan, Shared};

/// How long after the end of the run unacknowledged batches are waited for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one load test as `args` describe and returns its report.
///
/// Errors are returned only for a run that could not start (bad
/// arguments, the HTTP setup failed, a client could not connect or join);
/// errors during the run are counted in the report.
pub async fn run(args: LoadArgs) -> Result<LoadReport, LoadError> {
    args.validate()?;
    let setup = setup::prepare(&args).await?;
    let shared = Arc::new(Shared::default());
    let frames = frames::FrameSet::new(&args)?;

    // Connect and join every client before the clock starts.
    let mut joins = Vec::with_capacity(args.clients);
    for (index, token) in setup.tokens.iter().enumerate() {
        let url = setup.ws_url(token);
        let board = setup.boards[index % setup.boards.len()].clone();
        joins.push(tokio::spawn(client::connect_and_join(url, board)));
    }
    let mut sockets = Vec::with_capacity(args.clients);
    for join in joins {
        let socket = join
            .await
            .map_err(|e| LoadError::Client(format!("client task failed: {e}")))??;
        sockets.push(socket);
    }

    let cpu_start = cpu::sample(args.server_pid);
    let begin = Instant::now() + Duration::from_millis(50);
    let measure_from = begin + args.warmup;
    let stop_at = measure_from + args.duration;
    let progress = progress::Progress::start(&args, shared.clone(), measure_from, stop_at);

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
    Ok(LoadReport::build(
        &args,
        results,
        &shared,
        args.duration,
        cpu::usage(cpu_start, cpu_end),
    ))
}
