//! Exact boundaries of the spec (`docs/architecture.md`, `docs/decisions.md`), each checked on
//! both sides: delta vs full sync, idle and inactivity deadlines, colours,
//! snapshot retention, duplicate batches, and the timer contract.

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

/// What `apply_mutations` answers: `(sequence, duplicate, acked)`.
fn accepted(sequence: u64, duplicate: bool, acked: bool) -> Accepted {
    Accepted {
        sequence,
        duplicate,
        acked,
    }
}

const BOARD: &str = "b";
const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

fn config() -> Config {
    Config::default()
}

/// `T0 + d`.
fn at(d: Duration) -> Timestamp {
    T0.saturating_add(d)
}

/// A join request for `BOARD`.
fn req(user: &str) -> JoinRequest {
    JoinRequest::new(BOARD, user, user)
}

/// Takes the `Joined` answer out of a connection's inbox.
fn joined(h: &mut Harness, conn: ConnId) -> Joined {
    h.take(conn)
        .into_iter()
        .find_map(|n| match n {
            Notice::Joined(j) => Some(*j),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `joined` for {conn:?}"))
}

/// Joins `BOARD` as `user` and returns the answer.
fn join_as(h: &mut Harness, conn: ConnId, user: &str) -> Joined {
    h.join(conn, req(user)).expect("join accepted");
    joined(h, conn)
}

/// Joins `BOARD` as a reader with `last_sequence` and returns the answer.
fn join_with_last(h: &mut Harness, conn: ConnId, last: Option<u64>) -> Joined {
    let mut r = req("reader");
    r.last_sequence = last;
    h.join(conn, r).expect("join accepted");
    joined(h, conn)
}

/// The mutation that `fill` gives sequence `seq`.
fn nth(seq: u64) -> Mutation {
    upsert("p", &format!("e{seq}"), &seq.to_string())
}

/// Applies the mutations that get sequences `from..=to`, in batches of up
/// to 1000 (the default `max_batch_len`).
fn fill(h: &mut Harness, conn: ConnId, from: u64, to: u64) {
    let mut first = from;
    while first <= to {
        let last = (first + 999).min(to);
        let batch = (first..=last).map(nth).collect();
        let accepted = h
            .mutate(conn, &format!("fill-{first}"), batch)
            .expect("batch accepted");
        assert_eq!(accepted.sequence, last);
        first = last + 1;
    }
}

/// A harness whose `BOARD` holds `n` events, written by alice (conn 1).
fn board_at(n: u64) -> Harness {
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "alice");
    fill(&mut h, ConnId(1), 1, n);
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, n);
    h
}

fn assert_delta(j: &Joined, last: u64, current: u64) {
    let JoinSync::Delta { events } = &j.sync else {
        panic!("expected a delta from {last}, got {:?}", sync_kind(j));
    };
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (last + 1..=current).collect();
    assert_eq!(seqs, expected, "delta from {last} to {current}");
    for e in &events.to_vec() {
        assert_eq!(e.mutation, nth(e.seq));
        assert_eq!(e.author, UserId::from("alice"));
    }
}

fn assert_full(j: &Joined, reason: FullSyncReason, elements: usize) {
    match &j.sync {
        JoinSync::Full { reason: r, pages } => {
            assert_eq!(*r, reason);
            assert_eq!(pages.element_count(), elements, "the whole board");
        }
        JoinSync::Delta { events } => {
            panic!("expected full {reason:?}, got a delta of {}", events.len())
        }
    }
}

fn sync_kind(j: &Joined) -> String {
    match &j.sync {
        JoinSync::Delta { events } => format!("delta of {}", events.len()),
        JoinSync::Full { reason, .. } => format!("full {reason:?}"),
    }
}

fn state(h: &Harness, board: &str) -> Option<SessionState> {
    h.engine.session(board).map(|s| s.state)
}

fn state_changes(h: &Harness, board: &str) -> Vec<(SessionState, SessionState)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::StateChanged {
                board: b, from, to, ..
            } if b.as_str() == board => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

fn session_ends(h: &Harness, board: &str) -> Vec<SessionEnd> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::SessionEnded { board: b, reason } if b.as_str() == board => {
                Some(reason.clone())
            }
            _ => None,
        })
        .collect()
}

/// The ended user sessions of a connection, as the engine reported them.
fn ended(h: &Harness, conn: ConnId) -> Vec<UserSessionRecord> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::UserSessionEnded(r) if r.conn == conn => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn left(notices: &[Notice]) -> Vec<String> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::ParticipantLeft(p) => Some(p.user.to_string()),
            _ => None,
        })
        .collect()
}

fn joined_others(notices: &[Notice]) -> Vec<String> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::ParticipantJoined(p) => Some(p.user.to_string()),
            _ => None,
        })
        .collect()
}

fn acks(notices: &[Notice]) -> Vec<(String, u64)> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Ack { batch, sequence } => Some((batch.to_string(), *sequence)),
            _ => None,
        })
        .collect()
}

/// Completes every held effect (and those they cause), returning them.
fn settle(h: &mut Harness) -> Vec<Effect> {
    let mut done = Vec::new();
    while let Some(effect) = h.complete_next() {
        done.push(effect);
    }
    done
}

// ---------------------------------------------------------------------------
// Delta vs full sync
// ---------------------------------------------------------------------------

#[test]
fn delta_with_999_missed_full_too_old_with_1000_missed() {
    let mut h = board_at(3000);

    let j = join_with_last(&mut h, ConnId(10), Some(2001));
    assert_eq!(j.sequence, 3000);
    assert_delta(&j, 2001, 3000);
    let JoinSync::Delta { events } = &j.sync else {
        unreachable!()
    };
    assert_eq!(events.len(), 999);

    let j = join_with_last(&mut h, ConnId(11), Some(2000));
    assert_eq!(j.sequence, 3000);
    assert_full(&j, FullSyncReason::TooOld, 3000);

    let j = join_with_last(&mut h, ConnId(12), Some(1));
    assert_full(&j, FullSyncReason::TooOld, 3000);
}

#[test]
fn delta_threshold_on_a_board_at_exactly_1000() {
    let mut h = board_at(1000);
    // 999 missed: all held events but the first.
    let j = join_with_last(&mut h, ConnId(10), Some(1));
    assert_delta(&j, 1, 1000);
    // 1000 missed: full, although every event is still held.
    let j = join_with_last(&mut h, ConnId(11), Some(0));
    assert_full(&j, FullSyncReason::TooOld, 1000);
    assert_eq!(j.history_from, 1);
}

#[test]
fn small_board_gives_a_delta_from_zero() {
    let mut h = board_at(10);
    let j = join_with_last(&mut h, ConnId(10), Some(0));
    assert_eq!(j.sequence, 10);
    assert_eq!(j.history_from, 0);
    assert_delta(&j, 0, 10);
}

#[test]
fn client_ahead_gets_full_ahead() {
    let mut h = board_at(3000);
    let j = join_with_last(&mut h, ConnId(10), Some(3001));
    assert_eq!(j.sequence, 3000);
    assert_full(&j, FullSyncReason::Ahead, 3000);
    let j = join_with_last(&mut h, ConnId(11), Some(u64::MAX));
    assert_full(&j, FullSyncReason::Ahead, 3000);
}

#[test]
fn client_at_current_gets_empty_delta() {
    let mut h = board_at(3000);
    let j = join_with_last(&mut h, ConnId(10), Some(3000));
    assert_eq!(j.sequence, 3000);
    assert_eq!(
        j.sync,
        JoinSync::Delta {
            events: DeltaEvents::new()
        }
    );
}

#[test]
fn no_last_sequence_gets_full_initial() {
    let mut h = board_at(3000);
    let j = join_with_last(&mut h, ConnId(10), None);
    assert_eq!(j.sequence, 3000);
    assert_full(&j, FullSyncReason::Initial, 3000);
}

#[test]
fn history_from_is_the_oldest_last_sequence_with_a_delta() {
    let mut h = board_at(3000);
    let from = join_with_last(&mut h, ConnId(10), None).history_from;
    assert_eq!(from, 2001, "3000 - 999");
    assert_eq!(h.engine.session(BOARD).unwrap().history_from, 2001);

    let j = join_with_last(&mut h, ConnId(11), Some(from));
    assert_eq!(j.history_from, from);
    assert_delta(&j, from, 3000);
    let j = join_with_last(&mut h, ConnId(12), Some(from - 1));
    assert!(
        matches!(j.sync, JoinSync::Full { .. }),
        "history_from - 1 must get a full sync, got {}",
        sync_kind(&j)
    );
}

#[test]
fn delta_after_reload_from_storage() {
    let mut h = board_at(3000);
    h.crash();
    // The default store hands the last 1000 events to the load.
    h.join(ConnId(20), req("alice").last_sequence(2001))
        .unwrap();
    let j = joined(&mut h, ConnId(20));
    assert_eq!(j.sequence, 3000);
    assert_eq!(j.history_from, 2001);
    assert_delta(&j, 2001, 3000);
}

#[test]
fn full_no_history_when_the_store_hands_a_short_tail() {
    let mut h = board_at(3000);
    // Flush so that the store's pages are as of 3000: a load then needs no
    // events, and hands only `load_tail` of them.
    h.engine.flush_pending(h.now, BOARD).unwrap();
    h.drain();
    assert_eq!(h.store.boards()[BOARD].pages_sequence, 3000);
    h.crash();
    h.store.load_tail = 10;

    // Events 2991..=3000 are held after the reload.
    h.join(ConnId(20), req("alice").last_sequence(3000))
        .unwrap();
    let j = joined(&mut h, ConnId(20));
    assert_eq!(j.sequence, 3000);
    assert_eq!(
        j.sync,
        JoinSync::Delta {
            events: DeltaEvents::new()
        }
    );
    assert_eq!(j.history_from, 2990);

    let j = join_with_last(&mut h, ConnId(21), Some(2990));
    assert_delta(&j, 2990, 3000);

    // 11 missed (well within the threshold), but event 2990 is not held.
    let j = join_with_last(&mut h, ConnId(22), Some(2989));
    assert_full(&j, FullSyncReason::NoHistory, 3000);
    // 999 missed: still within the threshold, so no_history.
    let j = join_with_last(&mut h, ConnId(23), Some(2001));
    assert_full(&j, FullSyncReason::NoHistory, 3000);
    // 1000 missed: too_old takes precedence.
    let j = join_with_last(&mut h, ConnId(24), Some(2000));
    assert_full(&j, FullSyncReason::TooOld, 3000);
}

// ---------------------------------------------------------------------------
// Idle deadline and archive
// ---------------------------------------------------------------------------

#[test]
fn ephemeral_session_archived_exactly_5_min_after_last_leave() {
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "alice");
    h.advance(7 * SEC);
    let t = h.now;
    h.leave(ConnId(1)).unwrap();
    assert_eq!(state(&h, BOARD), Some(SessionState::Idle));
    assert_eq!(h.engine.session(BOARD).unwrap().idle_since, Some(t));

    h.advance_to(t.saturating_add(5 * MIN - MS));
    assert_eq!(state(&h, BOARD), Some(SessionState::Idle), "at 4:59.999");
    assert!(session_ends(&h, BOARD).is_empty());

    h.advance_to(t.saturating_add(5 * MIN));
    assert!(h.engine.session(BOARD).is_none(), "archived at 5:00.000");
    assert_eq!(
        state_changes(&h, BOARD),
        vec![
            (SessionState::Created, SessionState::Active),
            (SessionState::Active, SessionState::Idle),
            (SessionState::Idle, SessionState::Archived),
        ]
    );
    assert_eq!(session_ends(&h, BOARD), vec![SessionEnd::Archived]);
    assert_eq!(h.engine.stats().idle_sessions, 0);
}

#[test]
fn persistent_session_archived_exactly_15_min_after_last_leave_with_snapshot() {
    let mut h = Harness::new(config());
    h.join(
        ConnId(1),
        req("alice").session_type(SessionType::Persistent),
    )
    .unwrap();
    h.mutate(
        ConnId(1),
        "b1",
        vec![upsert("p", "x", "1"), upsert("p", "y", "2")],
    )
    .unwrap();
    h.advance(3 * SEC);
    let t = h.now;
    h.leave(ConnId(1)).unwrap();
    assert_eq!(
        h.engine.session(BOARD).unwrap().kind,
        SessionType::Persistent
    );

    h.advance_to(t.saturating_add(15 * MIN - MS));
    assert_eq!(state(&h, BOARD), Some(SessionState::Idle), "at 14:59.999");
    let archive_snapshots = |h: &Harness| {
        h.store.boards()[BOARD]
            .snapshots
            .iter()
            .filter(|(_, s)| s.created_by == SnapshotCause::Archive)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(archive_snapshots(&h).is_empty());

    h.advance_to(t.saturating_add(15 * MIN));
    assert!(h.engine.session(BOARD).is_none(), "archived at 15:00.000");
    assert!(state_changes(&h, BOARD).contains(&(SessionState::Idle, SessionState::Archived)));
    assert_eq!(session_ends(&h, BOARD), vec![SessionEnd::Archived]);

    let snaps = archive_snapshots(&h);
    assert_eq!(snaps.len(), 1);
    let snap = &snaps[0].1;
    assert_eq!(snap.version, 2);
    assert_eq!(snap.created_at, t.saturating_add(15 * MIN));
    assert_eq!(snap.pages.element_count(), 2);
    // Pending mutations were flushed before the session left memory.
    assert_eq!(h.store.boards()[BOARD].pages_sequence, 2);
}

#[test]
fn created_session_without_participant_is_archived_after_idle_timeout() {
    let mut h = Harness::new(config());
    h.mode = StoreMode::Hold;
    h.join(ConnId(1), req("alice")).unwrap();
    assert!(h.engine.session(BOARD).unwrap().loading);
    h.leave(ConnId(1)).unwrap(); // withdraws the waiting join
    settle(&mut h); // the load completes at T0
    let s = h.engine.session(BOARD).unwrap();
    assert_eq!(s.state, SessionState::Created);
    assert!(s.participants.is_empty());
    assert!(
        h.take(ConnId(1)).is_empty(),
        "the withdrawn join gets no answer"
    );

    h.advance_to(at(5 * MIN - MS));
    settle(&mut h);
    assert_eq!(state(&h, BOARD), Some(SessionState::Created));

    h.advance_to(at(5 * MIN));
    settle(&mut h);
    assert!(h.engine.session(BOARD).is_none());
    assert_eq!(
        state_changes(&h, BOARD),
        vec![(SessionState::Created, SessionState::Archived)]
    );
    assert_eq!(session_ends(&h, BOARD), vec![SessionEnd::Archived]);
}

// ---------------------------------------------------------------------------
// Inactivity
// ---------------------------------------------------------------------------

#[test]
fn user_session_times_out_exactly_after_30_min_of_inactivity() {
    let mut h = Harness::new(config());
    let alice = join_as(&mut h, ConnId(1), "alice");
    h.advance(MIN);
    join_as(&mut h, ConnId(2), "bob");
    h.take(ConnId(1));

    h.advance_to(at(30 * MIN - MS));
    let record = h
        .engine
        .user_session(ConnId(1))
        .expect("alive at 29:59.999");
    assert_eq!(record.status, UserSessionStatus::Active);
    assert!(ended(&h, ConnId(1)).is_empty());
    assert!(left(&h.take(ConnId(2))).is_empty());

    h.advance_to(at(30 * MIN));
    assert!(h.engine.user_session(ConnId(1)).is_none());
    assert_eq!(
        h.take(ConnId(1)),
        vec![Notice::SessionTimeout {
            board: BOARD.into()
        }]
    );
    let records = ended(&h, ConnId(1));
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.id, alice.session_id);
    assert_eq!(r.status, UserSessionStatus::Timeout);
    assert_eq!(r.ended_at, Some(at(30 * MIN)));
    assert_eq!(r.last_activity, T0);
    assert_eq!(r.started_at, T0);

    assert_eq!(left(&h.take(ConnId(2))), vec!["alice".to_string()]);
    let s = h.engine.session(BOARD).unwrap();
    let users: Vec<_> = s.participants.iter().map(|p| p.user.to_string()).collect();
    assert_eq!(users, vec!["bob".to_string()]);

    // Later requests from the timed-out connection.
    let e = h
        .mutate(ConnId(1), "late", vec![upsert("p", "x", "1")])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SessionExpired);
    let e = h.cursor(ConnId(1), 1.0, 1.0).unwrap_err();
    assert_eq!(e.code(), ErrorCode::SessionExpired);
    let e = h.snapshot(ConnId(1)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::SessionExpired);
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 0);
}

#[test]
fn timeout_of_one_tab_keeps_the_participant_until_its_last_session_ends() {
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "alice");
    h.advance(MIN);
    join_as(&mut h, ConnId(3), "alice");
    h.advance(MIN);
    join_as(&mut h, ConnId(2), "bob");

    h.advance_to(at(30 * MIN));
    assert_eq!(ended(&h, ConnId(1))[0].status, UserSessionStatus::Timeout);
    assert!(
        left(&h.take(ConnId(2))).is_empty(),
        "alice still has a tab open"
    );
    assert_eq!(h.engine.session(BOARD).unwrap().participants.len(), 2);

    h.advance_to(at(31 * MIN));
    assert_eq!(ended(&h, ConnId(3))[0].status, UserSessionStatus::Timeout);
    assert_eq!(left(&h.take(ConnId(2))), vec!["alice".to_string()]);
}

/// Joins at T0, does `activity` at T0+10min, and checks the session then
/// times out at exactly T0+40min.
fn assert_activity_pushes_deadline(activity: impl FnOnce(&mut Harness, ConnId)) {
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "alice");
    h.advance(10 * MIN);
    activity(&mut h, ConnId(1));
    assert_eq!(
        h.engine.user_session(ConnId(1)).unwrap().last_activity,
        at(10 * MIN)
    );

    h.advance_to(at(30 * MIN));
    assert!(
        h.engine.user_session(ConnId(1)).is_some(),
        "the original deadline passed without a timeout"
    );
    h.advance_to(at(40 * MIN - MS));
    assert!(h.engine.user_session(ConnId(1)).is_some());
    assert!(ended(&h, ConnId(1)).is_empty());

    h.advance_to(at(40 * MIN));
    let records = ended(&h, ConnId(1));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, UserSessionStatus::Timeout);
    assert_eq!(records[0].ended_at, Some(at(40 * MIN)));
}

#[test]
fn mutation_is_activity() {
    assert_activity_pushes_deadline(|h, conn| {
        h.mutate(conn, "b1", vec![upsert("p", "x", "1")]).unwrap();
    });
}

#[test]
fn cursor_is_activity() {
    assert_activity_pushes_deadline(|h, conn| h.cursor(conn, 3.0, 4.0).unwrap());
}

#[test]
fn snapshot_request_is_activity() {
    // A manual snapshot needs a change since the board's newest snapshot:
    // bob makes it, so that alice's only activity is the request.
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "alice");
    join_as(&mut h, ConnId(2), "bob");
    h.advance(10 * MIN);
    h.mutate(ConnId(2), "b1", vec![upsert("p", "x", "1")])
        .unwrap();
    h.snapshot(ConnId(1)).unwrap();
    assert_eq!(
        h.engine.user_session(ConnId(1)).unwrap().last_activity,
        at(10 * MIN)
    );
    h.advance_to(at(40 * MIN - MS));
    assert!(h.engine.user_session(ConnId(1)).is_some());
    h.advance_to(at(40 * MIN));
    assert!(h.engine.user_session(ConnId(1)).is_none());
}

#[test]
fn ping_is_not_activity() {
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "alice");
    for minute in [10, 20, 29] {
        h.advance_to(at(minute * MIN));
        h.engine.ping(h.now, ConnId(1));
        h.drain();
        assert_eq!(h.take(ConnId(1)), vec![Notice::Pong]);
    }
    h.advance_to(at(30 * MIN - MS));
    h.engine.ping(h.now, ConnId(1));
    h.drain();
    assert_eq!(h.engine.user_session(ConnId(1)).unwrap().last_activity, T0);

    h.advance_to(at(30 * MIN));
    let records = ended(&h, ConnId(1));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, UserSessionStatus::Timeout);
    assert_eq!(records[0].ended_at, Some(at(30 * MIN)));
}

// ---------------------------------------------------------------------------
// Colours
// ---------------------------------------------------------------------------

fn least_used() -> Config {
    Config::new().color_policy(ColorPolicy::LeastUsed)
}

#[test]
fn seed_policy_gives_palette_in_order_then_wraps() {
    let mut h = Harness::new(config());
    for i in 0..9u64 {
        let j = join_as(&mut h, ConnId(i + 1), &format!("u{i}"));
        let expected = (i % 8) as usize;
        assert_eq!(j.color.index(), expected, "participant {}", i + 1);
        assert_eq!(j.color.hex(), PALETTE[expected]);
    }
    assert_eq!(PALETTE[0], "#FF6B6B");
    assert_eq!(PALETTE[7], "#F7DC6F");
    let s = h.engine.session(BOARD).unwrap();
    assert_eq!(
        s.participants[8].color.hex(),
        "#FF6B6B",
        "the 9th repeats the 1st"
    );
}

#[test]
fn seed_policy_after_a_leave_uses_count_mod_8() {
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "u0");
    join_as(&mut h, ConnId(2), "u1");
    let third = join_as(&mut h, ConnId(3), "u2");
    assert_eq!(third.color.hex(), "#45B7D1");
    h.leave(ConnId(1)).unwrap();
    // Two present: index 2, the same colour as u2's.
    let fourth = join_as(&mut h, ConnId(4), "u3");
    assert_eq!(fourth.color.index(), 2);
    assert_eq!(fourth.color, third.color);
}

#[test]
fn least_used_policy_fills_gaps_in_palette_order() {
    let mut h = Harness::new(least_used());
    for i in 0..3u64 {
        let j = join_as(&mut h, ConnId(i + 1), &format!("u{i}"));
        assert_eq!(j.color.index(), i as usize);
    }
    h.leave(ConnId(2)).unwrap(); // u1, colour 1
    let j = join_as(&mut h, ConnId(4), "u3");
    assert_eq!(j.color.index(), 1, "the freed colour");
    assert_eq!(j.color.hex(), "#4ECDC4");
    let j = join_as(&mut h, ConnId(5), "u4");
    assert_eq!(j.color.index(), 3);
}

#[test]
fn least_used_policy_ties_go_to_the_first_in_palette_order() {
    let mut h = Harness::new(least_used());
    for i in 0..8u64 {
        let j = join_as(&mut h, ConnId(i + 1), &format!("u{i}"));
        assert_eq!(j.color.index(), i as usize);
    }
    // All used once: the first of the palette.
    let j = join_as(&mut h, ConnId(9), "u8");
    assert_eq!(j.color.index(), 0);
    // Colour 5 freed: the only one used zero times.
    h.leave(ConnId(6)).unwrap();
    let j = join_as(&mut h, ConnId(10), "u9");
    assert_eq!(j.color.index(), 5);
    // Now colour 0 is used twice, every other once: first of those is 1.
    let j = join_as(&mut h, ConnId(11), "u10");
    assert_eq!(j.color.index(), 1);
}

#[test]
fn second_connection_of_a_user_is_the_same_participant() {
    let mut h = Harness::new(config());
    let first = join_as(&mut h, ConnId(1), "alice");
    join_as(&mut h, ConnId(2), "bob");
    h.take(ConnId(1));

    let second = join_as(&mut h, ConnId(3), "alice");
    assert_eq!(second.color, first.color);
    assert_ne!(second.session_id, first.session_id);
    assert_eq!(second.participants.len(), 2);
    assert!(joined_others(&h.take(ConnId(2))).is_empty());
    assert!(joined_others(&h.take(ConnId(1))).is_empty());
    let s = h.engine.session(BOARD).unwrap();
    assert_eq!(s.participants.len(), 2);
    assert_eq!(s.connections, 3);
    assert_eq!(h.engine.stats().total_participants, 2);
    assert_eq!(h.engine.stats().user_sessions, 3);

    h.leave(ConnId(1)).unwrap();
    assert!(
        left(&h.take(ConnId(2))).is_empty(),
        "alice has a second tab"
    );
    assert_eq!(h.engine.session(BOARD).unwrap().participants.len(), 2);

    h.leave(ConnId(3)).unwrap();
    assert_eq!(left(&h.take(ConnId(2))), vec!["alice".to_string()]);
    assert_eq!(h.engine.session(BOARD).unwrap().participants.len(), 1);
}

// ---------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------

#[test]
fn snapshot_retention_keeps_the_newest_50() {
    let mut h = Harness::new(config().manual_snapshot_interval(Duration::ZERO));
    h.mode = StoreMode::Hold;
    h.join(ConnId(1), req("alice")).unwrap();
    settle(&mut h);
    joined(&mut h, ConnId(1));

    let mut prunes = Vec::new();
    for i in 1..=51u64 {
        h.mutate(
            ConnId(1),
            &format!("m{i}"),
            vec![upsert("p", "x", &i.to_string())],
        )
        .unwrap();
        settle(&mut h);
        h.snapshot(ConnId(1)).unwrap();
        for effect in settle(&mut h) {
            if let Effect::PruneSnapshots { keep_last, .. } = effect {
                prunes.push((i, keep_last));
            }
        }
        let held = h.store.boards()[BOARD].snapshots.len() as u64;
        assert_eq!(held, i.min(50), "after snapshot {i}");
    }
    assert_eq!(prunes, vec![(51, 50)], "one prune, after the 51st snapshot");

    let versions: Vec<u64> = h.store.boards()[BOARD]
        .snapshots
        .iter()
        .map(|(_, s)| s.version)
        .collect();
    assert_eq!(versions, (2..=51).collect::<Vec<_>>(), "version 1 pruned");
    assert!(h.store.boards()[BOARD]
        .snapshots
        .iter()
        .all(|(_, s)| s.created_by == SnapshotCause::Manual));
}

// ---------------------------------------------------------------------------
// Duplicate batches
// ---------------------------------------------------------------------------

#[test]
fn duplicate_batch_is_applied_once_and_answered_with_its_sequence() {
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "alice");
    join_as(&mut h, ConnId(2), "bob");
    let first = h
        .mutate(
            ConnId(1),
            "b1",
            vec![upsert("p", "x", "1"), upsert("p", "y", "1")],
        )
        .unwrap();
    assert_eq!(first.sequence, 2);
    assert!(!first.duplicate);
    assert_eq!(acks(&h.take(ConnId(1))), vec![("b1".to_string(), 2)]);
    h.take(ConnId(2));

    let stats = h.engine.stats();
    let again = h
        .mutate(
            ConnId(1),
            "b1",
            vec![upsert("p", "x", "1"), upsert("p", "y", "1")],
        )
        .unwrap();
    assert_eq!(again, accepted(2, true, true));
    assert_eq!(acks(&h.take(ConnId(1))), vec![("b1".to_string(), 2)]);
    assert!(h.take(ConnId(2)).is_empty(), "nothing broadcast");
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 2);
    assert_eq!(h.engine.stats(), stats);
    assert_eq!(
        h.engine.pages(BOARD).unwrap().get("p", "x"),
        Some(&Payload::from("1"))
    );
    assert_eq!(h.store.boards()[BOARD].events.len(), 2);

    // The same id with other content: refused, nothing changes.
    let e = h
        .mutate(ConnId(1), "b1", vec![upsert("p", "x", "changed")])
        .unwrap_err();
    assert_eq!(e, MutateError::BatchIdReused { sequence: 2 });
    assert_eq!(e.code(), ErrorCode::BatchIdReused);
    assert!(h.take(ConnId(1)).is_empty(), "no ack");
    assert!(h.take(ConnId(2)).is_empty(), "nothing broadcast");
    assert_eq!(h.engine.stats(), stats);
    assert_eq!(
        h.engine.pages(BOARD).unwrap().get("p", "x"),
        Some(&Payload::from("1"))
    );

    // Another user's batch with the same id is another batch.
    let bobs = h
        .mutate(ConnId(2), "b1", vec![upsert("p", "z", "1")])
        .unwrap();
    assert_eq!(bobs.sequence, 3);
    assert!(!bobs.duplicate);
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 3);
}

#[test]
fn duplicate_in_flight_is_acked_when_the_original_is_stored() {
    let mut h = Harness::new(config());
    h.mode = StoreMode::Hold;
    h.join(ConnId(1), req("alice")).unwrap();
    settle(&mut h);
    h.take(ConnId(1));

    let first = h
        .mutate(ConnId(1), "b1", vec![upsert("p", "x", "1")])
        .unwrap();
    assert_eq!(first, accepted(1, false, false));
    let again = h
        .mutate(ConnId(1), "b1", vec![upsert("p", "x", "1")])
        .unwrap();
    assert_eq!(again, accepted(1, true, false));
    // A retry from a second connection of the same user (a reconnect).
    join_as(&mut h, ConnId(2), "alice");
    let other = h
        .mutate(ConnId(2), "b1", vec![upsert("p", "x", "1")])
        .unwrap();
    assert_eq!(other, accepted(1, true, false));
    assert!(acks(&h.take(ConnId(1))).is_empty());
    assert!(acks(&h.take(ConnId(2))).is_empty());
    assert_eq!(h.held.len(), 1, "one append in flight");

    settle(&mut h);
    assert_eq!(acks(&h.take(ConnId(1))), vec![("b1".to_string(), 1)]);
    assert_eq!(acks(&h.take(ConnId(2))), vec![("b1".to_string(), 1)]);
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 1);
    assert_eq!(h.store.boards()[BOARD].events.len(), 1);
}

#[test]
fn duplicate_after_crash_is_recognised_from_stored_history() {
    let mut h = Harness::new(config());
    join_as(&mut h, ConnId(1), "alice");
    h.mutate(ConnId(1), "b1", vec![upsert("p", "x", "1")])
        .unwrap();
    h.mutate(
        ConnId(1),
        "b2",
        vec![upsert("p", "y", "1"), upsert("p", "z", "1")],
    )
    .unwrap();
    h.crash();

    h.join(ConnId(10), req("alice").last_sequence(3)).unwrap();
    let j = joined(&mut h, ConnId(10));
    assert_eq!(j.sequence, 3);

    let again = h
        .mutate(ConnId(10), "b1", vec![upsert("p", "x", "1")])
        .unwrap();
    assert_eq!(again, accepted(1, true, true));
    let again = h
        .mutate(
            ConnId(10),
            "b2",
            vec![upsert("p", "y", "1"), upsert("p", "z", "1")],
        )
        .unwrap();
    assert_eq!(again.sequence, 3);
    assert!(again.duplicate);
    // The digests came back with the load: other content is refused.
    assert_eq!(
        h.mutate(ConnId(10), "b2", vec![upsert("p", "q", "2")]),
        Err(MutateError::BatchIdReused { sequence: 3 })
    );
    assert_eq!(
        acks(&h.take(ConnId(10))),
        vec![("b1".to_string(), 1), ("b2".to_string(), 3)]
    );
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 3);
    assert_eq!(h.store.boards()[BOARD].events.len(), 3);
}

// ---------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------

/// `handle_timeout` before the deadline, or again at the same time, does
/// nothing at all.
fn assert_noop_timeout(h: &mut Harness, at: Timestamp) {
    let stats = h.engine.stats();
    let deadline = h.engine.poll_timeout();
    h.engine.handle_timeout(at);
    assert_eq!(
        h.engine.poll_output(),
        None,
        "handle_timeout({at:?}) did something"
    );
    assert_eq!(h.engine.stats(), stats);
    assert_eq!(h.engine.poll_timeout(), deadline);
}

fn assert_deadline_after(h: &Harness, now: Timestamp) {
    if let Some(next) = h.engine.poll_timeout() {
        assert!(next > now, "deadline {next:?} not after {now:?}");
    }
}

fn busy_engine() -> Harness {
    let mut h = Harness::new(config());
    h.join(ConnId(1), JoinRequest::new("a", "alice", "Alice"))
        .unwrap();
    h.join(ConnId(2), JoinRequest::new("a", "bob", "Bob"))
        .unwrap();
    h.join(
        ConnId(3),
        JoinRequest::new("p", "carol", "Carol").session_type(SessionType::Persistent),
    )
    .unwrap();
    h.mutate(ConnId(1), "m0", vec![upsert("p", "x", "1")])
        .unwrap();
    h.mutate(ConnId(3), "m0", vec![upsert("p", "y", "1")])
        .unwrap();
    h
}

#[test]
fn every_deadline_fires_once_and_early_or_repeated_calls_do_nothing() {
    let mut h = busy_engine();
    let mut step = 0u32;
    while let Some(next) = h.engine.poll_timeout() {
        step += 1;
        assert!(step < 10_000, "timers never settle");
        assert!(next > h.now, "deadline {next:?} is not in the future");
        assert_noop_timeout(&mut h, next.saturating_sub(MS));

        h.now = next;
        h.engine.handle_timeout(next);
        h.drain();
        assert_deadline_after(&h, next);
        assert_noop_timeout(&mut h, next);

        // Keep things moving at first: coalesced cursor bursts (presence
        // timers), mutations (inactivity re-arms); later, a leave.
        if step <= 200 {
            h.cursor(ConnId(2), f64::from(step), 0.0).unwrap();
            h.cursor(ConnId(2), f64::from(step), 1.0).unwrap();
            if step % 3 == 0 {
                h.mutate(ConnId(1), &format!("m{step}"), vec![upsert("p", "x", "2")])
                    .unwrap();
            }
        } else if h.now >= at(10 * MIN) && h.engine.user_session(ConnId(2)).is_some() {
            h.leave(ConnId(2)).unwrap();
        }
    }
    assert!(step > 200, "the scenario exercised many timers ({step})");
    assert!(h.engine.session("a").is_none());
    assert!(h.engine.session("p").is_none());
    assert_eq!(h.engine.stats().timers_armed, 0);
}

#[test]
fn a_jump_over_many_deadlines_leaves_only_future_ones() {
    let mut h = busy_engine();
    h.cursor(ConnId(2), 1.0, 1.0).unwrap();
    h.cursor(ConnId(2), 2.0, 2.0).unwrap();
    let far = at(Duration::from_secs(24 * 3600));
    h.now = far;
    h.engine.handle_timeout(far);
    h.drain();
    assert_deadline_after(&h, far);
    assert_noop_timeout(&mut h, far);
    // Everyone timed out at the jump; the boards are idle from then on.
    assert_eq!(h.engine.stats().user_sessions, 0);
    assert_eq!(h.engine.session("a").unwrap().idle_since, Some(far));
    assert_eq!(h.engine.poll_timeout(), Some(far.saturating_add(5 * MIN)));
}
