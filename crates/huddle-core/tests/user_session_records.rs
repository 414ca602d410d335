//! User session records as effects (`Config::store_user_sessions`):
//! performed and confirmed like any other write, retried, kept in order per
//! session, counted, and waited for before a board is released.

use std::time::Duration;

use huddle_core::*;
use huddle_store::SessionIndex;
use huddle_testkit::*;

const B: &str = "board";
const MIN: Duration = Duration::from_secs(60);
const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);

fn req(user: &str) -> JoinRequest {
    JoinRequest::new(B, user, user)
}

fn config() -> Config {
    Config::new().store_user_sessions(true)
}

fn records(h: &Harness) -> Vec<UserSessionStatus> {
    h.held
        .iter()
        .filter_map(|e| match e {
            Effect::StoreUserSession { record, .. } => Some(record.status),
            _ => None,
        })
        .collect()
}

#[test]
fn records_are_effects_only_when_switched_on() {
    let mut h = Harness::new(Config::default());
    h.join(C1, req("alice")).unwrap();
    h.leave(C1).unwrap();
    assert!(h
        .store
        .model()
        .user_sessions(&SessionIndex::User("alice".into()))
        .is_empty());
    assert!(h.transcript.iter().all(|l| !l.contains("StoreUserSession")));
    // The events stay, for logging.
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Signal::UserSessionEnded(_))));
}

#[test]
fn start_and_end_are_stored_and_the_end_is_final() {
    let mut h = Harness::new(config());
    h.join(C1, req("alice")).unwrap();
    let id = h.engine.user_session(C1).unwrap().id;
    assert_eq!(
        h.store.user_session(id).unwrap().status,
        UserSessionStatus::Active
    );
    h.leave(C1).unwrap();
    let stored = h.store.user_session(id).unwrap();
    assert_eq!(stored.status, UserSessionStatus::Ended);
    assert!(stored.ended_at.is_some());
}

#[test]
fn the_end_waits_for_the_start_so_it_is_never_overwritten() {
    let mut h = Harness::new(config());
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.complete_next(); // the load
    assert_eq!(records(&h), vec![UserSessionStatus::Active]);
    let id = h.engine.user_session(C1).unwrap().id;
    h.leave(C1).unwrap();
    assert_eq!(
        records(&h),
        vec![UserSessionStatus::Active],
        "the end waits for the start"
    );
    assert_eq!(h.engine.stats().effects_outstanding, h.held.len());
    h.complete_next();
    assert_eq!(records(&h), vec![UserSessionStatus::Ended]);
    h.complete_all();
    assert_eq!(
        h.store.user_session(id).unwrap().status,
        UserSessionStatus::Ended
    );
}

#[test]
fn a_transient_record_failure_is_retried_with_the_newest_record() {
    let mut h = Harness::new(config());
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.complete_next();
    let id = h.engine.user_session(C1).unwrap().id;
    h.leave(C1).unwrap();
    // The start fails; the end is what the retry writes.
    h.fail_next();
    assert!(h.held.is_empty(), "the retry waits for its backoff");
    h.advance(Duration::from_secs(1));
    assert_eq!(records(&h), vec![UserSessionStatus::Ended]);
    h.complete_all();
    assert_eq!(
        h.store.user_session(id).unwrap().status,
        UserSessionStatus::Ended
    );
}

#[test]
fn an_invalid_record_is_given_up_and_the_session_goes_on() {
    let mut h = Harness::new(config());
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.complete_next();
    h.fail_next_with(FailureKind::Invalid);
    assert!(h.events.iter().any(|e| matches!(
        e,
        Signal::StorageFailed {
            kind: FailureKind::Invalid,
            ..
        }
    )));
    assert!(h.engine.session(B).is_some());
    h.advance(MIN);
    assert!(records(&h).is_empty(), "not retried");
    // Later records are still written.
    h.leave(C1).unwrap();
    assert_eq!(records(&h), vec![UserSessionStatus::Ended]);
}

#[test]
fn a_board_is_archived_and_released_only_after_its_records() {
    let mut h = Harness::new(config());
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    h.complete_next(); // the load
    h.engine.close_session(h.now, B).unwrap();
    h.drain();
    // Start records in flight, end records waiting behind them.
    assert_eq!(records(&h).len(), 2);
    assert!(h.released.is_empty());
    assert!(h
        .events
        .iter()
        .all(|e| !matches!(e, Signal::SessionEnded { .. })));
    h.complete_next();
    h.complete_next();
    assert_eq!(records(&h), vec![UserSessionStatus::Ended; 2]);
    assert!(h.released.is_empty(), "the end records are outstanding");
    h.complete_all();
    assert_eq!(h.released, vec![BoardId::from(B)]);
    let stored = h
        .store
        .model()
        .user_sessions(&SessionIndex::Board(B.into()));
    assert!(!stored.is_empty());
    assert!(stored.iter().all(|r| r.status == UserSessionStatus::Ended));
}

#[test]
fn timed_out_sessions_store_their_timeout() {
    let mut h = Harness::new(config());
    h.join(C1, req("alice")).unwrap();
    let id = h.engine.user_session(C1).unwrap().id;
    h.advance(Duration::from_secs(31 * 60));
    assert_eq!(
        h.store.user_session(id).unwrap().status,
        UserSessionStatus::Timeout
    );
}
