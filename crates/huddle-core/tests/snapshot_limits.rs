//! The limits of manual snapshots (issue 17, finding 2): none when nothing
//! changed since the board's newest snapshot, one at a time per board, and
//! a minimum interval between manual ones. A refused request gets a typed
//! error, emits no effect and is no activity.

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const BOARD: &str = "b";
const ALICE: ConnId = ConnId(1);
const BOB: ConnId = ConnId(2);
const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// Alice and bob on `BOARD`, effects held until the test completes them.
fn held(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.mode = StoreMode::Hold;
    for (conn, user) in [(ALICE, "alice"), (BOB, "bob")] {
        h.join(conn, JoinRequest::new(BOARD, user, user)).unwrap();
        h.complete_all();
    }
    h.inbox.clear();
    h
}

fn change(h: &mut Harness, batch: &str) {
    h.mutate(BOB, batch, vec![upsert("p", "e", batch)]).unwrap();
    h.complete_all();
}

/// The snapshot effects held now.
fn snapshots_held(h: &Harness) -> usize {
    h.held
        .iter()
        .filter(|e| matches!(e, Effect::StoreSnapshot { .. }))
        .count()
}

#[test]
fn an_unchanged_board_gets_no_snapshot() {
    let mut h = held(Config::default());
    // Nothing was ever written.
    let e = h.snapshot(ALICE).unwrap_err();
    assert_eq!(e, SnapshotError::Unchanged { version: 0 });
    assert_eq!(e.code(), ErrorCode::SnapshotUnchanged);
    assert!(h.held.is_empty(), "no effect: {:?}", h.held);

    change(&mut h, "b1");
    h.snapshot(ALICE).unwrap();
    assert_eq!(snapshots_held(&h), 1);
    h.complete_all();
    // Stored at 1, nothing since; later, too.
    h.advance(60 * SEC);
    h.complete_all();
    let e = h.snapshot(ALICE).unwrap_err();
    assert_eq!(e, SnapshotError::Unchanged { version: 1 });
    assert_eq!(snapshots_held(&h), 0);
}

#[test]
fn an_auto_save_counts_as_the_newest_snapshot() {
    let mut h = held(Config::default());
    change(&mut h, "b1");
    // The auto-save (30 s) stores the board at 1.
    h.advance(30 * SEC);
    assert_eq!(snapshots_held(&h), 1);
    h.complete_all();
    assert_eq!(
        h.snapshot(ALICE).unwrap_err(),
        SnapshotError::Unchanged { version: 1 }
    );
}

#[test]
fn one_snapshot_at_a_time() {
    let mut h = held(Config::new().manual_snapshot_interval(Duration::ZERO));
    change(&mut h, "b1");
    h.snapshot(ALICE).unwrap();
    change_without_snapshot(&mut h, "b2");
    let e = h.snapshot(BOB).unwrap_err();
    assert_eq!(e, SnapshotError::InFlight);
    assert_eq!(e.code(), ErrorCode::RateLimited);
    assert!(e.code().is_retryable());
    assert_eq!(snapshots_held(&h), 1, "still the first one only");

    // Once it is stored, the next one goes.
    h.complete_all();
    h.snapshot(BOB).unwrap();
    assert_eq!(snapshots_held(&h), 1);
}

/// A change whose effects complete, except the snapshot held.
fn change_without_snapshot(h: &mut Harness, batch: &str) {
    h.mutate(BOB, batch, vec![upsert("p", "e", batch)]).unwrap();
    let mut kept = std::collections::VecDeque::new();
    while let Some(effect) = h.held.pop_front() {
        if matches!(effect, Effect::StoreSnapshot { .. }) {
            kept.push_back(effect);
        } else {
            h.held.push_front(effect);
            h.complete_next();
        }
    }
    h.held = kept;
}

#[test]
fn manual_snapshots_keep_their_minimum_interval() {
    let mut h = held(Config::default());
    let interval = Config::default().manual_snapshot_interval;
    assert_eq!(interval, 10 * SEC);
    change(&mut h, "b1");
    h.snapshot(ALICE).unwrap();
    h.complete_all();
    let first = h.now;

    change(&mut h, "b2");
    h.advance(interval - MS);
    h.complete_all();
    // Any participant: the interval is the board's.
    let e = h.snapshot(BOB).unwrap_err();
    assert_eq!(
        e,
        SnapshotError::TooSoon {
            since: interval - MS,
            interval
        }
    );
    assert_eq!(e.code(), ErrorCode::RateLimited);
    assert_eq!(snapshots_held(&h), 0);
    // A refusal is no activity: bob's last activity is still his change.
    assert_eq!(h.engine.user_session(BOB).unwrap().last_activity, first);

    h.advance(MS);
    h.snapshot(BOB).unwrap();
    assert_eq!(snapshots_held(&h), 1);
    h.complete_all();
    let stored: Vec<SnapshotCause> = h.store.boards()[BOARD]
        .snapshots
        .iter()
        .map(|(_, s)| s.created_by)
        .collect();
    assert_eq!(stored, vec![SnapshotCause::Manual, SnapshotCause::Manual]);
}

#[test]
fn a_flood_of_requests_stores_one_snapshot_per_interval() {
    // The attack: many requests in a row. Requests every 100 ms for
    // a minute, each after a change, store one manual snapshot per 10 s.
    let mut h = Harness::new(Config::new().autosave_interval(Duration::from_secs(3600)));
    for (conn, user) in [(ALICE, "alice"), (BOB, "bob")] {
        h.join(conn, JoinRequest::new(BOARD, user, user)).unwrap();
    }
    let mut accepted = 0;
    for i in 0..600 {
        h.mutate(BOB, &format!("b{i}"), vec![upsert("p", "e", "1")])
            .unwrap();
        if h.snapshot(ALICE).is_ok() {
            accepted += 1;
        }
        h.advance(Duration::from_millis(100));
    }
    assert_eq!(accepted, 6);
    assert_eq!(h.store.boards()[BOARD].snapshots.len(), 6);
}
