//! The event log: group-committed appends and reads.
//!
//! A group commit is one transaction for the batches of many boards: the
//! batches are checked first (well formed, the writer's epoch on the
//! board's row, held `FOR KEY SHARE` until the commit, no gap after the
//! log's end), then the new events of the batches that pass go in as one
//! event chunk per board (`huddle_store::chunk`: the board's new events of
//! this transaction, contiguous, in one blob), all chunks with one array
//! insert (`UNNEST`). Nothing else is written: a board's log end is the
//! largest `last_seq` of its chunks, so an append does not update the
//! board's row, and the appends of one board do not wait for each other's
//! commits inside PostgreSQL. A batch refused by the rules writes nothing
//! and fails alone; the others are committed.
//!
//! **Reads** select the chunks that hold sequences in the window (`last_seq
//! > after`, in order, no more chunks than the events asked for: each
//! holds at least one) and decode them, keeping `after < seq <= through`.
//! A blob that does not decode, or disagrees with its row, or a hole
//! between chunks, is [`StoreError::Corrupt`].
//!
//! **Appends in flight.** The appender keeps several transactions open,
//! and a later one may continue a board that an earlier one, not yet
//! committed, writes: the log end it reads does not show the earlier
//! one's events yet. So the appender hands each transaction a [`Chain`]:
//! the log end each of its boards will have once the earlier transactions
//! still open commit, and their outcomes. The transaction plans against
//! the larger of that and the log end it reads, sends its insert at once,
//! and sends `COMMIT` only once every earlier transaction it continues has
//! committed; if one failed, it rolls back and every batch fails as
//! retryable. So no transaction commits events after a gap, a board's
//! appends commit in the order they arrived, and the unique `(board,
//! first_seq)` refuses a sequence stored twice by a writer that read the
//! same log end (the primary key `(board, seq)` of `events` did).
//!
//! The transaction takes two round trips to the server, not four: `BEGIN`
//! goes out with the row locks and the log ends, and the insert with
//! `COMMIT` (tokio-postgres pipelines requests that are polled together;
//! `COMMIT` later if the transaction waits for an earlier one). If the
//! insert fails, PostgreSQL answers the `COMMIT` of the failed transaction
//! with a rollback, so nothing is written; any failure ends with an
//! explicit `ROLLBACK` before the connection goes back to the pool.

use std::collections::HashMap;

use deadpool_postgres::Client;
use deadpool_postgres::GenericClient;
use huddle_core::{BoardId, Event};
use huddle_store::chunk::{self, Chunk};
use huddle_store::validate::{already_held, check_epoch, check_events};
use huddle_store::{AppendBatch, StoreError};
use tokio::sync::{oneshot, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::convert::{seq_from_sql, seq_to_sql};
use super::{decode_heads, decode_log_ends, Head, LOCK_HEADS, LOG_ENDS};
use crate::error::{column, store_error};

/// The chunks of a transaction, one per board, in one statement.
pub(crate) const INSERT_CHUNKS: &str =
    "INSERT INTO event_chunks (board, last_seq, first_seq, events) \
     SELECT * FROM UNNEST($1::bytea[], $2::int8[], $3::int8[], $4::bytea[])";

/// The chunks holding events after $2 through $3, in order, at most $4.
const SELECT_CHUNKS: &str = "SELECT first_seq, last_seq, events FROM event_chunks \
     WHERE board = $1 AND last_seq > $2 AND first_seq <= $3 ORDER BY last_seq LIMIT $4";

/// The log ends a transaction leaves on the boards it writes, if it
/// commits, by board id.
pub(crate) type Ends = HashMap<Vec<u8>, u64>;

/// Whether an append transaction committed: `None` while it is open.
pub(crate) type Outcome = watch::Receiver<Option<bool>>;

/// The append transactions still open that a new one continues (see the
/// module docs), as the appender knows them.
#[derive(Default)]
pub(crate) struct Chain {
    /// Each board's log end once those transactions commit.
    pub(crate) ends: Ends,
    /// Their outcomes.
    pub(crate) after: Vec<Outcome>,
}

impl Chain {
    /// Waits until every transaction continued has ended; `Unavailable`
    /// (retryable) unless all committed.
    async fn committed(&self) -> Result<(), StoreError> {
        for outcome in &self.after {
            let mut outcome = outcome.clone();
            let committed = match outcome.wait_for(Option::is_some).await {
                Ok(done) => *done == Some(true),
                Err(_) => false, // its task ended without an answer
            };
            if !committed {
                return Err(StoreError::Unavailable(
                    "an earlier append of one of these boards failed".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Appends many boards' batches in one transaction and answers each, and
/// whether that transaction committed. If PostgreSQL itself refuses the
/// group (other than by being unavailable), the group is retried batch by
/// batch so that only the batch that causes it fails. `planned` is told the
/// log ends the transaction leaves once its boards are locked and its
/// batches checked (or dropped if the first attempt failed before): a
/// later group may then start.
pub(crate) async fn append_group(
    client: &mut Client,
    batches: &[AppendBatch],
    chain: &Chain,
    planned: oneshot::Sender<Ends>,
) -> (Vec<Result<(), StoreError>>, bool) {
    match try_append(client, batches, chain, Some(planned)).await {
        Ok(results) => (results, true),
        Err(e) if batches.len() <= 1 || matches!(e, StoreError::Unavailable(_)) => {
            (vec![Err(e); batches.len()], false)
        }
        Err(_) => {
            let mut results = Vec::with_capacity(batches.len());
            for batch in batches {
                results.push(
                    match try_append(client, std::slice::from_ref(batch), chain, None).await {
                        Ok(mut r) => r.pop().unwrap_or(Ok(())),
                        Err(e) => Err(e),
                    },
                );
            }
            (results, false)
        }
    }
}

/// The new events of a transaction, one chunk per board (in the order
/// the boards first come), column by column for `UNNEST`.
#[derive(Default)]
struct Chunks<'a> {
    /// Each board's new events, contiguous and in order.
    runs: Vec<(&'a [u8], Vec<&'a Event>)>,
    /// Where a board's run is in `runs`.
    index: HashMap<&'a [u8], usize>,
}

impl<'a> Chunks<'a> {
    /// Adds a batch's new events (the next of their board's).
    fn push(&mut self, board: &'a BoardId, events: &'a [Event]) {
        let key = board.as_str().as_bytes();
        let i = *self.index.entry(key).or_insert_with(|| {
            self.runs.push((key, Vec::new()));
            self.runs.len() - 1
        });
        if let Some((_, run)) = self.runs.get_mut(i) {
            run.extend(events);
        }
    }

    fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The insert's four arrays, one blob encoded per board.
    fn columns(&self) -> Result<Columns<'a>, StoreError> {
        let n = self.runs.len();
        let mut c = Columns {
            boards: Vec::with_capacity(n),
            lasts: Vec::with_capacity(n),
            firsts: Vec::with_capacity(n),
            blobs: Vec::with_capacity(n),
        };
        for (board, run) in &self.runs {
            let (Some(first), Some(last)) = (run.first(), run.last()) else {
                continue;
            };
            let mut blob = Vec::new();
            chunk::encode(run.iter().copied(), &mut blob)?;
            c.boards.push(*board);
            c.lasts.push(seq_to_sql(last.seq)?);
            c.firsts.push(seq_to_sql(first.seq)?);
            c.blobs.push(blob);
        }
        Ok(c)
    }
}

/// [`INSERT_CHUNKS`]'s parameters: board, last_seq, first_seq, events.
struct Columns<'a> {
    boards: Vec<&'a [u8]>,
    lasts: Vec<i64>,
    firsts: Vec<i64>,
    blobs: Vec<Vec<u8>>,
}

/// One transaction for all batches (two round trips, see the module
/// docs); `Err` means nothing was written.
async fn try_append(
    client: &mut Client,
    batches: &[AppendBatch],
    chain: &Chain,
    planned: Option<oneshot::Sender<Ends>>,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut results: Vec<Option<Result<(), StoreError>>> = batches
        .iter()
        .map(|b| check_events(&b.board, &b.events).err().map(Err))
        .collect();
    let mut boards: Vec<&[u8]> = batches
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_none())
        .map(|(b, _)| b.board.as_str().as_bytes())
        .collect();
    boards.sort_unstable();
    boards.dedup();
    if boards.is_empty() {
        return Ok(results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect());
    }
    let lock = client
        .prepare_cached(LOCK_HEADS)
        .await
        .map_err(store_error)?;
    let ends = client.prepare_cached(LOG_ENDS).await.map_err(store_error)?;
    let params: [&(dyn ToSql + Sync); 1] = [&boards];
    // `biased`: polled, and so sent, in this order; the log ends are read
    // once the rows are locked (a statement of its own, so with a snapshot
    // taken after the lock).
    let (begun, locked, stored) = tokio::join!(
        biased;
        client.batch_execute("BEGIN"),
        client.query(&lock, &params),
        client.query(&ends, &params)
    );
    let written = match begun
        .and(locked)
        .and_then(|locked| stored.map(|stored| (locked, stored)))
        .map_err(store_error)
    {
        Ok((locked, stored)) => {
            write(
                client,
                batches,
                &mut results,
                &locked,
                &stored,
                chain,
                planned,
            )
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        // Out of the (possibly aborted) transaction before the connection
        // is reused; outside one, this is a harmless warning.
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(e);
    }
    Ok(results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
}

/// Checks each batch against its board's locked head and log end, tells
/// `planned` the log ends it will leave, then writes the new events and
/// commits, in one round trip once the transactions it continues have
/// committed.
async fn write(
    client: &Client,
    batches: &[AppendBatch],
    results: &mut [Option<Result<(), StoreError>>],
    locked: &[Row],
    stored: &[Row],
    chain: &Chain,
    planned: Option<oneshot::Sender<Ends>>,
) -> Result<(), StoreError> {
    let heads: HashMap<Vec<u8>, Head> = decode_heads(locked)?;
    let mut log_ends = decode_log_ends(stored)?;
    for (board, end) in &chain.ends {
        if let Some(stored) = log_ends.get_mut(board) {
            *stored = (*stored).max(*end);
        }
    }
    let mut chunks = Chunks::default();
    let mut moved: Ends = HashMap::new();
    for (batch, result) in batches.iter().zip(results.iter_mut()) {
        if result.is_some() {
            continue;
        }
        let board = &batch.board;
        let key = board.as_str().as_bytes();
        let head = heads.get(key).copied().unwrap_or_default();
        let log_end = log_ends.entry(key.to_vec()).or_default();
        let held = match check_epoch(board, batch.epoch, head.epoch, head.lease_live)
            .and_then(|()| already_held(board, &batch.events, *log_end))
        {
            Ok(held) => held,
            Err(e) => {
                *result = Some(Err(e));
                continue;
            }
        };
        let new = batch.events.get(held..).unwrap_or_default();
        if let Some(last) = new.last() {
            chunks.push(board, new);
            *log_end = last.seq;
            moved.insert(key.to_vec(), last.seq);
        }
        *result = Some(Ok(()));
    }
    if let Some(planned) = planned {
        let _ = planned.send(moved);
    }
    if chunks.is_empty() {
        // Batches found already held may count on an earlier transaction.
        chain.committed().await?;
        return client.batch_execute("COMMIT").await.map_err(store_error);
    }
    let insert = client
        .prepare_cached(INSERT_CHUNKS)
        .await
        .map_err(store_error)?;
    let c = chunks.columns()?;
    let columns: [&(dyn ToSql + Sync); 4] = [&c.boards, &c.lasts, &c.firsts, &c.blobs];
    let (inserted, committed) = tokio::join!(
        biased;
        client.execute(&insert, &columns),
        async {
            chain.committed().await?;
            client.batch_execute("COMMIT").await.map_err(store_error)
        }
    );
    // The first failure is the cause; a failed insert turned the COMMIT
    // into a rollback.
    inserted.map_err(store_error)?;
    committed
}

/// Up to `limit` events after `after`.
pub(crate) async fn read_events(
    client: &Client,
    board: &BoardId,
    after: u64,
    limit: usize,
) -> Result<Vec<Event>, StoreError> {
    select_events(client, board, after, u64::MAX, limit).await
}

/// Up to `limit` events with `after < seq <= through`, in order, from the
/// chunks that hold them; a hole is corrupt (the log starts at 1 and has
/// none).
pub(super) async fn select_events(
    client: &impl GenericClient,
    board: &BoardId,
    after: u64,
    through: u64,
    limit: usize,
) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::new();
    if limit == 0 || after >= through {
        return Ok(out);
    }
    let stmt = client
        .prepare_cached(SELECT_CHUNKS)
        .await
        .map_err(store_error)?;
    // Each chunk holds at least one event: `limit` chunks are enough.
    let chunks = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &stmt,
            &[
                &board.as_str().as_bytes(),
                &i64::try_from(after).unwrap_or(i64::MAX),
                &i64::try_from(through).unwrap_or(i64::MAX),
                &chunks,
            ],
        )
        .await
        .map_err(store_error)?;
    for row in &rows {
        if out.len() >= limit {
            break;
        }
        let first_seq = seq_from_sql(row.try_get(0).map_err(column)?, "chunk sequence")?;
        let last_seq = seq_from_sql(row.try_get(1).map_err(column)?, "chunk sequence")?;
        let bytes: &[u8] = row.try_get(2).map_err(column)?;
        let chunk = Chunk {
            first_seq,
            last_seq,
            bytes,
        };
        chunk::decode_next(board, &chunk, after, through, limit, &mut out)?;
    }
    Ok(out)
}
