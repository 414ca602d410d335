//! Another host takes a board over: the next write of this host is fenced
//! off by the store, the session ends at once, every connection of the
//! board gets `session_closed` (reason `moved`) and a close frame, nothing
//! more is acknowledged, and the shard releases the board exactly once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use huddle_core::{BoardId, CloseReason};
use huddle_store::{InMemoryStore, Store};
use huddle_tokio::{close, Driver};
use huddle_wire::ServerMessage;

#[tokio::test]
async fn a_fenced_write_closes_the_board_and_releases_it_once() {
    let store = Arc::new(InMemoryStore::new());
    let driver = Driver::start(config(1), store.clone());
    let mut alice = Client::join(&driver, "alice", "b").await;
    let mut bob = Client::join(&driver, "bob", "b").await;
    alice.send(mutate("m1", "x", 1));
    alice.until(is_ack).await;
    bob.until(|f| matches!(f, Frame::Msg(ServerMessage::Events { .. })))
        .await;
    // Everything of the board so far is reported (the user session records
    // too): nothing is released while the session lives.
    assert_eq!(driver.metrics().boards_released(), 0);

    // Another host acquires the board: this host's epoch is stale now.
    let board = BoardId::from("b");
    store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .unwrap();
    alice.send(mutate("m2", "y", 2));

    for c in [&mut alice, &mut bob] {
        let closed = c
            .until(|f| matches!(f, Frame::Msg(ServerMessage::SessionClosed { .. })))
            .await;
        assert_eq!(
            closed,
            Frame::Msg(ServerMessage::SessionClosed {
                board: board.clone(),
                reason: CloseReason::Moved,
            })
        );
        assert_eq!(c.next().await, Frame::Close(close::GOING_AWAY));
    }
    // Wait (bounded) for the release: the store tasks of the ended session
    // report back first.
    for _ in 0..200 {
        if driver.metrics().boards_released() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(driver.metrics().boards_released(), 1, "released once");
    assert!(driver.session(&board).await.is_none());
    let log = store.read_events(&board, 0, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1],
        "the fenced batch was not stored (nor acked)"
    );
    // Nothing else is retried or sent meanwhile.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(driver.metrics().boards_released(), 1);
    assert_eq!(driver.stats().await.effects_outstanding, 0);

    // A client that joins again is served from the store afresh (this host
    // acquires the board again).
    let mut carol = Client::join(&driver, "carol", "b").await;
    carol.send(mutate("c1", "z", 3));
    assert_eq!(ack_of(&carol.until(is_ack).await), Some(("c1".into(), 2)));
    driver.shutdown().await;
    assert_eq!(driver.metrics().boards_released(), 2);
}
