//! The event log: group-committed appends, reads, and loading a board.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use huddle_core::{
    BatchDigest, BatchRecord, BoardId, Event, LoadedBoard, Mutation, Pages, Payload, SessionType,
    Timestamp,
};
use huddle_store::load::{check_loaded, load_window_start, merge_batch_records};
use huddle_store::validate::{already_held, check_epoch, check_events};
use huddle_store::{AppendBatch, BoardSummary, StoreError};

use super::convert::{bits_from_sql, seq_from_sql, seq_to_sql, session_type_from_sql};
use super::{read_head, write_log_end, Db, Head};
use crate::error::store_error;
use huddle_store::chunk::{self, Chunk};

/// One append of one board: its events as one chunk (`huddle_store::chunk`).
const INSERT_CHUNK: &str =
    "INSERT INTO event_chunks (board, last_seq, first_seq, events) VALUES (?1, ?2, ?3, ?4)";

/// The board's batch records (the flushes keep them to the window).
const SELECT_BATCHES: &str =
    "SELECT author, batch, last_seq, digest, at FROM batches WHERE board = ?1 ORDER BY last_seq";

/// The chunks holding events after ?2 through ?3, in order.
const SELECT_CHUNKS: &str = "SELECT first_seq, last_seq, events FROM event_chunks \
     WHERE board = ?1 AND last_seq > ?2 AND first_seq <= ?3 ORDER BY last_seq";

impl Db {
    /// Appends many boards' batches in one transaction (one fsync), and
    /// answers each. A batch refused by the rules fails alone. If SQLite
    /// itself fails, the group is retried batch by batch so that only the
    /// batch that causes it fails.
    pub(crate) fn append_group(&mut self, batches: &[AppendBatch]) -> Vec<Result<(), StoreError>> {
        match self.try_append(batches) {
            Ok(results) => results,
            Err(e) if batches.len() <= 1 => vec![Err(e); batches.len()],
            Err(_) => batches
                .iter()
                .map(|b| match self.try_append(std::slice::from_ref(b)) {
                    Ok(mut r) => r.pop().unwrap_or(Ok(())),
                    Err(e) => Err(e),
                })
                .collect(),
        }
    }

    /// One transaction for all batches; `Err` means nothing was written.
    fn try_append(
        &mut self,
        batches: &[AppendBatch],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        let mut heads: HashMap<&BoardId, (Head, bool)> = HashMap::new();
        let mut encoded = Vec::new();
        let mut results = Vec::with_capacity(batches.len());
        for batch in batches {
            let board = &batch.board;
            if let Err(e) = check_events(board, &batch.events) {
                results.push(Err(e));
                continue;
            }
            let (head, dirty) = match heads.entry(board) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert((read_head(&tx, board)?.unwrap_or_default(), false)),
            };
            let held = match check_epoch(board, batch.epoch, head.epoch, head.lease_live)
                .and_then(|()| already_held(board, &batch.events, head.log_end))
            {
                Ok(held) => held,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let new = batch.events.get(held..).unwrap_or_default();
            if let Some(last) = new.last() {
                insert_chunk(&tx, board, new, &mut encoded)?;
                head.log_end = last.seq;
                *dirty = true;
            }
            results.push(Ok(()));
        }
        for (board, (head, dirty)) in &heads {
            if *dirty {
                write_log_end(&tx, board, head.log_end)?;
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(results)
    }

    /// Up to `limit` events after `after`.
    pub(crate) fn read_events(
        &mut self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        select_events(&self.conn, board, after, u64::MAX, limit)
    }

    /// A board's sequence and snapshot count, from its rows alone.
    pub(crate) fn board_summary(
        &mut self,
        board: &BoardId,
    ) -> Result<Option<BoardSummary>, StoreError> {
        let tx = self.conn.transaction().map_err(store_error)?;
        let summary = read_rows(&tx, board)?.map(|rows| BoardSummary {
            sequence: rows.head.log_end.max(rows.head.pages_sequence),
            snapshots: rows.snapshot_count,
        });
        tx.finish().map_err(store_error)?;
        Ok(summary)
    }

    /// Loads a board in one read transaction (a consistent snapshot).
    pub(crate) fn load_board(
        &mut self,
        board: &BoardId,
    ) -> Result<Option<LoadedBoard>, StoreError> {
        let tx = self.conn.transaction().map_err(store_error)?;
        let Some(Rows {
            session_type,
            head,
            snapshot_count,
            last_version,
        }) = read_rows(&tx, board)?
        else {
            return Ok(None);
        };
        let pages = select_pages(&tx, board)?;
        let start = load_window_start(head.pages_sequence, head.log_end);
        let events = select_events(&tx, board, start, head.log_end, usize::MAX)?;
        let loaded = LoadedBoard {
            session_type,
            pages,
            pages_sequence: head.pages_sequence,
            snapshot_count,
            last_snapshot_version: last_version,
            batches: load_batches(&tx, board, &events, head.pages_sequence)?,
            events,
        };
        check_loaded(&loaded, head.log_end)
            .map_err(|e| StoreError::Corrupt(format!("board {board}: {e}")))?;
        tx.finish().map_err(store_error)?;
        Ok(Some(loaded))
    }
}

/// What a board's rows say, without its elements and events.
struct Rows {
    session_type: Option<SessionType>,
    head: Head,
    snapshot_count: usize,
    last_version: Option<u64>,
}

/// Reads a board's rows; `None` if the store knows nothing of it.
fn read_rows(conn: &Connection, board: &BoardId) -> Result<Option<Rows>, StoreError> {
    let session_type = conn
        .prepare_cached("SELECT session_type FROM rooms WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row([board.as_str()], |r| r.get::<_, String>(0))
                .optional()
        })
        .map_err(store_error)?
        .map(|t| session_type_from_sql(&t))
        .transpose()?;
    let head = read_head(conn, board)?.unwrap_or_default();
    let (snapshot_count, last_version) = conn
        .prepare_cached("SELECT count(*), max(version) FROM snapshots WHERE board = ?1")
        .and_then(|mut s| {
            s.query_row([board.as_str()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
            })
        })
        .map_err(store_error)?;
    let known =
        session_type.is_some() || head.log_end > 0 || head.pages_sequence > 0 || snapshot_count > 0;
    if !known {
        return Ok(None);
    }
    Ok(Some(Rows {
        session_type,
        head,
        snapshot_count: usize::try_from(snapshot_count).unwrap_or(0),
        last_version: last_version
            .map(|v| seq_from_sql(v, "snapshot version"))
            .transpose()?,
    }))
}

/// Writes `events` (checked, new) as one chunk; `encoded` is the
/// commit's buffer for the blob.
fn insert_chunk(
    conn: &Connection,
    board: &BoardId,
    events: &[Event],
    encoded: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Ok(());
    };
    let (first, last) = (seq_to_sql(first.seq)?, seq_to_sql(last.seq)?);
    chunk::encode(events, encoded)?;
    conn.prepare_cached(INSERT_CHUNK)
        .and_then(|mut stmt| stmt.execute(params![board.as_str(), last, first, encoded.as_slice()]))
        .map_err(store_error)?;
    Ok(())
}

/// Each user's newest batches for a load: the `batches` rows (written by
/// the flushes, so complete through the flushed state) together with the
/// batches of the loaded events after it (the load holds them all).
fn load_batches(
    conn: &Connection,
    board: &BoardId,
    events: &[Event],
    flushed: u64,
) -> Result<Vec<BatchRecord>, StoreError> {
    let stored = select_batches(conn, board)?;
    Ok(merge_batch_records(stored, events, flushed))
}

fn select_batches(conn: &Connection, board: &BoardId) -> Result<Vec<BatchRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_BATCHES).map_err(store_error)?;
    let mut rows = stmt.query(params![board.as_str()]).map_err(store_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(store_error)? {
        let user: String = row.get(0).map_err(store_error)?;
        let batch: String = row.get(1).map_err(store_error)?;
        let last_seq = seq_from_sql(row.get(2).map_err(store_error)?, "batch sequence")?;
        let digest: Option<i64> = row.get(3).map_err(store_error)?;
        let at: i64 = row.get(4).map_err(store_error)?;
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

/// Up to `limit` events with `after < seq <= through`, in order; a gap
/// is corrupt (the log starts at 1 and has no holes).
fn select_events(
    conn: &Connection,
    board: &BoardId,
    after: u64,
    through: u64,
    limit: usize,
) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::new();
    if limit == 0 || after >= through {
        return Ok(out);
    }
    let mut stmt = conn.prepare_cached(SELECT_CHUNKS).map_err(store_error)?;
    let mut rows = stmt
        .query(params![
            board.as_str(),
            i64::try_from(after).unwrap_or(i64::MAX),
            i64::try_from(through).unwrap_or(i64::MAX),
        ])
        .map_err(store_error)?;
    while out.len() < limit {
        let Some(row) = rows.next().map_err(store_error)? else {
            break;
        };
        let first_seq = seq_from_sql(row.get(0).map_err(store_error)?, "chunk sequence")?;
        let last_seq = seq_from_sql(row.get(1).map_err(store_error)?, "chunk sequence")?;
        let bytes = match row.get_ref(2).map_err(store_error)? {
            ValueRef::Blob(b) => b,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "board {board}: event chunk at {first_seq} is {:?}, not a blob",
                    other.data_type()
                )))
            }
        };
        let chunk = Chunk {
            first_seq,
            last_seq,
            bytes,
        };
        chunk::decode_next(board, &chunk, after, through, limit, &mut out)?;
    }
    Ok(out)
}

/// A nullable BLOB column; any other type is corrupt.
pub(super) fn blob(row: &Row<'_>, idx: usize) -> Result<Option<Payload>, StoreError> {
    match row.get_ref(idx).map_err(store_error)? {
        ValueRef::Blob(b) => Ok(Some(Payload::from(b.to_vec()))),
        ValueRef::Null => Ok(None),
        other => Err(StoreError::Corrupt(format!(
            "expected a blob, found {:?}",
            other.data_type()
        ))),
    }
}

fn select_pages(conn: &Connection, board: &BoardId) -> Result<Pages, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT page, element, data FROM elements WHERE board = ?1 ORDER BY page, element",
        )
        .map_err(store_error)?;
    let mut rows = stmt.query([board.as_str()]).map_err(store_error)?;
    let mut pages = Pages::new();
    while let Some(row) = rows.next().map_err(store_error)? {
        let page: String = row.get(0).map_err(store_error)?;
        let element: String = row.get(1).map_err(store_error)?;
        let data = blob(row, 2)?
            .ok_or_else(|| StoreError::Corrupt(format!("element {element} has no data")))?;
        pages.apply(&Mutation::Upsert {
            page: page.into(),
            element: element.into(),
            data,
        });
    }
    Ok(pages)
}
