//! The event log: order, idempotent re-appends, gaps.

use std::sync::Arc;

use huddle_core::BoardId;

use super::fixtures::{append, append_ok, events, seqs, whole_log};
use crate::{AppendBatch, Store, StoreError, MAX_SEQUENCE};

/// Appends in several batches come back in order and exactly as written;
/// `read_events` pages through the log; a load before any flush carries the
/// whole log.
pub async fn appends_in_order<S: Store + 'static>(store: S) {
    let board = BoardId::from("log");
    let epoch = store.acquire_board(&board).await.expect("acquire");
    assert_eq!(store.read_events(&board, 0, 10).await, Ok(vec![]));
    append_ok(&store, &board, epoch, 1, 3).await;
    append_ok(&store, &board, epoch, 4, 7).await;
    append_ok(&store, &board, epoch, 8, 10).await;

    assert_eq!(
        whole_log(&store, &board).await,
        events(1, 10),
        "exactly as written"
    );
    assert_eq!(
        seqs(&store.read_events(&board, 5, 2).await.expect("read")),
        [6, 7]
    );
    assert_eq!(store.read_events(&board, 10, 5).await, Ok(vec![]));
    assert_eq!(store.read_events(&board, u64::MAX, 5).await, Ok(vec![]));
    assert_eq!(store.read_events(&board, 0, 0).await, Ok(vec![]));

    let loaded = store
        .load_board(&board)
        .await
        .expect("load")
        .expect("known");
    assert_eq!(loaded.events, events(1, 10));
    assert_eq!(loaded.pages_sequence, 0);
    assert!(loaded.pages.is_empty(), "nothing flushed yet");
    assert_eq!(loaded.session_type, None, "no room was created");

    // Two batches of one board in one call are applied in order.
    let result = store
        .append_events(vec![
            append(&board, epoch, 11, 12),
            append(&board, epoch, 13, 15),
        ])
        .await;
    assert_eq!(result, vec![Ok(()), Ok(())]);
    assert_eq!(whole_log(&store, &board).await, events(1, 15));
}

/// Events the log already holds may come again (after a lost
/// confirmation): a success that writes nothing twice.
pub async fn reappend_is_idempotent<S: Store + 'static>(store: S) {
    let board = BoardId::from("again");
    let epoch = store.acquire_board(&board).await.expect("acquire");
    append_ok(&store, &board, epoch, 1, 5).await;
    append_ok(&store, &board, epoch, 1, 5).await;
    assert_eq!(whole_log(&store, &board).await, events(1, 5));
    append_ok(&store, &board, epoch, 3, 8).await;
    assert_eq!(
        whole_log(&store, &board).await,
        events(1, 8),
        "the new tail is added"
    );
    append_ok(&store, &board, epoch, 2, 2).await;
    append_ok(&store, &board, epoch, 8, 8).await;
    assert_eq!(whole_log(&store, &board).await, events(1, 8));
    // The same batch twice in one group commit.
    let twice = store
        .append_events(vec![
            append(&board, epoch, 9, 10),
            append(&board, epoch, 9, 10),
        ])
        .await;
    assert_eq!(twice, vec![Ok(()), Ok(())]);
    assert_eq!(whole_log(&store, &board).await, events(1, 10));
}

/// An append that would leave a gap, and malformed batches, are refused
/// with typed errors and write nothing.
pub async fn gaps_and_malformed_batches_are_refused<S: Store + 'static>(store: S) {
    let board = BoardId::from("gaps");
    let epoch = store.acquire_board(&board).await.expect("acquire");
    let one = |batch: AppendBatch| async { store.append_events(vec![batch]).await.remove(0) };

    assert_eq!(
        one(append(&board, epoch, 2, 3)).await,
        Err(StoreError::Gap {
            board: board.clone(),
            log_end: 0,
            first: 2
        })
    );
    append_ok(&store, &board, epoch, 1, 5).await;
    assert_eq!(
        one(append(&board, epoch, 7, 8)).await,
        Err(StoreError::Gap {
            board: board.clone(),
            log_end: 5,
            first: 7
        })
    );
    // Held events followed by a gap: the whole batch is refused.
    let mut held_then_gap = events(4, 5);
    held_then_gap.extend(events(7, 7));
    let refused = one(AppendBatch {
        board: board.clone(),
        epoch,
        events: held_then_gap.into(),
    })
    .await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );

    let mut descending = events(7, 7);
    descending.extend(events(6, 6));
    for bad in [descending, events(0, 0), {
        let mut e = events(6, 6);
        e[0].seq = MAX_SEQUENCE + 1;
        e
    }] {
        let result = one(AppendBatch {
            board: board.clone(),
            epoch,
            events: bad.into(),
        })
        .await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    }
    assert_eq!(
        whole_log(&store, &board).await,
        events(1, 5),
        "nothing written"
    );

    // An empty batch is a success.
    let empty = one(AppendBatch {
        board: board.clone(),
        epoch,
        events: Arc::from(Vec::new()),
    })
    .await;
    assert_eq!(empty, Ok(()));
    append_ok(&store, &board, epoch, 6, 6).await;
    assert_eq!(whole_log(&store, &board).await, events(1, 6));
}
