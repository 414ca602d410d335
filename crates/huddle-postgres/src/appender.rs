//! The appender: one task that takes every store's appends in the order
//! they arrive and commits them in groups, sharing transactions between
//! callers, with several transactions under way at once.
//!
//! The contract asks a store to apply one board's appends in the order it
//! receives them (the driver keeps several appends of a board in flight).
//! Requests on a pool would race each other to the board's log end, so
//! appends instead go through one queue: the task takes every request
//! queued meanwhile (up to `max_group` batches) as one group, commits it
//! (group commit across callers: one WAL flush for many), and answers each
//! caller with its own results.
//!
//! **Parts in parallel.** A group's boards are dealt into up to
//! `open_transactions` parts of about equal numbers of events, each
//! committed in a transaction of its own, on its own connection, at the
//! same time: the parts share no board, so their order does not matter,
//! and the insert work is spread over several PostgreSQL backends.
//!
//! **Overlapping groups.** Each transaction first locks its boards' rows
//! (`SELECT ... FOR KEY SHARE`, in id order: the epoch cannot change until
//! it ends), reads their log ends and checks its batches. The task starts
//! the next group as soon as every part of the current one has done so,
//! without waiting for the commits, and hands each new transaction the
//! [`db::Chain`] of the transactions still open that wrote its boards: the
//! log ends they leave and their outcomes. The new transaction plans
//! against those ends, inserts at once, and commits only after them (and
//! fails, retryable, if one of them failed), so one board's appends are
//! checked and committed in the order they arrived, and a group's lock
//! round trip and insert overlap the previous group's commit and WAL
//! flush. At most `open_transactions` append transactions are open at
//! once.
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
use tokio::task::JoinSet;

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

/// A committed part: the batches' places in the group and their answers.
type Committed = (Vec<usize>, Vec<Answer>);

/// The last open transaction that writes a board: the log end it leaves
/// and its outcome.
struct Link {
    end: u64,
    outcome: Outcome,
}

/// Batches of a group that share no board with its other parts, with
/// their places in the group.
struct Part {
    places: Vec<usize>,
    batches: Vec<AppendBatch>,
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
        let mut transactions = JoinSet::new();
        let mut all_planned = Vec::new();
        for part in split(group, open_transactions) {
            let Ok(permit) = open.clone().acquire_owned().await else {
                return;
            };
            let chain = chain_of(&links, &part);
            let (on_planned, planned) = oneshot::channel();
            let (done, outcome) = watch::channel(None);
            all_planned.push((planned, outcome));
            let pool = pool.clone();
            transactions.spawn(async move {
                let (results, committed) = match pool.get().await {
                    Ok(mut client) => {
                        db::append_group(&mut client, &part.batches, &chain, on_planned).await
                    }
                    Err(e) => (vec![Err(pool_error(e)); part.batches.len()], false),
                };
                // Told before the answers: later transactions wait for it.
                done.send_replace(Some(committed));
                drop(permit);
                (part.places, results)
            });
        }
        tokio::spawn(answer(transactions, size, counts, replies));
        // The next group starts once every part has planned (or failed
        // before: its sender is then dropped).
        for (planned, outcome) in all_planned {
            let Ok(ends) = planned.await else { continue };
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

/// What a part continues: the open transactions that write its boards.
/// One that has ended is left out: its task answers only once its commit
/// (or rollback) is confirmed, so the log end the part reads is as it left
/// it.
fn chain_of(links: &HashMap<Vec<u8>, Link>, part: &Part) -> Chain {
    let mut chain = Chain::default();
    for batch in &part.batches {
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

/// Deals a group's boards into at most `n` parts, each board's batches
/// whole and in order, the largest boards first into the part with the
/// fewest events.
fn split(group: Vec<AppendBatch>, n: usize) -> Vec<Part> {
    let mut events: HashMap<&[u8], usize> = HashMap::new();
    for b in &group {
        *events.entry(b.board.as_str().as_bytes()).or_default() += b.events.len().max(1);
    }
    let mut boards: Vec<(&[u8], usize)> = events.into_iter().collect();
    boards.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts = n.min(boards.len()).max(1);
    let mut load = vec![0usize; parts];
    let mut part_of: HashMap<Vec<u8>, usize> = HashMap::with_capacity(boards.len());
    for (board, count) in boards {
        let (least, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| **l)
            .unwrap_or((0, &0));
        if let Some(l) = load.get_mut(least) {
            *l += count;
        }
        part_of.insert(board.to_vec(), least);
    }
    let mut out: Vec<Part> = (0..parts)
        .map(|_| Part {
            places: Vec::new(),
            batches: Vec::new(),
        })
        .collect();
    for (place, batch) in group.into_iter().enumerate() {
        let i = part_of
            .get(batch.board.as_str().as_bytes())
            .copied()
            .unwrap_or(0);
        if let Some(part) = out.get_mut(i) {
            part.places.push(place);
            part.batches.push(batch);
        }
    }
    out.retain(|p| !p.batches.is_empty());
    out
}

/// Gathers the parts' results into group order and answers each caller.
async fn answer(
    mut transactions: JoinSet<Committed>,
    size: usize,
    counts: Vec<usize>,
    replies: Vec<oneshot::Sender<Vec<Answer>>>,
) {
    let mut results: Vec<Option<Answer>> = vec![None; size];
    while let Some(joined) = transactions.join_next().await {
        let Ok((places, part)) = joined else {
            continue; // a part that panicked is answered as unavailable below
        };
        for (place, result) in places.into_iter().zip(part) {
            if let Some(slot) = results.get_mut(place) {
                *slot = Some(result);
            }
        }
    }
    let mut results = results.into_iter().map(|r| {
        r.unwrap_or_else(|| Err(StoreError::Unavailable("the append task failed".into())))
    });
    for (count, reply) in counts.into_iter().zip(replies) {
        let answer: Vec<_> = results.by_ref().take(count).collect();
        // A caller that gave up no longer waits for its answer.
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_core::BoardId;
    use huddle_store::Epoch;

    fn batch(board: &str, events: usize) -> AppendBatch {
        let events: Vec<huddle_core::Event> = (0..events)
            .map(|i| huddle_core::Event {
                seq: i as u64 + 1,
                author: "u".into(),
                batch: "b".into(),
                at: huddle_core::Timestamp::from_millis(0),
                mutation: huddle_core::Mutation::Delete {
                    page: "p".into(),
                    element: "e".into(),
                },
            })
            .collect();
        AppendBatch {
            board: BoardId::from(board),
            epoch: Epoch::new(1),
            events: events.into(),
        }
    }

    #[test]
    fn parts_share_no_board_keep_order_and_balance() {
        let group = vec![
            batch("a", 8),
            batch("b", 1),
            batch("a", 2),
            batch("c", 5),
            batch("d", 4),
            batch("b", 1),
        ];
        let parts = split(group, 2);
        assert_eq!(parts.len(), 2);
        // a (10) alone; c, d, b (5 + 4 + 2) together.
        let boards = |p: &Part| {
            p.batches
                .iter()
                .map(|b| b.board.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(boards(&parts[0]), ["a", "a"]);
        assert_eq!(parts[0].places, [0, 2]);
        assert_eq!(boards(&parts[1]), ["b", "c", "d", "b"]);
        assert_eq!(parts[1].places, [1, 3, 4, 5]);
        // Fewer boards than parts: one part per board; one part: everything.
        assert_eq!(split(vec![batch("a", 1), batch("a", 1)], 4).len(), 1);
        assert_eq!(
            split(vec![batch("a", 1), batch("b", 1)], 1)[0].places,
            [0, 1]
        );
    }
}
