//! The idempotency window (issue 17, findings 5 and 6): every batch younger
//! than `dedup_max_age` (5 min, the client's recovery limit) is recognised
//! whatever their number, also after a restart; the byte budget bounds it;
//! and a batch id used again with other content is refused.

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const B: &str = "b";
const ALICE: ConnId = ConnId(1);
const ALICE_TAB: ConnId = ConnId(2);
const SEC: Duration = Duration::from_secs(1);

fn two_tabs(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.join(ALICE, JoinRequest::new(B, "alice", "Alice"))
        .unwrap();
    h.join(ALICE_TAB, JoinRequest::new(B, "alice", "Alice"))
        .unwrap();
    h
}

fn first() -> Vec<Mutation> {
    vec![upsert("p", "e", "1")]
}

/// Alice's other tab sends `n` batches, spread over `over`.
fn busy_tab(h: &mut Harness, n: usize, over: Duration) {
    for i in 0..n {
        h.mutate(ALICE_TAB, &format!("t-{i}"), vec![upsert("p", "f", "2")])
            .unwrap();
        h.advance(over / n as u32);
    }
}

#[test]
fn more_batches_than_the_count_floor_within_the_age_are_all_recognised() {
    let config = Config::default();
    assert_eq!(config.dedup_window, 1024);
    assert_eq!(config.dedup_max_age, 300 * SEC);
    let mut h = two_tabs(config);
    let original = h.mutate(ALICE, "a-1", first()).unwrap();
    // 3 000 later batches of the same user within 4 minutes: far more than
    // the 1 024 the window held before.
    busy_tab(&mut h, 3000, 240 * SEC);
    let again = h.mutate(ALICE, "a-1", first()).unwrap();
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.sequence, original.sequence);
    assert_eq!(h.engine.session(B).unwrap().sequence, 3001);

    // After a restart too: the store hands back every batch of the window.
    h.crash();
    h.join(ConnId(3), JoinRequest::new(B, "alice", "Alice"))
        .unwrap();
    let again = h.mutate(ConnId(3), "a-1", first()).unwrap();
    assert!(again.duplicate, "after the restart: {again:?}");
    assert_eq!(h.engine.session(B).unwrap().sequence, 3001);
    assert_eq!(
        h.mutate(ConnId(3), "a-1", vec![upsert("p", "e", "other")]),
        Err(MutateError::BatchIdReused {
            sequence: original.sequence
        }),
        "the digest came back with the records"
    );
}

#[test]
fn past_the_age_only_the_count_floor_is_kept() {
    let mut h = two_tabs(Config::default());
    h.mutate(ALICE, "a-1", first()).unwrap();
    busy_tab(&mut h, 1100, 200 * SEC);
    // Six minutes after it, and 1 100 of the user's batches later.
    h.advance(160 * SEC);
    h.mutate(ALICE_TAB, "late", vec![upsert("p", "f", "3")])
        .unwrap();
    let again = h.mutate(ALICE, "a-1", first()).unwrap();
    assert!(
        !again.duplicate,
        "older than 5 min and beyond the user's last 1 024: forgotten"
    );
}

#[test]
fn the_byte_budget_bounds_the_window_and_counts_what_it_forgot() {
    let mut h = two_tabs(Config::new().dedup_max_bytes(64 * 1024));
    h.mutate(ALICE, "a-1", first()).unwrap();
    busy_tab(&mut h, 2000, 10 * SEC);
    let stats = h.engine.stats();
    assert!(stats.batch_id_bytes_remembered <= 64 * 1024, "{stats:?}");
    assert!(stats.batch_ids_remembered < 2001, "{stats:?}");
    assert!(stats.young_batches_forgotten > 0, "{stats:?}");
    // The oldest went first.
    let again = h.mutate(ALICE, "a-1", first()).unwrap();
    assert!(!again.duplicate);
}

#[test]
fn a_batch_id_used_again_for_other_content_is_refused_while_in_flight() {
    let mut h = two_tabs(Config::default());
    h.mode = StoreMode::Hold;
    let accepted = h.mutate(ALICE, "a-1", first()).unwrap();
    assert!(!accepted.acked);
    let e = h
        .mutate(ALICE_TAB, "a-1", vec![upsert("p", "e", "2")])
        .unwrap_err();
    assert_eq!(e, MutateError::BatchIdReused { sequence: 1 });
    assert_eq!(e.code(), ErrorCode::BatchIdReused);
    assert!(!e.code().is_retryable());
    // The same content from the other tab waits for the original's ack.
    assert!(h.mutate(ALICE_TAB, "a-1", first()).unwrap().duplicate);
    h.complete_all();
    assert_eq!(
        h.engine.pages(B).unwrap().get("p", "e"),
        Some(&Payload::from("1"))
    );
}
