//! The shard tick (`DriverConfig::tick`): a waiting shard handles a message
//! at once; what arrives during the tick that wake-up started is handled
//! together at its end (one group commit; store reports too). With a zero
//! tick every message is handled, and committed, as it comes. Paused time: the instants below
//! are the runtime's virtual clock, so the test is exact.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use huddle_core::Config;
use huddle_store::InMemoryStore;
use huddle_tokio::{Driver, DriverConfig};
use huddle_wire::ServerMessage;
use tokio::time::Instant;

const TICK: Duration = Duration::from_millis(100);
const APPENDS: &str = "huddle_storage_latency_seconds_count{op=\"append\"}";

/// Three writers on one board send one batch each, 10 ms apart, to a
/// shard that has been waiting. Returns the group commits they took and
/// how long after the first send each ack came.
async fn three_batches(tick: Duration) -> (f64, Vec<Duration>) {
    // Several appends of the board in flight (as `huddle serve` has), so
    // that batches handled together are committed together.
    let config = DriverConfig::new()
        .shards(1)
        .engine(Config::new().appends_in_flight(4))
        .tick(tick);
    let driver = Driver::start(config, Arc::new(InMemoryStore::new()));
    let mut clients = Vec::new();
    for user in ["u1", "u2", "u3"] {
        clients.push(Client::join(&driver, user, "board").await);
    }
    // The shard has nothing left to do: its next message wakes it at once.
    tokio::time::sleep(TICK * 3).await;
    let before = sample(&driver.metrics().render_prometheus(), APPENDS);

    let start = Instant::now();
    let senders: Vec<_> = clients.iter().map(|c| c.conn.sender.clone()).collect();
    // Each client's ack, timed as it arrives.
    let acks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let ack = c.until(is_ack).await;
                assert!(matches!(ack, Frame::Msg(ServerMessage::Ack { .. })));
                start.elapsed()
            })
        })
        .collect();
    for (i, sender) in senders.iter().enumerate() {
        sender
            .send(mutate(&format!("b{i}"), &format!("e{i}"), 1))
            .expect("send");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut acked = Vec::new();
    for ack in acks {
        acked.push(ack.await.expect("the ack"));
    }
    let after = sample(&driver.metrics().render_prometheus(), APPENDS);
    driver.shutdown().await;
    (after - before, acked)
}

#[tokio::test(start_paused = true)]
async fn a_busy_shard_handles_what_arrived_during_its_tick_together() {
    let (commits, acked) = three_batches(TICK).await;
    // The first batch woke a waiting shard: committed at once, alone. The
    // two sent during that wake-up's tick wait for its end and go in one
    // group commit, with the first one's store report.
    assert_eq!(
        commits, 2.0,
        "one commit for the first batch, one for the other two: acks at {acked:?}"
    );
    // Every ack comes within two ticks of its batch (a tick for the batch,
    // one for its store report).
    for (i, at) in acked.iter().enumerate() {
        let sent = Duration::from_millis(10) * i as u32;
        assert!(*at - sent <= TICK * 2, "batch {i} acked at {at:?}");
    }
    // ...and not before its commit's store report was handled at a tick's end.
    assert!(acked.iter().all(|at| *at >= TICK), "{acked:?}");
}

#[tokio::test(start_paused = true)]
async fn a_zero_tick_handles_every_message_as_it_comes() {
    let (commits, acked) = three_batches(Duration::ZERO).await;
    for (i, at) in acked.iter().enumerate() {
        assert!(
            *at < Duration::from_millis(10) * (i as u32 + 1),
            "batch {i} acked before the next was sent: {at:?}"
        );
    }
    assert_eq!(commits, 3.0, "one commit per batch");
}
