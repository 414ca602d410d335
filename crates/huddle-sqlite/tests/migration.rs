//! Migration 3 (batch digests): a file of schema version 2 is migrated on
//! open; its batch records keep their last sequences, get the time of
//! their batch's last event, and no digest (their content is unknown).

use std::sync::Arc;

use huddle_core::{BatchDigest, BoardId, Event, Mutation, Timestamp};
use huddle_sqlite::{SqliteOptions, SqliteStore, SCHEMA_VERSION};
use huddle_store::conformance::flush_batch;
use huddle_store::{AppendBatch, FlushWrite, Store};

fn event(seq: u64, batch: &str, at: u64) -> Event {
    Event {
        seq,
        author: "alice".into(),
        batch: batch.into(),
        at: Timestamp::from_millis(at),
        mutation: Mutation::Delete {
            page: "p".into(),
            element: format!("e{seq}").into(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_2_batch_records_are_migrated_without_digests() {
    assert_eq!(SCHEMA_VERSION, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let board = BoardId::from("b");
    let log = vec![
        event(1, "a-1", 1_000),
        event(2, "a-1", 1_000),
        event(3, "a-2", 2_000),
    ];
    {
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .expect("open");
        let epoch = store
            .acquire_board(&board, &huddle_store::Node::default())
            .await
            .expect("acquire")
            .epoch;
        let appended = store
            .append_events(vec![AppendBatch {
                board: board.clone(),
                epoch,
                events: log.clone().into(),
            }])
            .await;
        assert_eq!(appended, vec![Ok(())]);
        store
            .flush(FlushWrite {
                board: board.clone(),
                epoch,
                batch: Arc::new(flush_batch(&log, 1, 3)),
            })
            .await
            .expect("flush");
        let loaded = store.load_board(&board).await.unwrap().unwrap();
        assert_eq!(
            loaded.batches[0].digest,
            Some(BatchDigest::of_events(&log[..2]))
        );
    }
    // Back to version 2, as an older Huddle wrote it.
    {
        let conn = rusqlite::Connection::open(&path).expect("reopen");
        conn.execute_batch(
            "DROP INDEX batches_by_age; \
             ALTER TABLE batches DROP COLUMN digest; \
             ALTER TABLE batches DROP COLUMN at; \
             PRAGMA user_version = 2;",
        )
        .expect("downgrade");
    }
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open and migrate");
    let loaded = store.load_board(&board).await.unwrap().unwrap();
    let records: Vec<(String, u64, Option<BatchDigest>, u64)> = loaded
        .batches
        .iter()
        .map(|r| (r.batch.to_string(), r.last_seq, r.digest, r.at.as_millis()))
        .collect();
    assert_eq!(
        records,
        vec![
            ("a-1".to_string(), 2, None, 1_000),
            ("a-2".to_string(), 3, None, 2_000)
        ]
    );
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("reopen");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
}
