//! `apply_mutations`: one batch from one participant, with everything a host
//! does until the engine is quiet again — drain the outputs (the ack, the
//! broadcast to the other participants, the engine events) and confirm
//! the storage effects (the append, which the default durability waits
//! for before the ack; the flush every 4096 mutations).
//!
//! Baseline: [`Baseline::apply`] on the same batch.

use std::hint::black_box;
use std::time::{Duration, Instant};

use huddle_core::{Config, ConnId, Engine, JoinRequest, Timestamp, UserId};

use crate::baseline::Baseline;
use crate::case::{Case, Planned, Runner};
use crate::host;
use crate::inputs::Batches;

/// The time every input of the apply cases carries.
pub const NOW: Timestamp = Timestamp::from_millis(1_767_225_600_000);
/// Mutations per chunk of pre-built inputs (bounds memory for big batches).
const CHUNK_MUTATIONS: usize = 1 << 16;

/// An engine with one board and `participants` joined users; connection 1
/// is the writer.
pub fn engine_with_participants(participants: u64) -> Engine {
    let mut engine = Engine::new(Config::default(), 1);
    for p in 1..=participants {
        let request = JoinRequest::new("board", format!("user-{p}").as_str(), "User");
        engine
            .join(NOW, ConnId(p), request)
            .unwrap_or_else(|e| panic!("join: {e}"));
        host::drain(&mut engine, NOW);
    }
    engine
}

/// Applies `batches` from connection 1 and drains after each; returns the
/// time taken.
pub fn run_engine(engine: &mut Engine, batches: &mut Batches, iters: u64) -> Duration {
    let chunk = (CHUNK_MUTATIONS / batches.len).max(1) as u64;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk);
        let inputs = batches.take(n as usize);
        let start = Instant::now();
        for (id, mutations) in inputs {
            let accepted = engine
                .apply_mutations(NOW, ConnId(1), id, mutations)
                .unwrap_or_else(|e| panic!("apply_mutations: {e}"));
            black_box(accepted);
            black_box(host::drain(engine, NOW));
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

/// Sequences `batches` with the baseline; returns the time taken.
pub fn run_baseline(baseline: &mut Baseline, batches: &mut Batches, iters: u64) -> Duration {
    let author = UserId::from("user-1");
    let chunk = (CHUNK_MUTATIONS / batches.len).max(1) as u64;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk);
        let inputs = batches.take(n as usize);
        let start = Instant::now();
        for (id, mutations) in inputs {
            black_box(baseline.apply(&author, &id, NOW, mutations));
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

/// Warms an engine and a baseline up to steady state: the history full,
/// every element of the input set present.
fn warm(engine: &mut Engine, baseline: &mut Baseline, batch: usize, payload: usize) {
    let mut warm = Batches::new("warm", batch, payload);
    let iters = (8192 / batch).max(1) as u64;
    run_engine(engine, &mut warm, iters);
    let mut warm = Batches::new("warm", batch, payload);
    run_baseline(baseline, &mut warm, iters);
}

/// `64B` or `1KiB`.
pub fn size_name(payload: usize) -> String {
    if payload >= 1024 && payload % 1024 == 0 {
        format!("{}KiB", payload / 1024)
    } else {
        format!("{payload}B")
    }
}

/// The case for one batch size, payload size and participant count;
/// `pooled` inputs (see [`Batches::pooled`]) or fresh ones.
pub fn case(batch: usize, payload: usize, participants: u64, pooled: bool) -> Case {
    let mut engine = engine_with_participants(participants);
    let mut baseline = Baseline::default();
    warm(&mut engine, &mut baseline, batch, payload);
    let make = if pooled {
        Batches::pooled
    } else {
        Batches::new
    };
    let mut engine_batches = make("e", batch, payload);
    let mut baseline_batches = make("b", batch, payload);
    let engine: Runner = Box::new(move |iters| run_engine(&mut engine, &mut engine_batches, iters));
    let baseline: Runner =
        Box::new(move |iters| run_baseline(&mut baseline, &mut baseline_batches, iters));
    Case {
        group: "apply_mutations",
        name: format!(
            "batch={batch} payload={} participants={participants}",
            size_name(payload)
        ),
        unit: "batch",
        items: batch as u64,
        engine,
        baseline,
        fixed_iters: None,
    }
}

/// Every apply case: batches 1/16/256 x payloads 64 B/1 KiB x 1 and 10
/// participants, with fresh inputs; and the target's case (16, 64 B, 1)
/// with pooled inputs too.
pub fn cases() -> Vec<Planned> {
    let mut cases = Vec::new();
    for participants in [1, 10] {
        for payload in [64, 1024] {
            for batch in [1, 16, 256] {
                let name = format!(
                    "batch={batch} payload={} participants={participants}",
                    size_name(payload)
                );
                cases.push(Planned::new("apply_mutations", name, move || {
                    case(batch, payload, participants, false)
                }));
            }
        }
    }
    let name = "batch=16 payload=64B participants=1 inputs=pooled".to_owned();
    cases.insert(
        2,
        Planned::new("apply_mutations", name, || case(16, 64, 1, true)),
    );
    cases
}
