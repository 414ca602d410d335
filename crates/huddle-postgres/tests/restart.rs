//! PostgreSQL stopped or restarted while a store is in use: calls fail
//! `Unavailable` (retryable) meanwhile and succeed afterwards on the same
//! store (the pool reconnects by itself); nothing acknowledged is lost.
//! Each test runs its own cluster, so restarting it disturbs no other test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_core::BoardId;
use huddle_postgres::testing::Cluster;
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::conformance::{events, replay};
use huddle_store::{AppendBatch, Epoch, Store, StoreError};

fn options() -> PostgresOptions {
    PostgresOptions::default()
        .connect_timeout(Duration::from_secs(2))
        .wait_timeout(Duration::from_secs(3))
}

fn append(board: &BoardId, epoch: Epoch, first: u64, last: u64) -> AppendBatch {
    AppendBatch {
        board: board.clone(),
        epoch,
        events: events(first, last).into(),
    }
}

/// Retries `append` until the store takes it (bounded), asserting that
/// every failure meanwhile is `Unavailable`.
async fn append_until_stored(store: &PostgresStore, batch: AppendBatch) -> usize {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut failures = 0;
    loop {
        match store.append_events(vec![batch.clone()]).await.pop() {
            Some(Ok(())) => return failures,
            Some(Err(e)) => {
                assert!(
                    matches!(e, StoreError::Unavailable(_)) && e.is_retryable(),
                    "{e:?}"
                );
                failures += 1;
            }
            None => panic!("no answer"),
        }
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_unavailable_then_the_same_store_recovers() {
    let Some(cluster) = Cluster::start_or_skip() else {
        return;
    };
    let db = cluster.database().await;
    let store = PostgresStore::connect(&db.url, options()).await.unwrap();
    let board = BoardId::from("b");
    let epoch = store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    for n in 0..10 {
        let batch = append(&board, epoch, n * 10 + 1, n * 10 + 10);
        assert_eq!(store.append_events(vec![batch]).await, vec![Ok(())]);
    }

    cluster.stop().unwrap();
    let answers = store
        .append_events(vec![append(&board, epoch, 101, 110)])
        .await;
    assert!(
        matches!(&answers[..], [Err(StoreError::Unavailable(_))]),
        "{answers:?}"
    );
    let load = store.load_board(&board).await;
    assert!(matches!(load, Err(StoreError::Unavailable(_))), "{load:?}");
    let read = store.read_events(&board, 0, 10).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    assert!(store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .unwrap_err()
        .is_retryable());

    cluster.start_again().unwrap();
    append_until_stored(&store, append(&board, epoch, 101, 110)).await;
    let loaded = store.load_board(&board).await.unwrap().unwrap();
    assert_eq!(loaded.events, events(1, 110), "every acknowledged event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_load_loses_nothing_acknowledged() {
    let Some(cluster) = Cluster::start_or_skip() else {
        return;
    };
    let db = cluster.database().await;
    let store = PostgresStore::connect(&db.url, options()).await.unwrap();
    let boards: Vec<BoardId> = (0..4).map(|i| BoardId::from(format!("b{i}"))).collect();
    let mut epochs = Vec::new();
    for b in &boards {
        epochs.push(
            store
                .acquire_board(b, &huddle_store::Node::default())
                .await
                .unwrap()
                .epoch,
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    // One writer per board: batches of 5 events, each retried until stored;
    // what a writer saw acknowledged is its log's end.
    let writers: Vec<_> = boards
        .iter()
        .zip(epochs)
        .map(|(board, epoch)| {
            let (store, board, stop) = (store.clone(), board.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut acked, mut failures) = (0u64, 0usize);
                while !stop.load(Ordering::Relaxed) && acked < 2000 {
                    let batch = append(&board, epoch, acked + 1, acked + 5);
                    failures += append_until_stored(&store, batch).await;
                    acked += 5;
                }
                (board, acked, failures)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.restart().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let (board, acked, _failures) = w.await.unwrap();
        assert!(acked > 0, "board {board} wrote nothing");
        let loaded = store.load_board(&board).await.unwrap().unwrap();
        assert_eq!(
            loaded.events.last().map(|e| e.seq),
            Some(acked),
            "board {board}: every acknowledged event, nothing else"
        );
        assert_eq!(loaded.pages, replay(&[], 0));
        assert_eq!(
            store.read_events(&board, 0, usize::MAX).await.unwrap(),
            events(1, acked)
        );
    }
}
