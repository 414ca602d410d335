//! An append's events go in with one insert inside the transaction that
//! checked the epoch: when that insert fails, the batch fails with the
//! typed error of its cause, writes nothing, and the store carries on.
//! Both cases here make the insert wait for a row that another session
//! inserted at the same sequence and has not committed yet (the log end
//! the append read does not show it; an event chunk starting at that
//! sequence: `(board, first_seq)` is unique), then end that wait: the other
//! session commits (a sequence stored twice: `Corrupt`) or the append's
//! connection is terminated in the middle of its insert (`Unavailable`).

use std::time::Duration;

use huddle_core::BoardId;
use huddle_postgres::testing;
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Epoch, Node, Store, StoreError};

fn append(board: &BoardId, epoch: Epoch, first: u64, last: u64) -> AppendBatch {
    AppendBatch {
        board: board.clone(),
        epoch,
        events: events(first, last).into(),
    }
}

async fn session(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// The backend of the append whose events wait for another transaction's
/// row (at most 10 s).
async fn waiting_append(raw: &tokio_postgres::Client) -> i32 {
    for _ in 0..1000 {
        let rows = raw
            .query(
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND wait_event_type = 'Lock' AND query ILIKE '%events%'",
                &[],
            )
            .await
            .expect("pg_stat_activity");
        if let Some(row) = rows.first() {
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the append never waited for the other session's row");
}

/// A store with `board` acquired and events 1..=2 appended, and another
/// session holding an uncommitted event 3 of the board.
async fn blocked_at_3(
    url: &str,
    board: &BoardId,
) -> (PostgresStore, Epoch, tokio_postgres::Client) {
    let store = PostgresStore::connect(url, PostgresOptions::default())
        .await
        .unwrap();
    let epoch = store
        .acquire_board(board, &Node::default())
        .await
        .unwrap()
        .epoch;
    assert_eq!(
        store.append_events(vec![append(board, epoch, 1, 2)]).await,
        vec![Ok(())]
    );
    let other = session(url).await;
    other.batch_execute("BEGIN").await.unwrap();
    let event_3 = huddle_core::Event {
        seq: 3,
        author: "other".into(),
        batch: "other".into(),
        at: huddle_core::Timestamp::EPOCH,
        mutation: huddle_core::Mutation::Delete {
            page: "p".into(),
            element: "e".into(),
        },
    };
    let mut blob = Vec::new();
    huddle_store::chunk::encode([&event_3], &mut blob).unwrap();
    other
        .execute(
            "INSERT INTO event_chunks (board, last_seq, first_seq, events) VALUES ($1, 3, 3, $2)",
            &[&board.as_str().as_bytes(), &blob],
        )
        .await
        .unwrap();
    (store, epoch, other)
}

fn seqs_and_authors(events: &[huddle_core::Event]) -> Vec<(u64, String)> {
    events
        .iter()
        .map(|e| (e.seq, e.author.as_str().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_stored_twice_is_corrupt_and_writes_nothing() {
    let Some(db) = testing::database().await else {
        return;
    };
    let board = BoardId::from("dup");
    let (store, epoch, other) = blocked_at_3(&db.url, &board).await;
    let appending = tokio::spawn({
        let (store, board) = (store.clone(), board.clone());
        async move { store.append_events(vec![append(&board, epoch, 3, 5)]).await }
    });
    let raw = session(&db.url).await;
    waiting_append(&raw).await;
    other.batch_execute("COMMIT").await.unwrap();
    let answer = appending.await.unwrap();
    assert!(
        matches!(&answer[..], [Err(StoreError::Corrupt(m))] if m.contains("23505")),
        "{answer:?}"
    );
    // Only the other session's event 3: none of the failed append's.
    let stored = store.read_events(&board, 0, usize::MAX).await.unwrap();
    let expect = vec![
        (1, events(1, 1)[0].author.as_str().to_owned()),
        (2, events(2, 2)[0].author.as_str().to_owned()),
        (3, "other".to_owned()),
    ];
    assert_eq!(seqs_and_authors(&stored), expect);
    // The store carries on after the log's end.
    assert_eq!(
        store.append_events(vec![append(&board, epoch, 4, 5)]).await,
        vec![Ok(())]
    );
    let stored = store.read_events(&board, 3, usize::MAX).await.unwrap();
    assert_eq!(&stored[..], &events(4, 5)[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_mid_insert_is_unavailable_and_writes_nothing() {
    let Some(db) = testing::database().await else {
        return;
    };
    let board = BoardId::from("lost");
    let (store, epoch, other) = blocked_at_3(&db.url, &board).await;
    let appending = tokio::spawn({
        let (store, board) = (store.clone(), board.clone());
        async move { store.append_events(vec![append(&board, epoch, 3, 5)]).await }
    });
    let raw = session(&db.url).await;
    let pid = waiting_append(&raw).await;
    let terminated: bool = raw
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(terminated);
    let answer = appending.await.unwrap();
    assert!(
        matches!(&answer[..], [Err(StoreError::Unavailable(_))]),
        "{answer:?}"
    );
    other.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        store.read_events(&board, 0, usize::MAX).await.unwrap(),
        events(1, 2)
    );
    // Sent again (as the engine does), it is stored: the pool replaced the
    // lost connection.
    assert_eq!(
        store.append_events(vec![append(&board, epoch, 3, 5)]).await,
        vec![Ok(())]
    );
    assert_eq!(
        store.read_events(&board, 0, usize::MAX).await.unwrap(),
        events(1, 5)
    );
}
