//! The event log: group-committed appends and reads.
//!
//! A group commit is one transaction for the batches of many boards: the
//! batches are checked first (well formed, the writer's epoch on the
//! board's locked row, no gap after the log's end), then every new event of
//! the batches that pass goes in with one array insert (`UNNEST`) and every
//! board's `log_end` moves with one update. A batch refused by the rules
//! writes nothing and fails alone; the others are committed.

use std::collections::HashMap;

use deadpool_postgres::{Client, Transaction};
use huddle_core::{BoardId, Event, Mutation, Payload, Timestamp};
use huddle_store::validate::{already_held, check_epoch, check_events};
use huddle_store::{AppendBatch, StoreError};
use tokio_postgres::Row;

use super::convert::{bits_from_sql, bits_to_sql, seq_from_sql, seq_to_sql, text_from_sql};
use super::{lock_heads, Head};
use crate::error::{column, store_error};

const INSERT_EVENTS: &str =
    "INSERT INTO events (board, seq, author, batch, at, kind, page, element, data) \
     SELECT * FROM UNNEST($1::bytea[], $2::int8[], $3::bytea[], $4::bytea[], $5::int8[], \
                          $6::int2[], $7::bytea[], $8::bytea[], $9::bytea[])";

const UPDATE_LOG_ENDS: &str = "UPDATE boards SET log_end = u.log_end \
     FROM UNNEST($1::bytea[], $2::int8[]) AS u(id, log_end) WHERE boards.id = u.id";

pub(super) const SELECT_EVENTS: &str =
    "SELECT seq, author, batch, at, kind, page, element, data FROM events \
     WHERE board = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4";

/// Appends many boards' batches in one transaction and answers each. If
/// PostgreSQL itself refuses the group (other than by being unavailable),
/// the group is retried batch by batch so that only the batch that causes
/// it fails.
pub(crate) async fn append_group(
    client: &mut Client,
    batches: &[AppendBatch],
) -> Vec<Result<(), StoreError>> {
    match try_append(client, batches).await {
        Ok(results) => results,
        Err(e) if batches.len() <= 1 || matches!(e, StoreError::Unavailable(_)) => {
            vec![Err(e); batches.len()]
        }
        Err(_) => {
            let mut results = Vec::with_capacity(batches.len());
            for batch in batches {
                results.push(
                    match try_append(client, std::slice::from_ref(batch)).await {
                        Ok(mut r) => r.pop().unwrap_or(Ok(())),
                        Err(e) => Err(e),
                    },
                );
            }
            results
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

/// One transaction for all batches; `Err` means nothing was written.
async fn try_append(
    client: &mut Client,
    batches: &[AppendBatch],
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
    let tx = client.transaction().await.map_err(store_error)?;
    let mut heads: HashMap<Vec<u8>, Head> = lock_heads(&tx, &boards).await?;
    let mut rows = Columns::default();
    let mut moved: HashMap<&[u8], i64> = HashMap::new();
    for (batch, result) in batches.iter().zip(results.iter_mut()) {
        if result.is_some() {
            continue;
        }
        let board = &batch.board;
        let key = board.as_str().as_bytes();
        let head = heads.entry(key.to_vec()).or_default();
        let held = match check_epoch(board, batch.epoch, head.epoch, head.lease_live)
            .and_then(|()| already_held(board, &batch.events, head.log_end))
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
            head.log_end = last.seq;
            moved.insert(key, seq_to_sql(last.seq)?);
        }
        *result = Some(Ok(()));
    }
    if !rows.seq.is_empty() {
        insert_events(&tx, &rows).await?;
        let (ids, ends): (Vec<&[u8]>, Vec<i64>) = moved.into_iter().unzip();
        let stmt = tx
            .prepare_cached(UPDATE_LOG_ENDS)
            .await
            .map_err(store_error)?;
        tx.execute(&stmt, &[&ids, &ends])
            .await
            .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)?;
    Ok(results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
}

async fn insert_events(tx: &Transaction<'_>, c: &Columns<'_>) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(INSERT_EVENTS)
        .await
        .map_err(store_error)?;
    tx.execute(
        &stmt,
        &[
            &c.board, &c.seq, &c.author, &c.batch, &c.at, &c.kind, &c.page, &c.element, &c.data,
        ],
    )
    .await
    .map_err(store_error)?;
    Ok(())
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
