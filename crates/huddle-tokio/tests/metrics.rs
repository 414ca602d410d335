//! The metrics are each driver's own: two drivers in one process count
//! apart, and an embedder registers a driver's metrics in its own
//! `prometheus-client` registry beside its own metrics.

mod common;

use std::borrow::Cow;

use common::*;
use huddle_core::SessionState;
use huddle_store::InMemoryStore;
use huddle_tokio::prometheus_client::encoding::{prometheus_text, text};
use huddle_tokio::prometheus_client::metrics::counter::Counter;
use huddle_tokio::prometheus_client::registry::Registry;
use huddle_tokio::Driver;

#[tokio::test]
async fn two_drivers_count_apart() {
    let a = Driver::start(config(1), InMemoryStore::new());
    let b = Driver::start(config(1), InMemoryStore::new());
    let mut alice = Client::join(&a, "alice", "b1").await;
    for (i, batch) in ["m1", "m2", "m3"].into_iter().enumerate() {
        alice.send(mutate(batch, "e1", i as u32));
        assert!(ack_of(&alice.until(is_ack).await).is_some());
    }
    let _bob = Client::join(&b, "bob", "b1").await;

    assert_eq!(a.metrics().batches_acked(), 3);
    assert_eq!(a.metrics().mutations_applied(), 3);
    assert_eq!(b.metrics().batches_acked(), 0);
    assert_eq!(b.metrics().mutations_applied(), 0);
    assert_eq!(a.metrics().connections_open(), 1);
    assert_eq!(b.metrics().connections_open(), 1);
    assert_eq!(b.metrics().boards(SessionState::Active), 1);

    let (page_a, page_b) = (a.render_metrics().await, b.render_metrics().await);
    assert_eq!(sample(&page_a, "huddle_batches_acked_total"), 3.0);
    assert_eq!(sample(&page_b, "huddle_batches_acked_total"), 0.0);
    assert_eq!(sample(&page_b, "huddle_ack_latency_seconds_count"), 0.0);
    // Only `a` holds element bytes (refreshed from its shards).
    assert!(sample(&page_a, "huddle_bytes_held{kind=\"elements\"}") > 0.0);
    assert_eq!(sample(&page_b, "huddle_bytes_held{kind=\"elements\"}"), 0.0);
}

#[tokio::test]
async fn an_embedder_registers_them_in_its_own_registry() {
    let driver = Driver::start(config(2), InMemoryStore::new());
    let mut registry = Registry::default();
    let requests: Counter = Counter::default();
    registry.register("app_requests", "Requests the app served", requests.clone());
    driver
        .metrics()
        .register(registry.sub_registry_with_label((Cow::Borrowed("node"), Cow::Borrowed("n1"))));

    let mut alice = Client::join(&driver, "alice", "b1").await;
    alice.send(mutate("m1", "e1", 1));
    assert!(ack_of(&alice.until(is_ack).await).is_some());
    requests.inc_by(5);
    driver.refresh_metrics().await;

    let mut page = String::new();
    prometheus_text::encode(&mut page, &registry).unwrap();
    assert_eq!(sample(&page, "app_requests_total"), 5.0, "{page}");
    assert_eq!(
        sample(&page, "huddle_batches_acked_total{node=\"n1\"}"),
        1.0
    );
    assert_eq!(
        sample(&page, "huddle_boards{node=\"n1\",state=\"active\"}"),
        1.0
    );
    assert!(sample(&page, "huddle_bytes_held{node=\"n1\",kind=\"elements\"}") > 0.0);
    assert!(page.contains("# TYPE huddle_storage_latency_seconds histogram\n"));

    // The OpenMetrics encoder reads the same registry.
    let mut open = String::new();
    text::encode(&mut open, &registry).unwrap();
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert_eq!(
        sample(&open, "huddle_mutations_applied_total{node=\"n1\"}"),
        1.0
    );
}
