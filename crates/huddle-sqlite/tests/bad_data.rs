//! Files that are not a healthy Huddle database give clear typed errors,
//! never a panic, and are not changed by the attempt.

use std::path::Path;
use std::sync::Arc;

use huddle_core::{
    BoardId, ConnId, SessionType, Snapshot, SnapshotCause, Timestamp, UserSessionId,
    UserSessionRecord, UserSessionStatus,
};
use huddle_sqlite::{OpenError, SqliteOptions, SqliteStore, APPLICATION_ID, SCHEMA_VERSION};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Room, SessionIndex, Store, StoreError};
use rusqlite::Connection;

fn open(path: &Path) -> Result<SqliteStore, OpenError> {
    SqliteStore::open_blocking(path, SqliteOptions::default())
}

#[test]
fn a_foreign_sqlite_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other-app.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::Foreign {
                application_id: 0,
                tables: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not Huddle's"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "unchanged");

    // Another application's id, even without tables.
    let path = dir.path().join("tagged.db");
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "application_id", 42).unwrap();
    drop(conn);
    assert!(matches!(
        open(&path),
        Err(OpenError::Foreign {
            application_id: 42,
            ..
        })
    ));
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let text: Vec<u8> = b"just some text, not a database\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    let err = open(&path).unwrap_err();
    assert!(matches!(err, OpenError::NotADatabase { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), text, "unchanged");
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    drop(open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let (app, version): (i64, i64) = (
        conn.query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap(),
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap(),
    );
    assert_eq!((app, version), (APPLICATION_ID, SCHEMA_VERSION));
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE").ok();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(err, OpenError::TooNew { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade Huddle"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "unchanged");
}

#[test]
fn a_huddle_file_missing_a_table_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    drop(open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE snapshots")
        .unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(&err, OpenError::Corrupt { detail, .. } if detail.contains("snapshots")),
        "{err}"
    );
}

#[test]
fn a_reopened_file_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let board = BoardId::from("b");
    rt.block_on(async {
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        let epoch = store
            .acquire_board(&board, &huddle_store::Node::default())
            .await
            .unwrap()
            .epoch;
        let batch = AppendBatch {
            board: board.clone(),
            epoch,
            events: events(1, 50).into(),
        };
        assert_eq!(store.append_events(vec![batch]).await, vec![Ok(())]);
    });
    rt.block_on(async {
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        assert_eq!(
            store.read_events(&board, 0, 100).await.unwrap(),
            events(1, 50)
        );
        // Epochs survive too: the next owner's is higher.
        assert_eq!(
            store
                .acquire_board(&board, &huddle_store::Node::default())
                .await
                .unwrap()
                .epoch
                .get(),
            2
        );
    });
}

/// Fills a database with one of everything; returns the store (still open).
fn filled(path: &Path, rt: &tokio::runtime::Runtime) -> (SqliteStore, String) {
    rt.block_on(async {
        let store = SqliteStore::open(path, SqliteOptions::default())
            .await
            .unwrap();
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
        // 20 appends of 100 events: 20 event chunks.
        let batches: Vec<AppendBatch> = (0..20)
            .map(|i| AppendBatch {
                board: board.clone(),
                epoch,
                events: events(1 + 100 * i, 100 * (i + 1)).into(),
            })
            .collect();
        assert_eq!(store.append_events(batches).await, vec![Ok(()); 20]);
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
    })
}

fn corrupt(result: Result<impl std::fmt::Debug, StoreError>) {
    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

/// Damaged rows (as a bug, a disk or a hand edit might leave them) give
/// `Corrupt`, never a panic.
#[test]
fn damaged_rows_are_corrupt_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (store, snapshot_id) = filled(&path, &rt);
    let board = BoardId::from("b");
    let raw = Connection::open(&path).unwrap();
    let edit = |sql: &str| {
        raw.execute_batch(&format!("BEGIN; {sql}; COMMIT;"))
            .unwrap();
    };
    rt.block_on(async {
        assert!(store.load_board(&board).await.unwrap().is_some());

        // The chunk of events 1901 to 2000, damaged in turn, then restored.
        edit("CREATE TABLE saved AS SELECT last_seq, events FROM event_chunks");
        let restore = "UPDATE event_chunks SET first_seq = last_seq - 99, events = \
             (SELECT events FROM saved WHERE saved.last_seq = event_chunks.last_seq)";
        for damage in [
            "events = x'00' || substr(events, 2)",            // not a chunk
            "events = substr(events, 1, length(events) - 1)", // truncated
            "events = 'text, not a blob'",
            "first_seq = 1902",                          // the blob holds more
            "first_seq = 1900",                          // the blob holds fewer
            "events = x'48450102' || substr(events, 5)", // the first event without its page
        ] {
            edit(&format!(
                "UPDATE event_chunks SET {damage} WHERE board = 'b' AND last_seq = 2000"
            ));
            corrupt(store.load_board(&board).await);
            corrupt(store.read_events(&board, 1990, 20).await);
            edit(restore);
            let loaded = store.load_board(&board).await.unwrap().unwrap();
            assert_eq!(
                loaded.events.last().map(|e| e.seq),
                Some(2000),
                "restored after {damage}"
            );
        }
        // A chunk out of the middle of the loaded window: a gap.
        edit("DELETE FROM event_chunks WHERE board = 'b' AND last_seq = 1500");
        corrupt(store.load_board(&board).await);
        corrupt(store.read_events(&board, 1300, 300).await);

        edit("UPDATE boards SET log_end = -5");
        corrupt(store.load_board(&board).await);
        edit("UPDATE boards SET log_end = 2000");

        edit("UPDATE rooms SET session_type = 'forever'");
        corrupt(store.room(&board).await);
        corrupt(store.load_board(&board).await);

        edit("UPDATE snapshots SET pages = x'00010203'");
        corrupt(
            store
                .get_snapshot(&board, &snapshot_id.as_str().into())
                .await,
        );
        edit("UPDATE snapshots SET created_by = 'nobody'");
        corrupt(store.list_snapshots(&board).await);

        edit("UPDATE user_sessions SET status = 'zombie'");
        corrupt(
            store
                .user_sessions(SessionIndex::Board(board.clone()))
                .await,
        );
        corrupt(store.user_sessions(SessionIndex::User("u".into())).await);

        edit("INSERT INTO elements VALUES ('b', 'p', 'e', 'text')");
        edit("UPDATE rooms SET session_type = 'persistent'");
        corrupt(store.load_board(&board).await);
    });
    drop(store);
}

/// Garbage over the file's pages (not its header): reads fail with a
/// typed error, never a panic.
#[test]
fn garbage_pages_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (store, _) = filled(&path, &rt);
    drop(store);
    // Fold the WAL into the main file, then damage every page but the first.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let raw = Connection::open(&path).unwrap();
    raw.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(raw);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 16 * 4096, "{} bytes", bytes.len());
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i as u8).wrapping_mul(31) ^ 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();

    let store = match open(&path) {
        Err(e) => {
            // Refusing at open is a fine answer too.
            assert!(
                matches!(e, OpenError::Corrupt { .. } | OpenError::Sqlite { .. }),
                "{e}"
            );
            return;
        }
        Ok(store) => store,
    };
    rt.block_on(async {
        let board = BoardId::from("b");
        let load = store.load_board(&board).await;
        assert!(load.is_err(), "{load:?}");
        assert!(store.read_events(&board, 0, 10).await.is_err());
        assert!(store.list_snapshots(&board).await.is_err());
    });
}
