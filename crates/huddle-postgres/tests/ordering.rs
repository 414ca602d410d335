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

/// Ten calls appending 6..=60 to `board`, five events each.
fn continuing<'a>(
    store: &'a PostgresStore,
    board: &BoardId,
    epoch: Epoch,
) -> Vec<Pin<Box<dyn Future<Output = Answer> + Send + 'a>>> {
    (6..=56)
        .step_by(5)
        .map(
            |first| -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
                Box::pin(store.append_events(vec![append(board, epoch, first, first + 4)]))
            },
        )
        .collect()
}

/// Appends in flight on one board, each its own group (so its own
/// transaction, several open at once): when one fails after the next ones
/// planned on the log end it would leave, they fail too (retryable) rather
/// than commit after a gap; sent again, all are stored in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_append_fails_the_open_ones_that_continue_it() {
    let Some(db) = testing::database().await else {
        return;
    };
    let options = PostgresOptions::default().max_group(1).open_transactions(4);
    let store = PostgresStore::connect(&db.url, options).await.unwrap();
    let (raw, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    // The insert of any event chunk starting at a sequence listed in
    // `fail_at` fails.
    raw.batch_execute(
        "CREATE TABLE fail_at (seq bigint); \
         CREATE FUNCTION fail_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF EXISTS (SELECT 1 FROM fail_at WHERE seq = NEW.first_seq) THEN \
             RAISE EXCEPTION 'injected failure at %', NEW.first_seq; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER fail_at BEFORE INSERT ON event_chunks \
           FOR EACH ROW EXECUTE FUNCTION fail_at();",
    )
    .await
    .unwrap();
    let board = BoardId::from("f");
    let epoch = store
        .acquire_board(&board, &huddle_store::Node::default())
        .await
        .unwrap()
        .epoch;
    assert_eq!(
        store.append_events(vec![append(&board, epoch, 1, 5)]).await,
        vec![Ok(())]
    );

    raw.batch_execute("INSERT INTO fail_at VALUES (6)")
        .await
        .unwrap();
    let answers = in_order(continuing(&store, &board, epoch)).await;
    assert!(
        matches!(answers[0][..], [Err(StoreError::Unavailable(_))]),
        "{:?}",
        answers[0]
    );
    for answer in &answers[1..] {
        assert!(
            matches!(
                answer[..],
                [Err(
                    StoreError::Unavailable(_) | StoreError::Gap { log_end: 5, .. }
                )]
            ),
            "{answer:?}"
        );
    }
    assert_eq!(
        store.read_events(&board, 0, usize::MAX).await.unwrap(),
        events(1, 5)
    );

    raw.batch_execute("DELETE FROM fail_at").await.unwrap();
    for answer in in_order(continuing(&store, &board, epoch)).await {
        assert_eq!(answer, vec![Ok(())]);
    }
    assert_eq!(
        store.read_events(&board, 0, usize::MAX).await.unwrap(),
        events(1, 60)
    );
}
