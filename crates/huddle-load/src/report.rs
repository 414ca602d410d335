//! The closing report of a run.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::client::{new_histogram, ClientResult, Shared};
pub use crate::cpu::CpuUsage;
use crate::LoadArgs;

/// Ack latency percentiles (batch sent -> `ack` received).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Batches measured.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Maximum.
    pub max: Duration,
    /// Mean.
    pub mean: Duration,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct LoadReport {
    /// Clients.
    pub clients: usize,
    /// Boards.
    pub boards: usize,
    /// Mutations per batch.
    pub batch: usize,
    /// Target rate (mutations/s; 0 = as fast as possible).
    pub rate: u64,
    /// Window of unacknowledged batches per client.
    pub window: usize,
    /// Bytes of each upsert's data.
    pub payload_bytes: usize,
    /// The measured period (warm-up excluded).
    pub measured: Duration,
    /// Mutations acknowledged within the measured period.
    pub acked_mutations: u64,
    /// Batches acknowledged within the measured period.
    pub acked_batches: u64,
    /// Acknowledged mutations per second.
    pub mutations_per_sec: f64,
    /// Acknowledged batches per second.
    pub batches_per_sec: f64,
    /// Ack latency of the batches sent in the measured period.
    pub latency: LatencySummary,
    /// `events` broadcasts received (other clients' batches).
    pub event_frames: u64,
    /// Errors by code or by what failed (whole run, warm-up included).
    pub errors: BTreeMap<String, u64>,
    /// CPU use during the run.
    pub cpu: CpuUsage,
}

impl LoadReport {
    pub(crate) fn build(
        args: &LoadArgs,
        results: Vec<ClientResult>,
        shared: &Shared,
        measured: Duration,
        cpu: CpuUsage,
    ) -> Self {
        let mut histogram = new_histogram();
        let mut errors = shared
            .other_errors
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        let (mut batches, mut mutations, mut event_frames) = (0, 0, 0);
        for r in results {
            let _ = histogram.add(&r.latency);
            batches += r.measured_batches;
            mutations += r.measured_mutations;
            event_frames += r.event_frames;
            for (k, v) in r.errors {
                *errors.entry(k).or_default() += v;
            }
        }
        let _ = shared.errors.load(Ordering::Relaxed);
        let us = |v: u64| Duration::from_micros(v);
        let latency = LatencySummary {
            count: histogram.len(),
            p50: us(histogram.value_at_quantile(0.50)),
            p90: us(histogram.value_at_quantile(0.90)),
            p99: us(histogram.value_at_quantile(0.99)),
            p999: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
            mean: Duration::from_secs_f64(histogram.mean() / 1e6),
        };
        let secs = measured.as_secs_f64();
        LoadReport {
            clients: args.clients,
            boards: args.boards,
            batch: args.batch,
            rate: args.rate,
            window: args.window,
            payload_bytes: args.payload_bytes,
            measured,
            acked_mutations: mutations,
            acked_batches: batches,
            mutations_per_sec: mutations as f64 / secs,
            batches_per_sec: batches as f64 / secs,
            latency,
            event_frames,
            errors,
            cpu,
        }
    }

    /// Total errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = if self.rate == 0 {
            "max".to_owned()
        } else {
            format!("{}/s", self.rate)
        };
        writeln!(
            f,
            "huddle load: {} clients on {} boards, batch {}, rate {rate}, window {}, payload {} B, {:.1} s measured",
            self.clients, self.boards, self.batch, self.window, self.payload_bytes,
            self.measured.as_secs_f64()
        )?;
        writeln!(
            f,
            "  acked mutations/s: {:>12.0}   ({} mutations)",
            self.mutations_per_sec, self.acked_mutations
        )?;
        writeln!(
            f,
            "  acked batches/s:   {:>12.0}   ({} batches)",
            self.batches_per_sec, self.acked_batches
        )?;
        let l = &self.latency;
        writeln!(
            f,
            "  ack latency ({} batches): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {}",
            l.count,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            ms(l.mean)
        )?;
        writeln!(f, "  events frames received: {}", self.event_frames)?;
        match (self.cpu.generator, self.cpu.server) {
            (Some(g), Some(s)) => {
                writeln!(f, "  CPU: generator {g:.2} cores, server {s:.2} cores")?
            }
            (Some(g), None) => writeln!(f, "  CPU: generator {g:.2} cores")?,
            _ => {}
        }
        if self.errors.is_empty() {
            write!(f, "  errors: none")
        } else {
            write!(f, "  errors: {}", self.error_count())?;
            for (what, n) in &self.errors {
                write!(f, "\n    {what}: {n}")?;
            }
            Ok(())
        }
    }
}
