//! Join, mutate, ack and broadcast through the driver; routing over
//! shards; host rejects; stats, session info and metrics.

mod common;

use std::collections::HashSet;

use common::*;
use huddle_core::{BoardId, ErrorCode, SessionState};
use huddle_store::InMemoryStore;
use huddle_tokio::{Driver, DriverError};
use huddle_wire::ServerMessage;

#[tokio::test]
async fn join_mutate_ack_and_broadcast() {
    let driver = Driver::start(config(2), InMemoryStore::new());
    let mut alice = Client::join(&driver, "alice", "b1").await;
    let mut bob = Client::join(&driver, "bob", "b1").await;
    match alice.next().await {
        Frame::Msg(ServerMessage::ParticipantJoined(p)) => assert_eq!(p.user.as_str(), "bob"),
        other => panic!("expected participant_joined, got {other:?}"),
    }

    alice.send(mutate("m1", "e1", 1));
    assert_eq!(ack_of(&alice.next().await), Some(("m1".into(), 1)));
    match bob.next().await {
        Frame::Msg(ServerMessage::Events { events }) => {
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].seq, 1);
        }
        other => panic!("expected events, got {other:?}"),
    }

    // A retried batch is answered with its original ack, applied once.
    alice.send(mutate("m1", "e1", 1));
    assert_eq!(ack_of(&alice.next().await), Some(("m1".into(), 1)));

    bob.send(msg(r#"{"type":"ping"}"#));
    assert_eq!(bob.next().await, Frame::Msg(ServerMessage::Pong));

    let info = driver.session(&BoardId::from("b1")).await.expect("live");
    assert_eq!(info.state, SessionState::Active);
    assert_eq!(info.sequence, 1);
    assert_eq!(info.participants.len(), 2);
    let stats = driver.stats().await;
    assert_eq!((stats.active_sessions, stats.total_participants), (1, 2));

    let m = driver.metrics();
    assert_eq!(m.connections_open(), 2);
    assert_eq!(m.boards(SessionState::Active), 1);
    assert_eq!(m.batches_acked(), 2);
    let page = m.render_prometheus();
    assert!(
        sample(&page, "huddle_ack_latency_seconds_count") >= 1.0,
        "{page}"
    );
    let appends = "huddle_storage_latency_seconds_count{op=\"append\"}";
    assert!(sample(&page, appends) >= 1.0, "{page}");
    assert!(page.contains("huddle_connections_open 2"), "{page}");
    assert!(page.contains("huddle_boards{state=\"active\"} 1"), "{page}");

    // Leaving: bob is told, the board goes idle.
    alice.send(msg(r#"{"type":"leave"}"#));
    match bob.next().await {
        Frame::Msg(ServerMessage::ParticipantLeft(p)) => assert_eq!(p.user.as_str(), "alice"),
        other => panic!("expected participant_left, got {other:?}"),
    }
    drop(bob);
    // Dropping the last sender disconnects: the board becomes idle.
    for _ in 0..100 {
        if driver.metrics().boards(SessionState::Idle) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(driver.metrics().boards(SessionState::Idle), 1);
    driver.shutdown().await;
}

#[tokio::test]
async fn errors_from_the_engine_and_from_the_host_keep_their_order() {
    let driver = Driver::start(config(1), InMemoryStore::new());
    let mut c = Client::connect(&driver, "alice", "b1");
    // Mutate before join: NOT_JOINED, from the engine.
    c.send(mutate("m1", "e", 1));
    // A frame the host could not decode: its own error, in order.
    c.conn
        .sender
        .reject(ErrorCode::InvalidMessage, "not JSON".into(), None)
        .unwrap();
    c.send(msg(r#"{"type":"ping"}"#));
    // Another board than the token's: UNAUTHORIZED.
    c.send(msg(r#"{"type":"join","board":"other"}"#));
    let codes: Vec<Frame> = vec![
        c.next().await,
        c.next().await,
        c.next().await,
        c.next().await,
    ];
    let kinds: Vec<String> = codes
        .iter()
        .map(|f| match f {
            Frame::Msg(ServerMessage::Error { code, .. }) => code.as_str().to_string(),
            Frame::Msg(m) => m.kind().to_string(),
            Frame::Close(c) => format!("close {c}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["NOT_JOINED", "INVALID_MESSAGE", "pong", "UNAUTHORIZED"]
    );
    assert_eq!(driver.metrics().errors_sent("NOT_JOINED"), 1);
    assert_eq!(driver.metrics().errors_sent("INVALID_MESSAGE"), 1);
    driver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boards_spread_over_shards() {
    let driver = Driver::start(config(4), InMemoryStore::new());
    assert_eq!(driver.shards(), 4);
    let boards: Vec<String> = (0..32).map(|i| format!("board-{i}")).collect();
    let shards: HashSet<usize> = boards
        .iter()
        .map(|b| driver.shard_of(&BoardId::from(b.as_str())))
        .collect();
    assert!(
        shards.len() >= 3,
        "32 boards use most of 4 shards: {shards:?}"
    );

    let mut clients = Vec::new();
    for (i, b) in boards.iter().enumerate() {
        let c = Client::join(&driver, &format!("u{i}"), b).await;
        c.send(mutate("m", "e", i as u32));
        clients.push(c);
    }
    for c in &mut clients {
        assert_eq!(ack_of(&c.next().await), Some(("m".into(), 1)));
    }
    let stats = driver.stats().await;
    assert_eq!(stats.active_sessions, 32);
    assert_eq!(driver.metrics().boards(SessionState::Active), 32);
    for b in &boards {
        let info = driver.session(&BoardId::from(b.as_str())).await.unwrap();
        assert_eq!(info.sequence, 1);
    }
    driver.shutdown().await;
    for b in &boards {
        assert!(driver.session(&BoardId::from(b.as_str())).await.is_none());
    }
}

#[tokio::test]
async fn connect_is_refused_after_shutdown() {
    let driver = Driver::start(config(1), InMemoryStore::new());
    let mut c = Client::connect(&driver, "alice", "b");
    driver.shutdown().await;
    assert_eq!(
        c.next().await,
        Frame::Close(huddle_tokio::close::SERVICE_RESTART)
    );
    assert_eq!(
        driver.connect(identity("bob", "b")).unwrap_err(),
        DriverError::ShuttingDown
    );
    assert!(c.conn.sender.send(msg(r#"{"type":"ping"}"#)).is_err());
    assert_eq!(driver.metrics().connections_open(), 0);
}

#[tokio::test]
async fn unknown_boards_can_be_refused() {
    let config = huddle_tokio::DriverConfig::new()
        .shards(1)
        .unknown_board(huddle_store::UnknownBoard::NotFound);
    let driver = Driver::start(config, InMemoryStore::new());
    let mut c = Client::connect(&driver, "alice", "nope");
    c.send(msg(r#"{"type":"join","board":"nope"}"#));
    match c.next().await {
        Frame::Msg(ServerMessage::Error { code, .. }) => assert_eq!(code, ErrorCode::BoardNotFound),
        other => panic!("expected BOARD_NOT_FOUND, got {other:?}"),
    }
    assert_eq!(driver.metrics().errors_sent("BOARD_NOT_FOUND"), 1);
    // The failed load leaves nothing behind.
    assert!(driver.session(&BoardId::from("nope")).await.is_none());
    assert_eq!(driver.metrics().boards(SessionState::Created), 0);
    // The connection stays usable.
    c.send(msg(r#"{"type":"ping"}"#));
    assert_eq!(c.next().await, Frame::Msg(ServerMessage::Pong));
    driver.shutdown().await;
}
