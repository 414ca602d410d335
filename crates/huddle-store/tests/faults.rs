//! The fault-injecting wrapper: each fault does what it says, and the
//! engine survives each of them without losing or duplicating an event.

use std::sync::Arc;
use std::time::Duration;

use huddle_core::{BoardId, Config, ConnId, Effect, JoinRequest, StorageOutcome};
use huddle_store::conformance::events;
use huddle_store::{
    AppendBatch, Epoch, Faulty, InMemoryStore, Op, Store, StoreError, Target, UnknownBoard,
};
use huddle_testkit::BlockingEffectStore;
use huddle_testkit::{upsert, Harness};

fn batch(board: &BoardId, epoch: Epoch, first: u64, last: u64) -> Vec<AppendBatch> {
    vec![AppendBatch {
        board: board.clone(),
        epoch,
        events: events(first, last).into(),
    }]
}

async fn log_len<S: Store>(store: &S, board: &BoardId) -> usize {
    store.read_events(board, 0, 10_000).await.unwrap().len()
}

#[tokio::test]
async fn fail_nth_fails_exactly_that_call_and_writes_nothing() {
    let store = Faulty::new(InMemoryStore::new());
    let b = BoardId::from("b");
    let e = store
        .acquire_board(&b, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    store
        .faults()
        .target(Target::Only(Op::AppendEvents))
        .fail_nth(2);
    assert_eq!(store.append_events(batch(&b, e, 1, 1)).await, vec![Ok(())]);
    assert_eq!(
        store.append_events(batch(&b, e, 2, 2)).await,
        vec![Err(StoreError::Injected("the call failed"))]
    );
    assert_eq!(log_len(store.inner(), &b).await, 1, "nothing written");
    // Reads are not counted by this target.
    assert_eq!(log_len(&store, &b).await, 1);
    assert_eq!(store.append_events(batch(&b, e, 2, 2)).await, vec![Ok(())]);
    assert_eq!(store.faults().injected(), 1);
    assert_eq!(store.faults().calls(), 5);
}

#[tokio::test]
async fn fail_from_fails_every_later_call_until_cleared() {
    let store = Faulty::new(InMemoryStore::new());
    let b = BoardId::from("b");
    store.faults().fail_from(2);
    let e = store
        .acquire_board(&b, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    for _ in 0..5 {
        assert!(store.load_board(&b).await.is_err());
        assert!(store.append_events(batch(&b, e, 1, 1)).await[0].is_err());
    }
    assert_eq!(store.faults().injected(), 10);
    store.faults().clear();
    assert_eq!(store.append_events(batch(&b, e, 1, 1)).await, vec![Ok(())]);
}

#[tokio::test]
async fn a_lost_confirmation_has_written() {
    let store = Faulty::new(InMemoryStore::new());
    let b = BoardId::from("b");
    let e = store
        .acquire_board(&b, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    store
        .faults()
        .target(Target::Writes)
        .lose_confirmation_nth(1);
    assert_eq!(
        store.append_events(batch(&b, e, 1, 3)).await,
        vec![Err(StoreError::Injected("the confirmation was lost"))]
    );
    assert_eq!(log_len(store.inner(), &b).await, 3, "written all the same");
    // The caller's retry is idempotent.
    assert_eq!(store.append_events(batch(&b, e, 1, 3)).await, vec![Ok(())]);
    assert_eq!(log_len(store.inner(), &b).await, 3);
}

#[tokio::test]
async fn a_duplicated_call_reaches_the_store_twice() {
    let store = Faulty::new(InMemoryStore::new());
    let b = BoardId::from("b");
    let e = store
        .acquire_board(&b, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    store.faults().duplicate_nth(1);
    // An acquire delivered twice raises the epoch twice: the caller holds
    // the second, so the first is already fenced.
    let e2 = store
        .acquire_board(&b, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    assert_eq!(e2, Epoch::new(e.get() + 2));
    store.faults().duplicate_nth(1);
    assert_eq!(store.append_events(batch(&b, e2, 1, 2)).await, vec![Ok(())]);
    assert_eq!(log_len(&store, &b).await, 2, "appended once");
    assert_eq!(store.faults().injected(), 2);
}

#[tokio::test(start_paused = true)]
async fn delay_holds_every_selected_call() {
    let store = Faulty::new(InMemoryStore::new());
    let b = BoardId::from("b");
    store
        .faults()
        .target(Target::Writes)
        .set_delay(Some(Duration::from_millis(250)));
    let start = tokio::time::Instant::now();
    let e = store
        .acquire_board(&b, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    store.load_board(&b).await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(250),
        "reads not delayed"
    );
    let pending = store.append_events(batch(&b, e, 1, 1));
    tokio::pin!(pending);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut pending)
            .await
            .is_err(),
        "not done before the delay"
    );
    assert_eq!(pending.await, vec![Ok(())]);
    assert_eq!(start.elapsed(), Duration::from_millis(500));
}

/// The engine on the harness, over a faulty store: lost confirmations and
/// failures are retried; the log ends exactly once per event.
#[test]
fn engine_survives_lost_and_failed_appends() {
    let faulty = Arc::new(Faulty::new(InMemoryStore::new()));
    let faults = faulty.faults().clone();
    let store = BlockingEffectStore::new(faulty.clone(), UnknownBoard::CreateEmpty).unwrap();
    let mut h = Harness::with_store(Config::default(), 1, store);
    h.join(ConnId(1), JoinRequest::new("b", "alice", "Alice"))
        .unwrap();
    faults
        .target(Target::Only(Op::AppendEvents))
        .lose_confirmation_nth(1)
        .fail_nth(2);
    h.mutate(ConnId(1), "m1", vec![upsert("p", "a", "1")])
        .unwrap();
    h.mutate(ConnId(1), "m2", vec![upsert("p", "b", "2")])
        .unwrap();
    // Retries with backoff: 500 ms, then 1 s.
    h.advance(Duration::from_secs(5));
    let store = h.store.store().clone();
    let log = h
        .store
        .block_on(store.read_events(&"b".into(), 0, 100))
        .unwrap();
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2], "each event stored once");
    assert_eq!(faults.injected(), 2);
    assert_eq!(h.engine.session("b").unwrap().durable_sequence, 2);
}

/// A duplicated confirmation reported to the engine is refused and changes
/// nothing.
#[test]
fn engine_refuses_a_duplicated_confirmation() {
    let store = BlockingEffectStore::new(InMemoryStore::new(), UnknownBoard::CreateEmpty).unwrap();
    let mut h = Harness::with_store(Config::default(), 1, store);
    h.mode = huddle_testkit::StoreMode::Hold;
    h.join(ConnId(1), JoinRequest::new("b", "alice", "Alice"))
        .unwrap();
    h.complete_all();
    h.mutate(ConnId(1), "m1", vec![upsert("p", "a", "1")])
        .unwrap();
    let effect = h.held.front().cloned().unwrap();
    assert!(matches!(effect, Effect::AppendEvents { .. }));
    h.complete_next();
    let before = h.engine.session("b").unwrap();
    let again = h
        .engine
        .handle_storage(h.now, effect.id(), StorageOutcome::Stored);
    assert!(again.is_err(), "a second confirmation is refused");
    assert_eq!(h.engine.session("b").unwrap(), before);
    assert!(h.engine.poll_output().is_none());
}
