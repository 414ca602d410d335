//! The closing report of a run.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::client::{new_histogram, ClientResult, Shared};
pub use crate::cpu::CpuUsage;
pub use crate::scrape::ServerCost;
pub use crate::storm::StormReport;
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
    /// Nodes the clients connected through (`--connect-url`, or 1).
    pub nodes: usize,
    /// `redirect`s the clients' first joins followed to reach their
    /// boards' owners (several nodes, `--connect-url`).
    pub redirects: u64,
    /// Errors by code or by what failed (whole run, warm-up included).
    pub errors: BTreeMap<String, u64>,
    /// CPU use during the run.
    pub cpu: CpuUsage,
    /// The server's CPU seconds in the measured period and its memory,
    /// from its `/metrics`.
    pub server: ServerCost,
    /// With `--storm`: the reconnect storm (the figures above are then
    /// those of the batches acknowledged before the drop).
    pub storm: Option<StormReport>,
}

impl LatencySummary {
    /// The percentiles of a histogram of microseconds.
    pub(crate) fn from_histogram(histogram: &Histogram<u64>) -> Self {
        let us = Duration::from_micros;
        LatencySummary {
            count: histogram.len(),
            p50: us(histogram.value_at_quantile(0.50)),
            p90: us(histogram.value_at_quantile(0.90)),
            p99: us(histogram.value_at_quantile(0.99)),
            p999: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
            mean: Duration::from_secs_f64(histogram.mean() / 1e6),
        }
    }

    /// As JSON, in milliseconds.
    pub fn to_json(&self) -> Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        json!({
            "count": self.count,
            "p50_ms": ms(self.p50),
            "p90_ms": ms(self.p90),
            "p99_ms": ms(self.p99),
            "p999_ms": ms(self.p999),
            "max_ms": ms(self.max),
            "mean_ms": ms(self.mean),
        })
    }

    /// `p50 …  p90 …  p99 …  p99.9 …  max …  mean …`.
    pub(crate) fn line(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {}",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max),
            ms(self.mean)
        )
    }
}

impl ServerCost {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "cpu_seconds": self.cpu_seconds,
            "cpu_seconds_per_100k_mutations": self.cpu_seconds_per_100k_mutations,
            "peak_memory_bytes": self.peak_memory_bytes,
            "memory_bytes": self.memory_bytes,
        })
    }

    /// The report line (`None` if nothing was scraped).
    pub(crate) fn line(&self) -> Option<String> {
        if !self.is_known() {
            return None;
        }
        let mib = |b: Option<u64>| match b {
            Some(b) => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
            None => "?".to_owned(),
        };
        let cpu = match (self.cpu_seconds, self.cpu_seconds_per_100k_mutations) {
            (Some(s), Some(per)) => {
                format!("{s:.2} CPU s ({per:.3} s per 100 000 acked mutations)")
            }
            (Some(s), None) => format!("{s:.2} CPU s"),
            _ => "CPU ?".to_owned(),
        };
        Some(format!(
            "server (its /metrics): {cpu}, memory {} (peak {})",
            mib(self.memory_bytes),
            mib(self.peak_memory_bytes)
        ))
    }
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
        let latency = LatencySummary::from_histogram(&histogram);
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
            nodes: args.client_urls().len(),
            redirects: 0,
            errors,
            cpu,
            server: ServerCost::default(),
            storm: None,
        }
    }

    /// The report as JSON (what `--json` writes).
    pub fn to_json(&self) -> Value {
        let errors: serde_json::Map<String, Value> = self
            .errors
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "clients": self.clients,
            "boards": self.boards,
            "batch": self.batch,
            "rate": self.rate,
            "window": self.window,
            "payload_bytes": self.payload_bytes,
            "measured_seconds": self.measured.as_secs_f64(),
            "acked_mutations": self.acked_mutations,
            "acked_batches": self.acked_batches,
            "mutations_per_sec": self.mutations_per_sec,
            "batches_per_sec": self.batches_per_sec,
            "ack_latency": self.latency.to_json(),
            "event_frames": self.event_frames,
            "nodes": self.nodes,
            "redirects": self.redirects,
            "errors": errors,
            "cpu_cores": {"generator": self.cpu.generator, "server": self.cpu.server},
            "server": self.server.to_json(),
            "storm": self.storm.as_ref().map(StormReport::to_json),
        })
    }

    /// Total errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = if self.rate == 0 {
            "max".to_owned()
        } else {
            format!("{}/s", self.rate)
        };
        if self.storm.is_some() {
            writeln!(
                f,
                "huddle load: {} clients on {} boards, batch {}, payload {} B, reconnect storm; \
                 before the drop ({:.1} s, each batch after the previous one's ack):",
                self.clients,
                self.boards,
                self.batch,
                self.payload_bytes,
                self.measured.as_secs_f64()
            )?;
        } else {
            writeln!(
                f,
                "huddle load: {} clients on {} boards, batch {}, rate {rate}, window {}, payload {} B, {:.1} s measured",
                self.clients, self.boards, self.batch, self.window, self.payload_bytes,
                self.measured.as_secs_f64()
            )?;
        }
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
        writeln!(f, "  ack latency ({} batches): {}", l.count, l.line())?;
        writeln!(f, "  events frames received: {}", self.event_frames)?;
        if self.redirects > 0 {
            writeln!(
                f,
                "  joins redirected to the board's owner: {}",
                self.redirects
            )?;
        }
        match (self.cpu.generator, self.cpu.server) {
            (Some(g), Some(s)) => {
                writeln!(f, "  CPU: generator {g:.2} cores, server {s:.2} cores")?
            }
            (Some(g), None) => writeln!(f, "  CPU: generator {g:.2} cores")?,
            _ => {}
        }
        if let Some(line) = self.server.line() {
            if self.nodes > 1 {
                writeln!(f, "  {line}: the {} nodes' summed", self.nodes)?;
            } else {
                writeln!(f, "  {line}")?;
            }
        }
        if let Some(storm) = &self.storm {
            write!(f, "{storm}")?;
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
