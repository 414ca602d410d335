//! Restarts: a driver started again on the same store (a new process,
//! here a new driver on the reopened SQLite file) hands out user-session
//! ids that no earlier run used, so the user-session records of earlier
//! runs are still there afterwards. A fixed seed repeats the ids, which is
//! why the default draws one from the OS.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use huddle_core::UserSessionId;
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::{SessionIndex, Store};
use huddle_tokio::{Driver, DriverConfig};
use huddle_wire::ServerMessage;

const BOARDS: [&str; 3] = ["b1", "b2", "b3"];

/// One run of a process: opens the store, starts a driver with `config`,
/// joins `users` to every board (each join is a new user session), shuts
/// down. Returns the session ids the joins got.
async fn run(path: &Path, config: DriverConfig, users: &[&str]) -> Vec<UserSessionId> {
    let store = SqliteStore::open(path, SqliteOptions::default())
        .await
        .expect("open the store");
    let driver = Driver::start(config, store);
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for board in BOARDS {
        for user in users {
            let mut c = Client::connect(&driver, user, board);
            c.send(msg(&format!(r#"{{"type":"join","board":"{board}"}}"#)));
            match c.next().await {
                Frame::Msg(ServerMessage::Joined(joined)) => ids.push(joined.session_id),
                other => panic!("{user} expected joined, got {other:?}"),
            }
            clients.push(c);
        }
    }
    driver.shutdown().await;
    ids
}

/// The user-session records stored for every board: (id, user).
async fn stored(path: &Path) -> BTreeSet<(UserSessionId, String)> {
    let store = SqliteStore::open(path, SqliteOptions::default())
        .await
        .expect("reopen the store");
    let mut records = BTreeSet::new();
    for board in BOARDS {
        let list = store
            .user_sessions(SessionIndex::Board(board.into()))
            .await
            .expect("list user sessions");
        records.extend(list.into_iter().map(|r| (r.id, r.user_id.to_string())));
    }
    records
}

fn pairs(ids: &[UserSessionId], users: &[&str]) -> BTreeSet<(UserSessionId, String)> {
    let per_board = users.iter().map(|u| u.to_string());
    let users: Vec<String> = BOARDS.iter().flat_map(|_| per_board.clone()).collect();
    ids.iter().copied().zip(users).collect()
}

#[tokio::test]
async fn default_configs_never_reuse_a_session_id_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    let first = run(&path, DriverConfig::default(), &["alice", "bob"]).await;
    let second = run(&path, DriverConfig::default(), &["carol", "dave"]).await;
    let mut all: BTreeSet<UserSessionId> = first.iter().copied().collect();
    assert_eq!(all.len(), first.len(), "ids repeat within run 1: {first:?}");
    for id in &second {
        assert!(
            all.insert(*id),
            "run 2 reused {id:?} of run 1: {first:?} / {second:?}"
        );
    }
}

/// The regression: with the same ids in both runs, run 2's records replaced
/// run 1's (the store replaces a record by id).
#[tokio::test]
async fn user_session_records_of_an_earlier_run_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    let first = run(&path, DriverConfig::default(), &["alice", "bob"]).await;
    let second = run(&path, DriverConfig::default(), &["carol", "dave"]).await;
    let mut expected = pairs(&first, &["alice", "bob"]);
    expected.extend(pairs(&second, &["carol", "dave"]));
    assert_eq!(expected.len(), 12);
    assert_eq!(stored(&path).await, expected);
}

/// What the default prevents: a fixed seed gives run 2 exactly run 1's
/// ids, and run 2's records overwrite run 1's.
#[tokio::test]
async fn a_fixed_seed_repeats_ids_and_overwrites_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huddle.db");
    let fixed = || DriverConfig::new().seed(0).shards(1);
    let first = run(&path, fixed(), &["alice", "bob"]).await;
    let second = run(&path, fixed(), &["carol", "dave"]).await;
    assert_eq!(first, second);
    assert_eq!(stored(&path).await, pairs(&second, &["carol", "dave"]));
}
