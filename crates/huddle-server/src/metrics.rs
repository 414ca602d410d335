//! What the server itself counts, on top of the driver's metrics
//! (connections, boards by state, mutations, ack and storage latency,
//! error frames by code; and, from its WebSocket pump, frames received
//! and refused, deadline closes, redirects): HTTP errors by code,
//! WebSocket upgrades by outcome, TCP connections open, refused and failed
//! accepts, and a mutations-per-second gauge; and the process's own CPU
//! time and memory ([`process`]).
//!
//! The counters are process-wide (one server per process); `/metrics`
//! renders them after the driver's.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

pub mod process;

/// Process-wide server counters.
#[derive(Debug)]
pub struct ServerMetrics {
    http_errors: Mutex<BTreeMap<&'static str, u64>>,
    upgrades: Mutex<BTreeMap<&'static str, u64>>,
    tcp_open: AtomicI64,
    tcp_refused: Mutex<BTreeMap<&'static str, u64>>,
    accept_errors: Mutex<BTreeMap<&'static str, u64>>,
    rate: Mutex<RateWindow>,
}

static METRICS: ServerMetrics = ServerMetrics {
    http_errors: Mutex::new(BTreeMap::new()),
    upgrades: Mutex::new(BTreeMap::new()),
    tcp_open: AtomicI64::new(0),
    tcp_refused: Mutex::new(BTreeMap::new()),
    accept_errors: Mutex::new(BTreeMap::new()),
    rate: Mutex::new(RateWindow::new()),
};

/// The process's server metrics.
pub fn global() -> &'static ServerMetrics {
    &METRICS
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    *map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default() += 1;
}

/// Counts an HTTP error answer by code.
pub fn http_error(code: &'static str) {
    bump(&METRICS.http_errors, code);
}

/// Counts a WebSocket upgrade request by outcome (`accepted`,
/// `unauthorized`, `unavailable`).
pub fn upgrade(outcome: &'static str) {
    bump(&METRICS.upgrades, outcome);
}

/// A TCP connection was admitted (`1`) or ended (`-1`).
pub fn tcp_open(delta: i64) {
    METRICS.tcp_open.fetch_add(delta, Ordering::Relaxed);
}

/// Counts a TCP connection refused for a cap, by reason (`max_connections`,
/// `max_connections_per_ip`, `overflow`).
pub fn tcp_refused(reason: &'static str) {
    bump(&METRICS.tcp_refused, reason);
}

/// Counts a failed `accept`, by kind (`descriptors`, `other`).
pub fn accept_error(kind: &'static str) {
    bump(&METRICS.accept_errors, kind);
}

/// Feeds the mutations-per-second window with the driver's running total
/// (call about once a second).
pub fn sample_mutations(total: u64, at: std::time::Instant) {
    METRICS
        .rate
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(at, total);
}

/// Mutations per second over the last ten seconds or so.
pub fn mutations_per_second() -> f64 {
    METRICS
        .rate
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .per_second()
}

/// Samples of a running total, the last [`RateWindow::LEN`] of them.
#[derive(Debug)]
struct RateWindow {
    samples: VecDeque<(std::time::Instant, u64)>,
}

impl RateWindow {
    const LEN: usize = 11;

    const fn new() -> Self {
        RateWindow {
            samples: VecDeque::new(),
        }
    }

    fn push(&mut self, at: std::time::Instant, total: u64) {
        if self.samples.len() == Self::LEN {
            self.samples.pop_front();
        }
        self.samples.push_back((at, total));
    }

    fn per_second(&self) -> f64 {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return 0.0;
        };
        let secs = last.0.saturating_duration_since(first.0).as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        last.1.saturating_sub(first.1) as f64 / secs
    }
}

fn render_map(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    map: &Mutex<BTreeMap<&'static str, u64>>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (key, n) in map.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {n}");
    }
}

/// The server's metrics in Prometheus text format; `uptime` in seconds.
pub fn render(out: &mut String, uptime: f64) {
    let m = &METRICS;
    render_map(
        out,
        "huddle_http_errors_total",
        "HTTP error answers by code.",
        "code",
        &m.http_errors,
    );
    render_map(
        out,
        "huddle_ws_upgrades_total",
        "WebSocket upgrade requests by outcome.",
        "outcome",
        &m.upgrades,
    );
    render_map(
        out,
        "huddle_tcp_refused_total",
        "TCP connections refused for a connection cap, by reason.",
        "reason",
        &m.tcp_refused,
    );
    render_map(
        out,
        "huddle_accept_errors_total",
        "Failed accepts, by kind (descriptors: EMFILE/ENFILE/ENOBUFS/ENOMEM).",
        "kind",
        &m.accept_errors,
    );
    let name = "huddle_tcp_connections_open";
    let _ = writeln!(
        out,
        "# HELP {name} TCP connections open (HTTP and WebSocket), within the caps.\n# TYPE {name} gauge\n{name} {}",
        m.tcp_open.load(Ordering::Relaxed)
    );
    let name = "huddle_mutations_per_second";
    let _ = writeln!(
        out,
        "# HELP {name} Mutations applied per second over the last 10 s.\n# TYPE {name} gauge\n{name} {:.3}",
        mutations_per_second()
    );
    process::ProcessStats::read().render(out);
    let name = "huddle_uptime_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Seconds since the server started.\n# TYPE {name} gauge\n{name} {uptime:.3}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn rate_window() {
        let mut w = RateWindow::new();
        assert_eq!(w.per_second(), 0.0);
        let t0 = Instant::now();
        for i in 0..20u64 {
            w.push(t0 + Duration::from_secs(i), i * 100);
        }
        assert!((w.per_second() - 100.0).abs() < 1e-9);
        assert_eq!(w.samples.len(), RateWindow::LEN);
    }

    #[test]
    fn renders_counters() {
        http_error("CONFLICT");
        upgrade("accepted");
        tcp_refused("max_connections");
        accept_error("descriptors");
        let mut out = String::new();
        render(&mut out, 1.5);
        assert!(out.contains("huddle_http_errors_total{code=\"CONFLICT\"}"));
        assert!(out.contains("huddle_ws_upgrades_total{outcome=\"accepted\"}"));
        assert!(out.contains("huddle_uptime_seconds 1.500"));
        if cfg!(target_os = "linux") {
            assert!(out.contains("\nprocess_cpu_seconds_total "), "{out}");
            assert!(out.contains("\nprocess_resident_memory_bytes "), "{out}");
            assert!(
                out.contains("\nprocess_resident_memory_peak_bytes "),
                "{out}"
            );
        }
        assert!(out.contains("huddle_tcp_refused_total{reason=\"max_connections\"}"));
        assert!(out.contains("huddle_accept_errors_total{kind=\"descriptors\"}"));
        assert!(out.contains("huddle_tcp_connections_open "));
    }
}
