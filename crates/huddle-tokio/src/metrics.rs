//! [`Metrics`]: lock-free counters, gauges and histograms that shards and
//! store tasks update as they work, readable at any time, and rendered as
//! a Prometheus text page by [`Metrics::render_prometheus`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use huddle_core::{ErrorCode, SessionState, Stats};

/// Upper bounds of the latency histograms' buckets, in milliseconds (a
/// last `+Inf` bucket is implied).
pub const LATENCY_BUCKETS_MS: [f64; 10] =
    [0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

/// A latency histogram with the fixed buckets of [`LATENCY_BUCKETS_MS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        let i = LATENCY_BUCKETS_MS
            .iter()
            .position(|le| ms <= *le)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The sum of all observations.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_micros.load(Ordering::Relaxed))
    }

    /// Cumulative counts per bucket: `(upper bound in ms, count)`, the last
    /// with bound `f64::INFINITY`.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        let bounds = LATENCY_BUCKETS_MS.iter().copied().chain([f64::INFINITY]);
        bounds
            .zip(&self.buckets)
            .map(|(le, n)| {
                total += n.load(Ordering::Relaxed);
                (le, total)
            })
            .collect()
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (le, n) in self.cumulative() {
            let le = if le.is_infinite() {
                "+Inf".to_string()
            } else {
                format!("{}", le / 1000.0)
            };
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {n}");
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum().as_secs_f64());
        let _ = writeln!(out, "{name}_count{braces} {}", self.count());
    }
}

/// The store operations timed by [`Metrics::storage_latency`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageOp {
    /// Acquiring and loading a board.
    Load,
    /// One group commit of appends (many batches and boards).
    Append,
    /// Writing a flush.
    Flush,
    /// Storing a snapshot.
    Snapshot,
    /// Pruning snapshots.
    Prune,
    /// Writing a user session record.
    Record,
}

impl StorageOp {
    /// Every operation.
    pub const ALL: [StorageOp; 6] = [
        StorageOp::Load,
        StorageOp::Append,
        StorageOp::Flush,
        StorageOp::Snapshot,
        StorageOp::Prune,
        StorageOp::Record,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageOp::Load => "load",
            StorageOp::Append => "append",
            StorageOp::Flush => "flush",
            StorageOp::Snapshot => "snapshot",
            StorageOp::Prune => "prune",
            StorageOp::Record => "record",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Every error code the driver may send (a code added to the core later
/// is not counted until it is listed here).
const ERROR_CODES: [&str; 15] = [
    "BOARD_NOT_FOUND",
    "NOT_JOINED",
    "SESSION_EXPIRED",
    "INVALID_MESSAGE",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED",
    "ROOM_FULL",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "SLOW_CONSUMER",
    "BATCH_ID_REUSED",
    "SNAPSHOT_UNCHANGED",
    "DATA_TOO_DEEP",
    "BOARD_TOO_LARGE",
    "SNAPSHOT_TOO_LARGE",
];

/// Renders the bytes the engines hold (the sums over every shard's
/// [`Stats`], from [`Driver::stats`](crate::Driver::stats)) as Prometheus
/// gauges: `huddle_bytes_held{kind}` with `kind` one of `elements` (the
/// boards' payload bytes), `reserved`, `history`, `pending`,
/// `encoded_events`, `encoded_elements`, `batch_ids`.
pub fn render_bytes_held(stats: &Stats, out: &mut String) {
    let name = "huddle_bytes_held";
    let _ = writeln!(
        out,
        "# HELP {name} Bytes the board sessions hold, by kind (payloads are shared between kinds).\n# TYPE {name} gauge"
    );
    for (kind, value) in [
        ("elements", stats.payload_bytes_held),
        ("reserved", stats.reserved_bytes),
        ("history", stats.history_bytes_held),
        ("pending", stats.pending_bytes),
        ("encoded_events", stats.encoded_event_bytes_held),
        ("encoded_elements", stats.encoded_element_bytes_held),
        ("batch_ids", stats.batch_id_bytes_remembered),
    ] {
        let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {value}");
    }
}

/// The driver's counters and gauges. All are atomics: read them at any
/// time, from any thread ([`Driver::metrics`](crate::Driver::metrics)).
///
/// | Prometheus name | type | meaning |
/// |---|---|---|
/// | `huddle_connections_open` | gauge | connections registered with a shard and not yet closed |
/// | `huddle_boards{state}` | gauge | board sessions in memory by state (`created`, `active`, `idle`) |
/// | `huddle_mutations_applied_total` | counter | mutations accepted by the engines |
/// | `huddle_batches_acked_total` | counter | `ack` frames sent |
/// | `huddle_ack_latency_seconds` | histogram | `mutate` handed to [`ConnSender::send`](crate::ConnSender::send) → its `ack` queued |
/// | `huddle_storage_latency_seconds{op}` | histogram | one store call, by operation |
/// | `huddle_storage_failures_total` | counter | store calls answered `Failed` |
/// | `huddle_boards_released_total` | counter | board sessions ended and released (their ownership epoch dropped) |
/// | `huddle_leases_held` | gauge | board leases this node holds |
/// | `huddle_lease_takeovers_total` | counter | boards acquired from another node whose lease had expired |
/// | `huddle_lease_losses_total` | counter | board sessions ended because their lease was lost |
/// | `huddle_errors_sent_total{code}` | counter | `error` frames sent, by code |
/// | `huddle_slow_consumers_total` | counter | connections closed as slow consumers |
/// | `huddle_frames_sent_total` | counter | text frames queued to connections |
/// | `huddle_snapshots_skipped_total` | counter | automatic snapshots not taken: the board was over `max_snapshot_bytes` |
/// | `huddle_frames_received_total` | counter | client frames the WebSocket pump received |
/// | `huddle_bytes_received_total` | counter | bytes of those frames |
/// | `huddle_frames_refused_total{code}` | counter | client frames the pump refused before the engine (oversize, malformed, flooding), by code |
/// | `huddle_ws_closed_total{reason}` | counter | WebSockets the pump closed on a deadline (`join_timeout`, `token_expired`) |
/// | `huddle_redirects_total` | counter | joins sent to the board's owner on another node (close 4003) |
///
/// The last five are counted by the WebSocket pump (the `axum` feature).
///
/// The bytes the engines hold are read from their [`Stats`] instead
/// ([`render_bytes_held`]), on each scrape.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) connections_open: AtomicI64,
    pub(crate) boards: [AtomicI64; 3],
    pub(crate) mutations_applied: AtomicU64,
    pub(crate) batches_acked: AtomicU64,
    pub(crate) ack_latency: Histogram,
    pub(crate) storage_latency: [Histogram; 6],
    pub(crate) storage_failures: AtomicU64,
    pub(crate) boards_released: AtomicU64,
    pub(crate) leases_held: AtomicI64,
    pub(crate) lease_takeovers: AtomicU64,
    pub(crate) lease_losses: AtomicU64,
    pub(crate) errors_sent: [AtomicU64; ERROR_CODES.len()],
    pub(crate) slow_consumers: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) snapshots_skipped: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) frames_refused: Mutex<BTreeMap<&'static str, u64>>,
    pub(crate) ws_closed: Mutex<BTreeMap<&'static str, u64>>,
    pub(crate) redirects: AtomicU64,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    *map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_default() += 1;
}

fn read(map: &Mutex<BTreeMap<&'static str, u64>>, key: &str) -> u64 {
    map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
        .copied()
        .unwrap_or(0)
}

fn state_index(state: SessionState) -> Option<usize> {
    match state {
        SessionState::Created => Some(0),
        SessionState::Active => Some(1),
        SessionState::Idle => Some(2),
        SessionState::Archived => None,
    }
}

fn code_index(code: ErrorCode) -> Option<usize> {
    ERROR_CODES.iter().position(|c| *c == code.as_str())
}

impl Metrics {
    /// Connections open.
    pub fn connections_open(&self) -> i64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Board sessions in memory in this state (`Archived`: always 0).
    pub fn boards(&self, state: SessionState) -> i64 {
        state_index(state).map_or(0, |i| self.boards[i].load(Ordering::Relaxed))
    }

    /// Mutations accepted so far.
    pub fn mutations_applied(&self) -> u64 {
        self.mutations_applied.load(Ordering::Relaxed)
    }

    /// `ack` frames sent so far.
    pub fn batches_acked(&self) -> u64 {
        self.batches_acked.load(Ordering::Relaxed)
    }

    /// `mutate` received → `ack` queued.
    pub fn ack_latency(&self) -> &Histogram {
        &self.ack_latency
    }

    /// One store call of this kind.
    pub fn storage_latency(&self, op: StorageOp) -> &Histogram {
        &self.storage_latency[op.index()]
    }

    /// Store calls that failed.
    pub fn storage_failures(&self) -> u64 {
        self.storage_failures.load(Ordering::Relaxed)
    }

    /// Board sessions released: ended, every effect reported, the
    /// ownership epoch dropped (one per ended session).
    pub fn boards_released(&self) -> u64 {
        self.boards_released.load(Ordering::Relaxed)
    }

    /// Board leases this node holds (as of the last renewal round).
    pub fn leases_held(&self) -> i64 {
        self.leases_held.load(Ordering::Relaxed)
    }

    /// Boards this node took over from another whose lease had expired.
    pub fn lease_takeovers(&self) -> u64 {
        self.lease_takeovers.load(Ordering::Relaxed)
    }

    /// Board sessions ended because their lease was lost (not renewed in
    /// time, or no longer this node's).
    pub fn lease_losses(&self) -> u64 {
        self.lease_losses.load(Ordering::Relaxed)
    }

    /// `error` frames sent with this code (`"SLOW_CONSUMER"` included).
    pub fn errors_sent(&self, code: &str) -> u64 {
        ERROR_CODES
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.errors_sent[i].load(Ordering::Relaxed))
    }

    /// Connections closed as slow consumers.
    pub fn slow_consumers(&self) -> u64 {
        self.slow_consumers.load(Ordering::Relaxed)
    }

    /// Text frames queued to connections.
    pub fn frames_sent(&self) -> u64 {
        self.frames_sent.load(Ordering::Relaxed)
    }

    /// Automatic snapshots skipped because their board was over
    /// `max_snapshot_bytes`.
    pub fn snapshots_skipped(&self) -> u64 {
        self.snapshots_skipped.load(Ordering::Relaxed)
    }

    /// Client frames received by the WebSocket pump.
    pub fn frames_received(&self) -> u64 {
        self.frames_received.load(Ordering::Relaxed)
    }

    /// Bytes of the client frames received by the WebSocket pump.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.load(Ordering::Relaxed)
    }

    /// Client frames the WebSocket pump refused with this code
    /// (`"PAYLOAD_TOO_LARGE"`, `"INVALID_MESSAGE"`, `"DATA_TOO_DEEP"`,
    /// `"RATE_LIMITED"`, and `"FRAME_TOO_BIG"` for a frame over the hard
    /// limit).
    pub fn frames_refused(&self, code: &str) -> u64 {
        read(&self.frames_refused, code)
    }

    /// WebSockets the pump closed on a deadline, by reason
    /// (`"join_timeout"`, `"token_expired"`).
    pub fn ws_closed(&self, reason: &str) -> u64 {
        read(&self.ws_closed, reason)
    }

    /// Joins redirected to the board's owner on another node.
    pub fn redirects(&self) -> u64 {
        self.redirects.load(Ordering::Relaxed)
    }

    /// Counts a client frame of `bytes` bytes received.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn frame_received(&self, bytes: usize) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts a client frame refused before the engine saw it, by code.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn frame_refused(&self, code: &'static str) {
        bump(&self.frames_refused, code);
    }

    /// Counts a WebSocket closed on a deadline, by reason.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn socket_closed(&self, reason: &'static str) {
        bump(&self.ws_closed, reason);
    }

    /// Counts a join redirected to another node.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn redirect(&self) {
        self.redirects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn board_state(&self, from: Option<SessionState>, to: Option<SessionState>) {
        if let Some(i) = from.and_then(state_index) {
            self.boards[i].fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(i) = to.and_then(state_index) {
            self.boards[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn error_sent(&self, code: ErrorCode) {
        if let Some(i) = code_index(code) {
            self.errors_sent[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
        self.error_sent(ErrorCode::SlowConsumer);
    }

    /// The metrics as a Prometheus text exposition (format 0.0.4): serve it
    /// as `text/plain; version=0.0.4` on `/metrics`.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        gauge(
            &mut out,
            "huddle_connections_open",
            "Connections open.",
            "gauge",
        );
        let _ = writeln!(out, "huddle_connections_open {}", self.connections_open());
        gauge(
            &mut out,
            "huddle_boards",
            "Board sessions in memory by state.",
            "gauge",
        );
        for (i, state) in ["created", "active", "idle"].iter().enumerate() {
            let n = self.boards[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "huddle_boards{{state=\"{state}\"}} {n}");
        }
        gauge(
            &mut out,
            "huddle_leases_held",
            "Board leases this node holds.",
            "gauge",
        );
        let _ = writeln!(out, "huddle_leases_held {}", self.leases_held());
        for (name, help, value) in [
            (
                "huddle_lease_takeovers_total",
                "Boards taken over from a node whose lease had expired.",
                self.lease_takeovers(),
            ),
            (
                "huddle_lease_losses_total",
                "Board sessions ended because their lease was lost.",
                self.lease_losses(),
            ),
            (
                "huddle_mutations_applied_total",
                "Mutations accepted.",
                self.mutations_applied(),
            ),
            (
                "huddle_batches_acked_total",
                "Ack frames sent.",
                self.batches_acked(),
            ),
            (
                "huddle_storage_failures_total",
                "Store calls that failed.",
                self.storage_failures(),
            ),
            (
                "huddle_boards_released_total",
                "Board sessions ended and released.",
                self.boards_released(),
            ),
            (
                "huddle_slow_consumers_total",
                "Connections closed as slow consumers.",
                self.slow_consumers(),
            ),
            (
                "huddle_frames_sent_total",
                "Text frames queued to connections.",
                self.frames_sent(),
            ),
            (
                "huddle_snapshots_skipped_total",
                "Automatic snapshots not taken: the board was over its snapshot size cap.",
                self.snapshots_skipped(),
            ),
            (
                "huddle_frames_received_total",
                "Client frames received.",
                self.frames_received(),
            ),
            (
                "huddle_bytes_received_total",
                "Bytes of client frames received.",
                self.bytes_received(),
            ),
            (
                "huddle_redirects_total",
                "Joins redirected to the node that owns the board.",
                self.redirects(),
            ),
        ] {
            gauge(&mut out, name, help, "counter");
            let _ = writeln!(out, "{name} {value}");
        }
        gauge(
            &mut out,
            "huddle_errors_sent_total",
            "Error frames sent by code.",
            "counter",
        );
        for (code, n) in ERROR_CODES.iter().zip(&self.errors_sent) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(out, "huddle_errors_sent_total{{code=\"{code}\"}} {n}");
        }
        for (name, help, label, map) in [
            (
                "huddle_frames_refused_total",
                "Client frames refused before the engine (oversize, malformed), by code.",
                "code",
                &self.frames_refused,
            ),
            (
                "huddle_ws_closed_total",
                "WebSockets closed on a deadline, by reason.",
                "reason",
                &self.ws_closed,
            ),
        ] {
            gauge(&mut out, name, help, "counter");
            for (key, n) in map.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {n}");
            }
        }
        let name = "huddle_ack_latency_seconds";
        gauge(
            &mut out,
            name,
            "Mutate received to ack queued.",
            "histogram",
        );
        self.ack_latency.render(&mut out, name, "");
        let name = "huddle_storage_latency_seconds";
        gauge(
            &mut out,
            name,
            "Store call latency by operation.",
            "histogram",
        );
        for op in StorageOp::ALL {
            let labels = format!("op=\"{}\"", op.as_str());
            self.storage_latency(op).render(&mut out, name, &labels);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(5));
        let c = h.cumulative();
        assert_eq!(c[0], (0.5, 1));
        assert_eq!(c[3], (5.0, 2));
        assert_eq!(c.last().map(|x| x.1), Some(3));
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn renders_every_family() {
        let m = Metrics::default();
        m.error_sent(ErrorCode::RateLimited);
        m.slow_consumer();
        m.frame_refused("PAYLOAD_TOO_LARGE");
        m.socket_closed("join_timeout");
        m.redirect();
        m.frame_received(10);
        let text = m.render_prometheus();
        assert!(text.contains("huddle_frames_refused_total{code=\"PAYLOAD_TOO_LARGE\"} 1"));
        assert!(text.contains("huddle_ws_closed_total{reason=\"join_timeout\"} 1"));
        assert!(text.contains("\nhuddle_redirects_total 1\n"));
        assert!(text.contains("\nhuddle_bytes_received_total 10\n"));
        assert_eq!(m.frames_refused("PAYLOAD_TOO_LARGE"), 1);
        assert_eq!(m.ws_closed("token_expired"), 0);
        assert!(text.contains("huddle_errors_sent_total{code=\"RATE_LIMITED\"} 1"));
        assert!(text.contains("huddle_errors_sent_total{code=\"SLOW_CONSUMER\"} 1"));
        assert!(text.contains("huddle_storage_latency_seconds_bucket{op=\"append\",le=\"+Inf\"} 0"));
        assert!(text.contains("huddle_ack_latency_seconds_count 0"));
    }
}
