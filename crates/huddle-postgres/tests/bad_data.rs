//! Databases that are not a healthy Huddle database give clear typed
//! errors, never a panic, and are not changed by the attempt.

use std::sync::Arc;

use huddle_core::{
    BoardId, ConnId, SessionType, Snapshot, SnapshotCause, Timestamp, UserSessionId,
    UserSessionRecord, UserSessionStatus,
};
use huddle_postgres::testing::{self, TestDatabase};
use huddle_postgres::{OpenError, PostgresOptions, PostgresStore, SCHEMA_VERSION};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Room, SessionIndex, Store, StoreError};

async fn open(db: &TestDatabase) -> Result<PostgresStore, OpenError> {
    PostgresStore::connect(&db.url, PostgresOptions::default()).await
}

/// A plain connection for editing the database by hand.
async fn raw(db: &TestDatabase) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// Every table and its row count, to compare before and after.
async fn contents(client: &tokio_postgres::Client) -> Vec<(String, i64)> {
    let tables: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
             ORDER BY tablename",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM \"{t}\""), &[])
            .await
            .unwrap()
            .get(0);
        out.push((t, n));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_database_is_refused_untouched() {
    let Some(db) = testing::database().await else {
        return;
    };
    let client = raw(&db).await;
    client
        .batch_execute("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('mine');")
        .await
        .unwrap();
    let before = contents(&client).await;
    let err = open(&db).await.unwrap_err();
    assert!(
        matches!(&err, OpenError::Foreign { tables, .. } if tables == &["notes".to_owned()]),
        "{err}"
    );
    assert!(err.to_string().contains("not Huddle's"), "{err}");
    assert_eq!(contents(&client).await, before, "unchanged");

    // A version table of another application is foreign too.
    let Some(db) = testing::database().await else {
        return;
    };
    let client = raw(&db).await;
    client
        .batch_execute(
            "CREATE TABLE huddle_schema (application text, version integer); \
             INSERT INTO huddle_schema VALUES ('someone-else', 1);",
        )
        .await
        .unwrap();
    let before = contents(&client).await;
    let err = open(&db).await.unwrap_err();
    assert!(matches!(err, OpenError::Foreign { .. }), "{err}");
    assert_eq!(contents(&client).await, before, "unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_untouched() {
    let Some(db) = testing::database().await else {
        return;
    };
    drop(open(&db).await.expect("a fresh database is migrated"));
    let client = raw(&db).await;
    let row = client
        .query_one("SELECT application, version FROM huddle_schema", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), i64::from(row.get::<_, i32>(1))),
        ("huddle".to_owned(), SCHEMA_VERSION)
    );
    let newer = i32::try_from(SCHEMA_VERSION + 1).unwrap();
    client
        .execute("UPDATE huddle_schema SET version = $1", &[&newer])
        .await
        .unwrap();
    client
        .batch_execute("CREATE TABLE from_the_future (x int)")
        .await
        .unwrap();
    let before = contents(&client).await;
    let err = open(&db).await.unwrap_err();
    assert!(
        matches!(err, OpenError::TooNew { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade Huddle"), "{err}");
    assert_eq!(contents(&client).await, before, "unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huddle_database_missing_a_table_is_corrupt() {
    let Some(db) = testing::database().await else {
        return;
    };
    drop(open(&db).await.unwrap());
    raw(&db)
        .await
        .batch_execute("DROP TABLE snapshots")
        .await
        .unwrap();
    let err = open(&db).await.unwrap_err();
    assert!(
        matches!(&err, OpenError::Corrupt(detail) if detail.contains("snapshots")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_opening_a_fresh_database_together_migrate_once() {
    let Some(db) = testing::database().await else {
        return;
    };
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(
                async move { PostgresStore::connect(&url, PostgresOptions::default()).await },
            )
        })
        .collect();
    for open in opens {
        open.await.unwrap().expect("every node opens it");
    }
    let n: i64 = raw(&db)
        .await
        .query_one("SELECT count(*) FROM huddle_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_servers_and_bad_urls_are_typed() {
    let err = PostgresStore::connect(
        "postgres://nobody@127.0.0.1:1/x",
        PostgresOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpenError::Connect(_)), "{err}");
    let err = PostgresStore::connect("postgres://h:notaport/x", PostgresOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, OpenError::Config(_)), "{err}");
}

/// Ids may hold any character, NUL included (as in every backend).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_with_nul_and_any_unicode_round_trip() {
    let Some(db) = testing::database().await else {
        return;
    };
    let store = open(&db).await.unwrap();
    let board = BoardId::from("b\0ärd 🎨");
    store
        .create_room(Room {
            id: board.clone(),
            name: "nul\0name".into(),
            session_type: SessionType::Ephemeral,
            created_at: Timestamp::from_millis(u64::MAX),
        })
        .await
        .unwrap();
    let room = store.room(&board).await.unwrap().unwrap();
    assert_eq!(room.name, "nul\0name");
    assert_eq!(room.created_at, Timestamp::from_millis(u64::MAX));
    let epoch = store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    let mut evs = events(1, 3);
    evs[0].author = "a\0b".into();
    let batch = AppendBatch {
        board: board.clone(),
        epoch,
        events: evs.clone().into(),
    };
    assert_eq!(store.append_events(vec![batch]).await, vec![Ok(())]);
    assert_eq!(store.read_events(&board, 0, 10).await.unwrap(), evs);
}

async fn filled(db: &TestDatabase) -> (PostgresStore, String) {
    let store = open(db).await.unwrap();
    let board = BoardId::from("b");
    store
        .create_room(Room {
            id: board.clone(),
            name: "r".into(),
            session_type: SessionType::Persistent,
            created_at: Timestamp::EPOCH,
        })
        .await
        .unwrap();
    let epoch = store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    // 20 appends of 100 events, one after the other: 20 event chunks.
    for i in 0..20 {
        let batch = AppendBatch {
            board: board.clone(),
            epoch,
            events: events(1 + 100 * i, 100 * (i + 1)).into(),
        };
        assert_eq!(store.append_events(vec![batch]).await, vec![Ok(())]);
    }
    let id = store
        .store_snapshot(
            epoch,
            Arc::new(Snapshot {
                board: board.clone(),
                version: 10,
                pages: huddle_store::conformance::replay(&events(1, 10), 10),
                created_at: Timestamp::EPOCH,
                created_by: SnapshotCause::Manual,
            }),
        )
        .await
        .unwrap();
    store
        .put_user_session(
            epoch,
            UserSessionRecord {
                id: UserSessionId(9),
                board_id: board.clone(),
                user_id: "u".into(),
                conn: ConnId(1),
                started_at: Timestamp::EPOCH,
                last_activity: Timestamp::EPOCH,
                ended_at: None,
                status: UserSessionStatus::Active,
                client_info: None,
            },
        )
        .await
        .unwrap();
    (store, id.to_string())
}

#[track_caller]
fn corrupt(result: Result<impl std::fmt::Debug, StoreError>) {
    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

/// Damaged rows (as a bug, a disk or a hand edit might leave them) give
/// `Corrupt`, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_rows_are_corrupt_errors() {
    let Some(db) = testing::database().await else {
        return;
    };
    let (store, snapshot_id) = filled(&db).await;
    let board = BoardId::from("b");
    let raw = raw(&db).await;
    let edit = |sql: &'static str| {
        let raw = &raw;
        async move { raw.batch_execute(sql).await.unwrap() }
    };
    assert!(store.load_board(&board).await.unwrap().is_some());

    // The chunk of events 1901 to 2000, damaged in turn, then restored.
    edit("CREATE TEMP TABLE saved AS SELECT last_seq, events FROM event_chunks").await;
    let chunks: i64 = raw
        .query_one("SELECT count(*) FROM saved", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(chunks, 20);
    for damage in [
        "events = '\\x00'::bytea || substr(events, 2)", // not a chunk
        "events = substr(events, 1, length(events) - 1)", // truncated
        "events = events || '\\x00'::bytea",            // a byte too many
        "first_seq = 1902",                             // the blob holds more
        "first_seq = 1900",                             // the blob holds fewer
        "first_seq = -1901",                            // not a sequence
        "events = '\\x48450102'::bytea || substr(events, 5)", // no page first
    ] {
        raw.batch_execute(&format!(
            "UPDATE event_chunks SET {damage} WHERE board = 'b' AND last_seq = 2000"
        ))
        .await
        .unwrap();
        corrupt(store.load_board(&board).await);
        corrupt(store.read_events(&board, 1990, 20).await);
        edit(
            "UPDATE event_chunks SET first_seq = last_seq - 99, events = \
             (SELECT events FROM saved WHERE saved.last_seq = event_chunks.last_seq)",
        )
        .await;
        let loaded = store.load_board(&board).await.unwrap().unwrap();
        assert_eq!(
            loaded.events.last().map(|e| e.seq),
            Some(2000),
            "restored after {damage}"
        );
    }
    // A chunk that overlaps the one before it (a blob of 100 events,
    // holding 1851 to 1950 by its row, between 1801..=1900 and 1901..=2000).
    edit(
        "INSERT INTO event_chunks SELECT board, 1950, 1851, events FROM event_chunks \
         WHERE board = 'b' AND last_seq = 2000",
    )
    .await;
    let overlap = store.read_events(&board, 1800, 300).await;
    assert!(
        matches!(&overlap, Err(StoreError::Corrupt(m)) if m.contains("overlaps")),
        "{overlap:?}"
    );
    corrupt(store.load_board(&board).await);
    edit("DELETE FROM event_chunks WHERE board = 'b' AND last_seq = 1950").await;
    assert!(
        store.load_board(&board).await.is_ok(),
        "without the overlap"
    );
    // A chunk out of the middle of the loaded window: a hole.
    edit("DELETE FROM event_chunks WHERE board = 'b' AND last_seq = 1500").await;
    corrupt(store.load_board(&board).await);
    corrupt(store.read_events(&board, 1300, 300).await);

    // Without the hole: the log is 1..=1400.
    edit("DELETE FROM event_chunks WHERE board = 'b' AND last_seq > 1400").await;
    assert!(store.load_board(&board).await.is_ok(), "a shorter log");

    // The log end is the largest sequence stored: a negative one is
    // corrupt for a load, a summary and an append, and the other batches of
    // the append's group are still stored.
    edit("UPDATE event_chunks SET last_seq = -last_seq, first_seq = -first_seq WHERE board = 'b'")
        .await;
    corrupt(store.load_board(&board).await);
    corrupt(store.board_summary(&board).await);
    let epoch = store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    let other = BoardId::from("other");
    let other_epoch = store
        .acquire_board(&other, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    let answers = store
        .append_events(vec![
            AppendBatch {
                board: board.clone(),
                epoch,
                events: events(2001, 2001).into(),
            },
            AppendBatch {
                board: other.clone(),
                epoch: other_epoch,
                events: events(1, 5).into(),
            },
        ])
        .await;
    assert!(
        matches!(answers[..], [Err(StoreError::Corrupt(_)), Ok(())]),
        "{answers:?}"
    );
    assert_eq!(
        store.read_events(&other, 0, 10).await.unwrap(),
        events(1, 5)
    );
    edit("UPDATE event_chunks SET last_seq = -last_seq, first_seq = -first_seq WHERE board = 'b'")
        .await;
    assert!(store.load_board(&board).await.is_ok(), "the log again");

    edit("UPDATE rooms SET session_type = 'forever'").await;
    corrupt(store.room(&board).await);
    corrupt(store.load_board(&board).await);
    edit("UPDATE rooms SET session_type = 'persistent'").await;

    edit("UPDATE snapshots SET pages = '\\x00010203'::bytea").await;
    corrupt(
        store
            .get_snapshot(&board, &snapshot_id.as_str().into())
            .await,
    );
    edit("UPDATE snapshots SET created_by = 'nobody'").await;
    corrupt(store.list_snapshots(&board).await);

    edit("UPDATE user_sessions SET status = 'zombie'").await;
    corrupt(
        store
            .user_sessions(SessionIndex::Board(board.clone()))
            .await,
    );
    corrupt(store.user_sessions(SessionIndex::User("u".into())).await);

    // Stray elements of a board whose state was never flushed still load
    // (they are the state as of 0); a missing event is what is corrupt.
    edit("DELETE FROM user_sessions").await;
    assert!(store
        .user_sessions(SessionIndex::User("u".into()))
        .await
        .unwrap()
        .is_empty());
}
