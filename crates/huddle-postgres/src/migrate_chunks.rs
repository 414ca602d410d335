//! Migration 5's Rust step: the `events` rows (one per event) become
//! `event_chunks` rows (one per run of a batch), then `events` is dropped,
//! in the migration's transaction.
//!
//! A chunk is a run of contiguous events of one board and one batch, at
//! most [`MAX_CHUNK_EVENTS`] long (the layout of SQLite's migration 4, and
//! the codec of both backends: `huddle_store::chunk`); a hole in the old
//! log stays a hole (reads report it as before). The old rows are read
//! through a portal, [`ROWS_PER_FETCH`] at a time, and the chunks written
//! [`CHUNKS_PER_INSERT`] at a time, so a large log is migrated in bounded
//! memory. A row that cannot be read as an event (an unknown kind, an
//! upsert without data, an id that is not UTF-8, a negative sequence)
//! stops the migration: its transaction rolls back, the database stays at
//! version 4 and the open fails with [`OpenError::Corrupt`].

use deadpool_postgres::Transaction;
use huddle_core::{Event, Mutation, Payload, Timestamp};
use huddle_store::chunk;
use huddle_store::StoreError;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::db::convert::{bits_from_sql, seq_from_sql, seq_to_sql, text_from_sql};
use crate::db::INSERT_CHUNKS;
use crate::error::{column, OpenError};

/// The longest chunk the migration writes.
const MAX_CHUNK_EVENTS: usize = 256;

/// How many old rows one fetch from the portal reads.
const ROWS_PER_FETCH: i32 = 4096;

/// How many chunks one insert writes.
const CHUNKS_PER_INSERT: usize = 512;

/// Moves every `events` row into `event_chunks`, then drops `events`.
pub(crate) async fn events_to_chunks(tx: &Transaction<'_>) -> Result<(), OpenError> {
    let select = tx
        .prepare(
            "SELECT board, seq, author, batch, at, kind, page, element, data FROM events \
             ORDER BY board, seq",
        )
        .await
        .map_err(OpenError::from_pg)?;
    let portal = tx.bind(&select, &[]).await.map_err(OpenError::from_pg)?;
    let mut out = Written::default();
    let mut board: Vec<u8> = Vec::new();
    let mut run: Vec<Event> = Vec::new();
    loop {
        let rows = tx
            .query_portal(&portal, ROWS_PER_FETCH)
            .await
            .map_err(OpenError::from_pg)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let row_board: Vec<u8> = row.try_get(0).map_err(|e| corrupt(&[], &e.to_string()))?;
            let event = legacy_event(row).map_err(|e| corrupt(&row_board, &e.to_string()))?;
            let continues = row_board == board
                && run.len() < MAX_CHUNK_EVENTS
                && run.last().is_some_and(|l| {
                    l.seq.checked_add(1) == Some(event.seq) && l.batch == event.batch
                });
            if !continues {
                out.chunk(tx, &board, &run).await?;
                run.clear();
                board = row_board;
            }
            run.push(event);
        }
    }
    out.chunk(tx, &board, &run).await?;
    out.insert(tx).await?;
    // Closed (the drops send a Close ahead of the DROP) so that the table
    // is no longer in use.
    drop(portal);
    drop(select);
    tx.batch_execute("DROP TABLE events")
        .await
        .map_err(OpenError::from_pg)
}

/// What stops the migration at a row of `board`.
fn corrupt(board: &[u8], detail: &str) -> OpenError {
    OpenError::Corrupt(format!(
        "migrating the event log: board {}: {detail}",
        String::from_utf8_lossy(board)
    ))
}

/// The chunks not inserted yet, column by column.
#[derive(Default)]
struct Written {
    boards: Vec<Vec<u8>>,
    lasts: Vec<i64>,
    firsts: Vec<i64>,
    blobs: Vec<Vec<u8>>,
}

impl Written {
    /// Encodes a run of `board`'s events as a chunk; inserts the chunks
    /// once there are [`CHUNKS_PER_INSERT`].
    async fn chunk(
        &mut self,
        tx: &Transaction<'_>,
        board: &[u8],
        run: &[Event],
    ) -> Result<(), OpenError> {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            return Ok(());
        };
        let mut blob = Vec::new();
        chunk::encode(run, &mut blob).map_err(|e| corrupt(board, &e.to_string()))?;
        let seq = |s: u64| seq_to_sql(s).map_err(|e| corrupt(board, &e.to_string()));
        self.lasts.push(seq(last.seq)?);
        self.firsts.push(seq(first.seq)?);
        self.boards.push(board.to_vec());
        self.blobs.push(blob);
        if self.boards.len() >= CHUNKS_PER_INSERT {
            self.insert(tx).await?;
        }
        Ok(())
    }

    /// Inserts the chunks written so far.
    async fn insert(&mut self, tx: &Transaction<'_>) -> Result<(), OpenError> {
        if self.boards.is_empty() {
            return Ok(());
        }
        let columns: [&(dyn ToSql + Sync); 4] =
            [&self.boards, &self.lasts, &self.firsts, &self.blobs];
        tx.execute(INSERT_CHUNKS, &columns)
            .await
            .map_err(OpenError::from_pg)?;
        *self = Written::default();
        Ok(())
    }
}

/// One `events` row (columns 1 to 8 of the migration's query).
fn legacy_event(row: &Row) -> Result<Event, StoreError> {
    let seq = seq_from_sql(row.try_get(1).map_err(column)?, "sequence")?;
    let bytes = |i: usize| row.try_get::<_, Vec<u8>>(i).map_err(column);
    let author = text_from_sql(bytes(2)?, "an event's author")?;
    let batch = text_from_sql(bytes(3)?, "an event's batch")?;
    let at = Timestamp::from_millis(bits_from_sql(row.try_get(4).map_err(column)?));
    let kind: i16 = row.try_get(5).map_err(column)?;
    let page = text_from_sql(bytes(6)?, "an event's page")?;
    let element = text_from_sql(bytes(7)?, "an event's element")?;
    let data: Option<Vec<u8>> = row.try_get(8).map_err(column)?;
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
