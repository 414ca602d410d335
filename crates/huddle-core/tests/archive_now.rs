//! `Engine::archive_session`: "archive now", what a host shutting down does
//! with every session (`docs/operations.md`: "SIGTERM: flush every session;
//! persistent rooms also get their `archive` snapshot").

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const B: &str = "board";
const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);
const C3: ConnId = ConnId(3);

fn req(user: &str) -> JoinRequest {
    JoinRequest::new(B, user, user)
}

fn held(h: &Harness) -> Vec<String> {
    h.held
        .iter()
        .map(|e| match e {
            Effect::LoadBoard { .. } => "load".to_string(),
            Effect::AppendEvents { events, .. } => format!("append {}", events.len()),
            Effect::Flush { batch, .. } => format!("flush {}..={}", batch.first_seq, batch.through),
            Effect::StoreSnapshot { snapshot, .. } => format!(
                "snapshot {}@{}",
                snapshot.created_by.as_str(),
                snapshot.version
            ),
            Effect::PruneSnapshots { .. } => "prune".to_string(),
            Effect::StoreUserSession { .. } => "record".to_string(),
        })
        .collect()
}

fn session_ends(h: &Harness) -> Vec<SessionEnd> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::SessionEnded { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn snapshots(h: &Harness) -> Vec<(SnapshotCause, u64)> {
    h.store
        .boards()
        .get(B)
        .map(|b| {
            b.snapshots
                .iter()
                .map(|(_, s)| (s.created_by, s.version))
                .collect()
        })
        .unwrap_or_default()
}

/// A board of `kind` with alice and bob joined and three mutations applied
/// and stored, but not flushed.
fn board(kind: SessionType) -> Harness {
    let mut h = Harness::new(Config::default());
    h.store.create_room(B, kind);
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    h.mutate(C2, "x1", vec![upsert("p", "a", "3")]).unwrap();
    h.take(C1);
    h.take(C2);
    assert_eq!(h.engine.session(B).unwrap().pending_mutations, 3);
    h
}

#[test]
fn archive_now_of_a_persistent_board_flushes_snapshots_then_removes_it() {
    let mut h = board(SessionType::Persistent);
    h.mode = StoreMode::Hold;
    h.advance(SEC);
    h.engine.archive_session(h.now, B).unwrap();
    h.drain();

    let closed = Notice::SessionClosed {
        board: B.into(),
        reason: CloseReason::Closed,
    };
    assert_eq!(h.take(C1), std::slice::from_ref(&closed));
    assert_eq!(h.take(C2), [closed]);
    assert!(h.engine.session(B).is_none(), "gone from session() at once");
    assert!(h.engine.user_session(C1).is_none());
    assert_eq!(held(&h), ["flush 1..=3"]);

    h.complete_next();
    assert!(
        session_ends(&h).is_empty(),
        "waits for the archive snapshot"
    );
    assert_eq!(held(&h), ["snapshot archive@3"]);
    h.complete_next();
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
    assert_eq!(h.engine.stats().closing_sessions, 0);
    let stored = &h.store.boards()[B];
    assert_eq!(stored.pages_sequence, 3);
    assert_eq!(snapshots(&h), [(SnapshotCause::Archive, 3)]);
    assert_eq!(h.engine.poll_timeout(), None, "no timer left behind");
}

#[test]
fn archive_now_of_an_ephemeral_board_only_flushes() {
    let mut h = board(SessionType::Ephemeral);
    h.engine.archive_session(h.now, B).unwrap();
    h.drain();
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
    assert_eq!(h.store.boards()[B].pages_sequence, 3);
    assert!(
        snapshots(&h).is_empty(),
        "no snapshot for an ephemeral room"
    );
}

#[test]
fn archive_now_retries_a_failed_flush_and_a_failed_snapshot() {
    let mut h = board(SessionType::Persistent);
    h.mode = StoreMode::Hold;
    h.engine.archive_session(h.now, B).unwrap();
    h.drain();
    assert_eq!(held(&h), ["flush 1..=3"]);
    h.fail_next();
    assert!(h.held.is_empty(), "retried after a backoff");
    let retry = h.engine.poll_timeout().expect("a retry is armed");
    h.advance_to(retry);
    assert_eq!(held(&h), ["flush 1..=3"]);
    h.complete_next();
    assert_eq!(held(&h), ["snapshot archive@3"]);
    h.fail_next();
    assert!(
        session_ends(&h).is_empty(),
        "not gone while the snapshot failed"
    );
    let retry = h.engine.poll_timeout().expect("a retry is armed");
    h.advance_to(retry);
    assert_eq!(held(&h), ["snapshot archive@3"]);
    h.complete_next();
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
    assert_eq!(snapshots(&h), [(SnapshotCause::Archive, 3)]);
}

#[test]
fn archive_now_waits_for_an_append_in_flight() {
    let mut h = board(SessionType::Persistent);
    h.mode = StoreMode::Hold;
    h.mutate(C1, "b2", vec![upsert("p", "c", "4")]).unwrap();
    assert_eq!(held(&h), ["append 1"]);
    h.engine.archive_session(h.now, B).unwrap();
    h.drain();
    // The flush covers only durable events; the append comes first.
    assert_eq!(held(&h), ["append 1", "flush 1..=3"]);
    h.complete_all();
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
    assert_eq!(h.store.boards()[B].pages_sequence, 4);
    assert_eq!(snapshots(&h), [(SnapshotCause::Archive, 4)]);
}

#[test]
fn archive_now_during_an_idle_archive_reuses_its_archive_snapshot() {
    let mut h = board(SessionType::Persistent);
    h.leave(C1).unwrap();
    h.leave(C2).unwrap();
    h.complete_all();
    h.mode = StoreMode::Hold;
    h.advance(15 * MIN);
    // The idle archive has started: its flush, then its archive snapshot.
    assert_eq!(held(&h), ["flush 1..=3"]);
    h.complete_next();
    assert_eq!(held(&h), ["snapshot archive@3"]);
    // Archive now while that snapshot is being stored.
    h.engine.archive_session(h.now, B).unwrap();
    h.drain();
    assert!(h.engine.session(B).is_none());
    assert_eq!(held(&h), ["snapshot archive@3"], "no second snapshot");
    h.complete_next();
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
    let archive: Vec<_> = snapshots(&h)
        .into_iter()
        .filter(|(c, _)| *c == SnapshotCause::Archive)
        .collect();
    assert_eq!(archive, [(SnapshotCause::Archive, 3)]);
    assert!(h.held.is_empty());
}

#[test]
fn archive_now_refuses_unknown_and_loading_boards_and_changes_nothing() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    assert!(matches!(
        h.engine.archive_session(h.now, B),
        Err(BoardError::BoardNotFound(_))
    ));
    h.join(C3, req("carol")).unwrap();
    assert_eq!(held(&h), ["load"]);
    let e = h.engine.archive_session(h.now, B).unwrap_err();
    assert!(matches!(e, BoardError::Busy(_)));
    assert_eq!(e.code(), ErrorCode::Unavailable);
    assert!(h.engine.poll_output().is_none(), "nothing emitted");
    h.complete_next();
    let notices = h.take(C3);
    assert!(
        notices.iter().any(|n| matches!(n, Notice::Joined(_))),
        "{notices:?}"
    );
    h.engine.archive_session(h.now, B).unwrap();
    // Nothing to store: it left memory at once.
    assert!(matches!(
        h.engine.archive_session(h.now, B),
        Err(BoardError::BoardNotFound(_))
    ));
    h.drain();
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
}

#[test]
fn archive_now_twice_is_refused_while_the_first_is_stored() {
    let mut h = board(SessionType::Persistent);
    h.mode = StoreMode::Hold;
    h.engine.archive_session(h.now, B).unwrap();
    h.drain();
    let e = h.engine.archive_session(h.now, B).unwrap_err();
    assert!(matches!(e, BoardError::Busy(_)));
    assert!(h.engine.close_session(h.now, B).is_err());
    h.complete_all();
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
    assert_eq!(snapshots(&h), [(SnapshotCause::Archive, 3)]);
}
