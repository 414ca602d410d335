//! The event log: order, idempotent re-appends, gaps.

use std::sync::Arc;

use huddle_core::BoardId;

use super::fixtures::{append, append_ok, events, node, seqs, whole_log};
use crate::{AppendBatch, Store, StoreError, MAX_SEQUENCE};

/// Appends in several batches come back in order and exactly as written;
/// `read_events` pages through the log; a load before any flush carries the
/// whole log.
pub async fn appends_in_order<S: Store + 'static>(store: S) {
    let board = BoardId::from("log");
    let epoch = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire")
        .epoch;
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
    let epoch = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire")
        .epoch;
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
    let epoch = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire")
        .epoch;
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

/// A load hands the engine each user's newest batches
/// ([`crate::load::BATCH_RECORDS_PER_USER`]) with their last sequences,
/// also for batches older than the loaded run of events: what lets the
/// engine recognise a batch re-sent after a restart. Whether the log was
/// flushed whole, in part or not at all (a store may keep the records of
/// unflushed events only in the log itself).
pub async fn batch_records_reach_past_the_loaded_run<S: Store + 'static>(store: S) {
    for through in [Some(1204), Some(1100), Some(2), None] {
        batch_records_after_flush(&store, through).await;
    }
}

async fn batch_records_after_flush<S: Store + 'static>(store: &S, flush_through: Option<u64>) {
    use huddle_core::{BatchRecord, Event, Mutation, Timestamp};

    use crate::load::BATCH_RECORDS_PER_USER;

    let board = BoardId::from(format!("batches-{flush_through:?}"));
    let epoch = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire")
        .epoch;
    let event = |seq: u64, author: &str, batch: String| Event {
        seq,
        author: author.into(),
        batch: batch.into(),
        at: Timestamp::from_millis(seq),
        mutation: Mutation::Delete {
            page: "p".into(),
            element: "e".into(),
        },
    };
    // Alice's batch of three, then bob's 1 200 single-event batches, then
    // alice's second batch, appended as one board's group commit of many
    // batches at a time.
    let mut log = vec![
        event(1, "alice", "a-1".into()),
        event(2, "alice", "a-1".into()),
        event(3, "alice", "a-1".into()),
    ];
    for seq in 4..1204 {
        log.push(event(seq, "bob", format!("b-{seq}")));
    }
    log.push(event(1204, "alice", "a-2".into()));
    for chunk in log.chunks(100) {
        let result = store
            .append_events(vec![AppendBatch {
                board: board.clone(),
                epoch,
                events: chunk.to_vec().into(),
            }])
            .await;
        assert_eq!(result, vec![Ok(())]);
    }
    if let Some(through) = flush_through {
        let flushed = log[..through as usize].to_vec();
        store
            .flush(super::fixtures::flush(&board, epoch, &flushed, 1, through))
            .await
            .expect("flush");
    }

    let loaded = store
        .load_board(&board)
        .await
        .expect("load")
        .expect("known");
    if flush_through.is_some_and(|t| t > 1000) {
        assert!(
            loaded.events.first().is_some_and(|e| e.seq > 3),
            "the loaded run no longer reaches alice's first batch"
        );
    }
    let mut records = loaded.batches.clone();
    records.sort_by_key(|r| r.last_seq);
    let alice: Vec<&BatchRecord> = records
        .iter()
        .filter(|r| r.user.as_str() == "alice")
        .collect();
    assert_eq!(
        alice
            .iter()
            .map(|r| (r.batch.as_str(), r.last_seq))
            .collect::<Vec<_>>(),
        [("a-1", 3), ("a-2", 1204)]
    );
    let bob: Vec<u64> = records
        .iter()
        .filter(|r| r.user.as_str() == "bob")
        .map(|r| r.last_seq)
        .collect();
    assert_eq!(
        bob.len(),
        BATCH_RECORDS_PER_USER,
        "bob's newest batches only"
    );
    let newest_first = 1204 - BATCH_RECORDS_PER_USER as u64;
    assert_eq!(bob, (newest_first..1204).collect::<Vec<_>>());
    assert!(records
        .iter()
        .filter(|r| r.user.as_str() == "bob")
        .all(|r| r.batch.as_str() == format!("b-{}", r.last_seq)));
}
