//! Regression tests for engine bugs found by the deterministic simulation
//! (`crates/huddle-sim`). Each test names the seed that found it; the
//! scenario is reduced to the few inputs that matter.

use huddle_core::{Config, ConnId, JoinRequest, Notice};
use huddle_testkit::{upsert, Harness, StoreMode};

/// huddle-sim seed 2 (`--ticks 100000`): a client re-sent a batch on a new
/// connection while the batch's append was still in flight. The new
/// connection became a waiter and got the ack at 2, then the batch's own
/// events 1..=2 as a broadcast: its sequence went back, and it saw its own
/// batch twice. A waiter gets the ack only.
#[test]
fn a_connection_that_re_sent_an_in_flight_batch_gets_the_ack_and_not_the_events() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    let (alice, bob, alice_again) = (ConnId(1), ConnId(2), ConnId(3));
    h.join(alice, JoinRequest::new("b", "alice", "Alice"))
        .unwrap();
    h.complete_all(); // the load
    h.join(bob, JoinRequest::new("b", "bob", "Bob")).unwrap();
    h.mutate(
        alice,
        "batch-1",
        vec![upsert("p", "e1", "1"), upsert("p", "e2", "2")],
    )
    .unwrap();
    // Alice's socket drops before the append is confirmed; her client
    // re-joins on a new connection and re-sends the batch.
    h.disconnect(alice);
    h.join(
        alice_again,
        JoinRequest::new("b", "alice", "Alice").last_sequence(0),
    )
    .unwrap();
    let resent = h
        .mutate(
            alice_again,
            "batch-1",
            vec![upsert("p", "e1", "1"), upsert("p", "e2", "2")],
        )
        .unwrap();
    assert!(resent.duplicate && !resent.acked);
    h.take(alice_again);
    h.take(bob);

    h.complete_all(); // the append is stored

    let to_alice = h.take(alice_again);
    assert!(
        to_alice
            .iter()
            .any(|n| matches!(n, Notice::Ack { sequence: 2, .. })),
        "the waiter is acked: {to_alice:?}"
    );
    assert!(
        !to_alice.iter().any(|n| matches!(n, Notice::Events(_))),
        "the waiter does not get its own batch as events: {to_alice:?}"
    );
    let to_bob = h.take(bob);
    assert!(
        to_bob
            .iter()
            .any(|n| matches!(n, Notice::Events(e) if e.len() == 2)),
        "everyone else gets the events: {to_bob:?}"
    );
}

/// huddle-sim seeds 38, 49, 168 and 208 (`--ticks 1000000`, before the
/// simulation learnt to count these instead of failing): one busy user
/// with several tabs, one of which restarts (or reconnects after a while)
/// and re-sends a batch whose ack it never got. Meanwhile the user's other
/// tabs made more than `dedup_window` batches, so the engine no longer
/// remembers the batch id and applies it a second time — after a crash
/// too, since a load hands back only each user's last `dedup_window`
/// batches. At-most-once holds only within that window, counted in
/// batches across all of a user's connections.
///
/// Not fixed here: the fix is a design decision (a window per user and
/// client id — batch ids carry the client id — or one kept by age rather
/// than by count, and the store's batch records to match). Run with
/// `--ignored` to see it fail.
#[test]
#[ignore = "at-most-once only within the per-user dedup window (count-based); see doc comment"]
fn a_batch_re_sent_after_the_users_other_tabs_filled_the_dedup_window_is_not_applied_again() {
    let config = Config::new().dedup_window(2);
    let mut h = Harness::new(config);
    let (tab1, tab2) = (ConnId(1), ConnId(2));
    h.join(tab1, JoinRequest::new("b", "alice", "Alice"))
        .unwrap();
    h.join(tab2, JoinRequest::new("b", "alice", "Alice"))
        .unwrap();
    let first = h
        .mutate(tab1, "tab1-1", vec![upsert("p", "e1", "1")])
        .unwrap();
    assert_eq!(first.sequence, 1);
    // Tab 1 never sees the ack; the other tab keeps working.
    for n in 0..2 {
        h.mutate(tab2, &format!("tab2-{n}"), vec![upsert("p", "e2", "2")])
            .unwrap();
    }
    // Tab 1 re-sends its batch.
    let again = h
        .mutate(tab1, "tab1-1", vec![upsert("p", "e1", "1")])
        .unwrap();
    assert!(
        again.duplicate && again.sequence == 1,
        "re-sent batch applied again at {}",
        again.sequence
    );
}
