//! One board's appends sent together (as the driver's pipelined appender
//! does) are applied in the order they were sent, each answered on its own;
//! group commits of many callers isolate each caller's failures.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use huddle_core::BoardId;
use huddle_postgres::testing;
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Epoch, Store, StoreError};

type Answer = Vec<Result<(), StoreError>>;

/// Polls the futures in order, each once per round, until all are done:
/// the first poll of each (which queues its request) happens in order.
async fn in_order(
    mut futures: Vec<Pin<Box<dyn Future<Output = Answer> + Send + '_>>>,
) -> Vec<Answer> {
    let mut done: Vec<Option<Answer>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, slot) in futures.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                if let Poll::Ready(answer) = f.as_mut().poll(cx) {
                    *slot = Some(answer);
                }
            }
        }
        if done.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter().map(Option::unwrap).collect()
}

fn append(board: &BoardId, epoch: Epoch, first: u64, last: u64) -> AppendBatch {
    AppendBatch {
        board: board.clone(),
        epoch,
        events: events(first, last).into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_in_flight_together_apply_in_the_order_sent() {
    let Some(db) = testing::database().await else {
        return;
    };
    let store = PostgresStore::connect(&db.url, PostgresOptions::default())
        .await
        .unwrap();
    let (a, b) = (BoardId::from("a"), BoardId::from("b"));
    let ea = store
        .acquire_board(&a, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    let eb = store
        .acquire_board(&b, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    let mut futures: Vec<Pin<Box<dyn Future<Output = Answer> + Send + '_>>> = Vec::new();
    for i in 0..100u64 {
        let batches = vec![
            append(&a, ea, 2 * i + 1, 2 * i + 2),
            append(&b, eb, i + 1, i + 1),
        ];
        futures.push(Box::pin(store.append_events(batches)));
    }
    // A caller with a stale epoch and one with a gap fail alone.
    futures.push(Box::pin(store.append_events(vec![append(
        &a,
        Epoch::new(99),
        201,
        201,
    )])));
    futures.push(Box::pin(
        store.append_events(vec![append(&b, eb, 150, 150)]),
    ));
    let answers = in_order(futures).await;
    for answer in &answers[..100] {
        assert_eq!(answer, &vec![Ok(()), Ok(())]);
    }
    assert!(
        matches!(answers[100][..], [Err(StoreError::Fenced { .. })]),
        "{:?}",
        answers[100]
    );
    assert!(
        matches!(
            answers[101][..],
            [Err(StoreError::Gap { log_end: 100, .. })]
        ),
        "{:?}",
        answers[101]
    );
    assert_eq!(
        store.read_events(&a, 0, usize::MAX).await.unwrap(),
        events(1, 200)
    );
    assert_eq!(
        store.read_events(&b, 0, usize::MAX).await.unwrap(),
        events(1, 100)
    );
}
