//! Routing at load: a store that answers a board's load with
//! `OwnedElsewhere` (another node holds the board's lease) makes the engine
//! redirect every join that waited for the board to that node, instead of
//! failing it; nothing is loaded, kept or written, and the board is
//! released once.

use huddle_core::*;
use huddle_testkit::*;

const B: &str = "board";
const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);
const C3: ConnId = ConnId(3);

fn req(user: &str) -> JoinRequest {
    JoinRequest::new(B, user, user)
}

fn owner() -> BoardOwner {
    BoardOwner {
        node: "node-b".into(),
        url: "ws://10.0.0.2:8080/ws".into(),
    }
}

fn ends(h: &Harness) -> Vec<SessionEnd> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::SessionEnded { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// Hold mode, alice (C1) and bob (C2) waiting for the board's load, which
/// the store answers with another node as the owner.
fn redirected() -> Harness {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.store.create_room(B, SessionType::Persistent);
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    assert_eq!(h.engine.stats().joins_waiting, 2);
    let load = h.answer_next(StorageOutcome::OwnedElsewhere(owner()));
    assert!(matches!(load, Some(Effect::LoadBoard { .. })), "{load:?}");
    h
}

#[test]
fn every_waiting_join_is_redirected_to_the_owner() {
    let mut h = redirected();
    let expected = Notice::Redirect {
        board: B.into(),
        owner: owner(),
    };
    assert_eq!(h.take(C1), vec![expected.clone()]);
    assert_eq!(h.take(C2), vec![expected]);
    assert!(h.broadcasts.is_empty(), "{:?}", h.broadcasts);
}

#[test]
fn nothing_is_loaded_kept_or_written() {
    let mut h = redirected();
    assert!(h.engine.session(B).is_none());
    assert!(h.engine.boards().next().is_none());
    let stats = h.engine.stats();
    assert_eq!(
        (
            stats.joins_waiting,
            stats.effects_outstanding,
            stats.total_participants
        ),
        (0, 0, 0)
    );
    assert_eq!(ends(&h), vec![SessionEnd::OwnedElsewhere(owner())]);
    assert_eq!(h.released, vec![BoardId::from(B)]);
    // No state change: the session never began.
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(e, Signal::StateChanged { .. })));
    h.advance(std::time::Duration::from_secs(3600));
    assert!(h.held.is_empty(), "no effect after the redirect");
    assert!(h.store.boards().is_empty(), "the store was never written");
}

#[test]
fn a_redirected_connection_has_not_joined() {
    let mut h = redirected();
    let err = h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotJoined);
    assert!(h.engine.user_session(C1).is_none());
}

#[test]
fn a_later_join_loads_again_and_is_served_once_the_lease_is_free() {
    // The owner is gone (its lease expired): the node the client reaches
    // takes the board over.
    let mut h = redirected();
    h.take(C1);
    h.join(C3, req("carol")).unwrap();
    assert!(matches!(h.held.front(), Some(Effect::LoadBoard { .. })));
    h.complete_all();
    match h.take(C3).as_slice() {
        [Notice::Joined(j)] => assert_eq!(j.board.as_str(), B),
        other => panic!("{other:?}"),
    }
    assert!(h.engine.session(B).is_some());
}

#[test]
fn a_load_answered_with_an_owner_during_shutdown_drains() {
    // The shutdown already failed the waiting join (`UNAVAILABLE`); the
    // late answer ends the session that never began.
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.shutdown();
    assert_eq!(h.drained, 0);
    h.answer_next(StorageOutcome::OwnedElsewhere(owner()));
    assert!(
        !h.take(C1)
            .iter()
            .any(|n| matches!(n, Notice::Redirect { .. })),
        "no redirect after shutdown"
    );
    assert_eq!(h.drained, 1);
    assert!(h.engine.is_drained());
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    let a = redirected().transcript;
    let b = redirected().transcript;
    assert_eq!(a, b);
    assert!(a.iter().any(|l| l.contains("Redirect")));
}
