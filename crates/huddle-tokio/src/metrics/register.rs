//! Registration of a driver's [`Metrics`] into a `prometheus-client`
//! [`Registry`] (the embedder's, or a private one to render the driver's
//! alone), under the names the table of [`Metrics`] lists.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;

use super::Metrics;

impl Metrics {
    /// Registers every metric of this driver in `registry`. The metrics
    /// are shared, not copied: the registry's encodings read the driver's
    /// live counts. Register each driver once per registry (two drivers in
    /// one registry need distinct labels or prefixes: a sub-registry).
    ///
    /// Counter names are registered without `_total`, which the encoders
    /// add; help texts without the full stop `Registry` adds.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "huddle_connections_open",
            "Connections open",
            self.connections_open.clone(),
        );
        registry.register(
            "huddle_boards",
            "Board sessions in memory by state",
            self.boards.clone(),
        );
        registry.register(
            "huddle_leases_held",
            "Board leases this node holds",
            self.leases_held.clone(),
        );
        registry.register(
            "huddle_bytes_held",
            "Bytes the board sessions hold, by kind (payloads are shared between kinds)",
            self.bytes_held.clone(),
        );
        for (name, help, counter) in [
            (
                "huddle_lease_takeovers",
                "Boards taken over from a node whose lease had expired",
                &self.lease_takeovers,
            ),
            (
                "huddle_lease_losses",
                "Board sessions ended because their lease was lost",
                &self.lease_losses,
            ),
            (
                "huddle_mutations_applied",
                "Mutations accepted",
                &self.mutations_applied,
            ),
            (
                "huddle_batches_acked",
                "Ack frames sent",
                &self.batches_acked,
            ),
            (
                "huddle_storage_failures",
                "Store calls that failed",
                &self.storage_failures,
            ),
            (
                "huddle_boards_released",
                "Board sessions ended and released",
                &self.boards_released,
            ),
            (
                "huddle_slow_consumers",
                "Connections closed as slow consumers",
                &self.slow_consumers,
            ),
            (
                "huddle_frames_sent",
                "Text frames queued to connections",
                &self.frames_sent,
            ),
            (
                "huddle_snapshots_skipped",
                "Automatic snapshots not taken: the board was over its snapshot size cap",
                &self.snapshots_skipped,
            ),
            (
                "huddle_frames_received",
                "Client frames received",
                &self.frames_received,
            ),
            (
                "huddle_bytes_received",
                "Bytes of client frames received",
                &self.bytes_received,
            ),
            (
                "huddle_redirects",
                "Joins redirected to the node that owns the board",
                &self.redirects,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "huddle_errors_sent",
            "Error frames sent by code",
            self.errors_sent.clone(),
        );
        registry.register(
            "huddle_frames_refused",
            "Client frames refused before the engine (oversize, malformed), by code",
            self.frames_refused.clone(),
        );
        registry.register(
            "huddle_ws_closed",
            "WebSockets closed on a deadline, by reason",
            self.ws_closed.clone(),
        );
        registry.register(
            "huddle_ack_latency_seconds",
            "Mutate received to ack queued",
            self.ack_latency.clone(),
        );
        registry.register(
            "huddle_storage_latency_seconds",
            "Store call latency by operation",
            self.storage_latency.clone(),
        );
    }

    /// This driver's metrics alone, in the Prometheus text format
    /// (version 0.0.4): serve it with
    /// [`prometheus_text::CONTENT_TYPE`]. `huddle_bytes_held` is as of the
    /// last [`Driver::refresh_metrics`](crate::Driver::refresh_metrics).
    pub fn render_prometheus(&self) -> String {
        let mut registry = Registry::default();
        self.register(&mut registry);
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail, and every registered metric
        // encodes in the text format.
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }
}
