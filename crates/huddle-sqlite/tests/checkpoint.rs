//! Checkpoints run off the commit path: a commit lands in the database file
//! itself (not only in the write-ahead log) shortly after it is made,
//! without the writer having to checkpoint.

use std::time::{Duration, Instant};

use huddle_core::{BoardId, SessionType, Timestamp};
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::{Room, Store};

/// Whether a copy of the database file alone (without its `-wal`) holds
/// the room: only a checkpoint puts it there.
fn main_file_has_room(db: &std::path::Path, id: &str) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.db");
    std::fs::copy(db, &copy).expect("copy the database file");
    let conn = rusqlite::Connection::open(&copy).expect("open the copy");
    conn.query_row("SELECT count(*) FROM rooms WHERE id = ?1", [id], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n == 1)
    .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_reach_the_database_file_by_a_background_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open");
    store
        .create_room(Room {
            id: BoardId::from("checkpointed"),
            name: "Checkpointed".into(),
            session_type: SessionType::Persistent,
            created_at: Timestamp::from_millis(1_700_000_000_000),
        })
        .await
        .expect("create room");
    // A few pages of log are far below the writer's own checkpoint
    // threshold: only the background checkpointer copies them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !main_file_has_room(&path, "checkpointed") {
        assert!(
            Instant::now() < deadline,
            "the commit never reached the database file"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(store);
}
