//! The performer's side of leases: a load refused by another node's lease
//! answers `OwnedElsewhere`; past its safe window without a renewal a node
//! writes nothing more; renewals keep it writing and report the boards
//! lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_core::{BoardId, Effect, EffectId, FailureKind, StorageOutcome};
use huddle_store::conformance::events;
use huddle_store::{InMemoryStore, Node, Performer, Store, UnknownBoard};

const TTL: Duration = Duration::from_millis(1200);

fn node(id: &str) -> Node {
    Node::new(id, format!("ws://{id}.test/ws")).with_lease_ttl(TTL)
}

fn load(board: &str) -> Effect {
    Effect::LoadBoard {
        id: EffectId(1),
        board: board.into(),
    }
}

fn append(board: &str, seq: u64) -> Effect {
    Effect::AppendEvents {
        id: EffectId(100 + seq),
        board: board.into(),
        events: events(seq, seq).into(),
    }
}

fn fenced(outcome: &StorageOutcome) -> bool {
    matches!(outcome, StorageOutcome::Failed(f) if f.kind == FailureKind::Fenced)
}

#[tokio::test]
async fn a_node_writes_only_within_its_safe_window() {
    let store = Arc::new(InMemoryStore::new());
    let a = Performer::with_node(store.clone(), UnknownBoard::CreateEmpty, node("a"));
    let b = Performer::with_node(store.clone(), UnknownBoard::CreateEmpty, node("b"));
    assert!(matches!(
        a.perform(&load("x")).await,
        StorageOutcome::Loaded(_)
    ));
    assert_eq!(
        b.perform(&load("x")).await,
        StorageOutcome::OwnedElsewhere(node("a").owner),
        "b is told who holds x"
    );
    assert_eq!(b.epoch(&"x".into()), None);
    assert_eq!(a.leases_held(), 1);

    // Renewed every third of the TTL, a writes for longer than a TTL.
    let started = Instant::now();
    let mut seq = 1;
    while started.elapsed() < 2 * TTL {
        assert_eq!(a.perform(&append("x", seq)).await, StorageOutcome::Stored);
        seq += 1;
        tokio::time::sleep(TTL / 3).await;
        assert_eq!(a.renew().await, Ok(vec![]), "nothing lost");
    }
    assert!(a.overdue(Instant::now()).is_empty());

    // Without renewals its window closes at three quarters of the TTL: the
    // write is refused before it reaches the store, and the board is
    // overdue, while the store's lease still runs.
    let last_renewal = Instant::now();
    tokio::time::sleep(TTL * 3 / 4 + Duration::from_millis(20)).await;
    assert!(last_renewal.elapsed() < TTL);
    assert!(fenced(&a.perform(&append("x", seq)).await));
    assert_eq!(
        store.board_owner(&"x".into()).await,
        Ok(Some(node("a").owner))
    );
    assert_eq!(a.overdue(Instant::now()), vec![BoardId::from("x")]);
    assert_eq!(a.leases_held(), 0);
    assert_eq!(
        store.read_events(&"x".into(), 0, 100).await.unwrap().len() as u64,
        seq - 1,
        "nothing past the window was written"
    );

    // Once the store's lease has expired, b takes x over.
    tokio::time::sleep(TTL / 2).await;
    assert!(matches!(
        b.perform(&load("x")).await,
        StorageOutcome::Loaded(_)
    ));
    assert_eq!(b.takeovers(), 1);
}

#[tokio::test]
async fn a_renewal_reports_the_boards_taken_over() {
    let store = Arc::new(InMemoryStore::new());
    let a = Performer::with_node(store.clone(), UnknownBoard::CreateEmpty, node("a"));
    let b = Performer::with_node(store.clone(), UnknownBoard::CreateEmpty, node("b"));
    for board in ["kept", "lost"] {
        assert!(matches!(
            a.perform(&load(board)).await,
            StorageOutcome::Loaded(_)
        ));
    }
    // "lost" is released in the store behind a's back (as if a had been
    // paused and another node had taken it): b acquires it.
    let epoch = a.epoch(&"lost".into()).unwrap();
    store.release_board(&"lost".into(), epoch).await.unwrap();
    assert!(matches!(
        b.perform(&load("lost")).await,
        StorageOutcome::Loaded(_)
    ));
    assert_eq!(a.renew().await, Ok(vec![BoardId::from("lost")]));
    assert_eq!(a.epoch(&"lost".into()), None, "forgotten");
    assert!(a.epoch(&"kept".into()).is_some());
    assert!(fenced(&a.perform(&append("lost", 1)).await));
    assert_eq!(a.perform(&append("kept", 1)).await, StorageOutcome::Stored);
    assert_eq!(b.takeovers(), 0, "a released board is no takeover");
}
