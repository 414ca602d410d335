//! Per-board byte budgets (issue 17): the board's size, the payload bytes
//! pending a flush, the history kept for delta sync and the size of a
//! snapshot; each filled to its edge, one byte over refused with its typed
//! error and nothing changed; the byte counts of `stats()` and
//! `session().bytes` exact through upserts, overwrites, deletes, flushes
//! and archive; and everything of an archived board gone.

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;
use proptest::prelude::*;

const BOARD: &str = "b";
const ALICE: ConnId = ConnId(1);
const BOB: ConnId = ConnId(2);
const SEC: Duration = Duration::from_secs(1);

fn up(element: &str, bytes: usize) -> Mutation {
    Mutation::Upsert {
        page: "p".into(),
        element: element.into(),
        data: Payload::from(vec![b'x'; bytes]),
    }
}

fn limits(f: impl FnOnce(&mut Limits)) -> Config {
    let mut config = Config::default();
    f(&mut config.limits);
    config
}

/// Alice (and bob) joined to `BOARD`, in `mode`.
fn joined(config: Config, mode: StoreMode) -> Harness {
    let mut h = Harness::new(config);
    h.mode = mode;
    for (conn, user) in [(ALICE, "alice"), (BOB, "bob")] {
        h.join(conn, JoinRequest::new(BOARD, user, user)).unwrap();
        h.complete_all();
    }
    h.inbox.clear();
    h.broadcasts.clear();
    h
}

fn bytes(h: &Harness) -> BoardBytes {
    h.engine.session(BOARD).expect("session").bytes
}

/// What a refused batch must leave alone.
fn snapshot_of(h: &Harness) -> (u64, BoardBytes, Stats, usize) {
    let s = h.engine.session(BOARD).expect("session");
    (s.sequence, s.bytes, h.engine.stats(), h.held.len())
}

/// Applies a batch that must be refused: returns the error after checking
/// that nothing changed and nothing was emitted.
fn refused(h: &mut Harness, batch: &str, mutations: Vec<Mutation>) -> MutateError {
    let before = snapshot_of(h);
    let transcript = h.transcript.len();
    let e = h.mutate(ALICE, batch, mutations).unwrap_err();
    assert_eq!(snapshot_of(h), before, "{e}: something changed");
    assert_eq!(h.transcript.len(), transcript, "{e}: an output was emitted");
    e
}

#[test]
fn the_board_cap_is_filled_to_its_edge_and_one_byte_over_is_refused() {
    for durability in [Durability::AckOnStore, Durability::AckOnApply] {
        let mut config = limits(|l| l.max_board_bytes = 100);
        config.durability = durability;
        let mut h = joined(config, StoreMode::Immediate);
        h.mutate(ALICE, "a", vec![up("e1", 60), up("e2", 40)])
            .unwrap();
        assert_eq!(bytes(&h).elements, 100, "{durability:?}");

        let e = refused(&mut h, "over", vec![up("e3", 1)]);
        assert_eq!(
            e,
            MutateError::BoardTooLarge {
                bytes: 100,
                reserved: 0,
                growth: 1,
                max: 100
            }
        );
        assert_eq!(e.code(), ErrorCode::BoardTooLarge);
        assert_eq!(e.code().as_str(), "BOARD_TOO_LARGE");
        assert!(!e.code().is_retryable());

        // A write that does not grow the board passes at the cap; one that
        // grows an element by a byte does not; deletes always pass.
        h.mutate(
            ALICE,
            "same",
            vec![up("e1", 60), up("e2", 10), up("e2", 40)],
        )
        .unwrap();
        let e = refused(&mut h, "grow", vec![up("e1", 61)]);
        assert_eq!(e.code(), ErrorCode::BoardTooLarge);
        h.mutate(ALICE, "del", vec![delete("p", "e2")]).unwrap();
        assert_eq!(bytes(&h).elements, 60);
        h.mutate(ALICE, "room", vec![up("e3", 40)]).unwrap();
        assert_eq!(bytes(&h).elements, 100);
        assert_eq!(h.engine.stats().payload_bytes_held, 100);
    }
}

#[test]
fn batches_not_yet_stored_count_against_the_board_cap() {
    let mut h = joined(limits(|l| l.max_board_bytes = 100), StoreMode::Hold);
    h.mutate(ALICE, "a", vec![up("e1", 60)]).unwrap();
    // Not stored yet: the board is empty, the batch's 60 are reserved.
    assert_eq!((bytes(&h).elements, bytes(&h).reserved), (0, 60));
    // Another 40 (an overwrite of e1, but e1 is not there yet: counted
    // whole) reaches the edge; one byte more does not fit.
    h.mutate(ALICE, "b", vec![up("e1", 40)]).unwrap();
    assert_eq!(bytes(&h).reserved, 100);
    let e = refused(&mut h, "c", vec![up("e2", 1)]);
    assert_eq!(
        e,
        MutateError::BoardTooLarge {
            bytes: 0,
            reserved: 100,
            growth: 1,
            max: 100
        }
    );
    h.complete_all();
    // Committed: the board holds the last write of e1, nothing reserved.
    assert_eq!((bytes(&h).elements, bytes(&h).reserved), (40, 0));
    h.mutate(ALICE, "d", vec![up("e2", 60)]).unwrap();
    h.complete_all();
    assert_eq!(bytes(&h).elements, 100);
}

#[test]
fn a_board_loaded_over_the_cap_can_shrink_but_not_grow() {
    let mut h = joined(Config::default(), StoreMode::Immediate);
    h.mutate(ALICE, "a", vec![up("e1", 80), up("e2", 80)])
        .unwrap();
    h.engine.flush_pending(h.now, BOARD).unwrap();
    h.drain();
    // The host restarts with a smaller cap.
    let store = std::mem::take(&mut h.store);
    let mut h = Harness::with_store(limits(|l| l.max_board_bytes = 100), 7, store);
    h.join(ALICE, JoinRequest::new(BOARD, "alice", "alice"))
        .unwrap();
    assert_eq!(bytes(&h).elements, 160);
    assert_eq!(
        refused(&mut h, "grow", vec![up("e3", 1)]).code(),
        ErrorCode::BoardTooLarge
    );
    h.mutate(ALICE, "shrink", vec![up("e1", 10), delete("p", "e2")])
        .unwrap();
    assert_eq!(bytes(&h).elements, 10);
}

#[test]
fn pending_bytes_are_bounded_until_a_flush_is_confirmed() {
    let config = limits(|l| l.max_pending_bytes = 100).flush_threshold_bytes(usize::MAX);
    let mut h = joined(config, StoreMode::Hold);
    h.mutate(ALICE, "a", vec![up("e1", 50)]).unwrap();
    h.mutate(ALICE, "b", vec![up("e1", 50)]).unwrap();
    h.complete_all();
    assert_eq!(bytes(&h).pending, 100);
    assert_eq!(h.engine.stats().pending_bytes, 100);
    let e = refused(&mut h, "c", vec![up("e2", 1)]);
    assert_eq!(
        e,
        MutateError::PendingBytes {
            pending: 100,
            len: 1,
            max: 100
        }
    );
    assert_eq!(e.code(), ErrorCode::RateLimited);
    assert!(e.code().is_retryable());
    // Deletes carry no payload: they still pass.
    h.mutate(ALICE, "d", vec![delete("p", "e1")]).unwrap();
    h.complete_all();
    // A confirmed flush frees the budget.
    h.engine.flush_pending(h.now, BOARD).unwrap();
    h.drain();
    assert_eq!(bytes(&h).pending, 100, "not before it is confirmed");
    h.complete_all();
    assert_eq!(bytes(&h).pending, 0);
    // A batch larger than the whole budget goes when nothing is pending,
    // and nothing goes after it until it is flushed.
    h.mutate(ALICE, "big", vec![up("e1", 150)]).unwrap();
    assert_eq!(bytes(&h).pending, 150);
    assert_eq!(
        refused(&mut h, "after", vec![up("e2", 1)]).code(),
        ErrorCode::RateLimited
    );
}

#[test]
fn pending_bytes_past_their_threshold_start_a_flush() {
    let config = Config::new().flush_threshold_bytes(100);
    let mut h = joined(config, StoreMode::Hold);
    let flushes = |h: &Harness| {
        h.held
            .iter()
            .filter(|e| matches!(e, Effect::Flush { .. }))
            .count()
    };
    h.mutate(ALICE, "a", vec![up("e1", 99)]).unwrap();
    h.complete_all();
    assert_eq!(flushes(&h), 0);
    h.mutate(ALICE, "b", vec![up("e2", 1)]).unwrap();
    h.complete_next(); // the append
    assert_eq!(flushes(&h), 1, "{:?}", h.held);
    h.complete_all();
    assert_eq!(bytes(&h).pending, 0);
}

#[test]
fn the_history_byte_budget_evicts_the_oldest_and_a_joiner_gets_a_full_sync() {
    let mut config = limits(|l| l.max_history_bytes = 30);
    config.history_len = 1000;
    let mut h = joined(config, StoreMode::Immediate);
    for i in 1..=5 {
        h.mutate(ALICE, &format!("b{i}"), vec![up(&format!("e{i}"), 10)])
            .unwrap();
    }
    // Events 3..=5 fit in 30 bytes; 1 and 2 left the history.
    let s = h.engine.session(BOARD).unwrap();
    assert_eq!((s.sequence, s.history_from, s.bytes.history), (5, 2, 30));
    assert_eq!(h.engine.stats().events_held, 3);
    assert_eq!(h.engine.stats().history_bytes_held, 30);

    let sync = |h: &mut Harness, conn: ConnId, last: u64| {
        h.join(
            conn,
            JoinRequest::new(BOARD, "reader", "r").last_sequence(last),
        )
        .unwrap();
        h.take(conn)
            .into_iter()
            .find_map(|n| match n {
                Notice::Joined(j) => Some(j.sync),
                _ => None,
            })
            .unwrap()
    };
    match sync(&mut h, ConnId(10), 2) {
        JoinSync::Delta { events } => assert_eq!(events.len(), 3),
        other => panic!("expected a delta of 3, got {other:?}"),
    }
    match sync(&mut h, ConnId(11), 1) {
        JoinSync::Full { reason, pages } => {
            assert_eq!(reason, FullSyncReason::NoHistory);
            assert_eq!(pages.element_count(), 5);
        }
        other => panic!("expected a full sync, got {other:?}"),
    }
}

fn skipped(h: &Harness) -> Vec<SnapshotCause> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::SnapshotSkipped {
                cause, bytes, max, ..
            } => {
                assert!(bytes > max);
                Some(*cause)
            }
            _ => None,
        })
        .collect()
}

fn snapshots_held(h: &Harness) -> usize {
    h.held
        .iter()
        .filter(|e| matches!(e, Effect::StoreSnapshot { .. }))
        .count()
}

#[test]
fn a_board_over_the_snapshot_cap_gets_no_snapshot() {
    let config = limits(|l| l.max_snapshot_bytes = 10);
    let mut h = joined(config, StoreMode::Hold);
    h.mutate(ALICE, "a", vec![up("e1", 10)]).unwrap();
    h.complete_all();
    // At the cap: taken.
    h.snapshot(ALICE).unwrap();
    assert_eq!(snapshots_held(&h), 1);
    h.complete_all();

    h.mutate(ALICE, "b", vec![up("e1", 11)]).unwrap();
    h.complete_all();
    h.advance(10 * SEC);
    let before = (h.held.len(), h.transcript.len());
    let e = h.snapshot(ALICE).unwrap_err();
    assert_eq!(e, SnapshotError::TooLarge { bytes: 11, max: 10 });
    assert_eq!(e.code(), ErrorCode::SnapshotTooLarge);
    assert_eq!(e.code().as_str(), "SNAPSHOT_TOO_LARGE");
    assert_eq!(
        (h.held.len(), h.transcript.len()),
        before,
        "nothing emitted"
    );

    // The auto-save flushes but takes no snapshot: counted and signalled.
    h.advance(30 * SEC);
    assert_eq!(snapshots_held(&h), 0);
    assert_eq!(skipped(&h), vec![SnapshotCause::AutoSave]);
    assert_eq!(h.engine.stats().snapshots_skipped, 1);
    // Bob leaving: no on-disconnect snapshot either.
    h.leave(BOB).unwrap();
    assert_eq!(snapshots_held(&h), 0);
    assert_eq!(
        skipped(&h),
        vec![SnapshotCause::AutoSave, SnapshotCause::OnDisconnect]
    );
}

#[test]
fn a_persistent_board_over_the_snapshot_cap_is_archived_without_one() {
    let config = limits(|l| l.max_snapshot_bytes = 10);
    let mut h = Harness::new(config);
    h.join(
        ALICE,
        JoinRequest::new(BOARD, "alice", "alice").session_type(SessionType::Persistent),
    )
    .unwrap();
    h.mutate(ALICE, "a", vec![up("e1", 11)]).unwrap();
    h.engine.archive_session(h.now, BOARD).unwrap();
    h.drain();
    assert!(h.engine.session(BOARD).is_none());
    assert_eq!(h.released, vec![BoardId::from(BOARD)]);
    assert!(skipped(&h).contains(&SnapshotCause::Archive));
    // Everything else was stored: the flushed state holds the write.
    assert_eq!(h.store.boards()[BOARD].pages_sequence, 1);
    assert!(h.store.boards()[BOARD].snapshots.is_empty());
}

/// A model of one board's bytes: element sizes, and the payload bytes of
/// the mutations since the last confirmed flush.
#[derive(Default)]
struct Model {
    elements: std::collections::HashMap<String, usize>,
    pending: usize,
}

impl Model {
    fn apply(&mut self, m: &Mutation) {
        match m.data() {
            Some(d) => {
                self.elements.insert(m.element().to_string(), d.len());
                self.pending += d.len();
            }
            None => {
                self.elements.remove(m.element().as_str());
            }
        }
    }

    fn elements(&self) -> usize {
        self.elements.values().sum()
    }
}

#[test]
fn byte_counts_are_exact_through_upserts_overwrites_deletes_flushes_and_archive() {
    let mut h = joined(Config::default(), StoreMode::Hold);
    let mut model = Model::default();
    let steps: Vec<Vec<Mutation>> = vec![
        vec![up("a", 100), up("b", 7)],
        vec![up("a", 30)],
        vec![delete("p", "b"), up("c", 1000)],
        vec![up("c", 1), up("c", 5)],
        vec![delete("p", "a"), delete("p", "zz")],
    ];
    for (i, batch) in steps.into_iter().enumerate() {
        let sent: u64 = batch
            .iter()
            .filter_map(|m| m.data())
            .map(|d| d.len() as u64)
            .sum();
        h.mutate(ALICE, &format!("s{i}"), batch.clone()).unwrap();
        let b = bytes(&h);
        assert_eq!(b.reserved as u64, sent, "step {i}: reserved until stored");
        assert_eq!(b.pending, model.pending + sent as usize, "step {i}");
        h.complete_all();
        batch.iter().for_each(|m| model.apply(m));
        let (b, s) = (bytes(&h), h.engine.stats());
        assert_eq!((b.elements, b.reserved), (model.elements(), 0), "step {i}");
        assert_eq!(b.pending, model.pending, "step {i}");
        assert_eq!(s.payload_bytes_held, model.elements());
        assert_eq!(s.pending_bytes, model.pending);
        assert_eq!(s.history_bytes_held, b.history);
        if i == 2 {
            h.engine.flush_pending(h.now, BOARD).unwrap();
            h.drain();
            h.complete_all();
            model.pending = 0;
            assert_eq!(bytes(&h).pending, 0);
        }
    }
    // Every event is held: the history's bytes are everything sent.
    assert_eq!(bytes(&h).history, 100 + 7 + 30 + 1000 + 1 + 5);
    assert_eq!(bytes(&h).elements, 5);

    h.engine.archive_session(h.now, BOARD).unwrap();
    h.drain();
    h.complete_all();
    assert!(h.engine.session(BOARD).is_none());
    let s = h.engine.stats();
    assert_eq!(
        (
            s.payload_bytes_held,
            s.pending_bytes,
            s.history_bytes_held,
            s.encoded_bytes_held,
            s.reserved_bytes,
            s.events_held,
            s.elements_held
        ),
        (0, 0, 0, 0, 0, 0, 0)
    );
}

#[test]
fn archived_boards_give_their_table_room_back() {
    let mut h = Harness::new(Config::default());
    for i in 0..1000u64 {
        let board = format!("b{i}");
        h.join(ConnId(i + 1), JoinRequest::new(board.as_str(), "u", "u"))
            .unwrap();
    }
    let full = h.engine.stats().board_slots;
    assert!(full >= 1000);
    for i in 0..1000u64 {
        h.engine.archive_session(h.now, &format!("b{i}")).unwrap();
        h.drain();
    }
    let s = h.engine.stats();
    assert_eq!(s.idle_sessions + s.active_sessions + s.created_sessions, 0);
    assert!(
        s.board_slots <= 64,
        "{} slots kept of {full}",
        s.board_slots
    );
}

proptest! {
    /// Random batches against a small cap, stored at random moments: the
    /// board never holds more than the cap, every refusal is the cap's, and
    /// the board's bytes always equal the model's.
    #[test]
    fn the_board_never_passes_its_cap(
        ops in prop::collection::vec(
            (prop::collection::vec((0u8..6, 0usize..40, any::<bool>()), 1..4), any::<bool>()),
            1..40,
        ),
    ) {
        let mut h = joined(limits(|l| l.max_board_bytes = 100), StoreMode::Hold);
        let mut model = Model::default();
        let mut accepted: Vec<Vec<Mutation>> = Vec::new();
        for (i, (batch, store)) in ops.into_iter().enumerate() {
            let mutations: Vec<Mutation> = batch
                .iter()
                .map(|&(e, n, del)| {
                    let id = format!("e{e}");
                    if del { delete("p", &id) } else { up(&id, n) }
                })
                .collect();
            match h.mutate(ALICE, &format!("m{i}"), mutations.clone()) {
                Ok(_) => accepted.push(mutations),
                Err(e) => prop_assert_eq!(e.code(), ErrorCode::BoardTooLarge),
            }
            if store {
                h.complete_all();
                for m in accepted.drain(..).flatten() {
                    model.apply(&m);
                }
            }
            let b = bytes(&h);
            // What is visible plus what is reserved never passes the cap.
            prop_assert!(b.elements + b.reserved <= 100, "{:?}", b);
            if accepted.is_empty() {
                prop_assert_eq!(b.elements, model.elements());
                prop_assert_eq!(b.reserved, 0);
            }
        }
        h.complete_all();
        for m in accepted.drain(..).flatten() {
            model.apply(&m);
        }
        prop_assert_eq!(bytes(&h).elements, model.elements());
        prop_assert!(model.elements() <= 100);
    }
}

#[test]
fn a_reloaded_board_counts_its_unflushed_events_as_pending() {
    let config = limits(|l| l.max_pending_bytes = 100).flush_threshold_bytes(usize::MAX);
    let mut h = joined(config, StoreMode::Immediate);
    h.mutate(ALICE, "a", vec![up("e1", 30)]).unwrap();
    h.engine.flush_pending(h.now, BOARD).unwrap();
    h.drain();
    h.mutate(ALICE, "b", vec![up("e1", 20), up("e2", 50)])
        .unwrap();
    assert_eq!((bytes(&h).pending, bytes(&h).elements), (70, 70));
    // The host restarts: the events after the flushed state are replayed
    // and pending again, with their bytes; the history holds all three.
    h.crash();
    h.join(ALICE, JoinRequest::new(BOARD, "alice", "alice"))
        .unwrap();
    let b = bytes(&h);
    assert_eq!((b.pending, b.elements, b.history), (70, 70, 100));
    assert_eq!(
        refused(&mut h, "c", vec![up("e3", 31)]).code(),
        ErrorCode::RateLimited
    );
    h.mutate(ALICE, "d", vec![up("e3", 30)]).unwrap();
    h.engine.flush_pending(h.now, BOARD).unwrap();
    h.drain();
    assert_eq!(bytes(&h).pending, 0);
}
