//! A database of an earlier schema version migrates on open and keeps its
//! data: here one at version 3, built from the repository's own migration
//! files, whose boards still store `log_end` (version 4 derives it from
//! the events).

use huddle_core::BoardId;
use huddle_postgres::testing;
use huddle_postgres::{PostgresOptions, PostgresStore, SCHEMA_VERSION};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Node, Store};

/// Versions 1 to 3, as a node of that version applied them.
const UP_TO_3: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_leases.sql"),
    include_str!("../migrations/0003_batch_digests.sql"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_database_migrates_and_keeps_its_log() {
    let Some(db) = testing::database().await else {
        return;
    };
    let (raw, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    raw.batch_execute(
        "CREATE TABLE huddle_schema (application text NOT NULL, version integer NOT NULL, \
         singleton boolean NOT NULL DEFAULT true PRIMARY KEY CHECK (singleton)); \
         INSERT INTO huddle_schema (application, version) VALUES ('huddle', 3)",
    )
    .await
    .unwrap();
    for step in UP_TO_3 {
        raw.batch_execute(step).await.unwrap();
    }
    // A board with 7 events as a version-3 node left it: log_end stored.
    raw.batch_execute(
        "INSERT INTO boards (id, epoch, log_end, pages_sequence) VALUES ('b', 1, 7, 0); \
         INSERT INTO events (board, seq, author, batch, at, kind, page, element, data) \
         SELECT 'b', s, 'u', 'x', s, 0, 'p', 'e', 'd' FROM generate_series(1, 7) s",
    )
    .await
    .unwrap();

    let store = PostgresStore::connect(&db.url, PostgresOptions::default())
        .await
        .expect("a version-3 database opens");
    let version: i32 = raw
        .query_one("SELECT version FROM huddle_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(i64::from(version), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 4);
    let columns: i64 = raw
        .query_one(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'boards' \
             AND column_name = 'log_end'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(columns, 0, "log_end is dropped");

    let board = BoardId::from("b");
    let loaded = store.load_board(&board).await.unwrap().unwrap();
    assert_eq!(loaded.events.len(), 7);
    assert_eq!(
        store.board_summary(&board).await.unwrap().unwrap().sequence,
        7
    );
    // Appends continue the log after its derived end, and no earlier.
    let epoch = store
        .acquire_board(&board, &Node::default())
        .await
        .unwrap()
        .epoch;
    let gap = store
        .append_events(vec![AppendBatch {
            board: board.clone(),
            epoch,
            events: events(9, 9).into(),
        }])
        .await;
    assert!(
        matches!(
            gap[..],
            [Err(huddle_store::StoreError::Gap { log_end: 7, .. })]
        ),
        "{gap:?}"
    );
    let answers = store
        .append_events(vec![AppendBatch {
            board: board.clone(),
            epoch,
            events: events(6, 9).into(),
        }])
        .await;
    assert_eq!(answers, vec![Ok(())]);
    let stored = store.read_events(&board, 0, 100).await.unwrap();
    assert_eq!(stored.len(), 9);
    assert_eq!(stored[7..], events(8, 9)[..]);
}
