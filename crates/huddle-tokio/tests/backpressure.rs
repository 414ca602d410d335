//! A slow consumer (a connection that does not read its frames) is
//! disconnected with an error it can read, while the others keep working.

mod common;

use std::time::Duration;

use common::*;
use huddle_core::ErrorCode;
use huddle_store::InMemoryStore;
use huddle_tokio::{close, Driver, DriverConfig, DriverError};
use huddle_wire::ServerMessage;

#[tokio::test]
async fn a_slow_consumer_is_closed_with_a_readable_error_and_others_keep_working() {
    let config = DriverConfig::new().shards(1).outbound_capacity(4);
    let driver = Driver::start(config, InMemoryStore::new());
    let mut alice = Client::join(&driver, "alice", "b").await;
    let mut slow = Client::join(&driver, "slow", "b").await;
    let mut carol = Client::join(&driver, "carol", "b").await;
    // Alice and slow see carol join; then slow stops reading.
    for c in [&mut alice] {
        c.until(|f| matches!(f, Frame::Msg(ServerMessage::ParticipantJoined(p)) if p.user.as_str() == "carol")).await;
    }

    for i in 0..20 {
        alice.send(mutate(&format!("m{i}"), "e", i));
        assert_eq!(
            ack_of(&alice.until(is_ack).await),
            Some((format!("m{i}"), u64::from(i) + 1))
        );
        carol
            .until(|f| matches!(f, Frame::Msg(ServerMessage::Events { .. })))
            .await;
    }
    // Slow's queue: what fitted, then the error, then the close.
    let frames = slow.queued();
    assert!(frames.len() <= 4 + 2, "bounded: {} frames", frames.len());
    let n = frames.len();
    assert_eq!(frames[n - 1], Frame::Close(close::SLOW_CONSUMER));
    match &frames[n - 2] {
        Frame::Msg(ServerMessage::Error { code, .. }) => assert_eq!(*code, ErrorCode::SlowConsumer),
        other => panic!("expected the SLOW_CONSUMER error, got {other:?}"),
    }
    assert_eq!(
        slow.conn.sender.send(msg(r#"{"type":"ping"}"#)),
        Err(DriverError::Closed)
    );
    // Slow left the board (the others were told; `until` above skipped it).
    let info = driver.session(&"b".into()).await.unwrap();
    let users: Vec<&str> = info.participants.iter().map(|p| p.user.as_str()).collect();
    assert_eq!(users, ["alice", "carol"]);
    assert_eq!(driver.metrics().slow_consumers(), 1);
    assert_eq!(driver.metrics().errors_sent("SLOW_CONSUMER"), 1);
    assert_eq!(driver.metrics().connections_open(), 2);
    // Nothing more arrives on the closed queue; it ends.
    assert_eq!(slow.try_next(Duration::from_millis(50)).await, None);
    driver.shutdown().await;
}

#[tokio::test]
async fn a_connection_flooding_its_shard_is_told_overloaded() {
    let config = DriverConfig::new().shards(1).inbound_capacity(8);
    let driver = Driver::start(config, InMemoryStore::new());
    let c = Client::connect(&driver, "alice", "b");
    // The shard task cannot run in between on this single-threaded runtime.
    let results: Vec<_> = (0..20)
        .map(|_| c.conn.sender.send(msg(r#"{"type":"ping"}"#)))
        .collect();
    assert!(results[..8].iter().all(Result::is_ok));
    assert!(results[8..]
        .iter()
        .all(|r| *r == Err(DriverError::Overloaded)));
    driver.shutdown().await;
}
