//! A database of an earlier schema version migrates on open and keeps its
//! data: here one at version 3, built from the repository's own migration
//! files, whose boards still store `log_end` (version 4 derives it from
//! the events), and ones at version 4, whose `events` rows migration 5
//! moves into `event_chunks` (or, if one cannot be read, refuses to: the
//! database stays at version 4, untouched).

use huddle_core::{BoardId, Event, Mutation};
use huddle_postgres::testing::{self, TestDatabase};
use huddle_postgres::{OpenError, PostgresOptions, PostgresStore, SCHEMA_VERSION};
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
    assert_eq!(SCHEMA_VERSION, 6);
    // Migration 6: elements keep room on each page for HOT updates.
    let options: Vec<String> = raw
        .query_one(
            "SELECT reloptions::text[] FROM pg_class WHERE relname = 'elements'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(options, ["fillfactor=70"]);
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

/// Versions 1 to 4.
const UP_TO_4: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_leases.sql"),
    include_str!("../migrations/0003_batch_digests.sql"),
    include_str!("../migrations/0004_derived_log_end.sql"),
];

/// A plain connection to a database of version 4, as a node of that
/// version left it.
async fn version_4(db: &TestDatabase) -> tokio_postgres::Client {
    let (raw, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    raw.batch_execute(
        "CREATE TABLE huddle_schema (application text NOT NULL, version integer NOT NULL, \
         singleton boolean NOT NULL DEFAULT true PRIMARY KEY CHECK (singleton)); \
         INSERT INTO huddle_schema (application, version) VALUES ('huddle', 4)",
    )
    .await
    .unwrap();
    for step in UP_TO_4 {
        raw.batch_execute(step).await.unwrap();
    }
    raw
}

/// Stores `log` as version 4 did: one `events` row per event.
async fn insert_rows(raw: &tokio_postgres::Client, board: &str, log: &[Event]) {
    raw.execute(
        "INSERT INTO boards (id, epoch, pages_sequence) VALUES ($1, 1, 0)",
        &[&board.as_bytes()],
    )
    .await
    .unwrap();
    for e in log {
        let (kind, data): (i16, Option<&[u8]>) = match &e.mutation {
            Mutation::Upsert { data, .. } => (0, Some(data.as_bytes())),
            Mutation::Delete { .. } => (1, None),
        };
        raw.execute(
            "INSERT INTO events (board, seq, author, batch, at, kind, page, element, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &board.as_bytes(),
                &i64::try_from(e.seq).unwrap(),
                &e.author.as_str().as_bytes(),
                &e.batch.as_str().as_bytes(),
                &(e.at.as_millis() as i64),
                &kind,
                &e.mutation.page().as_str().as_bytes(),
                &e.mutation.element().as_str().as_bytes(),
                &data,
            ],
        )
        .await
        .unwrap();
    }
}

async fn version(raw: &tokio_postgres::Client) -> i32 {
    raw.query_one("SELECT version FROM huddle_schema", &[])
        .await
        .unwrap()
        .get(0)
}

/// Board a: batches of 4 (the fixture's), with upserts, deletes, empty
/// and binary payloads, ids with NUL; board b: one batch of 600 events,
/// longer than a migrated chunk; board c: no events.
fn logs() -> Vec<(&'static str, Vec<Event>)> {
    let mut a = events(1, 150);
    a[9].author = "with\0nul".into();
    let b: Vec<Event> = events(1, 600)
        .into_iter()
        .map(|mut e| {
            e.batch = "one".into();
            e
        })
        .collect();
    vec![("a\0x", a), ("b", b)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_4_event_rows_become_chunks_and_load_the_same() {
    let Some(db) = testing::database().await else {
        return;
    };
    let raw = version_4(&db).await;
    for (board, log) in logs() {
        insert_rows(&raw, board, &log).await;
    }
    raw.execute(
        "INSERT INTO boards (id, epoch, pages_sequence) VALUES ('c', 1, 0)",
        &[],
    )
    .await
    .unwrap();

    let store = PostgresStore::connect(&db.url, PostgresOptions::default())
        .await
        .expect("a version-4 database opens");
    assert_eq!(i64::from(version(&raw).await), SCHEMA_VERSION);
    let (chunks, old): (i64, i64) = raw
        .query_one(
            "SELECT (SELECT count(*) FROM event_chunks), \
             (SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() \
              AND tablename = 'events')",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    // Board a: a chunk per batch of 4 (the first holds 1 to 3: batch 0
    // is 0 to 3); board b: 600 events in chunks of at most 256.
    assert_eq!((chunks, old), (38 + 3, 0));

    for (board, log) in logs() {
        let id = BoardId::from(board);
        assert_eq!(store.read_events(&id, 0, usize::MAX).await.unwrap(), log);
        for (after, limit) in [(0, 1), (3, 2), (255, 3), (299, 300), (598, 10)] {
            let window: Vec<Event> = log
                .iter()
                .filter(|e| e.seq > after)
                .take(limit)
                .cloned()
                .collect();
            assert_eq!(
                store.read_events(&id, after, limit).await.unwrap(),
                window,
                "board {board:?} after {after}, {limit} events"
            );
        }
        let loaded = store.load_board(&id).await.unwrap().unwrap();
        assert_eq!(loaded.events, log, "board {board:?}");
        assert_eq!(
            store.board_summary(&id).await.unwrap().unwrap().sequence,
            log.len() as u64
        );
    }
    let empty = BoardId::from("c");
    assert!(store.read_events(&empty, 0, 10).await.unwrap().is_empty());
    // Appends continue after the migrated log.
    let id = BoardId::from("b");
    let epoch = store
        .acquire_board(&id, &Node::default())
        .await
        .unwrap()
        .epoch;
    assert_eq!(
        store
            .append_events(vec![AppendBatch {
                board: id.clone(),
                epoch,
                events: events(601, 610).into(),
            }])
            .await,
        vec![Ok(())]
    );
    assert_eq!(
        store.read_events(&id, 595, 100).await.unwrap(),
        logs()[1].1[595..]
            .iter()
            .cloned()
            .chain(events(601, 610))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_event_row_stops_the_migration_untouched() {
    let Some(db) = testing::database().await else {
        return;
    };
    let raw = version_4(&db).await;
    for (board, log) in logs() {
        insert_rows(&raw, board, &log).await;
    }
    for damage in [
        "kind = 7",
        "kind = 0, data = NULL",
        "author = '\\xfffe'::bytea",
        "seq = -seq",
    ] {
        raw.batch_execute(&format!(
            "UPDATE events SET {damage} WHERE board = 'b' AND seq = 400"
        ))
        .await
        .unwrap();
        let opened = PostgresStore::connect(&db.url, PostgresOptions::default()).await;
        assert!(
            matches!(&opened, Err(OpenError::Corrupt(m)) if m.contains("migrating")),
            "{damage}: {:?}",
            opened.err()
        );
        assert_eq!(version(&raw).await, 4, "{damage}");
        let (rows, chunks): (i64, i64) = raw
            .query_one(
                "SELECT (SELECT count(*) FROM events), \
                 (SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() \
                  AND tablename = 'event_chunks')",
                &[],
            )
            .await
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        assert_eq!((rows, chunks), (750, 0), "{damage}");
        // Put the row back as it was.
        raw.batch_execute(
            "DELETE FROM events WHERE board = 'b' AND seq IN (400, -400); DELETE FROM boards",
        )
        .await
        .unwrap();
        raw.batch_execute("DELETE FROM events").await.unwrap();
        for (board, log) in logs() {
            insert_rows(&raw, board, &log).await;
        }
    }
    // Repaired, it migrates.
    let store = PostgresStore::connect(&db.url, PostgresOptions::default())
        .await
        .expect("the repaired database migrates");
    assert_eq!(i64::from(version(&raw).await), SCHEMA_VERSION);
    assert_eq!(
        store
            .read_events(&BoardId::from("b"), 0, usize::MAX)
            .await
            .unwrap(),
        logs()[1].1
    );
}

/// Nodes opening a version-4 database together move its rows once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_opening_a_version_4_database_together_migrate_it_once() {
    let Some(db) = testing::database().await else {
        return;
    };
    let raw = version_4(&db).await;
    for (board, log) in logs() {
        insert_rows(&raw, board, &log).await;
    }
    let open = || PostgresStore::connect(&db.url, PostgresOptions::default());
    let (a, b, c) = tokio::join!(open(), open(), open());
    let stores = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(i64::from(version(&raw).await), SCHEMA_VERSION);
    let chunks: i64 = raw
        .query_one("SELECT count(*) FROM event_chunks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(chunks, 38 + 3);
    for store in &stores {
        for (board, log) in logs() {
            let id = BoardId::from(board);
            assert_eq!(store.read_events(&id, 0, usize::MAX).await.unwrap(), log);
        }
    }
}
