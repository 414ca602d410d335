//! Engine deadlines driven by the runtime clock (paused: virtual time):
//! idle archive, inactivity timeout with close code 4002, auto-save.

mod common;

use std::time::Duration;

use common::*;
use huddle_core::{BoardId, SessionState, SessionType};
use huddle_store::{InMemoryStore, Room, Store};
use huddle_tokio::{close, Driver, DriverConfig};
use huddle_wire::ServerMessage;
use tokio::time::Instant;

fn driver_config() -> DriverConfig {
    DriverConfig::new().engine(short_timings()).shards(2)
}

/// Waits (virtual time) until `f` holds, polling every 10 ms.
async fn eventually<F: std::future::Future<Output = bool>>(
    within: Duration,
    mut f: impl FnMut() -> F,
) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within {within:?}");
}

#[tokio::test(start_paused = true)]
async fn an_idle_board_is_archived_on_time() {
    let driver = Driver::start(driver_config(), InMemoryStore::new());
    let board = BoardId::from("b");
    let alice = Client::join(&driver, "alice", "b").await;
    alice.send(mutate("m1", "e", 1));
    let mut alice = alice;
    alice.until(is_ack).await;
    alice.send(msg(r#"{"type":"leave"}"#));
    let left = Instant::now();
    eventually(Duration::from_secs(1), || async {
        driver.session(&board).await.map(|s| s.state) == Some(SessionState::Idle)
    })
    .await;
    assert_eq!(driver.metrics().boards(SessionState::Idle), 1);

    // Ephemeral idle timeout: 5 s.
    tokio::time::sleep(Duration::from_millis(4_800)).await;
    assert!(driver.session(&board).await.is_some(), "not before 5 s");
    eventually(Duration::from_millis(450), || async {
        driver.session(&board).await.is_none()
    })
    .await;
    let took = left.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took <= Duration::from_millis(5_250),
        "archived {took:?} after the leave"
    );
    assert_eq!(driver.metrics().boards(SessionState::Idle), 0);
    // Flushed before it left memory.
    let loaded = driver.store().load_board(&board).await.unwrap().unwrap();
    assert_eq!(loaded.pages_sequence, 1);
    driver.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_persistent_idle_board_gets_its_archive_snapshot() {
    let store = InMemoryStore::new();
    store
        .create_room(Room {
            id: "p".into(),
            name: "P".into(),
            session_type: SessionType::Persistent,
            created_at: huddle_core::Timestamp::from_millis(0),
        })
        .await
        .unwrap();
    let driver = Driver::start(driver_config(), store);
    let mut alice = Client::join(&driver, "alice", "p").await;
    alice.send(mutate("m1", "e", 1));
    alice.until(is_ack).await;
    drop(alice);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(driver.session(&"p".into()).await.is_none());
    let snaps = driver.store().list_snapshots(&"p".into()).await.unwrap();
    assert!(
        snaps
            .iter()
            .any(|s| s.created_by == huddle_core::SnapshotCause::Archive && s.version == 1),
        "{snaps:?}"
    );
    driver.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_inactive_connection_gets_session_timeout_then_close_4002() {
    let driver = Driver::start(driver_config(), InMemoryStore::new());
    let mut alice = Client::join(&driver, "alice", "b").await;
    let mut bob = Client::join(&driver, "bob", "b").await;
    alice.next().await; // participant_joined
    let start = Instant::now();
    // Bob stays active; pings are not activity.
    let mut timeout = None;
    for _ in 0..30 {
        bob.send(mutate(&format!("m{}", start.elapsed().as_secs()), "e", 1));
        alice.send(msg(r#"{"type":"ping"}"#));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let frames = alice.queued();
        if let Some(i) = frames
            .iter()
            .position(|f| matches!(f, Frame::Msg(ServerMessage::SessionTimeout { .. })))
        {
            timeout = Some((start.elapsed(), frames[i + 1..].to_vec()));
            break;
        }
    }
    let (at, after) = timeout.expect("session_timeout within 30 s");
    assert!(
        at >= Duration::from_secs(20) && at <= Duration::from_secs(22),
        "{at:?}"
    );
    assert_eq!(after, [Frame::Close(close::SESSION_TIMEOUT)]);
    assert!(alice.conn.sender.is_closed());
    assert!(alice.conn.sender.send(msg(r#"{"type":"ping"}"#)).is_err());
    let left = bob
        .until(|f| matches!(f, Frame::Msg(ServerMessage::ParticipantLeft(_))))
        .await;
    assert!(
        matches!(left, Frame::Msg(ServerMessage::ParticipantLeft(p)) if p.user.as_str() == "alice")
    );
    driver.shutdown().await;
}
