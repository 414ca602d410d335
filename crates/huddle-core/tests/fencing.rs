//! Typed storage failures: a fenced effect of any kind ends the board's
//! session at once and for good; an invalid one is not retried; a transient
//! one still is. And the release that follows every ended session.

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const B: &str = "board";
const MIN: Duration = Duration::from_secs(60);
const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);
const C3: ConnId = ConnId(3);

fn req(user: &str) -> JoinRequest {
    JoinRequest::new(B, user, user)
}

fn kind_of(e: &Effect) -> &'static str {
    match e {
        Effect::LoadBoard { .. } => "load",
        Effect::AppendEvents { .. } => "append",
        Effect::Flush { .. } => "flush",
        Effect::StoreSnapshot { .. } => "snapshot",
        Effect::PruneSnapshots { .. } => "prune",
        Effect::StoreUserSession { .. } => "record",
    }
}

fn held(h: &Harness) -> Vec<&'static str> {
    h.held.iter().map(kind_of).collect()
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

/// Moves the held effect of `kind` to the front.
fn front(h: &mut Harness, kind: &str) {
    let pos = h
        .held
        .iter()
        .position(|e| kind_of(e) == kind)
        .unwrap_or_else(|| panic!("no {kind} held: {:?}", held(h)));
    let e = h.held.remove(pos).unwrap();
    h.held.push_front(e);
}

fn acks(notices: &[Notice]) -> usize {
    notices
        .iter()
        .filter(|n| matches!(n, Notice::Ack { .. }))
        .count()
}

fn broadcasts(notices: &[Notice]) -> usize {
    notices
        .iter()
        .filter(|n| matches!(n, Notice::Events(_) | Notice::Snapshot(_)))
        .count()
}

/// Hold mode; alice (C1) and bob (C2) joined and loaded; inboxes empty.
fn joined(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    h.complete_all();
    h.take(C1);
    h.take(C2);
    h
}

/// After a fenced failure: the session is gone, both connections got
/// `session_closed` with `moved` as their last notice, nothing was acked or
/// broadcast, and later time brings no retry.
fn assert_fenced_off(h: &mut Harness) {
    assert!(h.engine.session(B).is_none(), "the session ended at once");
    assert_eq!(
        ends(h),
        vec![SessionEnd::Fenced],
        "one SessionEnded(Fenced)"
    );
    for conn in [C1, C2] {
        let got = h.take(conn);
        assert_eq!(
            got.last(),
            Some(&Notice::SessionClosed {
                board: B.into(),
                reason: CloseReason::Moved,
            }),
            "{conn:?} got {got:?}"
        );
        assert_eq!(acks(&got), 0, "nothing acked after the fence");
        assert_eq!(broadcasts(&got), 0, "nothing broadcast after the fence");
        assert!(h.engine.user_session(conn).is_none());
    }
    // Outstanding effects are reported (accepted, ignored); then nothing.
    while let Some(e) = h.complete_next() {
        assert_ne!(kind_of(&e), "load");
    }
    h.advance(10 * MIN);
    assert!(h.held.is_empty(), "no retry: {:?}", held(h));
    for conn in [C1, C2] {
        assert!(h.take(conn).is_empty(), "nothing more for {conn:?}");
    }
    assert_eq!(h.released, vec![BoardId::from(B)], "released once");
    assert_eq!(h.engine.stats().effects_outstanding, 0);
}

#[test]
fn a_fenced_append_ends_the_session_and_nothing_is_acked() {
    let mut h = joined(Config::default());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    assert_eq!(held(&h), vec!["append"]);
    h.fail_next_with(FailureKind::Fenced);
    assert!(
        h.events.iter().any(|e| matches!(
            e,
            Signal::StorageFailed {
                kind: FailureKind::Fenced,
                ..
            }
        )),
        "the failure is reported with its kind"
    );
    assert_fenced_off(&mut h);
}

#[test]
fn a_fenced_flush_ends_the_session() {
    let config = Config::new().flush_threshold(1);
    let mut h = joined(config);
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_next(); // the append: acked
    assert_eq!(acks(&h.take(C1)), 1);
    h.take(C2);
    assert_eq!(held(&h), vec!["flush"]);
    // A second batch waits for its append meanwhile: never acked.
    h.mutate(C2, "b1", vec![upsert("p", "y", "1")]).unwrap();
    front(&mut h, "flush");
    h.fail_next_with(FailureKind::Fenced);
    assert_eq!(
        h.released,
        Vec::<BoardId>::new(),
        "the append is outstanding"
    );
    assert_fenced_off(&mut h);
}

#[test]
fn a_fenced_snapshot_ends_the_session() {
    let mut h = joined(Config::default());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_next();
    h.take(C1);
    h.take(C2);
    h.snapshot(C1).unwrap();
    front(&mut h, "snapshot");
    h.fail_next_with(FailureKind::Fenced);
    assert_fenced_off(&mut h);
}

#[test]
fn a_fenced_user_session_record_ends_the_session() {
    let config = Config::new().store_user_sessions(true);
    let mut h = Harness::new(config);
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    h.complete_next(); // the load
    assert_eq!(held(&h), vec!["record", "record"]);
    h.take(C1);
    h.take(C2);
    h.fail_next_with(FailureKind::Fenced);
    assert_fenced_off(&mut h);
}

#[test]
fn a_fenced_load_fails_the_waiting_joins_and_releases() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    h.fail_next_with(FailureKind::Fenced);
    for conn in [C1, C2] {
        match h.take(conn).as_slice() {
            [Notice::JoinFailed { code, .. }] => assert_eq!(*code, ErrorCode::Unavailable),
            other => panic!("{conn:?}: {other:?}"),
        }
    }
    assert_eq!(ends(&h), vec![SessionEnd::Fenced]);
    assert_eq!(h.released, vec![BoardId::from(B)]);
    assert!(h.held.is_empty(), "no retry");
    // A later join loads again (this host may own the board again).
    h.join(C3, req("carol")).unwrap();
    assert_eq!(held(&h), vec!["load"]);
}

#[test]
fn a_fenced_close_in_progress_ends_at_once_and_fails_joins_waiting_for_it() {
    let mut h = joined(Config::default());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_next();
    h.engine.close_session(h.now, B).unwrap();
    h.drain();
    assert_eq!(held(&h), vec!["flush"]);
    // A join meanwhile waits for the close.
    h.join(C3, req("carol")).unwrap();
    h.fail_next_with(FailureKind::Fenced);
    match h.take(C3).as_slice() {
        [Notice::JoinFailed { code, message, .. }] => {
            assert_eq!(*code, ErrorCode::Unavailable);
            assert!(message.contains("another host"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ends(&h), vec![SessionEnd::Fenced]);
    assert_eq!(h.released, vec![BoardId::from(B)]);
    assert!(h.held.is_empty());
}

#[test]
fn reports_after_the_fence_are_accepted_and_counted_towards_the_release() {
    let config = Config::new().appends_in_flight(2);
    let mut h = joined(config);
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.mutate(C2, "b1", vec![upsert("p", "y", "1")]).unwrap();
    assert_eq!(held(&h), vec!["append", "append"]);
    h.fail_next_with(FailureKind::Fenced);
    assert!(h.released.is_empty(), "the second append is outstanding");
    assert_eq!(h.engine.stats().effects_outstanding, 1);
    // Its report (even a success) changes nothing but the release.
    let late = h.held.pop_front().unwrap();
    h.engine
        .handle_storage(h.now, late.id(), StorageOutcome::Stored)
        .unwrap();
    h.drain();
    assert_eq!(h.released, vec![BoardId::from(B)]);
    assert_eq!(
        h.engine
            .handle_storage(h.now, late.id(), StorageOutcome::Stored),
        Err(ConfirmError::UnknownEffect(late.id())),
        "a second report is still refused"
    );
    for conn in [C1, C2] {
        let got = h.take(conn);
        assert_eq!(acks(&got), 0);
        assert_eq!(broadcasts(&got), 0);
    }
}

#[test]
fn a_board_joined_again_loads_only_after_the_old_session_is_released() {
    let mut h = joined(Config::default());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_next();
    h.snapshot(C1).unwrap();
    h.mutate(C1, "a2", vec![upsert("p", "x", "2")]).unwrap();
    assert_eq!(held(&h), vec!["flush", "snapshot", "append"]);
    front(&mut h, "append");
    h.fail_next_with(FailureKind::Fenced);
    assert_eq!(held(&h), vec!["flush", "snapshot"]);
    assert!(h.released.is_empty());

    // Carol joins: a new session, waiting for the old one's release.
    h.join(C3, req("carol")).unwrap();
    assert_eq!(held(&h), vec!["flush", "snapshot"], "no load yet");
    let info = h.engine.session(B).unwrap();
    assert!(info.loading);
    assert_eq!(info.state, SessionState::Created);

    h.complete_next(); // the old session's flush
    assert!(h.released.is_empty());
    assert_eq!(held(&h), vec!["snapshot"], "still no load");
    let mark = h.transcript.len();
    h.complete_next(); // the old session's snapshot
    assert_eq!(h.released, vec![BoardId::from(B)]);
    assert_eq!(held(&h), vec!["load"]);
    let after: Vec<&String> = h.transcript[mark..].iter().collect();
    let released = after.iter().position(|l| l.contains("Released"));
    let load = after.iter().position(|l| l.contains("LoadBoard"));
    assert!(
        released.is_some() && released < load,
        "Released before the new LoadBoard: {after:?}"
    );
    h.complete_next();
    assert!(matches!(h.take(C3).as_slice(), [Notice::Joined(_)]));
    // The old session's snapshot was not announced to anyone.
    assert_eq!(broadcasts(&h.take(C1)), 0);
}

#[test]
fn a_transient_failure_is_still_retried() {
    let mut h = joined(Config::default());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.fail_next_with(FailureKind::Transient);
    assert!(h.held.is_empty(), "the retry waits for its backoff");
    h.advance(MIN);
    assert_eq!(held(&h), vec!["append"]);
    h.complete_next();
    assert_eq!(acks(&h.take(C1)), 1);
    assert!(ends(&h).is_empty());
    assert!(h.released.is_empty());
}

#[test]
fn an_invalid_append_ends_the_session_without_retry() {
    let mut h = joined(Config::default());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.fail_next_with(FailureKind::Invalid);
    assert!(h.engine.session(B).is_none());
    assert!(matches!(ends(&h).as_slice(), [SessionEnd::WriteFailed(_)]));
    for conn in [C1, C2] {
        let got = h.take(conn);
        assert_eq!(
            got.last(),
            Some(&Notice::SessionClosed {
                board: B.into(),
                reason: CloseReason::Failed,
            })
        );
        assert_eq!(acks(&got), 0);
    }
    h.advance(10 * MIN);
    assert!(h.held.is_empty(), "no retry");
    assert_eq!(h.released, vec![BoardId::from(B)]);
}

#[test]
fn an_invalid_flush_ends_the_session_and_joins_waiting_for_a_close_load_afresh() {
    let mut h = joined(Config::default());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_next();
    h.engine.close_session(h.now, B).unwrap();
    h.drain();
    h.join(C3, req("carol")).unwrap();
    assert_eq!(held(&h), vec!["flush"]);
    h.fail_next_with(FailureKind::Invalid);
    assert!(matches!(ends(&h).as_slice(), [SessionEnd::WriteFailed(_)]));
    assert_eq!(h.released, vec![BoardId::from(B)]);
    // Carol's join opened a fresh session from the store.
    assert_eq!(held(&h), vec!["load"]);
    h.complete_next();
    match h.take(C3).as_slice() {
        [Notice::Joined(j)] => assert_eq!(j.sequence, 1, "the stored log"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invalid_load_fails_joins_with_unavailable_and_is_not_retried() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.fail_next_with(FailureKind::Invalid);
    match h.take(C1).as_slice() {
        [Notice::JoinFailed { code, .. }] => assert_eq!(*code, ErrorCode::Unavailable),
        other => panic!("{other:?}"),
    }
    assert!(matches!(ends(&h).as_slice(), [SessionEnd::LoadFailed(_)]));
    h.advance(10 * MIN);
    assert!(h.held.is_empty());
    assert_eq!(h.released, vec![BoardId::from(B)]);
}

#[test]
fn an_invalid_manual_snapshot_is_reported_and_the_session_goes_on() {
    // No auto-save in the minute below: it would try the snapshot again.
    let mut h = joined(Config::new().autosave_interval(60 * MIN));
    // A manual snapshot needs a change since the newest one.
    h.mutate(C2, "b1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_next();
    h.take(C1);
    h.snapshot(C1).unwrap();
    assert_eq!(held(&h), vec!["flush", "snapshot"]);
    h.complete_next();
    h.fail_next_with(FailureKind::Invalid);
    assert!(matches!(
        h.take(C1).as_slice(),
        [Notice::SnapshotFailed {
            code: ErrorCode::Unavailable,
            ..
        }]
    ));
    assert!(h.engine.session(B).is_some());
    h.advance(MIN);
    assert!(h.held.is_empty(), "not retried: {:?}", held(&h));
    assert!(ends(&h).is_empty());
}

#[test]
fn an_invalid_archive_snapshot_ends_the_session_instead_of_looping() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.store.create_room(B, SessionType::Persistent);
    h.join(C1, req("alice")).unwrap();
    h.complete_all();
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.complete_all();
    h.engine.archive_session(h.now, B).unwrap();
    h.drain();
    h.complete_next(); // the flush
    assert_eq!(held(&h), vec!["snapshot"]);
    h.fail_next_with(FailureKind::Invalid);
    assert!(matches!(ends(&h).as_slice(), [SessionEnd::WriteFailed(_)]));
    assert_eq!(h.released, vec![BoardId::from(B)]);
    h.advance(10 * MIN);
    assert!(h.held.is_empty());
}

/// Every way a session ends is followed by exactly one release, after its
/// `SessionEnded`.
#[test]
fn released_exactly_once_in_every_ending_path() {
    fn check(h: &Harness, end: fn(&SessionEnd) -> bool) {
        let ended = h
            .transcript
            .iter()
            .position(|l| l.contains("SessionEnded"))
            .expect("ended");
        let released: Vec<usize> = h
            .transcript
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains("Released"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(released.len(), 1, "{:?}", h.transcript);
        assert!(released[0] > ended);
        assert!(ends(h).iter().all(end), "{:?}", ends(h));
    }
    // Idle archive.
    let mut h = Harness::new(Config::default());
    h.join(C1, req("alice")).unwrap();
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    h.leave(C1).unwrap();
    h.advance(10 * MIN);
    check(&h, |e| *e == SessionEnd::Archived);
    // Close.
    let mut h = Harness::new(Config::default());
    h.join(C1, req("alice")).unwrap();
    h.engine.close_session(h.now, B).unwrap();
    h.drain();
    check(&h, |e| *e == SessionEnd::Closed);
    // Load failed.
    let mut h = Harness::new(Config::default());
    h.store.fail_next = 1;
    h.join(C1, req("alice")).unwrap();
    check(&h, |e| matches!(e, SessionEnd::LoadFailed(_)));
    // Not found.
    let mut h = Harness::new(Config::default());
    h.store.strict = true;
    h.join(C1, req("alice")).unwrap();
    check(&h, |e| *e == SessionEnd::NotFound);
    // Fenced.
    let mut h = Harness::new(Config::default());
    h.join(C1, req("alice")).unwrap();
    h.store.fenced.insert(B.into());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    check(&h, |e| *e == SessionEnd::Fenced);
    // Write failed.
    let mut h = Harness::new(Config::default());
    h.join(C1, req("alice")).unwrap();
    h.store.fail_next = 1;
    h.store.fail_kind = FailureKind::Invalid;
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    check(&h, |e| matches!(e, SessionEnd::WriteFailed(_)));
}

#[test]
fn the_failure_kinds_read_as_expected() {
    let f = StorageFailure::transient("busy");
    assert!(f.is_transient());
    assert_eq!(f.to_string(), "transient: busy");
    assert_eq!(StorageFailure::fenced("x").kind, FailureKind::Fenced);
    assert_eq!(StorageFailure::invalid("x").kind, FailureKind::Invalid);
    assert_eq!(
        StorageOutcome::fenced("x"),
        StorageOutcome::Failed(StorageFailure::fenced("x"))
    );
    assert!(CloseReason::Moved.reconnect());
    assert!(CloseReason::Failed.reconnect());
    assert!(!CloseReason::Closed.reconnect());
}

#[test]
fn a_lost_lease_ends_the_session_as_fenced_and_nothing_more_is_acked() {
    let mut h = joined(Config::default());
    h.mutate(C1, "a1", vec![upsert("p", "x", "1")]).unwrap();
    assert_eq!(held(&h), vec!["append"]);
    let now = h.now;
    h.engine.lease_lost(now, B);
    h.drain();
    assert!(
        h.events.iter().any(|e| matches!(
            e,
            Signal::StorageFailed {
                kind: FailureKind::Fenced,
                ..
            }
        )),
        "reported like a fenced write"
    );
    // The append in flight is stored after all: its report only counts
    // towards the release, no ack goes out.
    assert_fenced_off(&mut h);
}

#[test]
fn a_lost_lease_of_a_board_not_loaded_changes_nothing() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    let now = h.now;
    h.engine.lease_lost(now, "unknown");
    h.join(C1, req("alice")).unwrap();
    h.engine.lease_lost(now, B);
    h.drain();
    assert_eq!(held(&h), vec!["load"], "the load goes on");
    h.complete_all();
    assert!(h.engine.session(B).is_some(), "loaded and serving");
    assert!(ends(&h).is_empty());
}
