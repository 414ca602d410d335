//! Ownership epochs, and group commits of many boards.

use std::sync::Arc;

use huddle_core::{
    BoardId, ConnId, Pages, Snapshot, SnapshotCause, UserSessionId, UserSessionRecord,
    UserSessionStatus,
};

use super::fixtures::{append, append_ok, events, flush, node, replay, whole_log, T0};
use crate::{Epoch, Store, StoreError};

fn fenced(board: &BoardId, presented: Epoch, current: Epoch) -> StoreError {
    StoreError::Fenced {
        board: board.clone(),
        presented,
        current,
    }
}

/// Every write to a board carries an epoch; after a newer owner acquired
/// the board, the older epoch (and any epoch never handed out) is refused
/// with `Fenced` and writes nothing.
pub async fn epochs_fence_every_write<S: Store + 'static>(store: S) {
    let board = BoardId::from("owned");
    // A board nobody acquired accepts no write.
    let refused = store
        .append_events(vec![append(&board, Epoch::new(1), 1, 1)])
        .await;
    assert_eq!(
        refused,
        vec![Err(fenced(&board, Epoch::new(1), Epoch::NONE))]
    );

    let old = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire")
        .epoch;
    assert!(old > Epoch::NONE);
    append_ok(&store, &board, old, 1, 10).await;
    let all = events(1, 20);
    store
        .flush(flush(&board, old, &all, 1, 4))
        .await
        .expect("flush");

    let new = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire again")
        .epoch;
    assert!(new > old, "epochs only grow");
    let other = store
        .acquire_board(&"another".into(), &node())
        .await
        .expect("acquire")
        .epoch;
    assert!(other > Epoch::NONE);

    for stale in [old, Epoch::NONE, new.next()] {
        let err = fenced(&board, stale, new);
        assert_eq!(
            store
                .append_events(vec![append(&board, stale, 11, 12)])
                .await,
            vec![Err(err.clone())]
        );
        assert_eq!(
            store.flush(flush(&board, stale, &all, 5, 10)).await,
            Err(err.clone())
        );
        let snapshot = Arc::new(Snapshot {
            board: board.clone(),
            version: 10,
            pages: Pages::new(),
            created_at: T0,
            created_by: SnapshotCause::Manual,
        });
        assert_eq!(
            store.store_snapshot(stale, snapshot).await,
            Err(err.clone())
        );
        assert_eq!(
            store.prune_snapshots(&board, stale, 0).await,
            Err(err.clone())
        );
        let record = UserSessionRecord {
            id: UserSessionId(1),
            board_id: board.clone(),
            user_id: "u".into(),
            conn: ConnId(1),
            started_at: T0,
            last_activity: T0,
            ended_at: None,
            status: UserSessionStatus::Active,
            client_info: None,
        };
        assert_eq!(store.put_user_session(stale, record).await, Err(err));
    }
    // Nothing of it was written.
    assert_eq!(whole_log(&store, &board).await, events(1, 10));
    let loaded = store
        .load_board(&board)
        .await
        .expect("load")
        .expect("known");
    assert_eq!(loaded.pages_sequence, 4);
    assert_eq!(loaded.pages, replay(&all, 4));
    assert_eq!(loaded.snapshot_count, 0);
    assert_eq!(
        store
            .user_sessions(crate::SessionIndex::Board(board.clone()))
            .await,
        Ok(vec![])
    );

    // The new owner writes.
    append_ok(&store, &board, new, 11, 12).await;
    store
        .flush(flush(&board, new, &all, 5, 12))
        .await
        .expect("flush");
    assert_eq!(whole_log(&store, &board).await, events(1, 12));
}

/// One group commit of many boards answers each batch on its own: a
/// fenced, gapped or malformed batch fails alone, and the others are stored.
pub async fn group_commit_isolates_failures<S: Store + 'static>(store: S) {
    let boards: Vec<BoardId> = (0..6)
        .map(|i| BoardId::from(format!("group-{i}")))
        .collect();
    let mut epochs = Vec::new();
    for b in &boards {
        epochs.push(
            store
                .acquire_board(b, &node())
                .await
                .expect("acquire")
                .epoch,
        );
    }
    append_ok(&store, &boards[2], epochs[2], 1, 3).await;
    let mut malformed = append(&boards[3], epochs[3], 1, 2);
    malformed.events = events(2, 2).into_iter().chain(events(1, 1)).collect();

    let results = store
        .append_events(vec![
            append(&boards[0], epochs[0], 1, 16),
            append(&boards[1], epochs[1].next(), 1, 2),
            append(&boards[2], epochs[2], 5, 6),
            malformed,
            append(&boards[0], epochs[0], 17, 20),
            append(&boards[4], epochs[4], 1, 1),
            append(&boards[5], epochs[5], 1, 256),
        ])
        .await;
    assert_eq!(results.len(), 7);
    assert_eq!(results[0], Ok(()));
    assert_eq!(
        results[1],
        Err(fenced(&boards[1], epochs[1].next(), epochs[1]))
    );
    assert!(matches!(
        results[2],
        Err(StoreError::Gap {
            log_end: 3,
            first: 5,
            ..
        })
    ));
    assert!(matches!(results[3], Err(StoreError::Invalid(_))));
    assert_eq!(&results[4..], [Ok(()), Ok(()), Ok(())]);

    assert_eq!(whole_log(&store, &boards[0]).await, events(1, 20));
    assert_eq!(whole_log(&store, &boards[1]).await, vec![]);
    assert_eq!(whole_log(&store, &boards[2]).await, events(1, 3));
    assert_eq!(whole_log(&store, &boards[3]).await, vec![]);
    assert_eq!(whole_log(&store, &boards[4]).await, events(1, 1));
    assert_eq!(whole_log(&store, &boards[5]).await, events(1, 256));
    assert_eq!(store.append_events(vec![]).await, vec![]);
}
