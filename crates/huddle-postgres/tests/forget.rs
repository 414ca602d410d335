//! The flushes forget the batch records past the window (older than
//! `BATCH_RECORD_MAX_AGE` before the newest and not among their author's
//! newest `BATCH_RECORDS_PER_USER`) at most once per 10 s of a board's
//! record time (`huddle_store::forget`); a load applies the window anyway,
//! so what a load returns does not depend on when the rows were deleted.

use std::sync::Arc;
use std::time::Duration;

use huddle_core::{BoardId, Event, Mutation, Timestamp};
use huddle_postgres::testing::{self, TestDatabase};
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::conformance::flush_batch;
use huddle_store::load::{BATCH_RECORDS_PER_USER, BATCH_RECORD_MAX_AGE};
use huddle_store::{AppendBatch, Epoch, FlushWrite, Store};

const T0: u64 = 1_767_225_600_000;

/// Alice's batch of one event `seq`, applied at `at`.
fn event(seq: u64, at: Timestamp) -> Event {
    Event {
        seq,
        author: "alice".into(),
        batch: format!("a-{seq}").into(),
        at,
        mutation: Mutation::Delete {
            page: "p".into(),
            element: format!("e{seq}").into(),
        },
    }
}

async fn append_and_flush(store: &PostgresStore, board: &BoardId, epoch: Epoch, new: Vec<Event>) {
    let (first, through) = (new[0].seq, new[new.len() - 1].seq);
    let appended = store
        .append_events(vec![AppendBatch {
            board: board.clone(),
            epoch,
            events: new.clone().into(),
        }])
        .await;
    assert_eq!(appended, vec![Ok(())]);
    store
        .flush(FlushWrite {
            board: board.clone(),
            epoch,
            batch: Arc::new(flush_batch(&new, first, through)),
        })
        .await
        .expect("flush");
}

async fn stored_records(db: &TestDatabase) -> i64 {
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .query_one("SELECT count(*) FROM batches", &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_records_are_forgotten_at_most_every_10_s_of_record_time() {
    assert_eq!(BATCH_RECORDS_PER_USER, 1024);
    let Some(db) = testing::database().await else {
        return;
    };
    let store = PostgresStore::connect(&db.url, PostgresOptions::default())
        .await
        .expect("connect");
    let board = BoardId::from("b");
    let epoch = store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .expect("acquire")
        .epoch;
    let t0 = Timestamp::from_millis(T0);
    let later = |s: u64| t0.saturating_add(BATCH_RECORD_MAX_AGE + Duration::from_secs(s));

    // 1030 batches at t0: none past the window yet.
    append_and_flush(
        &store,
        &board,
        epoch,
        (1..=1030).map(|s| event(s, t0)).collect(),
    )
    .await;
    assert_eq!(stored_records(&db).await, 1030);

    // One at t0 + 5 min 60 s: the 7 oldest are past it (older than 5 min
    // and not among alice's newest 1024), and forgotten.
    append_and_flush(&store, &board, epoch, vec![event(1031, later(60))]).await;
    assert_eq!(stored_records(&db).await, 1024);

    // Five more 5 s later: 5 more are past the window, but the board
    // forgot less than 10 s (of record time) ago: they stay in the table,
    // and a load leaves them out all the same.
    append_and_flush(
        &store,
        &board,
        epoch,
        (1032..=1036).map(|s| event(s, later(65))).collect(),
    )
    .await;
    assert_eq!(stored_records(&db).await, 1029);
    let loaded = store.load_board(&board).await.unwrap().unwrap();
    assert_eq!(loaded.batches.len(), 1024);
    assert_eq!(loaded.batches[0].last_seq, 13);

    // 10 s after the last forget: the 6 past the window go.
    append_and_flush(&store, &board, epoch, vec![event(1037, later(70))]).await;
    assert_eq!(stored_records(&db).await, 1024);
    let loaded = store.load_board(&board).await.unwrap().unwrap();
    assert_eq!(loaded.batches.len(), 1024);
    assert_eq!(loaded.batches[0].last_seq, 14);
}
