//! Graceful shutdown: every session is flushed (persistent rooms also get
//! their `archive` snapshot) and confirmed before the shards end; every
//! connection is closed with 1012. Checked on the in-memory store and on
//! SQLite, reopened after the driver is gone.

mod common;

use std::time::Duration;

use common::*;
use huddle_core::{BoardId, SessionType, SnapshotCause, Timestamp, UserSessionStatus};
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::{Faulty, InMemoryStore, Op, Room, SessionIndex, Store, Target};
use huddle_tokio::{close, Driver};
use huddle_wire::ServerMessage;

fn room(id: &str, session_type: SessionType) -> Room {
    Room {
        id: id.into(),
        name: id.into(),
        session_type,
        created_at: Timestamp::from_millis(0),
    }
}

/// Joins `p` (persistent) and `e` (ephemeral), applies `n` acked batches
/// to each, shuts down, and checks what every client saw.
async fn run_and_shut_down<S: Store + 'static>(driver: &Driver<S>, n: u32) {
    let mut clients = Vec::new();
    for board in ["p", "e"] {
        let mut c = Client::join(driver, "alice", board).await;
        for i in 0..n {
            c.send(mutate(&format!("m{i}"), &format!("e{i}"), i));
            c.until(is_ack).await;
        }
        clients.push(c);
    }
    // A third board with nothing to store, and a connection that never
    // joined.
    let _other = Client::join(driver, "bob", "other").await;
    let mut idle = Client::connect(driver, "carol", "p");

    driver.shutdown().await;
    for c in &mut clients {
        let rest = c.queued();
        assert_eq!(rest.len(), 2, "{rest:?}");
        assert!(matches!(
            &rest[0],
            Frame::Msg(ServerMessage::SessionClosed { .. })
        ));
        assert_eq!(rest[1], Frame::Close(close::SERVICE_RESTART));
    }
    assert_eq!(idle.queued(), [Frame::Close(close::SERVICE_RESTART)]);
    assert_eq!(driver.metrics().connections_open(), 0);
    assert_eq!(driver.stats().await, Default::default(), "shards are gone");
}

async fn check_stored<S: Store>(store: &S, n: u64) {
    let p = store
        .load_board(&BoardId::from("p"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.pages_sequence, n, "persistent board flushed");
    assert_eq!(p.pages.element_count(), n as usize);
    let snaps = store.list_snapshots(&"p".into()).await.unwrap();
    assert_eq!(
        snaps
            .iter()
            .filter(|s| s.created_by == SnapshotCause::Archive)
            .map(|s| s.version)
            .collect::<Vec<_>>(),
        [n],
        "one archive snapshot of the final state: {snaps:?}"
    );
    let e = store
        .load_board(&BoardId::from("e"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.pages_sequence, n, "ephemeral board flushed");
    let snaps = store.list_snapshots(&"e".into()).await.unwrap();
    assert!(
        snaps.iter().all(|s| s.created_by != SnapshotCause::Archive),
        "no archive snapshot for an ephemeral room"
    );
}

#[tokio::test]
async fn shutdown_flushes_every_board_and_archives_persistent_rooms() {
    let store = InMemoryStore::new();
    store
        .create_room(room("p", SessionType::Persistent))
        .await
        .unwrap();
    store
        .create_room(room("e", SessionType::Ephemeral))
        .await
        .unwrap();
    let driver = Driver::start(config(2), store);
    run_and_shut_down(&driver, 5).await;
    check_stored(driver.store(), 5).await;
    // User session records were stored, ended by the shutdown.
    let records = driver
        .store()
        .user_sessions(SessionIndex::Board("p".into()))
        .await
        .unwrap();
    let seen: Vec<(&str, UserSessionStatus)> = records
        .iter()
        .map(|r| (r.user_id.as_str(), r.status))
        .collect();
    assert_eq!(seen, [("alice", UserSessionStatus::Ended)]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_slow_and_failing_store() {
    let store = Faulty::new(InMemoryStore::new());
    store
        .create_room(room("p", SessionType::Persistent))
        .await
        .unwrap();
    store
        .create_room(room("e", SessionType::Ephemeral))
        .await
        .unwrap();
    let driver = Driver::start(config(1), store);
    let mut c = Client::join(&driver, "alice", "p").await;
    let faults = driver.store().faults();
    faults
        .target(Target::Writes)
        .set_delay(Some(Duration::from_millis(200)));
    c.send(mutate("m1", "x", 1));
    c.until(is_ack).await;
    // The next flush fails once: shutdown retries it.
    faults.target(Target::Only(Op::Flush)).fail_nth(1);
    c.send(mutate("m2", "y", 2));
    // Shutdown begins with the second batch not yet stored.
    driver.shutdown().await;
    let p = driver
        .store()
        .inner()
        .load_board(&"p".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.pages_sequence, 2,
        "the batch in flight was stored and flushed"
    );
    let snaps = driver
        .store()
        .inner()
        .list_snapshots(&"p".into())
        .await
        .unwrap();
    assert!(snaps
        .iter()
        .any(|s| s.created_by == SnapshotCause::Archive && s.version == 2));
}

#[tokio::test]
async fn shutdown_on_sqlite_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    {
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        store
            .create_room(room("p", SessionType::Persistent))
            .await
            .unwrap();
        store
            .create_room(room("e", SessionType::Ephemeral))
            .await
            .unwrap();
        let driver = Driver::start(config(2), store);
        run_and_shut_down(&driver, 3).await;
    }
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    check_stored(&store, 3).await;
}

/// The archive snapshot may push a board past its snapshot retention: the
/// prune that follows is still performed under the board's epoch although
/// the session ends at once.
#[tokio::test]
async fn the_prune_after_an_archive_snapshot_is_performed() {
    let store = InMemoryStore::new();
    store
        .create_room(room("p", SessionType::Persistent))
        .await
        .unwrap();
    let mut engine = short_timings();
    engine.snapshot_retention = 1;
    let config = huddle_tokio::DriverConfig::new().engine(engine).shards(1);
    let driver = Driver::start(config, store);
    let mut c = Client::join(&driver, "alice", "p").await;
    c.send(mutate("m1", "x", 1));
    c.until(is_ack).await;
    c.send(msg(r#"{"type":"snapshot"}"#));
    c.until(|f| matches!(f, Frame::Msg(ServerMessage::Snapshot(_))))
        .await;
    c.send(mutate("m2", "x", 2));
    c.until(is_ack).await;
    driver.shutdown().await;
    let snaps = driver.store().list_snapshots(&"p".into()).await.unwrap();
    let kept: Vec<(SnapshotCause, u64)> = snaps.iter().map(|s| (s.created_by, s.version)).collect();
    assert_eq!(kept, [(SnapshotCause::Archive, 2)]);
}

/// `serve_until`: on the signal, the one shutdown order: connections are
/// refused and `shutdown_started` completes, sessions end (`session_closed`,
/// 1012), storage drains, and the SQLite store is closed last (a reopen
/// finds everything; the closed handle answers nothing more).
#[tokio::test]
async fn serve_until_drains_then_closes_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    store
        .create_room(room("p", SessionType::Persistent))
        .await
        .unwrap();
    let driver = Driver::start(config(2), store);
    let mut c = Client::join(&driver, "alice", "p").await;
    c.send(mutate("m1", "x", 1));
    c.until(is_ack).await;
    let started = tokio::spawn(driver.shutdown_started());
    assert!(!started.is_finished());
    let (signal, on_signal) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn({
        let driver = driver.clone();
        async move {
            driver
                .serve_until(
                    async {
                        let _ = on_signal.await;
                    },
                    Duration::from_secs(30),
                )
                .await
        }
    });
    signal.send(()).unwrap();
    assert_eq!(serving.await.unwrap(), Ok(()));
    started.await.unwrap();
    assert!(matches!(
        driver.connect(identity("bob", "p")),
        Err(huddle_tokio::DriverError::ShuttingDown)
    ));
    let rest = c.queued();
    assert!(
        matches!(
            rest.as_slice(),
            [
                Frame::Msg(ServerMessage::SessionClosed { .. }),
                Frame::Close(close::SERVICE_RESTART)
            ]
        ),
        "{rest:?}"
    );
    assert!(
        matches!(
            driver.store().room(&"p".into()).await,
            Err(huddle_store::StoreError::Unavailable(_))
        ),
        "the store is closed"
    );
    let reopened = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    let p = reopened.load_board(&"p".into()).await.unwrap().unwrap();
    assert_eq!(p.pages_sequence, 1, "flushed before the close");
}

/// A store that never confirms: `shutdown_within` gives up after its
/// timeout with a typed error instead of waiting forever.
#[tokio::test(start_paused = true)]
async fn shutdown_within_times_out_on_a_stalled_store() {
    let store = Faulty::new(InMemoryStore::new());
    let driver = Driver::start(config(1), store);
    let mut c = Client::join(&driver, "alice", "b").await;
    c.send(mutate("m1", "x", 1));
    c.until(is_ack).await;
    driver
        .store()
        .faults()
        .target(Target::Writes)
        .set_delay(Some(Duration::from_secs(3600)));
    c.send(mutate("m2", "y", 2));
    let timeout = Duration::from_secs(5);
    assert_eq!(
        driver.shutdown_within(timeout).await,
        Err(huddle_tokio::DriverError::ShutdownTimedOut(timeout))
    );
}
