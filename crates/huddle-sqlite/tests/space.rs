//! The space of pruned snapshots is used again (issue 17, finding 2): a
//! board snapshotted 200 times with 50 kept leaves a file near the size of
//! 50 snapshots, not of 200; and a new file gives the space back once most
//! of it is free.

use std::path::Path;
use std::sync::Arc;

use huddle_core::{
    BoardId, ElementId, PageId, Pages, Payload, SessionType, Snapshot, SnapshotCause, Timestamp,
};
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::{Epoch, Room, Store};

const SNAPSHOTS: u64 = 200;
const KEEP: usize = 50;
/// The board: 32 elements of 64 KiB, 2 MiB of data.
const ELEMENTS: usize = 32;
const ELEMENT_BYTES: usize = 64 * 1024;

fn board_pages(version: u64) -> Pages {
    Pages::from_elements((0..ELEMENTS).map(|i| {
        // A JSON string; its content varies by version and element.
        let fill = char::from(b'a' + ((version as usize + i) % 26) as u8);
        let data = format!("\"{}\"", fill.to_string().repeat(ELEMENT_BYTES - 2));
        (
            PageId::from(format!("p{}", i % 4)),
            ElementId::from(format!("e{i}")),
            Payload::from(data.as_str()),
        )
    }))
}

fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

async fn open_board(path: &Path, board: &BoardId) -> (SqliteStore, Epoch) {
    let store = SqliteStore::open(path, SqliteOptions::default())
        .await
        .expect("open");
    store
        .create_room(Room {
            id: board.clone(),
            name: "Big".into(),
            session_type: SessionType::Persistent,
            created_at: Timestamp::from_millis(1_700_000_000_000),
        })
        .await
        .expect("room");
    let epoch = store
        // The default node (alone on its store) leases for an hour: the
        // test renews none.
        .acquire_board(board, &huddle_store::Node::default())
        .await
        .expect("acquire")
        .epoch;
    (store, epoch)
}

async fn store_snapshot(store: &SqliteStore, epoch: Epoch, board: &BoardId, version: u64) {
    let snapshot = Arc::new(Snapshot {
        board: board.clone(),
        version,
        pages: board_pages(version),
        created_at: Timestamp::from_millis(1_700_000_000_000 + version),
        created_by: SnapshotCause::Manual,
    });
    store
        .store_snapshot(epoch, snapshot)
        .await
        .expect("snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_snapshots_leave_a_file_the_size_of_those_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let board = BoardId::from("big");
    let data_bytes = (ELEMENTS * ELEMENT_BYTES) as u64;
    {
        let (store, epoch) = open_board(&path, &board).await;
        for version in 1..=SNAPSHOTS {
            store_snapshot(&store, epoch, &board, version).await;
            // The engine prunes once more than `KEEP` are stored.
            if version > KEEP as u64 {
                store
                    .prune_snapshots(&board, epoch, KEEP)
                    .await
                    .expect("prune");
            }
        }
        let kept = store.list_snapshots(&board).await.expect("list");
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].version, SNAPSHOTS);
    }
    // Closed: the log is checkpointed into the file.
    let file = file_bytes(&path);
    let wal = file_bytes(&path.with_extension("db-wal"));
    let kept = KEEP as u64 * data_bytes;
    eprintln!(
        "{SNAPSHOTS} snapshots of {data_bytes} bytes, {KEEP} kept ({kept} bytes): \
         file {file} bytes, log {wal} bytes"
    );
    // The kept snapshots, one more being written before a prune, and a
    // quarter on top for pages and indexes: far below the 200 written.
    let bound = (KEEP as u64 + 1) * data_bytes * 5 / 4;
    assert!(
        file <= bound,
        "the file holds {file} bytes, over {bound} for {KEEP} snapshots of {data_bytes} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_gives_the_space_of_pruned_snapshots_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let board = BoardId::from("big");
    let data_bytes = (ELEMENTS * ELEMENT_BYTES) as u64;
    let full;
    {
        let (store, epoch) = open_board(&path, &board).await;
        for version in 1..=20 {
            store_snapshot(&store, epoch, &board, version).await;
        }
        full = file_bytes(&path) + file_bytes(&path.with_extension("db-wal"));
        // Down to one: most of the file is free now, and given back.
        store
            .prune_snapshots(&board, epoch, 1)
            .await
            .expect("prune");
    }
    let conn = rusqlite::Connection::open(&path).expect("reopen");
    let mode: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .expect("auto_vacuum");
    assert_eq!(
        mode, 2,
        "a new file is created with auto_vacuum = INCREMENTAL"
    );
    let free: i64 = conn
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .expect("freelist_count");
    drop(conn);
    let file = file_bytes(&path);
    eprintln!(
        "20 snapshots: {full} bytes with the log; one kept: file {file} bytes, {free} pages free"
    );
    assert!(full >= 20 * data_bytes, "{full}");
    assert!(
        file <= 2 * data_bytes,
        "the file holds {file} bytes after pruning to one snapshot of {data_bytes} bytes"
    );
}
