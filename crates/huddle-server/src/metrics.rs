//! What the server itself counts, on top of the driver's metrics
//! (connections, boards by state, mutations, ack and storage latency,
//! error frames by code; and, from its WebSocket pump, frames received
//! and refused, deadline closes, redirects): HTTP errors by code,
//! WebSocket upgrades by outcome, TCP connections open, refused and failed
//! accepts, and a mutations-per-second gauge ([`ServerMetrics`]); the
//! process's own CPU time and memory ([`process`]) and the server's
//! uptime ([`Uptime`]), read at each scrape.
//!
//! Each server has its own [`ServerMetrics`] (in its `AppState`, handed to
//! the accept loop and the gate); [`registry`] puts them, the driver's and
//! the collectors into the one `prometheus-client` registry that
//! `/metrics` encodes.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use huddle_store::Store;
use huddle_tokio::prometheus_client::collector::Collector;
use huddle_tokio::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use huddle_tokio::prometheus_client::metrics::counter::Counter;
use huddle_tokio::prometheus_client::metrics::family::Family;
use huddle_tokio::prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use huddle_tokio::prometheus_client::registry::Registry;
use huddle_tokio::Driver;

pub mod process;

/// The one label of a family: its name and value.
type Label = [(&'static str, Cow<'static, str>); 1];

fn label(name: &'static str, value: &'static str) -> Label {
    [(name, Cow::Borrowed(value))]
}

/// One server's own counters. Cheap to share (`Arc`); every metric is a
/// `prometheus-client` type.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    http_errors: Family<Label, Counter>,
    upgrades: Family<Label, Counter>,
    tcp_open: Gauge,
    tcp_refused: Family<Label, Counter>,
    accept_errors: Family<Label, Counter>,
    mutations_per_second: Gauge<f64, AtomicU64>,
    rate: Mutex<RateWindow>,
}

impl ServerMetrics {
    /// Counts an HTTP error answer by code.
    pub fn http_error(&self, code: &'static str) {
        self.http_errors.get_or_create(&label("code", code)).inc();
    }

    /// Counts a WebSocket upgrade request by outcome (`accepted`,
    /// `unauthorized`, `not_websocket`, `unavailable`).
    pub fn upgrade(&self, outcome: &'static str) {
        self.upgrades
            .get_or_create(&label("outcome", outcome))
            .inc();
    }

    /// A TCP connection was admitted (`1`) or ended (`-1`).
    pub fn tcp_open(&self, delta: i64) {
        self.tcp_open.inc_by(delta);
    }

    /// TCP connections open (within the caps).
    pub fn tcp_connections_open(&self) -> i64 {
        self.tcp_open.get()
    }

    /// Counts a TCP connection refused for a cap, by reason
    /// (`max_connections`, `max_connections_per_ip`, `overflow`).
    pub fn tcp_refused(&self, reason: &'static str) {
        self.tcp_refused
            .get_or_create(&label("reason", reason))
            .inc();
    }

    /// Counts a failed `accept`, by kind (`descriptors`, `other`).
    pub fn accept_error(&self, kind: &'static str) {
        self.accept_errors.get_or_create(&label("kind", kind)).inc();
    }

    /// HTTP error answers counted with this code.
    pub fn http_errors(&self, code: &str) -> u64 {
        let key = [("code", Cow::Owned(code.to_owned()))];
        self.http_errors.get(&key).map_or(0, |c| c.get())
    }

    /// Feeds the mutations-per-second window with the driver's running
    /// total (call about once a second) and updates the gauge.
    pub fn sample_mutations(&self, total: u64, at: Instant) {
        let mut rate = self.rate.lock().unwrap_or_else(PoisonError::into_inner);
        rate.push(at, total);
        self.mutations_per_second.set(rate.per_second());
    }

    /// Mutations per second over the last ten seconds or so.
    pub fn mutations_per_second(&self) -> f64 {
        self.mutations_per_second.get()
    }

    /// Registers every metric in `registry` (shared, not copied).
    pub fn register(&self, registry: &mut Registry) {
        for (name, help, family) in [
            (
                "huddle_http_errors",
                "HTTP error answers by code",
                &self.http_errors,
            ),
            (
                "huddle_ws_upgrades",
                "WebSocket upgrade requests by outcome",
                &self.upgrades,
            ),
            (
                "huddle_tcp_refused",
                "TCP connections refused for a connection cap, by reason",
                &self.tcp_refused,
            ),
            (
                "huddle_accept_errors",
                "Failed accepts, by kind (descriptors: EMFILE/ENFILE/ENOBUFS/ENOMEM)",
                &self.accept_errors,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "huddle_tcp_connections_open",
            "TCP connections open (HTTP and WebSocket), within the caps",
            self.tcp_open.clone(),
        );
        registry.register(
            "huddle_mutations_per_second",
            "Mutations applied per second over the last 10 s",
            self.mutations_per_second.clone(),
        );
    }
}

/// The registry `/metrics` encodes: the driver's metrics, the server's,
/// the process's figures and the uptime since `started`.
pub fn registry<S: Store + 'static>(
    driver: &Driver<S>,
    server: &ServerMetrics,
    started: Instant,
) -> Registry {
    let mut registry = Registry::default();
    driver.metrics().register(&mut registry);
    server.register(&mut registry);
    registry.register_collector(Box::new(process::ProcessCollector));
    registry.register_collector(Box::new(Uptime(started)));
    registry
}

/// `huddle_uptime_seconds`: seconds since the server started, read at
/// each scrape.
#[derive(Debug)]
pub struct Uptime(pub Instant);

impl Collector for Uptime {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(self.0.elapsed().as_secs_f64());
        let metric = encoder.encode_descriptor(
            "huddle_uptime_seconds",
            "Seconds since the server started.",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

/// Samples of a running total, the last [`RateWindow::LEN`] of them.
#[derive(Debug, Default)]
struct RateWindow {
    samples: VecDeque<(Instant, u64)>,
}

impl RateWindow {
    const LEN: usize = 11;

    fn push(&mut self, at: Instant, total: u64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_tokio::prometheus_client::encoding::prometheus_text;
    use std::time::Duration;

    #[test]
    fn rate_window() {
        let mut w = RateWindow::default();
        assert_eq!(w.per_second(), 0.0);
        let t0 = Instant::now();
        for i in 0..20u64 {
            w.push(t0 + Duration::from_secs(i), i * 100);
        }
        assert!((w.per_second() - 100.0).abs() < 1e-9);
        assert_eq!(w.samples.len(), RateWindow::LEN);
    }

    fn encode(m: &ServerMetrics) -> String {
        let mut registry = Registry::default();
        m.register(&mut registry);
        registry.register_collector(Box::new(process::ProcessCollector));
        registry.register_collector(Box::new(Uptime(Instant::now())));
        let mut out = String::new();
        prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn renders_counters() {
        let m = ServerMetrics::default();
        m.http_error("CONFLICT");
        m.upgrade("accepted");
        m.tcp_refused("max_connections");
        m.accept_error("descriptors");
        m.tcp_open(1);
        let t0 = Instant::now();
        m.sample_mutations(0, t0);
        m.sample_mutations(50, t0 + Duration::from_secs(2));
        let out = encode(&m);
        assert!(
            out.contains("\nhuddle_http_errors_total{code=\"CONFLICT\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE huddle_http_errors_total counter\n"),
            "{out}"
        );
        assert!(out.contains("huddle_ws_upgrades_total{outcome=\"accepted\"} 1"));
        assert!(out.contains("\nhuddle_uptime_seconds "), "{out}");
        assert!(
            out.contains("# TYPE huddle_uptime_seconds gauge\n"),
            "{out}"
        );
        assert!(
            out.contains("\nhuddle_mutations_per_second 25.0\n"),
            "{out}"
        );
        if cfg!(target_os = "linux") {
            assert!(out.contains("\nprocess_cpu_seconds_total "), "{out}");
            assert!(
                out.contains("# TYPE process_cpu_seconds_total counter\n"),
                "{out}"
            );
            assert!(out.contains("\nprocess_resident_memory_bytes "), "{out}");
            assert!(
                out.contains("\nprocess_resident_memory_peak_bytes "),
                "{out}"
            );
        }
        assert!(out.contains("huddle_tcp_refused_total{reason=\"max_connections\"} 1"));
        assert!(out.contains("huddle_accept_errors_total{kind=\"descriptors\"} 1"));
        assert!(out.contains("\nhuddle_tcp_connections_open 1\n"), "{out}");
        assert_eq!(m.http_errors("CONFLICT"), 1);
        assert_eq!(m.http_errors("NOT_FOUND"), 0);
    }

    #[test]
    fn two_servers_count_apart() {
        let (a, b) = (ServerMetrics::default(), ServerMetrics::default());
        a.http_error("CONFLICT");
        a.tcp_open(1);
        assert_eq!(
            (a.http_errors("CONFLICT"), b.http_errors("CONFLICT")),
            (1, 0)
        );
        assert_eq!((a.tcp_connections_open(), b.tcp_connections_open()), (1, 0));
        assert!(!encode(&b).contains("huddle_http_errors_total{"));
    }
}
