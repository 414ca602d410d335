//! What the reference model does beyond what the conformance suite asks of
//! every backend: load shapes, owners performing effects, replay helpers.

use std::sync::Arc;

use huddle_core::{BoardId, Effect, EffectId, Event, Mutation, StorageOutcome, Timestamp};

use super::*;
use crate::lease::Node;
use crate::perform::UnknownBoard;

fn ev(seq: u64, user: &str, batch: &str) -> Event {
    Event {
        seq,
        author: user.into(),
        batch: batch.into(),
        at: Timestamp::EPOCH,
        mutation: Mutation::Upsert {
            page: "p".into(),
            element: format!("e{}", seq % 3).as_str().into(),
            data: format!("{seq}").into_bytes().into(),
        },
    }
}

fn append(board: &str, seqs: std::ops::RangeInclusive<u64>) -> Effect {
    Effect::AppendEvents {
        id: EffectId(seqs.start() + 1000),
        board: board.into(),
        events: seqs.map(|s| ev(s, "u", &format!("b{s}"))).collect(),
    }
}

fn load(board: &str) -> Effect {
    Effect::LoadBoard {
        id: EffectId(1),
        board: board.into(),
    }
}

#[test]
fn a_shorter_shape_hands_out_less_history_but_every_unflushed_event() {
    let mut store = ReferenceStore::new();
    let b = BoardId::from("b");
    let epoch = store.acquire_board(&b, &Node::default()).unwrap().epoch;
    let events: Vec<Event> = (1..=50).map(|s| ev(s, "u", &format!("b{s}"))).collect();
    let batch = AppendBatch {
        board: b.clone(),
        epoch,
        events: events.into(),
    };
    store.append(&batch).unwrap();
    let shape = LoadShape {
        history: 10,
        batches_per_user: 3,
    };
    let loaded = store.load_board_shaped(&b, shape).unwrap().unwrap();
    assert_eq!(
        loaded.events.first().map(|e| e.seq),
        Some(1),
        "nothing flushed: all"
    );
    assert_eq!(
        loaded.batches.len(),
        3,
        "three batch records of the one user"
    );
    let flush = FlushWrite {
        board: b.clone(),
        epoch,
        batch: Arc::new(huddle_core::FlushBatch {
            first_seq: 1,
            through: 45,
            pages: Default::default(),
        }),
    };
    store.flush(&flush).unwrap();
    let loaded = store.load_board_shaped(&b, shape).unwrap().unwrap();
    assert_eq!(
        loaded.events.first().map(|e| e.seq),
        Some(41),
        "the last ten"
    );
    let contract = store.load_board(&b).unwrap().unwrap();
    assert_eq!(
        contract.events.len(),
        50,
        "the contract's history is longer"
    );
}

#[test]
fn an_owner_acquires_on_load_and_writes_with_its_epoch() {
    let mut store = ReferenceStore::new();
    let mut host = Owner::new();
    let shape = LoadShape::CONTRACT;
    let refused = host.perform(
        &mut store,
        &append("b", 1..=2),
        UnknownBoard::CreateEmpty,
        shape,
    );
    assert_eq!(refused, Err(StoreError::NotAcquired("b".into())));
    assert!(store.board(&"b".into()).is_none(), "nothing written");

    let outcome = host.perform(&mut store, &load("b"), UnknownBoard::NotFound, shape);
    assert_eq!(outcome, Ok(StorageOutcome::NotFound));
    assert_eq!(host.epoch(&"b".into()), Some(Epoch::new(1)));
    let stored = host.perform(
        &mut store,
        &append("b", 1..=2),
        UnknownBoard::NotFound,
        shape,
    );
    assert_eq!(stored, Ok(StorageOutcome::Stored));
    assert_eq!(store.board(&"b".into()).map(BoardRecord::log_end), Some(2));
    // A re-sent append is idempotent; one past the end is a gap.
    let again = host.perform(
        &mut store,
        &append("b", 1..=2),
        UnknownBoard::NotFound,
        shape,
    );
    assert_eq!(again, Ok(StorageOutcome::Stored));
    let gap = host.perform(
        &mut store,
        &append("b", 4..=4),
        UnknownBoard::NotFound,
        shape,
    );
    assert!(matches!(
        gap,
        Err(StoreError::Gap {
            log_end: 2,
            first: 4,
            ..
        })
    ));
}

#[test]
fn a_second_owner_fences_the_first() {
    let mut store = ReferenceStore::new();
    let (mut a, mut b) = (Owner::new(), Owner::new());
    let (create, shape) = (UnknownBoard::CreateEmpty, LoadShape::CONTRACT);
    a.perform(&mut store, &load("x"), create, shape).unwrap();
    a.perform(&mut store, &append("x", 1..=3), create, shape)
        .unwrap();
    let Ok(StorageOutcome::Loaded(loaded)) = b.perform(&mut store, &load("x"), create, shape)
    else {
        panic!("b loads the board");
    };
    assert_eq!(loaded.events.len(), 3, "b sees what a stored");
    let fenced = a.perform(&mut store, &append("x", 4..=4), create, shape);
    assert!(
        matches!(fenced, Err(StoreError::Fenced { presented, current, .. })
            if presented == Epoch::new(1) && current == Epoch::new(2)),
        "{fenced:?}"
    );
    assert_eq!(store.board(&"x".into()).map(BoardRecord::log_end), Some(3));
    b.perform(&mut store, &append("x", 4..=4), create, shape)
        .unwrap();
    a.release(&"x".into());
    assert_eq!(a.epoch(&"x".into()), None);
}

#[test]
fn replay_helpers_agree_with_the_flushed_state() {
    let mut store = ReferenceStore::new();
    let b = BoardId::from("b");
    let epoch = store.acquire_board(&b, &Node::default()).unwrap().epoch;
    let events: Vec<Event> = (1..=6).map(|s| ev(s, "u", "x")).collect();
    store
        .append(&AppendBatch {
            board: b.clone(),
            epoch,
            events: events.clone().into(),
        })
        .unwrap();
    let mut changes = huddle_core::Pages::default();
    for e in &events[..4] {
        changes.apply(&e.mutation);
    }
    let record = store.board(&b).unwrap();
    assert_eq!(record.replay_log(4), changes);
    assert_eq!(record.replayed(), record.replay_log(6));
    assert_eq!(record.sequence(), 6);
    assert!(record.is_known());
}

#[test]
fn an_acquired_board_alone_is_unknown() {
    let mut store = ReferenceStore::new();
    let b = BoardId::from("b");
    store.acquire_board(&b, &Node::default()).unwrap();
    assert_eq!(store.load_board(&b), Ok(None));
    assert_eq!(store.board_summary(&b), None);
}

fn node(id: &str) -> Node {
    Node::new(id, format!("ws://{id}/ws")).with_lease_ttl(std::time::Duration::from_millis(300))
}

#[test]
fn leases_run_on_the_model_clock() {
    let mut store = ReferenceStore::new();
    let b = BoardId::from("b");
    let (a, other) = (node("a"), node("b"));
    let first = store.acquire_board(&b, &a).unwrap();
    assert!(!first.took_over);
    store.advance_clock(std::time::Duration::from_millis(299));
    assert_eq!(
        store.acquire_board(&b, &other),
        Err(StoreError::OwnedElsewhere {
            board: b.clone(),
            owner: a.owner.clone()
        })
    );
    assert_eq!(
        store.renew_leases(&a, &[b.clone(), "unheld".into()]),
        vec![b.clone()]
    );
    store.advance_clock(std::time::Duration::from_millis(299));
    assert_eq!(store.board_owner(&b), Some(a.owner.clone()), "renewed");
    store.advance_clock(std::time::Duration::from_millis(1));
    assert_eq!(store.board_owner(&b), None, "expired");
    assert_eq!(store.renew_leases(&a, std::slice::from_ref(&b)), vec![]);
    let write = AppendBatch {
        board: b.clone(),
        epoch: first.epoch,
        events: vec![ev(1, "u", "x")].into(),
    };
    assert_eq!(
        store.append(&write),
        Err(StoreError::LeaseExpired {
            board: b.clone(),
            epoch: first.epoch
        })
    );
    let second = store.acquire_board(&b, &other).unwrap();
    assert!(second.took_over && second.epoch > first.epoch);
    store.release_board(&b, first.epoch);
    assert_eq!(
        store.board_owner(&b),
        Some(other.owner.clone()),
        "a stale release is nothing"
    );
    store.release_board(&b, second.epoch);
    assert_eq!(store.board_owner(&b), None);
    assert!(
        !store.acquire_board(&b, &a).unwrap().took_over,
        "a released board is free"
    );
}

#[test]
fn an_owner_of_another_node_is_told_who_holds_the_board() {
    let mut store = ReferenceStore::new();
    let mut a = Owner::of_node(node("a"));
    let mut other = Owner::of_node(node("b"));
    let (create, shape) = (UnknownBoard::CreateEmpty, LoadShape::CONTRACT);
    assert!(matches!(
        a.perform(&mut store, &load("x"), create, shape),
        Ok(StorageOutcome::Loaded(_))
    ));
    assert_eq!(
        other.perform(&mut store, &load("x"), create, shape),
        Ok(StorageOutcome::OwnedElsewhere(a.node().owner.clone()))
    );
    assert_eq!(other.epoch(&"x".into()), None);
}
