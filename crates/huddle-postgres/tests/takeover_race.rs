//! A takeover racing an owner's pipelined appends. Appends hold the
//! board's row `FOR KEY SHARE` and the log end is derived from the events,
//! so the fence rests on the acquire's `FOR UPDATE` waiting for every
//! append in flight: this test has one store append continuously, several
//! group commits in flight at once, while another store takes the board
//! over as soon as the first one's lease has run out, and checks that
//!
//! - the new owner's load sees every append the old owner was acked,
//! - no append of the old owner is stored past the log end the new owner
//!   loaded (it is acked by no one after the takeover's epoch),
//! - the log is gapless and each sequence is stored once, with the
//!   content of the writer that was acked for it.

use std::sync::Arc;
use std::time::Duration;

use huddle_core::{BoardId, Event, Mutation, Payload, Timestamp};
use huddle_postgres::testing;
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::{AppendBatch, Epoch, Node, Store, StoreError};

/// Appends in flight at once (each its own call, so its own group).
const IN_FLIGHT: u64 = 8;
/// Events per batch.
const BATCH: u64 = 5;
/// The old owner's lease: short, so the takeover comes mid-stream.
const TTL: Duration = Duration::from_millis(1000);
/// Boards raced one after another.
const BOARDS: usize = 3;

fn event(seq: u64, author: &str) -> Event {
    Event {
        seq,
        author: author.into(),
        batch: format!("{author}-{seq}").into(),
        at: Timestamp::from_millis(seq),
        mutation: Mutation::Upsert {
            page: "p".into(),
            element: format!("e{}", seq % 11).into(),
            data: Payload::from(format!("{author}:{seq}").into_bytes()),
        },
    }
}

fn batch(board: &BoardId, epoch: Epoch, first: u64, author: &str) -> AppendBatch {
    AppendBatch {
        board: board.clone(),
        epoch,
        events: (first..first + BATCH)
            .map(|s| event(s, author))
            .collect::<Vec<_>>()
            .into(),
    }
}

/// Appends from seq 1 on, `IN_FLIGHT` calls at a time, until every call of
/// a round is refused; returns the first sequences of the acked batches.
async fn append_until_fenced(store: Arc<PostgresStore>, board: BoardId, epoch: Epoch) -> Vec<u64> {
    let mut acked = Vec::new();
    let mut next = 1;
    loop {
        let firsts: Vec<u64> = (0..IN_FLIGHT).map(|i| next + i * BATCH).collect();
        let calls = firsts
            .iter()
            .map(|&first| store.append_events(vec![batch(&board, epoch, first, "old")]));
        let answers = futures_join(calls.collect()).await;
        let mut refused = 0;
        for (first, answer) in firsts.iter().zip(answers) {
            match answer.as_slice() {
                [Ok(())] => acked.push(*first),
                [Err(StoreError::Fenced { .. } | StoreError::LeaseExpired { .. })] => refused += 1,
                // A batch after a refused one finds a gap, or fails with
                // the transaction it continued: it is not acked either.
                [Err(StoreError::Gap { .. } | StoreError::Unavailable(_))] => refused += 1,
                other => panic!("batch at {first}: {other:?}"),
            }
        }
        if refused == firsts.len() {
            return acked;
        }
        // Continue after the last batch acked: refused ones are sent again.
        next = acked.last().map_or(1, |last| last + BATCH);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_during_pipelined_appends_keeps_the_log_whole() {
    let Some(db) = testing::database().await else {
        return;
    };
    let old_store = Arc::new(
        PostgresStore::connect(&db.url, PostgresOptions::default())
            .await
            .unwrap(),
    );
    let new_store = PostgresStore::connect(&db.url, PostgresOptions::default())
        .await
        .unwrap();
    let old_node = Node::new("old", "ws://old.invalid/ws").with_lease_ttl(TTL);
    let new_node = Node::new("new", "ws://new.invalid/ws");
    for i in 0..BOARDS {
        let board = BoardId::from(format!("raced-{i}"));
        let old_epoch = old_store
            .acquire_board(&board, &old_node)
            .await
            .unwrap()
            .epoch;
        let writer = tokio::spawn(append_until_fenced(
            old_store.clone(),
            board.clone(),
            old_epoch,
        ));
        // Take the board the moment the lease lets it go.
        let acquired = loop {
            match new_store.acquire_board(&board, &new_node).await {
                Ok(acquired) => break acquired,
                Err(StoreError::OwnedElsewhere { .. }) => {
                    tokio::time::sleep(Duration::from_millis(2)).await
                }
                Err(e) => panic!("acquire: {e:?}"),
            }
        };
        assert!(acquired.took_over);
        assert!(acquired.epoch > old_epoch);
        let loaded = new_store.load_board(&board).await.unwrap().unwrap();
        let taken_at = loaded.events.last().map_or(0, |e| e.seq);
        let acked = writer.await.unwrap();
        assert!(
            !acked.is_empty(),
            "the old owner was acked before the takeover"
        );
        assert!(
            acked.len() as u64 > IN_FLIGHT,
            "the race ran over several rounds ({} acked)",
            acked.len()
        );
        // Every acked batch is in what the new owner loaded.
        for first in &acked {
            assert!(
                first + BATCH - 1 <= taken_at,
                "{board}: batch at {first} acked but not loaded (log end {taken_at})"
            );
        }
        // The new owner continues the log; the old one is refused.
        let answers = new_store
            .append_events(vec![batch(&board, acquired.epoch, taken_at + 1, "new")])
            .await;
        assert!(matches!(answers[..], [Ok(())]), "{answers:?}");
        let late = old_store
            .append_events(vec![batch(&board, old_epoch, taken_at + BATCH + 1, "old")])
            .await;
        assert!(
            matches!(late[..], [Err(StoreError::Fenced { .. })]),
            "{late:?}"
        );

        let stored = new_store.read_events(&board, 0, usize::MAX).await.unwrap();
        let end = taken_at + BATCH;
        assert_eq!(stored.len() as u64, end, "{board}: one event per sequence");
        for (i, e) in stored.iter().enumerate() {
            let seq = i as u64 + 1;
            assert_eq!(e.seq, seq, "{board}: gapless");
            let writer = if seq <= taken_at { "old" } else { "new" };
            assert_eq!(*e, event(seq, writer), "{board}: sequence {seq}");
        }
        // The old owner's acks are exactly the batches it stored.
        let old_batches = taken_at / BATCH;
        assert_eq!(taken_at % BATCH, 0);
        assert_eq!(
            acked,
            (0..old_batches).map(|b| b * BATCH + 1).collect::<Vec<_>>(),
            "{board}: every stored batch of the old owner was acked once, in order"
        );
    }
}

/// Awaits the calls together, answering in order.
async fn futures_join<F: std::future::Future>(calls: Vec<F>) -> Vec<F::Output> {
    let mut calls: Vec<_> = calls.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = calls.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (call, slot) in calls.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                if let std::task::Poll::Ready(out) = call.as_mut().poll(cx) {
                    *slot = Some(out);
                }
            }
        }
        if done.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().map(Option::unwrap).collect()
}
