//! The appender: one task that takes every store's appends in the order
//! they arrive and commits them in groups, sharing transactions between
//! callers, with several groups' transactions under way at once.
//!
//! The contract asks a store to apply one board's appends in the order it
//! receives them (the driver keeps several appends of a board in flight).
//! Requests on a pool would race each other to the board's log end, so
//! appends instead go through one queue: the task takes every request
//! queued meanwhile (up to `max_group` batches) as one group, commits it
//! (group commit across callers: one WAL flush for many), and answers each
//! caller with its own results.
//!
//! **Overlapping groups.** Each group is one transaction. It first locks
//! its boards' rows (`SELECT ... FOR KEY SHARE`, in id order: the epoch
//! cannot change until it ends), reads their log ends and checks its
//! batches. The task starts the next group as soon as the current one has
//! done so, without waiting for its commit, and hands each new
//! transaction the [`db::Chain`] of the transactions still open that wrote
//! its boards: the log ends they leave and their outcomes. The new
//! transaction plans against those ends, inserts at once, and commits only
//! after them (and fails, retryable, if one of them failed), so one
//! board's appends are checked and committed in the order they arrived,
//! and a group's lock round trip and insert overlap the previous groups'
//! commits and WAL flushes. At most `open_transactions` append
//! transactions are open at once.
//!
//! A group is not split among transactions committed side by side
//! (sessions 9 to 10 dealt a group's boards into up to four of them): on a
//! machine whose CPUs are busy, parallel parts only took turns, and each
//! group then took every turn, so the next group waited for all their
//! commits. One transaction per group, with twice as many groups in flight,
//! halved the p99 ack latency at 100 000 mutations/s
//! (`docs/performance.md`, issue 14, session 11).
//!
//! Other requests (loads, flushes, snapshots) use the pool directly.
//!
//! **Closing.** A close is queued like an append: the task commits every
//! append queued before it, waits until no append transaction is open,
//! closes the pool, answers, and ends; appends queued after it are
//! answered as unavailable.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::Pool;
use huddle_store::{AppendBatch, StoreError};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use crate::db::{self, Chain, Ends, Outcome};
use crate::error::pool_error;

/// One caller's batches and where to answer.
pub(crate) struct Request {
    pub(crate) batches: Vec<AppendBatch>,
    pub(crate) reply: oneshot::Sender<Vec<Result<(), StoreError>>>,
}

/// What the appender is sent.
pub(crate) enum Command {
    /// Batches to commit.
    Append(Request),
    /// Close the store (see the module docs); answered once closed.
    Close(oneshot::Sender<()>),
}

/// Starts the appender on `runtime`; it stops when every sender is
/// dropped, or at a close.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    pool: Pool,
    max_group: usize,
    open_transactions: usize,
) -> mpsc::UnboundedSender<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    runtime.spawn(run(pool, rx, max_group.max(1), open_transactions.max(1)));
    tx
}

/// One batch's answer.
type Answer = Result<(), StoreError>;

/// The last open transaction that writes a board: the log end it leaves
/// and its outcome.
struct Link {
    end: u64,
    outcome: Outcome,
}

async fn run(
    pool: Pool,
    mut rx: mpsc::UnboundedReceiver<Command>,
    max_group: usize,
    open_transactions: usize,
) {
    let open = Arc::new(Semaphore::new(open_transactions));
    let mut closers = Vec::new();
    // Only open transactions: an ended one's events are in the log ends
    // PostgreSQL answers (or it wrote nothing).
    let mut links: HashMap<Vec<u8>, Link> = HashMap::new();
    while let Some(command) = rx.recv().await {
        let first = match command {
            Command::Append(first) => first,
            Command::Close(done) => {
                closers.push(done);
                break;
            }
        };
        let mut size = first.batches.len();
        let mut requests = vec![first];
        while size < max_group {
            match rx.try_recv() {
                Ok(Command::Append(next)) => {
                    size += next.batches.len();
                    requests.push(next);
                }
                Ok(Command::Close(done)) => {
                    closers.push(done);
                    break;
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
        links.retain(|_, link| link.outcome.borrow().is_none());
        let Ok(permit) = open.clone().acquire_owned().await else {
            return;
        };
        let chain = chain_of(&links, &group);
        let (on_planned, planned) = oneshot::channel();
        let (done, outcome) = watch::channel(None);
        let pool = pool.clone();
        let transaction = tokio::spawn(async move {
            let (results, committed) = match pool.get().await {
                Ok(mut client) => db::append_group(&mut client, &group, &chain, on_planned).await,
                Err(e) => (vec![Err(pool_error(e)); group.len()], false),
            };
            // Told before the answers: later transactions wait for it.
            done.send_replace(Some(committed));
            drop(permit);
            results
        });
        tokio::spawn(answer(transaction, counts, replies));
        // The next group starts once this one has planned (or failed
        // before: its sender is then dropped).
        if let Ok(ends) = planned.await {
            record(&mut links, ends, &outcome);
        }
        if !closers.is_empty() {
            break;
        }
    }
    // Closing (or every sender gone): once no append transaction is open,
    // close the pool; later appends find the channel closed.
    rx.close();
    if let Ok(all) = u32::try_from(open_transactions) {
        let _ = open.acquire_many(all).await;
    }
    open.close();
    pool.close();
    while let Ok(command) = rx.try_recv() {
        match command {
            Command::Close(done) => closers.push(done),
            Command::Append(request) => {
                let n = request.batches.len();
                let stopped = StoreError::Unavailable("the store is closed".into());
                let _ = request.reply.send(vec![Err(stopped); n]);
            }
        }
    }
    for done in closers {
        let _ = done.send(());
    }
}

/// What a group continues: the open transactions that write its boards.
/// One that has ended is left out: its task answers only once its commit
/// (or rollback) is confirmed, so the log end the group reads is as it
/// left it.
fn chain_of(links: &HashMap<Vec<u8>, Link>, group: &[AppendBatch]) -> Chain {
    let mut chain = Chain::default();
    for batch in group {
        let board = batch.board.as_str().as_bytes();
        if chain.ends.contains_key(board) {
            continue;
        }
        let open = links.get(board).filter(|l| l.outcome.borrow().is_none());
        if let Some(link) = open {
            chain.ends.insert(board.to_vec(), link.end);
            if !chain.after.iter().any(|o| o.same_channel(&link.outcome)) {
                chain.after.push(link.outcome.clone());
            }
        }
    }
    chain
}

/// A transaction planned: it is now the last open one that writes these
/// boards.
fn record(links: &mut HashMap<Vec<u8>, Link>, ends: Ends, outcome: &Outcome) {
    for (board, end) in ends {
        links.insert(
            board,
            Link {
                end,
                outcome: outcome.clone(),
            },
        );
    }
}

/// Answers each caller with its batches' results, in group order.
async fn answer(
    transaction: tokio::task::JoinHandle<Vec<Answer>>,
    counts: Vec<usize>,
    replies: Vec<oneshot::Sender<Vec<Answer>>>,
) {
    // A transaction task that panicked answers nothing: each batch is
    // then answered as unavailable.
    let mut results = transaction.await.unwrap_or_default().into_iter();
    for (count, reply) in counts.into_iter().zip(replies) {
        let answer: Vec<_> = (0..count)
            .map(|_| {
                results.next().unwrap_or_else(|| {
                    Err(StoreError::Unavailable("the append task failed".into()))
                })
            })
            .collect();
        // A caller that gave up no longer waits for its answer.
        let _ = reply.send(answer);
    }
}
