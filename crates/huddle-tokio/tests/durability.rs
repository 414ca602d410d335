//! Acks only after storage: a batch is acknowledged once its events are
//! stored, never before; a failing store delays acks (the engine retries)
//! and loses nothing. Group commit: appends of many boards in one call.

mod common;

use std::time::Duration;

use common::*;
use huddle_core::BoardId;
use huddle_store::{Faulty, InMemoryStore, Op, Store, Target};
use huddle_tokio::Driver;
use huddle_wire::ServerMessage;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn no_ack_before_the_append_is_stored() {
    let store = Faulty::new(InMemoryStore::new());
    let driver = Driver::start(config(1), store);
    let mut alice = Client::join(&driver, "alice", "b").await;
    let mut bob = Client::join(&driver, "bob", "b").await;
    alice.next().await; // participant_joined
    driver
        .store()
        .faults()
        .target(Target::Only(Op::AppendEvents))
        .set_delay(Some(Duration::from_millis(500)));

    let sent = Instant::now();
    alice.send(mutate("m1", "e", 1));
    assert_eq!(
        alice.try_next(Duration::from_millis(400)).await,
        None,
        "no ack yet"
    );
    assert_eq!(
        bob.try_next(Duration::from_millis(1)).await,
        None,
        "no broadcast yet"
    );
    let info = driver.session(&BoardId::from("b")).await.unwrap();
    assert_eq!((info.sequence, info.durable_sequence), (0, 0));

    assert_eq!(ack_of(&alice.next().await), Some(("m1".into(), 1)));
    assert!(sent.elapsed() >= Duration::from_millis(500));
    let events = driver
        .store()
        .inner()
        .read_events(&"b".into(), 0, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "stored before the ack");
    assert!(matches!(
        bob.next().await,
        Frame::Msg(ServerMessage::Events { .. })
    ));
    driver.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_delays_acks_and_loses_nothing() {
    let store = Faulty::new(InMemoryStore::new());
    let driver = Driver::start(config(1), store);
    let mut alice = Client::join(&driver, "alice", "b").await;
    let faults = driver.store().faults();
    faults.target(Target::Only(Op::AppendEvents)).fail_from(1);

    alice.send(mutate("m1", "e", 1));
    alice.send(mutate("m2", "e", 2));
    assert_eq!(
        alice.try_next(Duration::from_secs(10)).await,
        None,
        "no ack while failing"
    );
    assert!(driver.metrics().storage_failures() >= 1);
    let events = driver
        .store()
        .inner()
        .read_events(&"b".into(), 0, 10)
        .await
        .unwrap();
    assert!(events.is_empty());

    faults.clear();
    let a = alice.until(is_ack).await;
    assert_eq!(ack_of(&a), Some(("m1".into(), 1)));
    let a = alice.until(is_ack).await;
    assert_eq!(ack_of(&a), Some(("m2".into(), 2)));
    let events = driver
        .store()
        .inner()
        .read_events(&"b".into(), 0, 10)
        .await
        .unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    driver.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn appends_of_many_boards_go_to_the_store_together() {
    let store = Faulty::new(InMemoryStore::new());
    // Only appends reach the store while we count its calls.
    let mut config = config(1);
    config.engine.store_user_sessions = false;
    let driver = Driver::start(config, store);
    let mut clients = Vec::new();
    for i in 0..8 {
        clients.push(Client::join(&driver, &format!("u{i}"), &format!("b{i}")).await);
    }
    let faults = driver.store().faults();
    faults
        .target(Target::Only(Op::AppendEvents))
        .set_delay(Some(Duration::from_millis(50)));
    let before = faults.calls();
    // First batch goes alone; the next seven wait for it and go together.
    for (i, c) in clients.iter().enumerate() {
        c.send(mutate("m", "e", i as u32));
    }
    for c in &mut clients {
        assert_eq!(ack_of(&c.next().await), Some(("m".into(), 1)));
    }
    let calls = faults.calls() - before;
    assert!(calls <= 2, "8 boards' appends in {calls} store calls");
    driver.shutdown().await;
}
