//! The appender: one task that commits every store's appends, in the order
//! they arrive, sharing transactions between callers.
//!
//! The contract asks a store to apply one board's appends in the order it
//! receives them (the driver keeps several appends of a board in flight).
//! Requests on a pool would race each other to the board's row lock, so
//! appends instead go through one queue: the task takes every request
//! queued while it was committing (up to `max_group` batches), commits
//! them together in one transaction (group commit across callers: one WAL
//! flush for all of them), and answers each caller with its own results.
//! Other requests (loads, flushes, snapshots) use the pool directly.

use deadpool_postgres::Pool;
use huddle_store::{AppendBatch, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::db;
use crate::error::pool_error;

/// One caller's batches and where to answer.
pub(crate) struct Request {
    pub(crate) batches: Vec<AppendBatch>,
    pub(crate) reply: oneshot::Sender<Vec<Result<(), StoreError>>>,
}

/// Starts the appender on `runtime`; it stops when every sender is
/// dropped.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    pool: Pool,
    max_group: usize,
) -> mpsc::UnboundedSender<Request> {
    let (tx, rx) = mpsc::unbounded_channel();
    runtime.spawn(run(pool, rx, max_group.max(1)));
    tx
}

async fn run(pool: Pool, mut rx: mpsc::UnboundedReceiver<Request>, max_group: usize) {
    while let Some(first) = rx.recv().await {
        let mut size = first.batches.len();
        let mut requests = vec![first];
        while size < max_group {
            match rx.try_recv() {
                Ok(next) => {
                    size += next.batches.len();
                    requests.push(next);
                }
                Err(_) => break,
            }
        }
        let mut counts = Vec::with_capacity(requests.len());
        let mut replies = Vec::with_capacity(requests.len());
        let mut group = Vec::with_capacity(size);
        for r in requests {
            counts.push(r.batches.len());
            replies.push(r.reply);
            group.extend(r.batches);
        }
        let mut results = match pool.get().await {
            Ok(mut client) => db::append_group(&mut client, &group).await,
            Err(e) => vec![Err(pool_error(e)); group.len()],
        }
        .into_iter();
        for (count, reply) in counts.into_iter().zip(replies) {
            let answer: Vec<_> = results.by_ref().take(count).collect();
            // A caller that gave up no longer waits for its answer.
            let _ = reply.send(answer);
        }
    }
}
