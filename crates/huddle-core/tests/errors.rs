//! Every error of the spec's list, with its exact wire code, and the rule
//! that a rejected input changes nothing: no output, same statistics, same
//! session, same deadlines, same user session records.

use std::fmt::Debug;
use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const BOARD: &str = "b";
const ALICE: ConnId = ConnId(1);
const BOB: ConnId = ConnId(2);
const MS: Duration = Duration::from_millis(1);
const MIN: Duration = Duration::from_secs(60);

/// `T0 + d`.
fn at(d: Duration) -> Timestamp {
    T0.saturating_add(d)
}

fn req(user: &str) -> JoinRequest {
    JoinRequest::new(BOARD, user, user)
}

/// A harness where alice (conn 1) and bob (conn 2) joined `BOARD` at T0,
/// which is at sequence 1; the clock is at T0 + 1 min (so that a rejected
/// input that counted as activity would show) and inboxes are empty.
fn room(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.join(ALICE, req("alice")).unwrap();
    h.join(BOB, req("bob")).unwrap();
    h.mutate(ALICE, "first", vec![upsert("p", "x", "1")])
        .unwrap();
    h.advance(MIN);
    h.inbox.clear();
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 1);
    h
}

fn one() -> Vec<Mutation> {
    vec![upsert("p", "y", "1")]
}

/// Everything a rejected input must leave as it was.
#[derive(Debug, PartialEq)]
struct Observed {
    stats: Stats,
    session: Option<SessionInfo>,
    pages: Option<Pages>,
    deadline: Option<Timestamp>,
    records: Vec<Option<UserSessionRecord>>,
    held: usize,
}

fn observe(h: &Harness) -> Observed {
    Observed {
        stats: h.engine.stats(),
        session: h.engine.session(BOARD),
        pages: h.engine.pages(BOARD).cloned(),
        deadline: h.engine.poll_timeout(),
        records: (1..=5)
            .map(|c| h.engine.user_session(ConnId(c)).cloned())
            .collect(),
        held: h.held.len(),
    }
}

/// Runs an input that must be rejected; checks it changed nothing and
/// emitted nothing, and returns the error.
fn rejected<T: Debug, E>(
    h: &mut Harness,
    input: impl FnOnce(&mut Engine, Timestamp) -> Result<T, E>,
) -> E {
    let before = observe(h);
    let result = input(&mut h.engine, h.now);
    let Err(error) = result else {
        panic!("accepted: {:?}", result.ok());
    };
    assert_eq!(
        h.engine.poll_output(),
        None,
        "a rejected input emitted output"
    );
    assert_eq!(observe(h), before, "a rejected input changed state");
    error
}

fn mutate_err(h: &mut Harness, conn: ConnId, batch: &str, muts: Vec<Mutation>) -> MutateError {
    rejected(h, |e, now| e.apply_mutations(now, conn, batch.into(), muts))
}

fn join_err(h: &mut Harness, conn: ConnId, request: JoinRequest) -> JoinError {
    rejected(h, |e, now| e.join(now, conn, request))
}

fn join_failures(notices: &[Notice]) -> Vec<(String, ErrorCode)> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::JoinFailed { board, code, .. } => Some((board.to_string(), *code)),
            _ => None,
        })
        .collect()
}

fn joined(notices: &[Notice]) -> Option<Joined> {
    notices.iter().find_map(|n| match n {
        Notice::Joined(j) => Some((**j).clone()),
        _ => None,
    })
}

// ---------------------------------------------------------------------------
// NOT_JOINED
// ---------------------------------------------------------------------------

#[test]
fn not_joined_before_join() {
    let mut h = room(Config::default());
    let stranger = ConnId(5);
    let e = mutate_err(&mut h, stranger, "b1", one());
    assert_eq!(e, MutateError::Session(SessionError::NotJoined));
    assert_eq!(e.code(), ErrorCode::NotJoined);
    let e = rejected(&mut h, |e, now| e.update_presence(now, stranger, 1.0, 1.0));
    assert_eq!(e.code(), ErrorCode::NotJoined);
    let e = rejected(&mut h, |e, now| e.request_snapshot(now, stranger));
    assert_eq!(e, SnapshotError::Session(SessionError::NotJoined));
    let e = rejected(&mut h, |e, now| e.leave(now, stranger));
    assert_eq!(e.code(), ErrorCode::NotJoined);
}

#[test]
fn not_joined_after_leave() {
    let mut h = room(Config::default());
    h.leave(ALICE).unwrap();
    h.inbox.clear();
    let e = mutate_err(&mut h, ALICE, "b1", one());
    assert_eq!(e.code(), ErrorCode::NotJoined);
    let e = rejected(&mut h, |e, now| e.update_presence(now, ALICE, 1.0, 1.0));
    assert_eq!(e.code(), ErrorCode::NotJoined);
    let e = rejected(&mut h, |e, now| e.leave(now, ALICE));
    assert_eq!(e.code(), ErrorCode::NotJoined);
}

#[test]
fn not_joined_while_the_join_waits_for_the_load() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.join(ALICE, req("alice")).unwrap();
    let e = mutate_err(&mut h, ALICE, "b1", one());
    assert_eq!(e.code(), ErrorCode::NotJoined);
}

// ---------------------------------------------------------------------------
// SESSION_EXPIRED
// ---------------------------------------------------------------------------

#[test]
fn session_expired_after_inactivity_timeout() {
    let mut h = room(Config::default());
    // Bob stays active; alice times out.
    h.advance(20 * MIN);
    h.cursor(BOB, 1.0, 1.0).unwrap();
    h.advance_to(at(30 * MIN));
    assert_eq!(
        h.take(ALICE).last(),
        Some(&Notice::SessionTimeout {
            board: BOARD.into()
        })
    );
    h.inbox.clear();

    let e = mutate_err(&mut h, ALICE, "b1", one());
    assert_eq!(e, MutateError::Session(SessionError::SessionExpired));
    assert_eq!(e.code(), ErrorCode::SessionExpired);
    let e = rejected(&mut h, |e, now| e.update_presence(now, ALICE, 1.0, 1.0));
    assert_eq!(e.code(), ErrorCode::SessionExpired);
    let e = rejected(&mut h, |e, now| e.request_snapshot(now, ALICE));
    assert_eq!(e.code(), ErrorCode::SessionExpired);
    let e = rejected(&mut h, |e, now| e.leave(now, ALICE));
    assert_eq!(e.code(), ErrorCode::SessionExpired);

    // Once the host closed the connection, it is simply not joined.
    h.disconnect(ALICE);
    let e = mutate_err(&mut h, ALICE, "b1", one());
    assert_eq!(e.code(), ErrorCode::NotJoined);
}

// ---------------------------------------------------------------------------
// INVALID_MESSAGE
// ---------------------------------------------------------------------------

#[test]
fn invalid_empty_batch() {
    let mut h = room(Config::default());
    let e = mutate_err(&mut h, ALICE, "b1", Vec::new());
    assert_eq!(e, MutateError::EmptyBatch);
    assert_eq!(e.code(), ErrorCode::InvalidMessage);
}

#[test]
fn invalid_ids_in_a_batch() {
    let mut h = room(Config::default());
    let long = "x".repeat(257);
    let cases = [
        ("", one(), Field::Batch, 0),
        (long.as_str(), one(), Field::Batch, 0),
        ("b1", vec![upsert("", "e", "1")], Field::Page, 0),
        ("b1", vec![upsert(&long, "e", "1")], Field::Page, 0),
        ("b1", vec![delete("p", "")], Field::Element, 0),
        (
            "b1",
            vec![
                upsert("p", "a", "1"),
                upsert("p", "b", "1"),
                upsert("p", &long, "1"),
            ],
            Field::Element,
            2,
        ),
    ];
    for (batch, muts, field, index) in cases {
        let e = mutate_err(&mut h, ALICE, batch, muts);
        assert_eq!(e, MutateError::InvalidField { field, index });
        assert_eq!(e.code(), ErrorCode::InvalidMessage);
    }
    // A batch with one bad mutation applied nothing of the good ones.
    assert!(h.engine.pages(BOARD).unwrap().get("p", "a").is_none());

    // Ids of exactly the limit are fine.
    let max = "x".repeat(256);
    let ok = h
        .mutate(ALICE, &max, vec![upsert(&max, &max, "1")])
        .unwrap();
    assert_eq!(ok.sequence, 2);
}

#[test]
fn invalid_join_fields() {
    let mut h = room(Config::default());
    let long = "x".repeat(257);
    let c = ConnId(3);
    let cases = [
        (JoinRequest::new("", "carol", "Carol"), Field::Board),
        (
            JoinRequest::new(long.as_str(), "carol", "Carol"),
            Field::Board,
        ),
        (JoinRequest::new(BOARD, "", "Carol"), Field::User),
        (JoinRequest::new(BOARD, long.as_str(), "Carol"), Field::User),
        (JoinRequest::new(BOARD, "carol", ""), Field::DisplayName),
        (JoinRequest::new(BOARD, "carol", &long), Field::DisplayName),
    ];
    for (request, field) in cases {
        let e = join_err(&mut h, c, request);
        assert_eq!(e, JoinError::InvalidField(field));
        assert_eq!(e.code(), ErrorCode::InvalidMessage);
    }
    // The connection is still free: a valid join is admitted.
    h.join(c, JoinRequest::new(BOARD, "carol", &"x".repeat(256)))
        .unwrap();
    assert!(joined(&h.take(c)).is_some());
}

#[test]
fn invalid_second_join_on_a_connection() {
    let mut h = room(Config::default());
    let e = join_err(&mut h, ALICE, req("alice"));
    assert_eq!(e, JoinError::AlreadyJoined(BOARD.into()));
    assert_eq!(e.code(), ErrorCode::InvalidMessage);
    let e = join_err(&mut h, ALICE, JoinRequest::new("other", "alice", "Alice"));
    assert_eq!(e.code(), ErrorCode::InvalidMessage);
    assert!(h.engine.session("other").is_none(), "no session opened");
}

#[test]
fn invalid_cursor_coordinates() {
    let mut h = room(Config::default());
    for (x, y) in [
        (f64::NAN, 0.0),
        (0.0, f64::NAN),
        (f64::INFINITY, 0.0),
        (0.0, f64::NEG_INFINITY),
    ] {
        let e = rejected(&mut h, |e, now| e.update_presence(now, ALICE, x, y));
        assert_eq!(e, PresenceError::InvalidCoordinate);
        assert_eq!(e.code(), ErrorCode::InvalidMessage);
    }
    // Not activity either: the record still shows the join time.
    assert_eq!(h.engine.user_session(ALICE).unwrap().last_activity, T0);
}

// ---------------------------------------------------------------------------
// PAYLOAD_TOO_LARGE
// ---------------------------------------------------------------------------

#[test]
fn payload_over_the_limit() {
    let mut h = room(Config::default());
    let max = 256 * 1024;
    let big = "x".repeat(max + 1);
    let e = mutate_err(
        &mut h,
        ALICE,
        "b1",
        vec![upsert("p", "a", "1"), upsert("p", "b", &big)],
    );
    assert_eq!(
        e,
        MutateError::PayloadTooLarge {
            index: 1,
            len: max + 1,
            max
        }
    );
    assert_eq!(e.code(), ErrorCode::PayloadTooLarge);
    // Exactly the limit is accepted.
    let ok = h
        .mutate(ALICE, "b1", vec![upsert("p", "b", &"x".repeat(max))])
        .unwrap();
    assert_eq!(ok.sequence, 2);
}

#[test]
fn batch_longer_than_max_batch_len() {
    let mut h = room(Config::default());
    let batch = |n: usize| -> Vec<Mutation> {
        (0..n).map(|i| upsert("p", &format!("e{i}"), "1")).collect()
    };
    let e = mutate_err(&mut h, ALICE, "b1", batch(1001));
    assert_eq!(
        e,
        MutateError::BatchTooLong {
            len: 1001,
            max: 1000
        }
    );
    assert_eq!(e.code(), ErrorCode::PayloadTooLarge);
    let ok = h.mutate(ALICE, "b1", batch(1000)).unwrap();
    assert_eq!(ok.sequence, 1001);
}

// ---------------------------------------------------------------------------
// RATE_LIMITED
// ---------------------------------------------------------------------------

#[test]
fn rate_limited_when_too_much_is_pending() {
    let mut config = Config::default();
    config.limits.max_pending_per_board = 5;
    let mut h = Harness::new(config);
    h.mode = StoreMode::Hold;
    h.join(ALICE, req("alice")).unwrap();
    h.complete_all();
    h.inbox.clear();

    let three = || {
        vec![
            upsert("p", "a", "1"),
            upsert("p", "b", "1"),
            upsert("p", "c", "1"),
        ]
    };
    assert_eq!(h.mutate(ALICE, "b1", three()).unwrap().sequence, 3);
    let e = mutate_err(&mut h, ALICE, "b2", three());
    assert_eq!(e, MutateError::Backpressure { pending: 3, max: 5 });
    assert_eq!(e.code(), ErrorCode::RateLimited);
    assert!(e.code().is_retryable());

    // Exactly the limit is accepted; one more is not.
    let two = vec![upsert("p", "a", "2"), upsert("p", "b", "2")];
    assert_eq!(h.mutate(ALICE, "b2", two).unwrap().sequence, 5);
    let e = mutate_err(&mut h, ALICE, "b3", one());
    assert_eq!(e, MutateError::Backpressure { pending: 5, max: 5 });

    // Stored in the log but not flushed: still pending.
    h.complete_all();
    let e = mutate_err(&mut h, ALICE, "b3", one());
    assert_eq!(e.code(), ErrorCode::RateLimited);

    // Once flushed, the same batch goes through.
    h.engine.flush_pending(h.now, BOARD).unwrap();
    h.drain();
    h.complete_all();
    assert_eq!(h.engine.session(BOARD).unwrap().pending_mutations, 0);
    assert_eq!(h.mutate(ALICE, "b3", one()).unwrap().sequence, 6);
}

// ---------------------------------------------------------------------------
// ROOM_FULL
// ---------------------------------------------------------------------------

#[test]
fn room_full_but_a_second_tab_is_admitted() {
    let mut config = Config::default();
    config.limits.max_participants = 2;
    let mut h = room(config);

    let e = join_err(&mut h, ConnId(3), req("carol"));
    assert_eq!(
        e,
        JoinError::RoomFull {
            board: BOARD.into(),
            max: 2
        }
    );
    assert_eq!(e.code(), ErrorCode::RoomFull);

    // Alice's second tab is the same participant.
    h.join(ConnId(4), req("alice")).unwrap();
    let j = joined(&h.take(ConnId(4))).expect("second tab admitted");
    assert_eq!(j.participants.len(), 2);
    assert_eq!(h.engine.session(BOARD).unwrap().connections, 3);

    // When bob leaves, carol's connection (left unchanged) can join.
    h.leave(BOB).unwrap();
    h.join(ConnId(3), req("carol")).unwrap();
    assert!(joined(&h.take(ConnId(3))).is_some());
}

#[test]
fn room_full_for_joins_that_waited_for_the_load() {
    let mut config = Config::default();
    config.limits.max_participants = 1;
    let mut h = Harness::new(config);
    h.mode = StoreMode::Hold;
    h.join(ALICE, req("alice")).unwrap();
    h.join(BOB, req("bob")).unwrap();
    h.join(ConnId(3), req("alice")).unwrap();
    h.complete_all();

    assert!(joined(&h.take(ALICE)).is_some());
    assert!(joined(&h.take(ConnId(3))).is_some(), "alice's second tab");
    assert_eq!(
        join_failures(&h.take(BOB)),
        vec![(BOARD.to_string(), ErrorCode::RoomFull)]
    );
    let s = h.engine.session(BOARD).unwrap();
    assert_eq!(s.participants.len(), 1);
    assert_eq!(s.connections, 2);
    let e = mutate_err(&mut h, BOB, "b1", one());
    assert_eq!(e.code(), ErrorCode::NotJoined);
}

// ---------------------------------------------------------------------------
// BOARD_NOT_FOUND
// ---------------------------------------------------------------------------

#[test]
fn board_not_found_in_a_strict_store() {
    let mut h = Harness::new(Config::default());
    h.store.strict = true;
    h.join(ALICE, JoinRequest::new("nope", "alice", "Alice"))
        .unwrap();
    assert_eq!(
        join_failures(&h.take(ALICE)),
        vec![("nope".to_string(), ErrorCode::BoardNotFound)]
    );
    assert!(h.engine.session("nope").is_none());
    assert!(
        h.store.boards().get("nope").is_none_or(|b| !b.is_known()),
        "nothing written (the load only acquired the board)"
    );
    assert!(h.events.contains(&Signal::SessionEnded {
        board: "nope".into(),
        reason: SessionEnd::NotFound
    }));
    let stats = h.engine.stats();
    assert_eq!(stats.joins_waiting, 0);
    assert_eq!(stats.created_sessions, 0);
    assert_eq!(stats.timers_armed, 0);
    // The connection is free again.
    let e = mutate_err(&mut h, ALICE, "b1", one());
    assert_eq!(e.code(), ErrorCode::NotJoined);
}

#[test]
fn operator_requests_on_an_unknown_board() {
    let mut h = room(Config::default());
    let e = rejected(&mut h, |e, now| e.flush_pending(now, "nope"));
    assert_eq!(e, BoardError::BoardNotFound("nope".into()));
    assert_eq!(e.code(), ErrorCode::BoardNotFound);
    let e = rejected(&mut h, |e, now| e.close_session(now, "nope"));
    assert_eq!(e, BoardError::BoardNotFound("nope".into()));
    assert_eq!(e.code(), ErrorCode::BoardNotFound);
}

// ---------------------------------------------------------------------------
// UNAVAILABLE
// ---------------------------------------------------------------------------

#[test]
fn load_failure_is_unavailable_and_writes_nothing() {
    let mut h = Harness::new(Config::default());
    h.join(ALICE, req("alice")).unwrap();
    let five = (0..5).map(|i| upsert("p", &format!("e{i}"), "1")).collect();
    h.mutate(ALICE, "b1", five).unwrap();
    h.leave(ALICE).unwrap();
    h.advance(5 * MIN);
    assert!(h.engine.session(BOARD).is_none(), "archived");
    let stored = h.store.boards()[BOARD].clone();
    assert_eq!(stored.sequence(), 5);

    h.store.fail_next = 1;
    let calls = h.store.calls;
    h.join(BOB, req("bob")).unwrap();
    let failures = join_failures(&h.take(BOB));
    assert_eq!(failures, vec![(BOARD.to_string(), ErrorCode::Unavailable)]);
    assert!(failures[0].1.is_retryable());
    assert_eq!(h.store.calls, calls + 1, "only the failed load");
    let now_stored = &h.store.boards()[BOARD];
    assert_eq!(now_stored.events, stored.events);
    assert_eq!(now_stored.pages, stored.pages);
    assert_eq!(now_stored.pages_sequence, stored.pages_sequence);
    assert_eq!(now_stored.snapshots, stored.snapshots);
    assert!(h.engine.session(BOARD).is_none());
    assert_eq!(h.engine.stats().joins_waiting, 0);

    // A later join loads again and gets the stored board.
    h.join(BOB, req("bob")).unwrap();
    assert_eq!(h.store.calls, calls + 2, "the load was retried");
    let j = joined(&h.take(BOB)).expect("joined after the retry");
    assert_eq!(j.sequence, 5);
    match j.sync {
        JoinSync::Full { reason, pages } => {
            assert_eq!(reason, FullSyncReason::Initial);
            assert_eq!(pages.element_count(), 5);
        }
        other => panic!("expected a full sync, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Storage confirmations
// ---------------------------------------------------------------------------

#[test]
fn confirm_unknown_effect() {
    let mut h = room(Config::default());
    let e = rejected(&mut h, |e, now| {
        e.handle_storage(now, EffectId(9999), StorageOutcome::Stored)
    });
    assert_eq!(e, ConfirmError::UnknownEffect(EffectId(9999)));
}

#[test]
fn confirm_mismatched_then_right_then_duplicate() {
    let mut h = room(Config::default());
    h.mode = StoreMode::Hold;
    h.mutate(ALICE, "b1", one()).unwrap();
    let effect = h.held.pop_front().expect("an append");
    assert!(matches!(effect, Effect::AppendEvents { .. }));
    let id = effect.id();

    for wrong in [
        StorageOutcome::Loaded(Box::new(LoadedBoard::empty())),
        StorageOutcome::NotFound,
        StorageOutcome::SnapshotStored("s".into()),
    ] {
        let e = rejected(&mut h, |e, now| e.handle_storage(now, id, wrong));
        assert_eq!(e, ConfirmError::MismatchedOutcome(id));
    }
    assert_eq!(h.engine.session(BOARD).unwrap().durable_sequence, 1);

    // The effect is still outstanding: the right report is taken.
    let outcome = h.store.perform(&effect, h.now);
    h.engine.handle_storage(h.now, id, outcome).unwrap();
    h.drain();
    assert_eq!(h.engine.session(BOARD).unwrap().durable_sequence, 2);
    assert_eq!(
        h.take(ALICE),
        vec![Notice::Ack {
            batch: "b1".into(),
            sequence: 2
        }]
    );

    // A second report of the same effect.
    let e = rejected(&mut h, |e, now| {
        e.handle_storage(now, id, StorageOutcome::Stored)
    });
    assert_eq!(e, ConfirmError::UnknownEffect(id));
    let e = rejected(&mut h, |e, now| {
        e.handle_storage(now, id, StorageOutcome::transient("late"))
    });
    assert_eq!(e, ConfirmError::UnknownEffect(id));
    assert!(h.take(ALICE).is_empty(), "no second ack");
}

#[test]
fn confirm_mismatched_load() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    h.join(ALICE, req("alice")).unwrap();
    let load = h.held.pop_front().expect("a load");
    let id = load.id();
    for wrong in [
        StorageOutcome::Stored,
        StorageOutcome::SnapshotStored("s".into()),
    ] {
        let e = rejected(&mut h, |e, now| e.handle_storage(now, id, wrong));
        assert_eq!(e, ConfirmError::MismatchedOutcome(id));
    }
    assert!(h.engine.session(BOARD).unwrap().loading);
    let outcome = h.store.perform(&load, h.now);
    h.engine.handle_storage(h.now, id, outcome).unwrap();
    h.drain();
    assert!(joined(&h.take(ALICE)).is_some());
}

// ---------------------------------------------------------------------------
// A clock that goes backwards
// ---------------------------------------------------------------------------

#[test]
fn clock_going_backwards_never_panics_and_deadlines_hold() {
    let mut h = Harness::new(Config::default());
    let t1 = at(60 * MIN);
    h.advance_to(t1);
    h.join(ALICE, req("alice")).unwrap();
    h.join(BOB, req("bob")).unwrap();
    h.inbox.clear();
    let e = &mut h.engine;

    // Inputs stamped an hour earlier count as "now" (t1).
    let ok = e.apply_mutations(T0, ALICE, "b1".into(), one()).unwrap();
    assert_eq!(ok.sequence, 1);
    e.update_presence(T0, BOB, 1.0, 1.0).unwrap();
    e.handle_timeout(T0);
    e.ping(T0, ALICE);
    let next = e.poll_timeout().expect("deadlines armed");
    assert!(next > t1, "deadline {next:?} not after the engine's clock");
    h.drain();
    let events = h
        .take(BOB)
        .into_iter()
        .find_map(|n| match n {
            Notice::Events(ev) => Some(ev),
            _ => None,
        })
        .expect("bob got the event");
    assert_eq!(
        events[0].at, t1,
        "stamped with the engine's clock, not the past"
    );
    assert_eq!(h.engine.user_session(ALICE).unwrap().last_activity, t1);

    // Both leave "in the past": the board is idle since t1.
    h.engine.leave(T0, ALICE).unwrap();
    h.engine.leave(T0.saturating_sub(MIN), BOB).unwrap();
    h.drain();
    let s = h.engine.session(BOARD).unwrap();
    assert_eq!(s.idle_since, Some(t1));
    assert_eq!(s.state, SessionState::Idle);

    // The idle deadline fires at t1 + 5 min, not earlier, not relative to T0.
    h.engine.handle_timeout(T0.saturating_add(5 * MIN));
    h.drain();
    assert!(h.engine.session(BOARD).is_some());
    h.advance_to(t1.saturating_add(5 * MIN - MS));
    assert!(h.engine.session(BOARD).is_some(), "not before 5 min");
    h.advance_to(t1.saturating_add(5 * MIN));
    assert!(h.engine.session(BOARD).is_none(), "archived at t1 + 5 min");

    // A late, backwards join opens a fresh session that continues the board.
    h.engine
        .join(T0, ConnId(3), req("carol").last_sequence(0))
        .unwrap();
    h.drain();
    let j = joined(&h.take(ConnId(3))).expect("joined");
    assert_eq!(j.sequence, 1);
    assert_eq!(
        h.engine.session(BOARD).unwrap().created_at,
        t1.saturating_add(5 * MIN)
    );
}

#[test]
fn inactivity_deadline_holds_when_the_clock_goes_backwards() {
    let mut h = Harness::new(Config::default());
    let t1 = at(60 * MIN);
    h.advance_to(t1);
    h.join(ALICE, req("alice")).unwrap();
    h.inbox.clear();
    // Activity stamped in the past does not move the deadline back or forth.
    h.engine.update_presence(T0, ALICE, 1.0, 1.0).unwrap();
    h.drain();
    h.engine.handle_timeout(T0.saturating_add(30 * MIN));
    h.drain();
    assert!(h.engine.user_session(ALICE).is_some());
    h.advance_to(t1.saturating_add(30 * MIN - MS));
    assert!(h.engine.user_session(ALICE).is_some());
    h.advance_to(t1.saturating_add(30 * MIN));
    assert!(h.engine.user_session(ALICE).is_none());
    assert_eq!(
        h.take(ALICE),
        vec![Notice::SessionTimeout {
            board: BOARD.into()
        }]
    );
}
