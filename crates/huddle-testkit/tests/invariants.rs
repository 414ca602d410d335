//! The shared invariant checks find what they are meant to find: each case
//! feeds an observer one broken output and expects the violation.

use std::sync::Arc;

use huddle_core::{
    BatchId, Config, ConnId, Effect, EffectId, Engine, Event, JoinRequest, Mutation, Notice,
    SessionState, SessionType, Signal, Timestamp,
};
use huddle_store::reference::ReferenceStore;
use huddle_store::AppendBatch;
use huddle_testkit::invariants::Observer;
use huddle_testkit::{upsert, Harness};

fn event(seq: u64, batch: &str) -> Event {
    Event {
        seq,
        author: "u".into(),
        batch: batch.into(),
        at: Timestamp::EPOCH,
        mutation: Mutation::Delete {
            page: "p".into(),
            element: "e".into(),
        },
    }
}

/// A store holding events 1..=n of board "b", all of batch "x".
fn store_with(n: u64) -> ReferenceStore {
    let mut store = ReferenceStore::new();
    let epoch = store
        .acquire_board(&"b".into(), &huddle_store::Node::default())
        .unwrap()
        .epoch;
    let events: Vec<Event> = (1..=n).map(|s| event(s, "x")).collect();
    store
        .append(&AppendBatch {
            board: "b".into(),
            epoch,
            events: events.into(),
        })
        .unwrap();
    store
}

#[test]
fn an_illegal_or_unexpected_transition_is_reported() {
    let mut o = Observer::new(&Config::default());
    let changed = |from, to| Signal::StateChanged {
        board: "b".into(),
        from,
        to,
        kind: SessionType::Ephemeral,
    };
    assert!(o
        .event(&changed(SessionState::Created, SessionState::Active))
        .is_ok());
    let err = o
        .event(&changed(SessionState::Created, SessionState::Idle))
        .unwrap_err();
    assert!(err.contains("illegal transition"), "{err}");
}

#[test]
fn an_append_that_rewrites_a_stored_sequence_is_reported() {
    let store = store_with(3);
    let mut o = Observer::new(&Config::default());
    let append = |events: Vec<Event>| Effect::AppendEvents {
        id: EffectId(1),
        board: "b".into(),
        events: Arc::from(events),
    };
    assert!(o
        .effect(&append(vec![event(3, "x"), event(4, "y")]), &store)
        .is_ok());
    let err = o
        .effect(&append(vec![event(3, "other")]), &store)
        .unwrap_err();
    assert!(err.contains("rewrites sequence 3"), "{err}");
    let err = o
        .effect(&append(vec![event(4, "y"), event(6, "y")]), &store)
        .unwrap_err();
    assert!(err.contains("hole"), "{err}");
}

#[test]
fn an_ack_of_what_the_store_does_not_hold_is_reported() {
    // A real engine for the `joined` the ack follows.
    let mut h = Harness::new(Config::default());
    h.observer = None;
    h.join(ConnId(1), JoinRequest::new("b", "alice", "Alice"))
        .unwrap();
    let joined = h.take(ConnId(1)).into_iter().next().unwrap();
    let engine = Engine::new(Config::default(), 1);
    let store = store_with(2);
    let mut o = Observer::new(&Config::default());
    o.join_requested(ConnId(1), None);
    o.notice(ConnId(1), &joined, &h.engine, &store, None)
        .unwrap();
    let ack = |batch: &str, sequence| Notice::Ack {
        batch: BatchId::from(batch),
        sequence,
    };
    o.notice(ConnId(1), &ack("x", 1), &engine, &store, Some(1))
        .unwrap();
    let err = o
        .notice(ConnId(1), &ack("y", 2), &engine, &store, Some(1))
        .unwrap_err();
    assert!(err.contains("the store holds x there"), "{err}");
    let err = o
        .notice(ConnId(1), &ack("x", 5), &engine, &store, Some(1))
        .unwrap_err();
    assert!(err.contains("a gap"), "{err}");
}

#[test]
fn a_durable_sequence_beyond_the_store_is_reported() {
    // The engine believes its append stored; the store (another one than
    // the harness performed it on) holds nothing.
    let mut h = Harness::new(Config::default());
    h.join(ConnId(1), JoinRequest::new("b", "alice", "Alice"))
        .unwrap();
    h.mutate(ConnId(1), "m1", vec![upsert("p", "e", "1")])
        .unwrap();
    // The harness's own observer has seen every output so far.
    let mut o = h.observer.clone().expect("on by default");
    assert!(o.state(&h.engine, h.store.model()).is_ok());
    let err = o.state(&h.engine, &ReferenceStore::new()).unwrap_err();
    assert!(err.contains("beyond the store's log end"), "{err}");
}
