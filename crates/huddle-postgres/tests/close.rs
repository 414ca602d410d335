//! `Store::close` on PostgreSQL: an append queued before it is committed,
//! then the pool is closed; later calls fail as unavailable, and a new
//! store on the same database finds what was committed.

use huddle_core::BoardId;
use huddle_postgres::testing;
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Node, Store, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_commits_queued_appends_then_closes_the_pool() {
    let Some(db) = testing::database().await else {
        return;
    };
    let store = PostgresStore::connect(&db.url, PostgresOptions::default())
        .await
        .unwrap();
    let board = BoardId::from("b");
    let epoch = store
        .acquire_board(&board, &Node::default())
        .await
        .unwrap()
        .epoch;
    let batch = |first, last| AppendBatch {
        board: board.clone(),
        epoch,
        events: events(first, last).into(),
    };
    // The append is queued first (polled first), the close right after.
    let (appended, ()) = tokio::join!(store.append_events(vec![batch(1, 3)]), async {
        store.close().await
    });
    assert_eq!(appended, vec![Ok(())]);
    assert!(matches!(
        store.room(&board).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.append_events(vec![batch(4, 4)]).await.as_slice(),
        [Err(StoreError::Unavailable(_))]
    ));
    store.clone().close().await;

    let reopened = PostgresStore::connect(&db.url, PostgresOptions::default())
        .await
        .unwrap();
    let stored = reopened.read_events(&board, 0, 10).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
}
