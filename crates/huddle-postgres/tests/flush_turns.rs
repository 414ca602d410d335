//! Flushes take turns: at most `PostgresOptions::flush_transactions` of
//! them are open at once, whatever the number of boards flushing (a
//! uniform load brings every board to its flush threshold together, and
//! side by side their upserts took the CPUs from the appends in flight).
//!
//! A trigger on `elements` sleeps in every flush's upsert and records how
//! many upserts of `elements` were running at that moment.

use std::sync::Arc;

use huddle_core::BoardId;
use huddle_postgres::testing::{self, TestDatabase};
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::conformance::{events, flush_batch};
use huddle_store::{AppendBatch, FlushWrite, Store};

const BOARDS: usize = 3;

async fn raw(db: &TestDatabase) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// Flushes `BOARDS` boards at once; returns the most upserts of
/// `elements` seen running together.
async fn most_flushes_at_once(turns: usize) -> Option<i64> {
    let db = testing::database().await?;
    let options = PostgresOptions::default().flush_transactions(turns);
    let store = Arc::new(PostgresStore::connect(&db.url, options).await.unwrap());
    let raw = raw(&db).await;
    raw.batch_execute(
        "CREATE TABLE seen (running bigint); \
         CREATE FUNCTION seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           INSERT INTO seen SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'active' \
               AND query LIKE 'INSERT INTO elements%'; \
           PERFORM pg_sleep(0.3); \
           RETURN NULL; END $$; \
         CREATE TRIGGER seen AFTER INSERT ON elements \
           FOR EACH STATEMENT EXECUTE FUNCTION seen();",
    )
    .await
    .unwrap();
    let mut writes = Vec::new();
    for i in 0..BOARDS {
        let board = BoardId::from(format!("b{i}").as_str());
        let epoch = store
            .acquire_board(&board, &huddle_store::Node::default())
            .await
            .unwrap()
            .epoch;
        let new = events(1, 4);
        let appended = store
            .append_events(vec![AppendBatch {
                board: board.clone(),
                epoch,
                events: new.clone().into(),
            }])
            .await;
        assert_eq!(appended, vec![Ok(())]);
        writes.push(FlushWrite {
            board,
            epoch,
            batch: Arc::new(flush_batch(&new, 1, 4)),
        });
    }
    let flushes: Vec<_> = writes
        .into_iter()
        .map(|write| {
            let store = store.clone();
            tokio::spawn(async move { store.flush(write).await })
        })
        .collect();
    for flush in flushes {
        flush.await.unwrap().expect("flush");
    }
    let rows = raw.query("SELECT running FROM seen", &[]).await.unwrap();
    assert_eq!(rows.len(), BOARDS, "one upsert of elements per flush");
    rows.iter().map(|r| r.get::<_, i64>(0)).max()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flush_at_a_time_by_default() {
    assert_eq!(PostgresOptions::default().flush_transactions, 1);
    if let Some(most) = most_flushes_at_once(1).await {
        assert_eq!(most, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_turns_let_flushes_run_side_by_side() {
    if let Some(most) = most_flushes_at_once(BOARDS).await {
        assert!(most > 1, "flushes never overlapped: {most}");
    }
}
