//! [`Metrics`]: the driver's counters, gauges and histograms, as
//! `prometheus-client` metric types owned by one driver (two drivers in a
//! process count apart). Shards, store tasks and the WebSocket pump update
//! them as they work; read them at any time through the accessors, put
//! them into an embedder's own [`Registry`] with [`Metrics::register`], or
//! render the driver's alone with [`Metrics::render_prometheus`].
//!
//! [`Registry`]: prometheus_client::registry::Registry

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use huddle_core::{ErrorCode, SessionState, Stats};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

mod register;

/// Upper bounds of the latency histograms' buckets, in milliseconds (a
/// last `+Inf` bucket is implied; the histograms count seconds).
pub const LATENCY_BUCKETS_MS: [f64; 10] =
    [0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

/// The store operations timed by `huddle_storage_latency_seconds{op}`.
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

/// The board states of `huddle_boards{state}` (archived boards are not in
/// memory).
const BOARD_STATES: [&str; 3] = ["created", "active", "idle"];

/// The kinds of `huddle_bytes_held{kind}`.
const BYTES_HELD_KINDS: [&str; 7] = [
    "elements",
    "reserved",
    "history",
    "pending",
    "encoded_events",
    "encoded_elements",
    "batch_ids",
];

/// The one label of a family: its name and value.
pub(crate) type Label = [(&'static str, Cow<'static, str>); 1];

fn label(name: &'static str, value: &'static str) -> Label {
    [(name, Cow::Borrowed(value))]
}

/// A label whose value is not `'static`, to look a series up.
fn lookup(name: &'static str, value: &str) -> Label {
    [(name, Cow::Owned(value.to_owned()))]
}

/// A latency histogram with the buckets of [`LATENCY_BUCKETS_MS`], in
/// seconds.
fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_MS.iter().map(|ms| ms / 1000.0))
}

/// A gauge of bytes (the engines' [`Stats`] are `u64`).
type BytesGauge = Gauge<u64, AtomicU64>;

/// The driver's counters, gauges and histograms
/// ([`Driver::metrics`](crate::Driver::metrics)). Each driver has its own:
/// they are not process-wide.
///
/// | Prometheus name | type | meaning |
/// |---|---|---|
/// | `huddle_connections_open` | gauge | connections registered with a shard and not yet closed |
/// | `huddle_boards{state}` | gauge | board sessions in memory by state (`created`, `active`, `idle`) |
/// | `huddle_bytes_held{kind}` | gauge | bytes the engines hold, by kind, as of the last [`Driver::refresh_metrics`](crate::Driver::refresh_metrics) |
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
/// # Embedding
///
/// [`register`](Self::register) puts every metric into the embedder's own
/// registry, beside its own metrics (a prefix or labels are its choice:
/// register into a sub-registry). The gauges of `huddle_bytes_held` are
/// read from the shards, which takes a round trip:
/// [`Driver::refresh_metrics`](crate::Driver::refresh_metrics) before each
/// scrape brings them up to date.
///
/// ```
/// use huddle_tokio::Metrics;
/// use prometheus_client::encoding::text::encode;
/// use prometheus_client::metrics::counter::Counter;
/// use prometheus_client::registry::Registry;
///
/// // The driver's (here a standalone instance; an embedder takes
/// // `driver.metrics()`).
/// let metrics = Metrics::default();
/// let mut registry = Registry::default();
/// let logins: Counter = Counter::default();
/// registry.register("app_logins", "Logins", logins.clone());
/// metrics.register(registry.sub_registry_with_label(("node".into(), "a".into())));
/// logins.inc();
///
/// let mut page = String::new();
/// encode(&mut page, &registry).unwrap();
/// assert!(page.contains("app_logins_total 1"));
/// assert!(page.contains("huddle_mutations_applied_total{node=\"a\"} 0"));
///
/// // The driver's metrics alone, in the Prometheus text format.
/// assert!(metrics.render_prometheus().contains("# TYPE huddle_connections_open gauge"));
/// ```
#[derive(Debug)]
pub struct Metrics {
    pub(crate) connections_open: Gauge,
    boards: Family<Label, Gauge>,
    /// The series of `boards`, by state index (lock-free updates).
    boards_by_state: [Gauge; 3],
    bytes_held: Family<Label, BytesGauge>,
    pub(crate) mutations_applied: Counter,
    pub(crate) batches_acked: Counter,
    pub(crate) ack_latency: Histogram,
    storage_latency: Family<Label, Histogram, fn() -> Histogram>,
    /// The series of `storage_latency`, by [`StorageOp::index`].
    storage_latency_by_op: [Histogram; 6],
    pub(crate) storage_failures: Counter,
    pub(crate) boards_released: Counter,
    pub(crate) leases_held: Gauge,
    pub(crate) lease_takeovers: Counter,
    pub(crate) lease_losses: Counter,
    errors_sent: Family<Label, Counter>,
    /// The series of `errors_sent`, by index in [`ERROR_CODES`].
    errors_sent_by_code: [Counter; ERROR_CODES.len()],
    pub(crate) slow_consumers: Counter,
    pub(crate) frames_sent: Counter,
    pub(crate) snapshots_skipped: Counter,
    frames_received: Counter,
    bytes_received: Counter,
    frames_refused: Family<Label, Counter>,
    ws_closed: Family<Label, Counter>,
    redirects: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let boards = Family::<Label, Gauge>::default();
        let boards_by_state = BOARD_STATES.map(|s| boards.get_or_create_owned(&label("state", s)));
        let bytes_held = Family::<Label, BytesGauge>::default();
        for kind in BYTES_HELD_KINDS {
            bytes_held.get_or_create_owned(&label("kind", kind));
        }
        let storage_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let storage_latency_by_op =
            StorageOp::ALL.map(|op| storage_latency.get_or_create_owned(&label("op", op.as_str())));
        let errors_sent = Family::<Label, Counter>::default();
        let errors_sent_by_code =
            ERROR_CODES.map(|code| errors_sent.get_or_create_owned(&label("code", code)));
        Metrics {
            connections_open: Gauge::default(),
            boards,
            boards_by_state,
            bytes_held,
            mutations_applied: Counter::default(),
            batches_acked: Counter::default(),
            ack_latency: latency_histogram(),
            storage_latency,
            storage_latency_by_op,
            storage_failures: Counter::default(),
            boards_released: Counter::default(),
            leases_held: Gauge::default(),
            lease_takeovers: Counter::default(),
            lease_losses: Counter::default(),
            errors_sent,
            errors_sent_by_code,
            slow_consumers: Counter::default(),
            frames_sent: Counter::default(),
            snapshots_skipped: Counter::default(),
            frames_received: Counter::default(),
            bytes_received: Counter::default(),
            frames_refused: Family::default(),
            ws_closed: Family::default(),
            redirects: Counter::default(),
        }
    }
}

fn state_index(state: SessionState) -> Option<usize> {
    match state {
        SessionState::Created => Some(0),
        SessionState::Active => Some(1),
        SessionState::Idle => Some(2),
        SessionState::Archived => None,
    }
}

fn code_index(code: &str) -> Option<usize> {
    ERROR_CODES.iter().position(|c| *c == code)
}

/// The count of `family`'s series whose one label is `name="value"` (0 if
/// it was never counted).
fn count_of(family: &Family<Label, Counter>, name: &'static str, value: &str) -> u64 {
    family.get(&lookup(name, value)).map_or(0, |c| c.get())
}

impl Metrics {
    /// Connections open.
    pub fn connections_open(&self) -> i64 {
        self.connections_open.get()
    }

    /// Board sessions in memory in this state (`Archived`: always 0).
    pub fn boards(&self, state: SessionState) -> i64 {
        state_index(state).map_or(0, |i| self.boards_by_state[i].get())
    }

    /// Bytes held of this kind (`huddle_bytes_held{kind}`), as of the last
    /// [`Driver::refresh_metrics`](crate::Driver::refresh_metrics); 0 for
    /// an unknown kind.
    pub fn bytes_held(&self, kind: &str) -> u64 {
        self.bytes_held
            .get(&lookup("kind", kind))
            .map_or(0, |g| g.get())
    }

    /// Mutations accepted so far.
    pub fn mutations_applied(&self) -> u64 {
        self.mutations_applied.get()
    }

    /// `ack` frames sent so far.
    pub fn batches_acked(&self) -> u64 {
        self.batches_acked.get()
    }

    /// Store calls that failed.
    pub fn storage_failures(&self) -> u64 {
        self.storage_failures.get()
    }

    /// Board sessions released: ended, every effect reported, the
    /// ownership epoch dropped (one per ended session).
    pub fn boards_released(&self) -> u64 {
        self.boards_released.get()
    }

    /// Board leases this node holds (as of the last renewal round).
    pub fn leases_held(&self) -> i64 {
        self.leases_held.get()
    }

    /// Boards this node took over from another whose lease had expired.
    pub fn lease_takeovers(&self) -> u64 {
        self.lease_takeovers.get()
    }

    /// Board sessions ended because their lease was lost (not renewed in
    /// time, or no longer this node's).
    pub fn lease_losses(&self) -> u64 {
        self.lease_losses.get()
    }

    /// `error` frames sent with this code (`"SLOW_CONSUMER"` included).
    pub fn errors_sent(&self, code: &str) -> u64 {
        code_index(code).map_or(0, |i| self.errors_sent_by_code[i].get())
    }

    /// Connections closed as slow consumers.
    pub fn slow_consumers(&self) -> u64 {
        self.slow_consumers.get()
    }

    /// Text frames queued to connections.
    pub fn frames_sent(&self) -> u64 {
        self.frames_sent.get()
    }

    /// Automatic snapshots skipped because their board was over
    /// `max_snapshot_bytes`.
    pub fn snapshots_skipped(&self) -> u64 {
        self.snapshots_skipped.get()
    }

    /// Client frames received by the WebSocket pump.
    pub fn frames_received(&self) -> u64 {
        self.frames_received.get()
    }

    /// Bytes of the client frames received by the WebSocket pump.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.get()
    }

    /// Client frames the WebSocket pump refused with this code
    /// (`"PAYLOAD_TOO_LARGE"`, `"INVALID_MESSAGE"`, `"DATA_TOO_DEEP"`,
    /// `"RATE_LIMITED"`, and `"FRAME_TOO_BIG"` for a frame over the hard
    /// limit).
    pub fn frames_refused(&self, code: &str) -> u64 {
        count_of(&self.frames_refused, "code", code)
    }

    /// WebSockets the pump closed on a deadline, by reason
    /// (`"join_timeout"`, `"token_expired"`).
    pub fn ws_closed(&self, reason: &str) -> u64 {
        count_of(&self.ws_closed, "reason", reason)
    }

    /// Joins redirected to the board's owner on another node.
    pub fn redirects(&self) -> u64 {
        self.redirects.get()
    }

    /// Sets `huddle_bytes_held{kind}` from the engines' statistics summed
    /// over the shards ([`Driver::stats`](crate::Driver::stats)):
    /// `elements` (the boards' payload bytes), `reserved`, `history`,
    /// `pending`, `encoded_events`, `encoded_elements`, `batch_ids`.
    pub fn set_bytes_held(&self, stats: &Stats) {
        let values = [
            stats.payload_bytes_held,
            stats.reserved_bytes,
            stats.history_bytes_held,
            stats.pending_bytes,
            stats.encoded_event_bytes_held,
            stats.encoded_element_bytes_held,
            stats.batch_id_bytes_remembered,
        ];
        for (kind, value) in BYTES_HELD_KINDS.into_iter().zip(values) {
            let value = u64::try_from(value).unwrap_or(u64::MAX);
            self.bytes_held
                .get_or_create(&label("kind", kind))
                .set(value);
        }
    }

    /// Times one store call.
    pub(crate) fn storage_latency(&self, op: StorageOp, took: Duration) {
        self.storage_latency_by_op[op.index()].observe(took.as_secs_f64());
    }

    /// Times one `mutate` → `ack`.
    pub(crate) fn ack_latency(&self, took: Duration) {
        self.ack_latency.observe(took.as_secs_f64());
    }

    /// Counts a client frame of `bytes` bytes received.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn frame_received(&self, bytes: usize) {
        self.frames_received.inc();
        self.bytes_received
            .inc_by(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    /// Counts a client frame refused before the engine saw it, by code.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn frame_refused(&self, code: &'static str) {
        self.frames_refused
            .get_or_create(&label("code", code))
            .inc();
    }

    /// Counts a WebSocket closed on a deadline, by reason.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn socket_closed(&self, reason: &'static str) {
        self.ws_closed.get_or_create(&label("reason", reason)).inc();
    }

    /// Counts a join redirected to another node.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn redirect(&self) {
        self.redirects.inc();
    }

    pub(crate) fn board_state(&self, from: Option<SessionState>, to: Option<SessionState>) {
        if let Some(i) = from.and_then(state_index) {
            self.boards_by_state[i].dec();
        }
        if let Some(i) = to.and_then(state_index) {
            self.boards_by_state[i].inc();
        }
    }

    pub(crate) fn error_sent(&self, code: ErrorCode) {
        if let Some(i) = code_index(code.as_str()) {
            self.errors_sent_by_code[i].inc();
        }
    }

    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.inc();
        self.error_sent(ErrorCode::SlowConsumer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_seconds() {
        let m = Metrics::default();
        m.ack_latency(Duration::from_micros(300));
        m.ack_latency(Duration::from_millis(3));
        m.ack_latency(Duration::from_secs(5));
        let text = m.render_prometheus();
        assert!(
            text.contains("huddle_ack_latency_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("huddle_ack_latency_seconds_bucket{le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("huddle_ack_latency_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("huddle_ack_latency_seconds_count 3\n"),
            "{text}"
        );
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
        m.board_state(None, Some(SessionState::Active));
        let text = m.render_prometheus();
        assert!(text.contains("huddle_frames_refused_total{code=\"PAYLOAD_TOO_LARGE\"} 1"));
        assert!(text.contains("huddle_ws_closed_total{reason=\"join_timeout\"} 1"));
        assert!(text.contains("\nhuddle_redirects_total 1\n"));
        assert!(text.contains("\nhuddle_bytes_received_total 10\n"));
        assert!(
            text.contains("# TYPE huddle_redirects_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("\nhuddle_boards{state=\"active\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("\nhuddle_boards{state=\"idle\"} 0\n"),
            "{text}"
        );
        assert_eq!(m.frames_refused("PAYLOAD_TOO_LARGE"), 1);
        assert_eq!(m.ws_closed("token_expired"), 0);
        assert!(text.contains("huddle_errors_sent_total{code=\"RATE_LIMITED\"} 1"));
        assert!(text.contains("huddle_errors_sent_total{code=\"SLOW_CONSUMER\"} 1"));
        assert!(text.contains("huddle_errors_sent_total{code=\"ROOM_FULL\"} 0"));
        assert!(text.contains("huddle_storage_latency_seconds_bucket{op=\"append\",le=\"+Inf\"} 0"));
        assert!(text.contains("huddle_ack_latency_seconds_count 0"));
        assert!(
            text.contains("\nhuddle_bytes_held{kind=\"history\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn bytes_held_follow_the_stats() {
        let m = Metrics::default();
        let mut stats = Stats::default();
        stats.payload_bytes_held = 100;
        stats.history_bytes_held = 160;
        m.set_bytes_held(&stats);
        assert_eq!(m.bytes_held("elements"), 100);
        assert_eq!(m.bytes_held("history"), 160);
        assert_eq!(m.bytes_held("nonsense"), 0);
        let text = m.render_prometheus();
        assert!(
            text.contains("\nhuddle_bytes_held{kind=\"elements\"} 100\n"),
            "{text}"
        );
    }
}
