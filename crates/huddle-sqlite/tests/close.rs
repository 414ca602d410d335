//! `Store::close` on SQLite: what was queued before it is committed, the
//! database is closed (the last connection gone, its log checkpointed and
//! removed) before it returns, and later calls fail as unavailable.

use huddle_core::{BoardId, Event, Mutation, Timestamp};
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::{AppendBatch, Node, Store, StoreError};

fn event(seq: u64) -> Event {
    Event {
        seq,
        author: "writer".into(),
        batch: format!("b-{seq}").into(),
        at: Timestamp::from_millis(seq),
        mutation: Mutation::Upsert {
            page: "p".into(),
            element: format!("e-{seq}").into(),
            data: br#"{"v":1}"#.to_vec().into(),
        },
    }
}

#[tokio::test]
async fn close_commits_what_was_queued_then_closes_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open");
    let clone = store.clone();
    let board = BoardId::from("b");
    let epoch = store
        .acquire_board(&board, &Node::default())
        .await
        .expect("acquire")
        .epoch;
    let batch = AppendBatch {
        board: board.clone(),
        epoch,
        events: vec![event(1)].into(),
    };
    // The append is queued first (polled first), the close right after,
    // without waiting for the append's answer.
    let (appended, ()) = tokio::join!(store.append_events(vec![batch]), async {
        store.close().await
    });
    assert_eq!(appended, vec![Ok(())], "queued before the close: committed");
    let wal = dir.path().join("huddle.db-wal");
    assert!(
        !wal.exists(),
        "the last connection closed: its log was checkpointed and removed"
    );
    // Every clone sees it closed; closing again is harmless.
    assert!(matches!(
        clone.room(&board).await,
        Err(StoreError::Unavailable(_))
    ));
    let late = AppendBatch {
        board: board.clone(),
        epoch,
        events: vec![event(2)].into(),
    };
    assert!(matches!(
        clone.append_events(vec![late]).await.as_slice(),
        [Err(StoreError::Unavailable(_))]
    ));
    clone.close().await;
    store.close().await;

    let reopened = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("reopen");
    let events = reopened.read_events(&board, 0, 10).await.expect("read");
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1],
        "the append before the close is stored, the one after is not"
    );
}
