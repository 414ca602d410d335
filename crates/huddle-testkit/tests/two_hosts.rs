//! Two hosts on one store: when host B loads a board host A serves, the
//! store fences A off. Whatever A's engine then does with the refusals
//! (retry, or end the session), A never acknowledges a batch again and no
//! sequence number is acknowledged by both hosts.

use std::collections::BTreeMap;
use std::time::Duration;

use huddle_core::{BoardId, Config, ConnId, JoinRequest, Notice};
use huddle_store::StoreError;
use huddle_testkit::{upsert, Harness, HostStore, SharedStore};

const BOARD: &str = "x";

/// The sequences acknowledged to `conn`, with their batch ids.
fn acks(h: &mut Harness<HostStore>, conn: ConnId) -> Vec<(u64, String)> {
    h.take(conn)
        .into_iter()
        .filter_map(|n| match n {
            Notice::Ack { batch, sequence } => Some((sequence, batch.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn after_a_takeover_the_old_host_never_acks_and_no_sequence_is_acked_twice() {
    let shared = SharedStore::default();
    let mut a = Harness::with_store(Config::default(), 1, shared.host());
    let mut b = Harness::with_store(Config::default(), 2, shared.host());
    let (alice, bob) = (ConnId(1), ConnId(2));

    a.join(alice, JoinRequest::new(BOARD, "alice", "Alice"))
        .unwrap();
    for i in 0..3 {
        a.mutate(
            alice,
            &format!("a{i}"),
            vec![upsert("p", &format!("a{i}"), "1")],
        )
        .unwrap();
    }
    let mut acked: BTreeMap<u64, (&str, String)> = BTreeMap::new();
    for (seq, batch) in acks(&mut a, alice) {
        assert!(acked.insert(seq, ("a", batch)).is_none());
    }
    assert_eq!(acked.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);

    // Host B loads the board: it acquires a newer epoch and sees A's log.
    b.join(bob, JoinRequest::new(BOARD, "bob", "Bob")).unwrap();
    assert!(a.store.epoch(BOARD) < b.store.epoch(BOARD));
    assert_eq!(b.engine.session(BOARD).map(|s| s.sequence), Some(3));

    // A keeps taking batches; the store refuses every write as fenced.
    for i in 3..6 {
        // A's engine may refuse the batch itself once its session ended.
        let _ = a.mutate(
            alice,
            &format!("a{i}"),
            vec![upsert("p", &format!("a{i}"), "2")],
        );
        b.mutate(
            bob,
            &format!("b{i}"),
            vec![upsert("p", &format!("b{i}"), "3")],
        )
        .unwrap();
        a.advance(Duration::from_secs(40));
        b.advance(Duration::from_secs(40));
    }
    a.advance(Duration::from_secs(20 * 60));

    assert!(a.store.fenced() > 0, "the store fenced host A off");
    assert!(
        a.store
            .refusals
            .iter()
            .all(|e| matches!(e, StoreError::Fenced { .. })),
        "A's writes were refused only for its stale epoch: {:?}",
        a.store.refusals
    );
    assert!(
        acks(&mut a, alice).is_empty(),
        "A acknowledged after B took over"
    );
    for (seq, batch) in acks(&mut b, bob) {
        assert!(
            acked.insert(seq, ("b", batch)).is_none(),
            "sequence {seq} acknowledged by both hosts"
        );
    }
    assert_eq!(
        acked.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6],
        "B's acks continue A's"
    );
    // Every acknowledged batch is in the store, at its sequence, and the
    // log holds nothing A sent after the takeover.
    shared.with(|model| {
        let stored = model.board(&BoardId::from(BOARD)).expect("stored");
        assert_eq!(stored.log_end(), 6);
        for (seq, (_, batch)) in &acked {
            let event = &stored.events[(*seq - 1) as usize];
            assert_eq!(&event.batch.to_string(), batch, "sequence {seq}");
        }
        assert!(stored
            .events
            .iter()
            .all(|e| !["a3", "a4", "a5"].contains(&e.batch.to_string().as_str())));
    });
}

/// Issue-level acceptance: host B takes a board over while host A serves
/// it. A's next write is fenced: A stops acknowledging at once, closes
/// every connection of the board with the reconnect reason (`moved`),
/// reports the end once and releases the board; its clients reconnect to
/// B, re-send the unacknowledged batch with the same id, and it lands
/// exactly once, however often it is re-sent.
#[test]
fn the_fenced_host_closes_with_moved_and_resent_batches_land_once_on_the_new_owner() {
    use huddle_core::{CloseReason, SessionEnd, Signal};

    let shared = SharedStore::default();
    let mut a = Harness::with_store(Config::default(), 1, shared.host());
    let mut b = Harness::with_store(Config::default(), 2, shared.host());
    let (alice, carol, bob) = (ConnId(1), ConnId(2), ConnId(3));

    a.join(alice, JoinRequest::new(BOARD, "alice", "Alice"))
        .unwrap();
    a.join(carol, JoinRequest::new(BOARD, "carol", "Carol"))
        .unwrap();
    a.mutate(alice, "alice-1", vec![upsert("p", "e1", "1")])
        .unwrap();
    assert_eq!(acks(&mut a, alice), vec![(1, "alice-1".to_owned())]);
    a.take(carol);

    // B takes the board over (a newer epoch) and sees A's log.
    b.join(bob, JoinRequest::new(BOARD, "bob", "Bob")).unwrap();
    assert_eq!(b.engine.session(BOARD).map(|s| s.sequence), Some(1));

    // A's next append is fenced by the store.
    a.mutate(alice, "alice-2", vec![upsert("p", "e2", "2")])
        .unwrap();
    assert!(a.store.fenced() > 0, "the store fenced host A off");
    assert!(
        a.engine.session(BOARD).is_none(),
        "A's session ended at once"
    );
    let moved = Notice::SessionClosed {
        board: BOARD.into(),
        reason: CloseReason::Moved,
    };
    for conn in [alice, carol] {
        let notices = a.take(conn);
        assert!(
            !notices
                .iter()
                .any(|n| matches!(n, Notice::Ack { .. } | Notice::Events(_))),
            "nothing acked or broadcast after the fence: {notices:?}"
        );
        assert_eq!(notices.last(), Some(&moved), "{conn:?} told to reconnect");
    }
    let ends: Vec<_> = a
        .events
        .iter()
        .filter(|e| matches!(e, Signal::SessionEnded { .. }))
        .collect();
    assert_eq!(
        ends,
        vec![&Signal::SessionEnded {
            board: BOARD.into(),
            reason: SessionEnd::Fenced
        }],
        "the host learns it from one event"
    );
    a.advance(Duration::from_secs(60));
    assert_eq!(a.released, vec![BoardId::from(BOARD)], "released once");
    assert!(
        a.held.is_empty() && acks(&mut a, alice).is_empty(),
        "no retry"
    );

    // Alice reconnects, lands on B and re-sends her unacknowledged batch
    // with the same id, twice (a retry whose ack was lost).
    let alice_b = ConnId(11);
    b.join(
        alice_b,
        JoinRequest::new(BOARD, "alice", "Alice").last_sequence(1),
    )
    .unwrap();
    b.mutate(alice_b, "alice-2", vec![upsert("p", "e2", "2")])
        .unwrap();
    let _ = b.mutate(alice_b, "alice-2", vec![upsert("p", "e2", "2")]);
    assert_eq!(
        acks(&mut b, alice_b),
        vec![(2, "alice-2".to_owned()), (2, "alice-2".to_owned())],
        "applied once, the re-send acked with the same sequence"
    );
    shared.with(|model| {
        let stored = model.board(&BoardId::from(BOARD)).expect("stored");
        assert_eq!(stored.log_end(), 2);
        let batches: Vec<String> = stored.events.iter().map(|e| e.batch.to_string()).collect();
        assert_eq!(batches, ["alice-1", "alice-2"], "each batch exactly once");
    });
}
