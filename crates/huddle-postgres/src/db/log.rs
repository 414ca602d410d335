//! The event log: group-committed appends and reads.
//!
//! A group commit is one transaction for the batches of many boards: the
//! batches are checked first (well formed, the writer's epoch on the
//! board's row, held `FOR KEY SHARE` until the commit, no gap after the
//! log's end), then every new event of the batches that pass goes in with
//! one array insert (`UNNEST`). Nothing else is written: a board's log end
//! is the largest sequence of its events, so an append does not update the
//! board's row, and the appends of one board do not wait for each other's
//! commits inside PostgreSQL. A batch refused by the rules writes nothing
//! and fails alone; the others are committed.
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
//! appends commit in the order they arrived, and the primary key
//! `(board, seq)` refuses a sequence stored twice.
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
use huddle_core::{BoardId, Event, Mutation, Payload, Timestamp};
use huddle_store::validate::{already_held, check_epoch, check_events};
use huddle_store::{AppendBatch, StoreError};
use tokio::sync::{oneshot, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::convert::{bits_from_sql, bits_to_sql, seq_from_sql, seq_to_sql, text_from_sql};
use super::{decode_heads, decode_log_ends, Head, LOCK_HEADS, LOG_ENDS};
use crate::error::{column, store_error};

const INSERT_EVENTS: &str =
    "INSERT INTO events (board, seq, author, batch, at, kind, page, element, data) \
     SELECT * FROM UNNEST($1::bytea[], $2::int8[], $3::bytea[], $4::bytea[], $5::int8[], \
                          $6::int2[], $7::bytea[], $8::bytea[], $9::bytea[])";

pub(super) const SELECT_EVENTS: &str =
    "SELECT seq, author, batch, at, kind, page, element, data FROM events \
     WHERE board = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4";

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

/// The new events of a group, column by column (for `UNNEST`).
#[derive(Default)]
struct Columns<'a> {
    board: Vec<&'a [u8]>,
    seq: Vec<i64>,
    author: Vec<&'a [u8]>,
    batch: Vec<&'a [u8]>,
    at: Vec<i64>,
    kind: Vec<i16>,
    page: Vec<&'a [u8]>,
    element: Vec<&'a [u8]>,
    data: Vec<Option<&'a [u8]>>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, board: &'a BoardId, e: &'a Event) -> Result<(), StoreError> {
        let (kind, data) = match &e.mutation {
            Mutation::Upsert { data, .. } => (0, Some(data.as_bytes())),
            Mutation::Delete { .. } => (1, None),
        };
        self.board.push(board.as_str().as_bytes());
        self.seq.push(seq_to_sql(e.seq)?);
        self.author.push(e.author.as_str().as_bytes());
        self.batch.push(e.batch.as_str().as_bytes());
        self.at.push(bits_to_sql(e.at.as_millis()));
        self.kind.push(kind);
        self.page.push(e.mutation.page().as_str().as_bytes());
        self.element.push(e.mutation.element().as_str().as_bytes());
        self.data.push(data);
        Ok(())
    }
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
    let mut rows = Columns::default();
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
            for e in new {
                rows.push(board, e)?;
            }
            *log_end = last.seq;
            moved.insert(key.to_vec(), last.seq);
        }
        *result = Some(Ok(()));
    }
    if let Some(planned) = planned {
        let _ = planned.send(moved);
    }
    if rows.seq.is_empty() {
        // Batches found already held may count on an earlier transaction.
        chain.committed().await?;
        return client.batch_execute("COMMIT").await.map_err(store_error);
    }
    let insert = client
        .prepare_cached(INSERT_EVENTS)
        .await
        .map_err(store_error)?;
    let c = &rows;
    let columns: [&(dyn ToSql + Sync); 9] = [
        &c.board, &c.seq, &c.author, &c.batch, &c.at, &c.kind, &c.page, &c.element, &c.data,
    ];
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
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let stmt = client
        .prepare_cached(SELECT_EVENTS)
        .await
        .map_err(store_error)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &stmt,
            &[&board.as_str().as_bytes(), &after, &i64::MAX, &limit],
        )
        .await
        .map_err(store_error)?;
    rows.iter().map(decode_event).collect()
}

pub(super) fn decode_event(row: &Row) -> Result<Event, StoreError> {
    let seq = seq_from_sql(row.try_get(0).map_err(column)?, "sequence")?;
    let bytes = |i: usize| row.try_get::<_, Vec<u8>>(i).map_err(column);
    let author = text_from_sql(bytes(1)?, "an event's author")?;
    let batch = text_from_sql(bytes(2)?, "an event's batch")?;
    let at = Timestamp::from_millis(bits_from_sql(row.try_get(3).map_err(column)?));
    let kind: i16 = row.try_get(4).map_err(column)?;
    let page = text_from_sql(bytes(5)?, "an event's page")?;
    let element = text_from_sql(bytes(6)?, "an event's element")?;
    let data: Option<Vec<u8>> = row.try_get(7).map_err(column)?;
    let mutation = match (kind, data) {
        (0, Some(data)) => Mutation::Upsert {
            page: page.into(),
            element: element.into(),
            data: Payload::from(data),
        },
        (1, None) => Mutation::Delete {
            page: page.into(),
            element: element.into(),
        },
        (kind, data) => {
            return Err(StoreError::Corrupt(format!(
                "event {seq}: kind {kind} with {} data",
                if data.is_some() { "some" } else { "no" }
            )))
        }
    };
    Ok(Event {
        seq,
        author: author.into(),
        batch: batch.into(),
        at,
        mutation,
    })
}
