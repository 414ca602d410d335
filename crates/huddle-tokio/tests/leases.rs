//! Two drivers (nodes) on one store: a board is served by the node holding
//! its lease. The other's join is refused while the lease runs, and
//! succeeds once it is released (shutdown) or has expired; a node whose
//! store stalls its renewals ends its sessions as fenced before the TTL,
//! and its late writes are fenced by the store.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use huddle_core::{BoardId, CloseReason};
use huddle_store::{Faulty, InMemoryStore, Node, Store, Target};
use huddle_tokio::{Driver, DriverConfig};
use huddle_wire::ServerMessage;

const TTL: Duration = Duration::from_millis(900);

fn node_config(id: &str) -> DriverConfig {
    config(1).node(Node::new(id, format!("ws://{id}.test/ws")).with_lease_ttl(TTL))
}

fn join_msg(board: &str) -> huddle_wire::ClientMessage {
    msg(&format!(r#"{{"type":"join","board":"{board}"}}"#))
}

/// Joins `board` through `driver`: `Some` client if joined, `None` if the
/// join was refused.
async fn try_join<S: Store + 'static>(
    driver: &Driver<S>,
    user: &str,
    board: &str,
) -> Option<Client> {
    let mut c = Client::connect(driver, user, board);
    c.send(join_msg(board));
    match c.next().await {
        Frame::Msg(ServerMessage::Joined { .. }) => Some(c),
        _ => None,
    }
}

/// Joins through `driver` until it is granted (within `within`).
async fn join_eventually<S: Store + 'static>(
    driver: &Driver<S>,
    user: &str,
    board: &str,
    within: Duration,
) -> (Client, Duration) {
    let started = Instant::now();
    loop {
        if let Some(c) = try_join(driver, user, board).await {
            return (c, started.elapsed());
        }
        assert!(started.elapsed() < within, "{user} never joined {board}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_is_served_by_its_lease_holder_until_released() {
    let store = Arc::new(InMemoryStore::new());
    let a = Driver::start(node_config("a"), store.clone());
    let b = Driver::start(node_config("b"), store.clone());
    let board = BoardId::from("shared");

    let mut alice = try_join(&a, "alice", "shared").await.expect("a serves it");
    alice.send(mutate("m1", "x", 1));
    alice.until(is_ack).await;
    // Longer than a TTL: a renews, so b is refused all along.
    for _ in 0..3 {
        tokio::time::sleep(TTL / 2).await;
        assert!(try_join(&b, "bob", "shared").await.is_none(), "a holds it");
        let owner = store.board_owner(&board).await.unwrap().expect("held");
        assert_eq!(
            (owner.node.as_str(), owner.url.as_str()),
            ("a", "ws://a.test/ws")
        );
    }
    assert_eq!(
        store.board_owner(&board).await.unwrap().map(|o| o.node),
        Some("a".to_string())
    );
    assert_eq!(a.metrics().leases_held(), 1);
    alice.send(mutate("m2", "x", 2));
    assert_eq!(ack_of(&alice.until(is_ack).await), Some(("m2".into(), 2)));

    // a shuts down: the session is archived and the lease released at once.
    tokio::time::timeout(Duration::from_secs(10), a.shutdown())
        .await
        .expect("shutdown");
    let (mut bob, waited) = join_eventually(&b, "bob", "shared", TTL / 2).await;
    assert!(waited < TTL / 2, "no wait for a TTL: {waited:?}");
    bob.send(mutate("b1", "y", 3));
    assert_eq!(ack_of(&bob.until(is_ack).await), Some(("b1".into(), 3)));
    tokio::time::sleep(TTL / 3).await;
    assert_eq!(
        b.metrics().lease_takeovers(),
        0,
        "a released it: no takeover"
    );
    assert_eq!(b.metrics().lease_losses(), 0);
    b.shutdown().await;
    assert_eq!(
        store.board_owner(&board).await,
        Ok(None),
        "released on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_owner_stops_acking_before_its_lease_expires_and_is_fenced() {
    let shared = Arc::new(InMemoryStore::new());
    let a_store = Arc::new(Faulty::new(shared.clone()));
    let a = Driver::start(node_config("a"), a_store.clone());
    let b = Driver::start(node_config("b"), shared.clone());
    let board = BoardId::from("stalled");

    let mut alice = try_join(&a, "alice", "stalled").await.expect("a serves it");
    alice.send(mutate("m1", "x", 1));
    alice.until(is_ack).await;

    // a's store stalls: its renewals and writes take three TTLs.
    a_store
        .faults()
        .target(Target::Writes)
        .set_delay(Some(3 * TTL));
    let stalled = Instant::now();
    alice.send(mutate("m2", "x", 2));
    let closed = alice
        .until(|f| matches!(f, Frame::Msg(ServerMessage::SessionClosed { .. })))
        .await;
    let ended_after = stalled.elapsed();
    assert_eq!(
        closed,
        Frame::Msg(ServerMessage::SessionClosed {
            board: board.clone(),
            reason: CloseReason::Moved,
        })
    );
    eprintln!("stalled owner ended its session {ended_after:?} after the stall (TTL {TTL:?})");
    assert!(
        ended_after < TTL,
        "a ended its session before the TTL ({ended_after:?})"
    );
    let frames = alice.queued();
    assert!(!frames.iter().any(is_ack), "m2 was never acked: {frames:?}");

    // b takes the board over once a's lease has expired in the store.
    let (mut bob, _) = join_eventually(&b, "bob", "stalled", 4 * TTL).await;
    assert!(
        stalled.elapsed() >= TTL / 3,
        "not before a's lease could expire"
    );
    bob.send(mutate("b1", "y", 3));
    assert_eq!(ack_of(&bob.until(is_ack).await), Some(("b1".into(), 2)));

    // a's stalled writes land now: the store fences them.
    tokio::time::sleep(3 * TTL).await;
    let log = shared.read_events(&board, 0, 10).await.unwrap();
    let batches: Vec<String> = log.iter().map(|e| e.batch.to_string()).collect();
    assert_eq!(batches, ["m1", "b1"], "a's late append was fenced");
    assert_eq!(a.metrics().lease_losses(), 1);
    assert_eq!(b.metrics().lease_takeovers(), 1);
    assert_eq!(
        shared.board_owner(&board).await.unwrap().map(|o| o.node),
        Some("b".to_string())
    );
    a_store.faults().clear();
    b.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), a.shutdown())
        .await
        .expect("a shuts down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_holds_a_lease_only_once_its_load_was_granted() {
    // What `GET /rooms/{id}` relies on to name the owner: a session that
    // is still loading (its acquire not answered yet), or whose load was
    // refused because another node owns the board, is not a lease held.
    let store = Arc::new(Faulty::new(InMemoryStore::new()));
    let a = Driver::start(node_config("a"), store.clone());
    let b = Driver::start(node_config("b"), store.clone());
    let board = BoardId::from("slow");
    assert!(!a.holds_lease(&board));

    store
        .faults()
        .target(Target::Only(huddle_store::Op::AcquireBoard))
        .set_delay(Some(Duration::from_millis(600)));
    let mut alice = Client::connect(&a, "alice", "slow");
    alice.send(join_msg("slow"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(a.session(&board).await.is_some(), "a session, loading");
    assert!(!a.holds_lease(&board), "its acquire is not answered yet");
    assert!(matches!(
        alice.next().await,
        Frame::Msg(ServerMessage::Joined { .. })
    ));
    assert!(a.holds_lease(&board));
    store.faults().clear();

    // b is refused (a holds the lease): b holds nothing.
    assert!(try_join(&b, "bob", "slow").await.is_none());
    assert!(!b.holds_lease(&board));
    assert!(a.holds_lease(&board));
    a.shutdown().await;
    b.shutdown().await;
}
