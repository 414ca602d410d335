//! Two stores on one file (two connections, as two processes would have):
//! the lease decides which owns a board, on the database's clock.

use std::time::Duration;

use huddle_core::BoardId;
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Node, Store, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_share_the_leases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.db");
    let first = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open");
    let second = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open again");
    let ttl = Duration::from_millis(600);
    let a = Node::new("a", "ws://a.test/ws").with_lease_ttl(ttl);
    let b = Node::new("b", "ws://b.test/ws").with_lease_ttl(ttl);
    let board = BoardId::from("shared");

    let held = first.acquire_board(&board, &a).await.expect("acquire");
    assert_eq!(
        second.acquire_board(&board, &b).await,
        Err(StoreError::OwnedElsewhere {
            board: board.clone(),
            owner: a.owner.clone()
        })
    );
    assert_eq!(second.board_owner(&board).await, Ok(Some(a.owner.clone())));
    let append = |epoch, first_seq, last_seq| AppendBatch {
        board: board.clone(),
        epoch,
        events: events(first_seq, last_seq).into(),
    };
    assert_eq!(
        first.append_events(vec![append(held.epoch, 1, 2)]).await,
        vec![Ok(())]
    );
    // Renewed through one handle, seen through the other.
    tokio::time::sleep(ttl / 2).await;
    assert_eq!(
        first
            .renew_leases(&a, std::slice::from_ref(&board))
            .await
            .expect("renew"),
        vec![board.clone()]
    );
    tokio::time::sleep(ttl / 2 + Duration::from_millis(50)).await;
    assert!(second.acquire_board(&board, &b).await.is_err(), "renewed");

    tokio::time::sleep(ttl).await;
    let taken = second.acquire_board(&board, &b).await.expect("takeover");
    assert!(taken.took_over && taken.epoch > held.epoch);
    assert!(matches!(
        first.append_events(vec![append(held.epoch, 3, 3)]).await[..],
        [Err(StoreError::Fenced { .. })]
    ));
    assert_eq!(
        second.append_events(vec![append(taken.epoch, 3, 3)]).await,
        vec![Ok(())]
    );
    let log = first.read_events(&board, 0, 10).await.expect("read");
    assert_eq!(log, events(1, 3));
}
