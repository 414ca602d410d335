//! Loading a board, and its summary, in one consistent read.
//!
//! A load runs in one `REPEATABLE READ, READ ONLY` transaction (one
//! snapshot of the database): the room, the board's row, the snapshot
//! count, the elements, the event window and the batch records. The batch
//! records written by the flushes (complete through `pages_sequence`) are
//! merged with those of the loaded events after it, keeping the
//! idempotency window (`huddle_store::load::window`).

use deadpool_postgres::{Client, Transaction};
use huddle_core::{
    BatchDigest, BatchRecord, BoardId, LoadedBoard, Mutation, Pages, Payload, SessionType,
    Timestamp,
};
use huddle_store::load::{check_loaded, load_window_start, merge_batch_records};
use huddle_store::{BoardSummary, StoreError};
use tokio_postgres::IsolationLevel;

use super::convert::{bits_from_sql, seq_from_sql, session_type_from_sql, text_from_sql};
use super::log::select_events;
use super::{decode_head, Head};
use crate::error::{column, store_error};

/// Each user's newest batches.
const SELECT_BATCHES: &str =
    "SELECT author, batch, last_seq, digest, at FROM batches WHERE board = $1 ORDER BY last_seq";

/// The room's session type, the board's row, its log end (the largest
/// sequence of its event chunks) and the snapshot count and newest version, in
/// one row.
const SELECT_ROWS: &str = "SELECT \
     (SELECT session_type FROM rooms WHERE id = $1), \
     (SELECT epoch FROM boards WHERE id = $1), \
     (SELECT pages_sequence FROM boards WHERE id = $1), \
     COALESCE((SELECT max(last_seq) FROM event_chunks WHERE board = $1), 0), \
     (SELECT count(*) FROM snapshots WHERE board = $1), \
     (SELECT max(version) FROM snapshots WHERE board = $1)";

async fn read_only(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(store_error)
}

/// A board's sequence and snapshot count, from its rows alone.
pub(crate) async fn board_summary(
    client: &mut Client,
    board: &BoardId,
) -> Result<Option<BoardSummary>, StoreError> {
    let tx = read_only(client).await?;
    let summary = read_rows(&tx, board).await?.map(|rows| BoardSummary {
        sequence: rows.log_end.max(rows.head.pages_sequence),
        snapshots: rows.snapshot_count,
    });
    tx.commit().await.map_err(store_error)?;
    Ok(summary)
}

/// Loads a board in one read transaction (a consistent snapshot).
pub(crate) async fn load_board(
    client: &mut Client,
    board: &BoardId,
) -> Result<Option<LoadedBoard>, StoreError> {
    let tx = read_only(client).await?;
    let Some(Rows {
        session_type,
        head,
        log_end,
        snapshot_count,
        last_version,
    }) = read_rows(&tx, board).await?
    else {
        return Ok(None);
    };
    let pages = select_pages(&tx, board).await?;
    let start = load_window_start(head.pages_sequence, log_end);
    let events = select_events(&tx, board, start, log_end, usize::MAX).await?;
    let stored = select_batches(&tx, board).await?;
    tx.commit().await.map_err(store_error)?;
    let loaded = LoadedBoard {
        session_type,
        pages,
        pages_sequence: head.pages_sequence,
        snapshot_count,
        last_snapshot_version: last_version,
        batches: merge_batch_records(stored, &events, head.pages_sequence),
        events,
    };
    check_loaded(&loaded, log_end)
        .map_err(|e| StoreError::Corrupt(format!("board {board}: {e}")))?;
    Ok(Some(loaded))
}

/// What a board's rows say, without its elements and events.
struct Rows {
    session_type: Option<SessionType>,
    head: Head,
    /// The largest sequence of the board's events (0: none).
    log_end: u64,
    snapshot_count: usize,
    last_version: Option<u64>,
}

/// Reads a board's rows; `None` if the store knows nothing of it.
async fn read_rows(tx: &Transaction<'_>, board: &BoardId) -> Result<Option<Rows>, StoreError> {
    let stmt = tx.prepare_cached(SELECT_ROWS).await.map_err(store_error)?;
    let row = tx
        .query_one(&stmt, &[&board.as_str().as_bytes()])
        .await
        .map_err(store_error)?;
    let session_type = row
        .try_get::<_, Option<String>>(0)
        .map_err(column)?
        .map(|t| session_type_from_sql(&t))
        .transpose()?;
    let head = match row.try_get::<_, Option<i64>>(1).map_err(column)? {
        Some(_) => decode_head(&row, 1)?,
        None => Head::default(),
    };
    let log_end = seq_from_sql(row.try_get(3).map_err(column)?, "log end")?;
    let snapshot_count: i64 = row.try_get(4).map_err(column)?;
    let last_version: Option<i64> = row.try_get(5).map_err(column)?;
    let known =
        session_type.is_some() || log_end > 0 || head.pages_sequence > 0 || snapshot_count > 0;
    if !known {
        return Ok(None);
    }
    Ok(Some(Rows {
        session_type,
        head,
        log_end,
        snapshot_count: usize::try_from(snapshot_count).unwrap_or(0),
        last_version: last_version
            .map(|v| seq_from_sql(v, "snapshot version"))
            .transpose()?,
    }))
}

async fn select_batches(
    tx: &Transaction<'_>,
    board: &BoardId,
) -> Result<Vec<BatchRecord>, StoreError> {
    let stmt = tx
        .prepare_cached(SELECT_BATCHES)
        .await
        .map_err(store_error)?;
    let rows = tx
        .query(&stmt, &[&board.as_str().as_bytes()])
        .await
        .map_err(store_error)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let user = text_from_sql(row.try_get(0).map_err(column)?, "a batch's author")?;
        let batch = text_from_sql(row.try_get(1).map_err(column)?, "a batch id")?;
        let last_seq = seq_from_sql(row.try_get(2).map_err(column)?, "batch sequence")?;
        let digest: Option<i64> = row.try_get(3).map_err(column)?;
        let at: i64 = row.try_get(4).map_err(column)?;
        out.push(BatchRecord {
            user: user.into(),
            batch: batch.into(),
            last_seq,
            digest: digest.map(|d| BatchDigest::from_bits(bits_from_sql(d))),
            at: Timestamp::from_millis(bits_from_sql(at)),
        });
    }
    Ok(out)
}

async fn select_pages(tx: &Transaction<'_>, board: &BoardId) -> Result<Pages, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT page, element, data FROM elements WHERE board = $1 ORDER BY page, element",
        )
        .await
        .map_err(store_error)?;
    let rows = tx
        .query(&stmt, &[&board.as_str().as_bytes()])
        .await
        .map_err(store_error)?;
    let mut pages = Pages::new();
    for row in &rows {
        let page = text_from_sql(row.try_get(0).map_err(column)?, "an element's page")?;
        let element = text_from_sql(row.try_get(1).map_err(column)?, "an element id")?;
        let data: Vec<u8> = row.try_get(2).map_err(column)?;
        pages.apply(&Mutation::Upsert {
            page: page.into(),
            element: element.into(),
            data: Payload::from(data),
        });
    }
    Ok(pages)
}
