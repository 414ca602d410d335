//! Board leases: takeover only after expiry, renewal, release, fencing of
//! the old owner, and the holder named on refusal.
//!
//! The cases run on the backend's own clock: they sleep past a short TTL
//! rather than move a clock.

use std::time::Duration;

use huddle_core::{
    BoardId, ConnId, Pages, Snapshot, SnapshotCause, UserSessionId, UserSessionRecord,
    UserSessionStatus,
};

use super::fixtures::{append, append_ok, events, flush, whole_log, T0};
use crate::{Acquired, Epoch, Node, SessionIndex, Store, StoreError};

/// The TTL of the nodes in these cases.
const TTL: Duration = Duration::from_millis(800);
/// Sleeping this long lets a lease of [`TTL`] expire.
const PAST_TTL: Duration = Duration::from_millis(1100);

fn node(id: &str) -> Node {
    Node::new(id, format!("ws://{id}.test/ws")).with_lease_ttl(TTL)
}

fn owned_by(board: &BoardId, node: &Node) -> StoreError {
    StoreError::OwnedElsewhere {
        board: board.clone(),
        owner: node.owner.clone(),
    }
}

/// Every kind of board write with `epoch`, each answered with `expected`.
async fn every_write_refused<S: Store>(
    store: &S,
    board: &BoardId,
    epoch: Epoch,
    expected: &StoreError,
) {
    let all = events(1, 40);
    assert_eq!(
        store
            .append_events(vec![append(board, epoch, 30, 31)])
            .await,
        vec![Err(expected.clone())],
        "append"
    );
    assert_eq!(
        store.flush(flush(board, epoch, &all, 1, 1)).await,
        Err(expected.clone()),
        "flush"
    );
    let snapshot = std::sync::Arc::new(Snapshot {
        board: board.clone(),
        version: 1,
        pages: Pages::new(),
        created_at: T0,
        created_by: SnapshotCause::Manual,
    });
    assert_eq!(
        store.store_snapshot(epoch, snapshot).await,
        Err(expected.clone()),
        "snapshot"
    );
    assert_eq!(
        store.prune_snapshots(board, epoch, 0).await,
        Err(expected.clone()),
        "prune"
    );
    let record = UserSessionRecord {
        id: UserSessionId(77),
        board_id: board.clone(),
        user_id: "u".into(),
        conn: ConnId(1),
        started_at: T0,
        last_activity: T0,
        ended_at: None,
        status: UserSessionStatus::Active,
        client_info: None,
    };
    assert_eq!(
        store.put_user_session(epoch, record).await,
        Err(expected.clone()),
        "user session record"
    );
}

/// A board another node's lease holds is refused, naming the holder,
/// until the lease expires; then the board is taken over with a higher
/// epoch, and every write of the old owner is fenced and writes nothing.
pub async fn leases_take_over_only_after_expiry<S: Store + 'static>(store: S) {
    let board = BoardId::from("leased");
    let (a, b) = (node("node-a"), node("node-b"));
    let first = store.acquire_board(&board, &a).await.expect("acquire");
    assert!(first.epoch > Epoch::NONE);
    assert!(!first.took_over, "the board was free");
    assert_eq!(store.board_owner(&board).await, Ok(Some(a.owner.clone())));
    assert_eq!(
        store.acquire_board(&board, &b).await,
        Err(owned_by(&board, &a)),
        "refused while a's lease runs, naming a"
    );
    append_ok(&store, &board, first.epoch, 1, 3).await;

    // The holder may acquire again: a new epoch fences its older one.
    let again = store
        .acquire_board(&board, &a)
        .await
        .expect("acquire again");
    assert!(again.epoch > first.epoch && !again.took_over);
    let stale = StoreError::Fenced {
        board: board.clone(),
        presented: first.epoch,
        current: again.epoch,
    };
    every_write_refused(&store, &board, first.epoch, &stale).await;

    tokio::time::sleep(PAST_TTL).await;
    assert_eq!(store.board_owner(&board).await, Ok(None), "expired");
    let expired = StoreError::LeaseExpired {
        board: board.clone(),
        epoch: again.epoch,
    };
    every_write_refused(&store, &board, again.epoch, &expired).await;

    let taken: Acquired = store.acquire_board(&board, &b).await.expect("takeover");
    assert!(taken.took_over, "a's lease had expired");
    assert!(taken.epoch > again.epoch, "a takeover raises the epoch");
    assert_eq!(store.board_owner(&board).await, Ok(Some(b.owner.clone())));
    assert_eq!(
        store.acquire_board(&board, &a).await,
        Err(owned_by(&board, &b)),
        "now a is refused, naming b"
    );
    let fenced = StoreError::Fenced {
        board: board.clone(),
        presented: again.epoch,
        current: taken.epoch,
    };
    every_write_refused(&store, &board, again.epoch, &fenced).await;

    // Nothing of the old owner's was written; the new one writes.
    assert_eq!(whole_log(&store, &board).await, events(1, 3));
    assert_eq!(store.list_snapshots(&board).await, Ok(vec![]));
    assert_eq!(
        store
            .user_sessions(SessionIndex::Board(board.clone()))
            .await,
        Ok(vec![])
    );
    append_ok(&store, &board, taken.epoch, 4, 5).await;
    assert_eq!(whole_log(&store, &board).await, events(1, 5));
}

/// Renewing keeps a lease past its first TTL (one call for all of a
/// node's boards, answering those still held); a lease not renewed
/// expires and is renewed no more.
pub async fn renewal_keeps_a_lease<S: Store + 'static>(store: S) {
    let (x, y, never) = (
        BoardId::from("renewed-x"),
        BoardId::from("renewed-y"),
        BoardId::from("renewed-never-acquired"),
    );
    let (a, b) = (node("node-a"), node("node-b"));
    let ex = store.acquire_board(&x, &a).await.expect("acquire").epoch;
    store.acquire_board(&y, &a).await.expect("acquire");
    assert_eq!(store.renew_leases(&a, &[]).await, Ok(vec![]));
    for round in 0..5 {
        tokio::time::sleep(TTL / 4).await;
        let mut renewed = store
            .renew_leases(&a, &[x.clone(), never.clone(), y.clone()])
            .await
            .expect("renew");
        renewed.sort();
        assert_eq!(renewed, vec![x.clone(), y.clone()], "round {round}");
        assert_eq!(
            store.acquire_board(&x, &b).await,
            Err(owned_by(&x, &a)),
            "round {round}"
        );
    }
    // Longer than the TTL after the acquire, a still owns x and writes.
    append_ok(&store, &x, ex, 1, 2).await;
    assert_eq!(
        store.renew_leases(&b, std::slice::from_ref(&x)).await,
        Ok(vec![]),
        "b holds nothing"
    );

    tokio::time::sleep(PAST_TTL).await;
    assert_eq!(
        store.renew_leases(&a, &[x.clone(), y.clone()]).await,
        Ok(vec![]),
        "an expired lease is not renewed"
    );
    assert_eq!(store.board_owner(&x).await, Ok(None));
    assert_eq!(
        store.append_events(vec![append(&x, ex, 3, 3)]).await,
        vec![Err(StoreError::LeaseExpired {
            board: x.clone(),
            epoch: ex
        })]
    );
    assert_eq!(whole_log(&store, &x).await, events(1, 2));
}

/// Releasing frees a board at once: another node acquires it without
/// waiting (not a takeover), and the released epoch writes nothing more.
/// A release with any other epoch changes nothing.
pub async fn release_frees_at_once<S: Store + 'static>(store: S) {
    let board = BoardId::from("released");
    let (a, b) = (node("node-a"), node("node-b"));
    store
        .release_board(&"never-acquired".into(), Epoch::new(1))
        .await
        .expect("release of an unknown board");
    let held = store
        .acquire_board(&board, &a)
        .await
        .expect("acquire")
        .epoch;
    append_ok(&store, &board, held, 1, 2).await;
    store
        .release_board(&board, held.next())
        .await
        .expect("release with another epoch");
    assert_eq!(store.board_owner(&board).await, Ok(Some(a.owner.clone())));

    store.release_board(&board, held).await.expect("release");
    assert_eq!(store.board_owner(&board).await, Ok(None));
    let released = StoreError::LeaseExpired {
        board: board.clone(),
        epoch: held,
    };
    every_write_refused(&store, &board, held, &released).await;
    let taken = store.acquire_board(&board, &b).await.expect("acquire");
    assert!(!taken.took_over, "a released board is free");
    assert!(taken.epoch > held);
    store
        .release_board(&board, held)
        .await
        .expect("stale release");
    assert_eq!(store.board_owner(&board).await, Ok(Some(b.owner.clone())));
    let fenced = StoreError::Fenced {
        board: board.clone(),
        presented: held,
        current: taken.epoch,
    };
    every_write_refused(&store, &board, held, &fenced).await;
    append_ok(&store, &board, taken.epoch, 3, 3).await;
    assert_eq!(whole_log(&store, &board).await, events(1, 3));
}
