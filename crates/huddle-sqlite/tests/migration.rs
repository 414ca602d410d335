//! Migrations on open. Migration 3 (batch digests): a file of schema
//! version 2 is migrated; its batch records keep their last sequences, get
//! the time of their batch's last event, and no digest (their content is
//! unknown). Migration 4 (event chunks): the `events` rows of a version 3
//! file become `event_chunks` rows; every board reads and loads as before.
//!
//! The older files are made from new ones, as an older Huddle wrote them:
//! the chunks are replaced by `events` rows ([`downgrade_log`]).

use std::sync::Arc;

use huddle_core::{BatchDigest, BoardId, Event, Mutation, Timestamp};
use huddle_sqlite::OpenError;
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
    assert_eq!(SCHEMA_VERSION, 4);
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
        downgrade_log(&conn, &board, &log);
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
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(
        loaded.events, log,
        "the events went through both migrations"
    );
}

/// The `events` table of schema versions 1 to 3.
const LEGACY_EVENTS: &str = "CREATE TABLE IF NOT EXISTS events (
    board TEXT NOT NULL, seq INTEGER NOT NULL, author TEXT NOT NULL, batch TEXT NOT NULL,
    at INTEGER NOT NULL, kind INTEGER NOT NULL, page TEXT NOT NULL, element TEXT NOT NULL,
    data BLOB, PRIMARY KEY (board, seq)) WITHOUT ROWID;
DROP TABLE IF EXISTS event_chunks;";

/// Replaces the file's event chunks by `events` rows holding `log` for
/// `board` (the caller sets the version).
fn downgrade_log(conn: &rusqlite::Connection, board: &BoardId, log: &[Event]) {
    conn.execute_batch(LEGACY_EVENTS).expect("legacy events");
    for e in log {
        let (kind, data) = match &e.mutation {
            Mutation::Upsert { data, .. } => (0, Some(data.as_bytes().to_vec())),
            Mutation::Delete { .. } => (1, None),
        };
        conn.execute(
            "INSERT INTO events (board, seq, author, batch, at, kind, page, element, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rusqlite::params![
                board.as_str(),
                e.seq as i64,
                e.author.as_str(),
                e.batch.as_str(),
                e.at.as_millis() as i64,
                kind,
                e.mutation.page().as_str(),
                e.mutation.element().as_str(),
                data,
            ],
        )
        .expect("legacy event");
    }
}

fn version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .expect("reopen")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version")
}

/// Two boards' logs as version 3 stored them (one of 151 batches, one of
/// a batch of 300 events, longer than a migrated chunk) read and load as
/// they did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_3_event_rows_become_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let logs = [
        (
            BoardId::from("a"),
            huddle_store::conformance::events(1, 600),
        ),
        (
            BoardId::from("b"),
            (1..=300).map(|s| event(s, "b-1", 5)).collect(),
        ),
    ];
    let mut before = Vec::new();
    {
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .expect("open");
        for (board, log) in &logs {
            let epoch = store
                .acquire_board(board, &huddle_store::Node::default())
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
            before.push(store.load_board(board).await.unwrap().unwrap());
        }
    }
    {
        let conn = rusqlite::Connection::open(&path).expect("reopen");
        conn.execute_batch(LEGACY_EVENTS).expect("legacy events");
        for (board, log) in &logs {
            downgrade_log(&conn, board, log);
        }
        conn.pragma_update(None, "user_version", 3)
            .expect("version 3");
    }
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open and migrate");
    for ((board, log), before) in logs.iter().zip(&before) {
        let loaded = store.load_board(board).await.unwrap().unwrap();
        assert_eq!(&loaded, before, "board {board}");
        assert_eq!(&store.read_events(board, 0, 10_000).await.unwrap(), log);
        assert_eq!(
            store.read_events(board, 255, 3).await.unwrap(),
            log.get(255..258).unwrap_or_default(),
            "across the chunks the migration wrote"
        );
    }
    drop(store);
    assert_eq!(version(&path), SCHEMA_VERSION);
    let conn = rusqlite::Connection::open(&path).expect("reopen");
    let (chunks, old): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM event_chunks), \
             (SELECT count(*) FROM sqlite_schema WHERE name = 'events')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // Board a: a chunk per batch of the fixture's (4 events each, the
    // first of 3, the last of 1) = 151; board b: 256 + 44 events.
    assert_eq!((chunks, old), (151 + 2, 0));
}

/// A version 3 file with a damaged event row is not migrated: the open
/// fails as corrupt and the file stays at version 3 with its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_event_row_stops_the_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let board = BoardId::from("b");
    drop(
        SqliteStore::open(&path, SqliteOptions::default())
            .await
            .expect("open"),
    );
    {
        let conn = rusqlite::Connection::open(&path).expect("reopen");
        downgrade_log(&conn, &board, &[event(1, "b-1", 5), event(2, "b-1", 5)]);
        conn.execute_batch("UPDATE events SET kind = 7 WHERE seq = 2; PRAGMA user_version = 3;")
            .expect("damage");
    }
    let err = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect_err("a damaged row");
    assert!(
        matches!(&err, OpenError::Corrupt { detail, .. } if detail.contains("kind 7")),
        "{err}"
    );
    assert_eq!(version(&path), 3);
    let rows: i64 = rusqlite::Connection::open(&path)
        .expect("reopen")
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("the rows are still there");
    assert_eq!(rows, 2);
}
