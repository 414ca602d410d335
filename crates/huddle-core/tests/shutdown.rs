//! `Engine::shutdown`: joins refused, every session archived (boards still
//! loading once loaded), failures retried, `Drained` once nothing is left.

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const B: &str = "board";
const B2: &str = "other";
const MIN: Duration = Duration::from_secs(60);
const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);
const C3: ConnId = ConnId(3);

fn req(board: &str, user: &str) -> JoinRequest {
    JoinRequest::new(board, user, user)
}

fn ends(h: &Harness) -> Vec<(BoardId, SessionEnd)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::SessionEnded { board, reason } => Some((board.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn shutdown_archives_every_session_and_says_drained_once() {
    let mut h = Harness::new(Config::default());
    h.store.create_room(B, SessionType::Persistent);
    h.join(C1, req(B, "alice")).unwrap();
    h.join(C2, req(B2, "bob")).unwrap();
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.mutate(C2, "b1", vec![upsert("p", "y", "1")]).unwrap();
    h.take(C1);
    h.take(C2);
    assert!(!h.engine.is_drained());

    h.shutdown();
    assert!(h.engine.is_shutting_down());
    for (conn, board) in [(C1, B), (C2, B2)] {
        assert_eq!(
            h.take(conn),
            // `moved`: reconnect at once, the board is served again (by
            // another node, or by this one after its restart).
            vec![Notice::SessionClosed {
                board: board.into(),
                reason: CloseReason::Moved,
            }]
        );
    }
    assert!(h.engine.is_drained());
    assert_eq!(h.drained, 1);
    assert_eq!(h.released.len(), 2);
    // Everything stored, the persistent room with its archive snapshot.
    let stored = &h.store.boards()[B];
    assert_eq!(stored.pages_sequence, 1);
    assert_eq!(
        stored.snapshots.last().map(|(_, s)| s.created_by),
        Some(SnapshotCause::Archive)
    );
    assert_eq!(h.store.boards()[B2].pages_sequence, 1);
    // Idempotent, and said once.
    h.shutdown();
    h.advance(MIN);
    assert_eq!(h.drained, 1);
}

#[test]
fn joins_are_refused_after_shutdown_with_unavailable() {
    let mut h = Harness::new(Config::default());
    h.shutdown();
    assert_eq!(h.drained, 1, "nothing to do: drained at once");
    let err = h.join(C1, req(B, "alice")).unwrap_err();
    assert_eq!(err, JoinError::ShuttingDown);
    assert_eq!(err.code(), ErrorCode::Unavailable);
    assert!(err.code().is_retryable());
    assert!(
        h.held.is_empty() && h.engine.session(B).is_none(),
        "nothing changed"
    );
}

#[test]
fn a_board_still_loading_is_archived_once_loaded_and_its_joins_fail() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.store.create_room(B, SessionType::Persistent);
    h.join(C1, req(B, "alice")).unwrap();
    h.complete_all();
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_all();
    h.leave(C1).unwrap();
    h.complete_all();
    // Another board is still loading, a join waiting for it.
    h.join(C2, req(B2, "bob")).unwrap();
    assert_eq!(h.held.len(), 1);

    h.shutdown();
    match h.take(C2).as_slice() {
        [Notice::JoinFailed { code, .. }] => assert_eq!(*code, ErrorCode::Unavailable),
        other => panic!("{other:?}"),
    }
    assert!(!h.engine.is_drained(), "the load is outstanding");
    // No busy retry by the host: completing the effects is all it takes.
    h.complete_all();
    assert!(h.engine.is_drained());
    assert_eq!(h.drained, 1);
    let boards: Vec<BoardId> = ends(&h).into_iter().map(|(b, _)| b).collect();
    assert!(boards.contains(&BoardId::from(B)) && boards.contains(&BoardId::from(B2)));
    assert_eq!(h.released.len(), 2);
    assert!(h.engine.stats().joins_waiting == 0);
}

#[test]
fn a_failing_store_keeps_the_shutdown_retrying_until_it_succeeds() {
    let mut h = Harness::new(Config::default());
    h.join(C1, req(B, "alice")).unwrap();
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.store.fail_all = true;
    h.shutdown();
    for _ in 0..5 {
        h.advance(MIN);
        assert!(!h.engine.is_drained(), "the flush keeps failing");
        assert_eq!(h.drained, 0);
    }
    assert!(h.store.calls >= 6, "retried: {} calls", h.store.calls);
    assert_eq!(h.store.boards()[B].pages_sequence, 0);
    h.store.fail_all = false;
    h.advance(MIN);
    assert!(h.engine.is_drained());
    assert_eq!(h.drained, 1);
    assert_eq!(
        h.store.boards()[B].pages_sequence,
        1,
        "flushed before drained"
    );
}

#[test]
fn shutdown_waits_for_a_session_closing_with_joins_waiting_and_fails_them() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.join(C1, req(B, "alice")).unwrap();
    h.complete_all();
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_all();
    h.engine.close_session(h.now, B).unwrap();
    h.drain();
    h.join(C3, req(B, "carol")).unwrap();
    h.shutdown();
    match h.take(C3).as_slice() {
        [Notice::JoinFailed { code, .. }] => assert_eq!(*code, ErrorCode::Unavailable),
        other => panic!("{other:?}"),
    }
    assert!(!h.engine.is_drained());
    h.complete_all();
    assert!(h.engine.is_drained());
    assert!(h.engine.session(B).is_none(), "no fresh session was opened");
    assert_eq!(h.drained, 1);
}

#[test]
fn shutdown_with_a_fenced_board_drains_after_its_effects() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.join(C1, req(B, "alice")).unwrap();
    h.complete_all();
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.shutdown();
    // The append is outstanding; the archive waits for it.
    h.fail_next_with(FailureKind::Fenced);
    assert_eq!(ends(&h), vec![(BoardId::from(B), SessionEnd::Fenced)]);
    assert!(h.engine.is_drained());
    assert_eq!(h.drained, 1);
    assert_eq!(h.released, vec![BoardId::from(B)]);
}
