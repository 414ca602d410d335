//! The event log: group-committed appends and reads.
//!
//! A group commit is one transaction for the batches of many boards: the
//! batches are checked first (well formed, the writer's epoch on the
//! board's row, held `FOR KEY SHARE` until the commit, no gap after the
//! log's end), then every new event of the batches that pass goes in with
//! one binary `COPY` (rows in PostgreSQL's binary copy format: no arrays to
//! take apart per row, and the table's pages filled several rows at a
//! time). Nothing else is written: a board's log end
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
//! The transaction takes two round trips to the server: `BEGIN` goes out
//! with the row locks, the log ends and the start of the `COPY`, and the
//! rows with the end of the `COPY` and `COMMIT` (tokio-postgres pipelines
//! requests that are polled together; `COMMIT` later if the transaction
//! waits for an earlier one). If the `COPY` fails (a sequence stored twice
//! is a unique violation, `Corrupt`; a lost connection `Unavailable`),
//! PostgreSQL answers the `COMMIT` of the failed transaction with a
//! rollback, so nothing is written; any failure ends with an explicit
//! `ROLLBACK` before the connection goes back to the pool (a `COPY` that is
//! not finished is aborted first).

use std::collections::HashMap;
use std::pin::pin;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::SinkExt;

use deadpool_postgres::Client;
use huddle_core::{BoardId, Event, Mutation, Payload, Timestamp};
use huddle_store::validate::{already_held, check_epoch, check_events};
use huddle_store::{AppendBatch, StoreError};
use tokio::sync::{oneshot, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::{CopyInSink, Row};

use super::convert::{bits_from_sql, bits_to_sql, seq_from_sql, seq_to_sql, text_from_sql};
use super::{decode_heads, decode_log_ends, Head, LOCK_HEADS, LOG_ENDS};
use crate::error::{column, store_error};

/// The new events of a transaction, as rows in the binary copy format
/// ([`encode`]).
const COPY_EVENTS: &str = "COPY events (board, seq, author, batch, at, kind, page, element, data) \
     FROM STDIN (FORMAT binary)";

/// What starts PostgreSQL's binary copy format: its signature, then no
/// flags and no header extension.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

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

/// The new events of a transaction: each batch's events past its board's
/// log end, in the order of the batches.
type Runs<'a> = Vec<(&'a BoardId, &'a [Event])>;

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
    let copy = client
        .prepare_cached(COPY_EVENTS)
        .await
        .map_err(store_error)?;
    let params: [&(dyn ToSql + Sync); 1] = [&boards];
    // `biased`: polled, and so sent, in this order; the log ends are read
    // once the rows are locked (a statement of its own, so with a snapshot
    // taken after the lock), and the COPY is under way by the time they
    // are answered, so the rows can follow as soon as they are checked.
    let (begun, locked, stored, sink) = tokio::join!(
        biased;
        client.batch_execute("BEGIN"),
        client.query(&lock, &params),
        client.query(&ends, &params),
        client.copy_in(&copy)
    );
    // An unfinished COPY is aborted when its sink is dropped,
    // at the end of this statement: before the ROLLBACK below, which the
    // connection sends only after it.
    let written = match (begun.and(locked), stored, sink) {
        (Ok(locked), Ok(stored), Ok(sink)) => {
            match plan(batches, &mut results, &locked, &stored, chain) {
                Ok((runs, moved)) => {
                    if let Some(planned) = planned {
                        let _ = planned.send(moved);
                    }
                    write(client, &runs, sink, chain).await
                }
                Err(e) => Err(e),
            }
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(store_error(e)),
    };
    if let Err(e) = written {
        // Out of the (possibly aborted) transaction before the connection
        // is reused; outside one, this is a harmless warning.
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(e);
    }
    Ok(results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
}

/// Checks each batch against its board's locked head and log end (the
/// batches refused get their answer in `results`), and returns the new
/// events of the others and the log ends the transaction will leave.
fn plan<'a>(
    batches: &'a [AppendBatch],
    results: &mut [Option<Result<(), StoreError>>],
    locked: &[Row],
    stored: &[Row],
    chain: &Chain,
) -> Result<(Runs<'a>, Ends), StoreError> {
    let heads: HashMap<Vec<u8>, Head> = decode_heads(locked)?;
    let mut log_ends = decode_log_ends(stored)?;
    for (board, end) in &chain.ends {
        if let Some(stored) = log_ends.get_mut(board) {
            *stored = (*stored).max(*end);
        }
    }
    let mut runs = Vec::with_capacity(batches.len());
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
            runs.push((board, new));
            *log_end = last.seq;
            moved.insert(key.to_vec(), last.seq);
        }
        *result = Some(Ok(()));
    }
    Ok((runs, moved))
}

/// Sends the new events through the transaction's `COPY` as one message
/// (encoded first, so PostgreSQL is not kept waiting between rows), ends
/// it and commits, once the transactions it continues have committed
/// (batches found already held may count on them too, so even a `COPY` of
/// no rows waits for them).
async fn write(
    client: &Client,
    runs: &Runs<'_>,
    sink: CopyInSink<Bytes>,
    chain: &Chain,
) -> Result<(), StoreError> {
    let rows = encode(runs)?;
    let mut sink = pin!(sink);
    sink.send(rows).await.map_err(store_error)?;
    let (copied, committed) = tokio::join!(
        biased;
        sink.as_mut().finish(),
        async {
            chain.committed().await?;
            client.batch_execute("COMMIT").await.map_err(store_error)
        }
    );
    // The first failure is the cause; a failed COPY turned the COMMIT into
    // a rollback.
    copied.map_err(store_error)?;
    committed
}

/// The events as the whole input of [`COPY_EVENTS`] in PostgreSQL's
/// binary copy format: the header, then per row the number of columns and
/// each column as a length (-1: NULL) and its bytes in the column type's
/// binary form (`bytea` as is; `int8`, `int2` big-endian), then -1.
fn encode(runs: &Runs<'_>) -> Result<Bytes, StoreError> {
    let size: usize = runs
        .iter()
        .flat_map(|(board, events)| events.iter().map(|e| event_size(board, e)))
        .sum();
    let mut buf = BytesMut::with_capacity(COPY_HEADER.len() + size + 2);
    buf.put_slice(COPY_HEADER);
    for (board, events) in runs {
        let board = board.as_str().as_bytes();
        for e in *events {
            let (kind, data): (i16, Option<&[u8]>) = match &e.mutation {
                Mutation::Upsert { data, .. } => (0, Some(data.as_bytes())),
                Mutation::Delete { .. } => (1, None),
            };
            buf.put_i16(9);
            put_bytes(&mut buf, board)?;
            buf.put_i32(8);
            buf.put_i64(seq_to_sql(e.seq)?);
            put_bytes(&mut buf, e.author.as_str().as_bytes())?;
            put_bytes(&mut buf, e.batch.as_str().as_bytes())?;
            buf.put_i32(8);
            buf.put_i64(bits_to_sql(e.at.as_millis()));
            buf.put_i32(2);
            buf.put_i16(kind);
            put_bytes(&mut buf, e.mutation.page().as_str().as_bytes())?;
            put_bytes(&mut buf, e.mutation.element().as_str().as_bytes())?;
            match data {
                Some(data) => put_bytes(&mut buf, data)?,
                None => buf.put_i32(-1),
            }
        }
    }
    buf.put_i16(-1);
    Ok(buf.freeze())
}

/// The bytes one event's row takes in [`encode`].
fn event_size(board: &BoardId, e: &Event) -> usize {
    let data = match &e.mutation {
        Mutation::Upsert { data, .. } => data.as_bytes().len(),
        Mutation::Delete { .. } => 0,
    };
    2 + 9 * 4
        + board.as_str().len()
        + 8
        + e.author.as_str().len()
        + e.batch.as_str().len()
        + 8
        + 2
        + e.mutation.page().as_str().len()
        + e.mutation.element().as_str().len()
        + data
}

/// A `bytea` column: its length and its bytes.
fn put_bytes(buf: &mut BytesMut, bytes: &[u8]) -> Result<(), StoreError> {
    let len = i32::try_from(bytes.len())
        .map_err(|_| StoreError::Invalid(format!("a value of {} bytes", bytes.len())))?;
    buf.put_i32(len);
    buf.put_slice(bytes);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend((bytes.len() as i32).to_be_bytes());
        out.extend(bytes);
    }

    #[test]
    fn rows_are_encoded_in_the_binary_copy_format() {
        let board = BoardId::from("b\0");
        let events = [
            Event {
                seq: 7,
                author: "u".into(),
                batch: "x".into(),
                at: Timestamp::from_millis(u64::MAX),
                mutation: Mutation::Upsert {
                    page: "p".into(),
                    element: "e".into(),
                    data: Payload::from("{}"),
                },
            },
            Event {
                seq: 8,
                author: "u".into(),
                batch: "x".into(),
                at: Timestamp::from_millis(5),
                mutation: Mutation::Delete {
                    page: "p".into(),
                    element: "é".into(),
                },
            },
        ];
        let runs: Runs<'_> = vec![(&board, &events[..])];
        let bytes = encode(&runs).unwrap();

        let mut want = b"PGCOPY\n\xff\r\n\0".to_vec();
        want.extend([0; 8]);
        for (e, kind) in events.iter().zip([0i16, 1]) {
            want.extend(9i16.to_be_bytes());
            field(&mut want, b"b\0");
            field(&mut want, &(e.seq as i64).to_be_bytes());
            field(&mut want, b"u");
            field(&mut want, b"x");
            field(&mut want, &(e.at.as_millis() as i64).to_be_bytes());
            field(&mut want, &kind.to_be_bytes());
            field(&mut want, b"p");
            field(&mut want, e.mutation.element().as_str().as_bytes());
            match &e.mutation {
                Mutation::Upsert { data, .. } => field(&mut want, data.as_bytes()),
                Mutation::Delete { .. } => want.extend((-1i32).to_be_bytes()),
            }
        }
        want.extend((-1i16).to_be_bytes());
        assert_eq!(&bytes[..], &want[..]);
        // The size reserved up front is exact.
        let size: usize = events.iter().map(|e| event_size(&board, e)).sum();
        assert_eq!(bytes.len(), COPY_HEADER.len() + size + 2);
        // No rows: the header and the end.
        assert_eq!(encode(&Vec::new()).unwrap().len(), COPY_HEADER.len() + 2);
    }
}
