//! Lease renewals and group commits lock the same `boards` rows: they must
//! wait for each other, never deadlock. (Under load a renewal that updated
//! the rows in their physical order, against group commits that lock them
//! in id order, was chosen as a deadlock victim, and a node lost every
//! lease it held.)

use std::sync::Arc;

use huddle_core::BoardId;
use huddle_postgres::testing;
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Epoch, Node, Store};

const BOARDS: u64 = 24;
const ROUNDS: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_during_group_commits_never_deadlock() {
    let Some(db) = testing::database().await else {
        return;
    };
    let store = Arc::new(
        PostgresStore::connect(&db.url, PostgresOptions::default())
            .await
            .unwrap(),
    );
    let node = Node::new("node-a", "ws://a.invalid/ws");
    // Acquired in reverse id order, so that the rows' physical order is
    // not their id order from the start; every append moves them further.
    let mut boards: Vec<(BoardId, Epoch)> = Vec::new();
    for i in (0..BOARDS).rev() {
        let board = BoardId::from(format!("board-{i:02}"));
        let epoch = store.acquire_board(&board, &node).await.unwrap().epoch;
        boards.push((board, epoch));
    }
    let ids: Vec<BoardId> = boards.iter().map(|(b, _)| b.clone()).collect();

    // Each round, four group commits over every board sent together (the
    // store keeps their order): the round's four events of each board.
    let writer = {
        let store = store.clone();
        let boards = boards.clone();
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let mut calls = Vec::new();
                for part in 0..4u64 {
                    let seq = round * 4 + part + 1;
                    let batches: Vec<AppendBatch> = boards
                        .iter()
                        .map(|(board, epoch)| AppendBatch {
                            board: board.clone(),
                            epoch: *epoch,
                            events: events(seq, seq).into(),
                        })
                        .collect();
                    calls.push(store.append_events(batches));
                }
                for answer in futures_join(calls).await {
                    for result in answer {
                        result.expect("an append during renewals");
                    }
                }
            }
        })
    };
    let renewer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut renewals = 0u32;
            loop {
                let renewed = store
                    .renew_leases(&node, &ids)
                    .await
                    .expect("a renewal during group commits");
                assert_eq!(renewed.len(), ids.len(), "every lease renewed");
                renewals += 1;
                if renewals >= 200 {
                    break renewals;
                }
            }
        })
    };
    writer.await.unwrap();
    let renewals = renewer.await.unwrap();
    assert_eq!(renewals, 200);
    for (board, _) in &boards {
        assert_eq!(
            store.read_events(board, 0, usize::MAX).await.unwrap(),
            events(1, ROUNDS * 4),
            "{board}"
        );
    }
}

/// Awaits the calls together, answering in order.
async fn futures_join<F: std::future::Future>(calls: Vec<F>) -> Vec<F::Output> {
    let mut calls: Vec<_> = calls.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = calls.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (call, slot) in calls.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                if let std::task::Poll::Ready(out) = call.as_mut().poll(cx) {
                    *slot = Some(out);
                }
            }
        }
        if done.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().map(Option::unwrap).collect()
}
