//! Sampling for the `compare` binary: baseline and engine alternately, in
//! rounds, each sample calibrated to a target duration; the figure kept is
//! the median of the per-iteration times over the rounds.

use std::time::Duration;

use crate::case::Case;

/// How long to sample.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Rounds (each runs the baseline, then the engine, once).
    pub rounds: usize,
    /// Target duration of one sample.
    pub sample: Duration,
}

/// Both medians of one case.
#[derive(Debug, Clone)]
pub struct Result {
    /// `group/name`.
    pub id: String,
    /// What one iteration is.
    pub unit: &'static str,
    /// Items per iteration.
    pub items: u64,
    /// Median nanoseconds per iteration, baseline.
    pub baseline_ns: f64,
    /// Median nanoseconds per iteration, engine.
    pub engine_ns: f64,
    /// Rounds sampled.
    pub rounds: usize,
}

impl Result {
    /// Engine over baseline.
    pub fn ratio(&self) -> f64 {
        self.engine_ns / self.baseline_ns
    }
}

/// Iterations that make a sample last about `target` (doubling from 1).
fn calibrate(run: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let t = run(iters);
        if t >= target / 4 || iters >= 1 << 30 {
            let per = t.as_secs_f64() / iters as f64;
            let want = (target.as_secs_f64() / per.max(1e-9)).ceil() as u64;
            return want.clamp(1, 1 << 30);
        }
        iters *= 2;
    }
}

/// The median of `v` (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Samples one case.
pub fn run(case: &mut Case, plan: Plan) -> Result {
    let (base_iters, engine_iters) = match case.fixed_iters {
        Some(n) => (n, n),
        None => (
            calibrate(&mut case.baseline, plan.sample),
            calibrate(&mut case.engine, plan.sample),
        ),
    };
    let mut base = Vec::with_capacity(plan.rounds);
    let mut engine = Vec::with_capacity(plan.rounds);
    for _ in 0..plan.rounds {
        let t = (case.baseline)(base_iters);
        base.push(t.as_nanos() as f64 / base_iters as f64);
        let t = (case.engine)(engine_iters);
        engine.push(t.as_nanos() as f64 / engine_iters as f64);
    }
    Result {
        id: case.id(),
        unit: case.unit,
        items: case.items,
        baseline_ns: median(&mut base),
        engine_ns: median(&mut engine),
        rounds: plan.rounds,
    }
}
