//! The store's thread commits queued appends before each other request:
//! an append issued while several flushes are queued waits for at most the
//! one running, not for all of them (what held acknowledgements back when
//! every board of a busy server reached its flush threshold at once).

use std::sync::Arc;

use huddle_core::{BoardId, Event, Mutation, Timestamp};
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::conformance::flush_batch;
use huddle_store::{AppendBatch, Epoch, FlushWrite, Store};
use tokio::sync::mpsc;

const FLUSHES: usize = 6;
const ELEMENTS: u64 = 4000;

fn events(board: &str, from: u64, to: u64) -> Vec<Event> {
    (from..=to)
        .map(|seq| Event {
            seq,
            author: "writer".into(),
            batch: format!("{board}-{seq}").into(),
            at: Timestamp::from_millis(seq),
            mutation: Mutation::Upsert {
                page: "p".into(),
                element: format!("element-{seq}").into(),
                data: format!(r#"{{"padding":"{}"}}"#, "x".repeat(100))
                    .into_bytes()
                    .into(),
            },
        })
        .collect()
}

async fn append(store: &SqliteStore, board: &BoardId, epoch: Epoch, events: Vec<Event>) {
    let result = store
        .append_events(vec![AppendBatch {
            board: board.clone(),
            epoch,
            events: events.into(),
        }])
        .await;
    assert_eq!(result, vec![Ok(())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_waits_for_one_queued_flush_not_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(dir.path().join("huddle.db"), SqliteOptions::default())
            .await
            .expect("open"),
    );
    // Boards with a large flush each, and one board to append to.
    let mut writes = Vec::new();
    for b in 0..FLUSHES {
        let board = BoardId::from(format!("flushed-{b}"));
        let epoch = store
            .acquire_board(&board, &huddle_store::Node::default())
            .await
            .expect("acquire")
            .epoch;
        let log = events(board.as_str(), 1, ELEMENTS);
        append(&store, &board, epoch, log.clone()).await;
        writes.push(FlushWrite {
            board,
            epoch,
            batch: Arc::new(flush_batch(&log, 1, ELEMENTS)),
        });
    }
    let board = BoardId::from("appended");
    let epoch = store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .expect("acquire")
        .epoch;

    let (done, mut order) = mpsc::unbounded_channel();
    for write in writes {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            store.flush(write).await.expect("flush");
            let _ = done.send("flush");
        });
    }
    // Once the first flush is done the others are queued or running; the
    // append goes in behind them.
    assert_eq!(order.recv().await, Some("flush"));
    {
        let (store, done, board) = (store.clone(), done.clone(), board.clone());
        tokio::spawn(async move {
            append(&store, &board, epoch, events("appended", 1, 1)).await;
            let _ = done.send("append");
        });
    }
    drop(done);
    let mut rest = Vec::new();
    while let Some(what) = order.recv().await {
        rest.push(what);
    }
    let append_at = rest
        .iter()
        .position(|w| *w == "append")
        .expect("append done");
    assert!(
        append_at <= 2,
        "the append finished after {append_at} of the {} queued flushes: {rest:?}",
        FLUSHES - 1
    );
}
