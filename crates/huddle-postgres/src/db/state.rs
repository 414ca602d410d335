//! Flushes: the board state by page, as of a watermark, in one
//! transaction.
//!
//! The flush's changes are reduced to each element's final state first (an
//! upsert, or a delete), so that the one array upsert and the one array
//! delete never touch a row twice.
//!
//! A flush locks its board's row last, not first: it plans against the
//! head and log end it reads, writes the elements and batch records, and
//! only then locks the row (`FOR NO KEY UPDATE`), checks the epoch and the
//! lease (fencing: the lock is held until the commit, and conflicts with
//! an acquire's `FOR UPDATE`, so a takeover comes wholly before or after)
//! and that the watermark has not moved meanwhile (two flushes' locks
//! conflict). The board's appends hold the row `FOR KEY SHARE`, which this
//! lock does not conflict with: appends and flushes never wait for each
//! other, and an acquire's wait for a flush is only that check and the
//! commit.

use std::collections::HashMap;
use std::sync::Mutex;

use deadpool_postgres::Client;
use huddle_core::{BoardId, Timestamp};
use huddle_store::forget::ForgetSchedule;
use huddle_store::load::{BATCH_RECORDS_PER_USER, BATCH_RECORD_MAX_AGE};
use huddle_store::validate::{plan_flush, FlushPlan};
use huddle_store::{FlushWrite, StoreError};

use super::convert::{bits_to_sql, count_to_sql, seq_to_sql};
use super::{owned_head, read_head, RowLock};
use crate::error::store_error;

const UPSERT_ELEMENTS: &str = "INSERT INTO elements (board, page, element, data) \
     SELECT $1, * FROM UNNEST($2::bytea[], $3::bytea[], $4::bytea[]) \
     ON CONFLICT (board, page, element) DO UPDATE SET data = excluded.data";

const DELETE_ELEMENTS: &str = "DELETE FROM elements USING UNNEST($2::bytea[], $3::bytea[]) \
     AS d(page, element) \
     WHERE elements.board = $1 AND elements.page = d.page AND elements.element = d.element";

/// The engine's batch records of the flush (with their digests and times).
const RECORD_BATCHES: &str = "INSERT INTO batches (board, author, batch, last_seq, digest, at) \
     SELECT $1, r.author, r.batch, r.last_seq, r.digest, r.at \
     FROM UNNEST($2::bytea[], $3::bytea[], $4::bigint[], $5::bigint[], $6::bigint[]) \
     AS r(author, batch, last_seq, digest, at) \
     ON CONFLICT (board, author, batch) DO UPDATE SET \
     last_seq = GREATEST(batches.last_seq, excluded.last_seq), \
     digest = COALESCE(excluded.digest, batches.digest), at = GREATEST(batches.at, excluded.at)";

/// The records past the window: applied at or before $2 (the newest
/// record's time minus the window's age) and not among their author's
/// newest $3. Only the authors with a record that old are ranked (found
/// through `batches_by_age`): while a board's records are all young, a
/// flush ranks none. Once they are not, every busy author has a record
/// that just aged out at every flush, so a board's flushes run this at
/// most once per [`huddle_store::forget::FORGET_EVERY`] of its records'
/// time (the store's [`ForgetSchedule`]).
const FORGET_BATCHES: &str = "DELETE FROM batches b USING ( \
       SELECT author, batch FROM ( \
         SELECT author, batch, at, \
                row_number() OVER (PARTITION BY author ORDER BY last_seq DESC) AS n \
         FROM batches WHERE board = $1 AND author IN \
           (SELECT author FROM batches WHERE board = $1 AND at <= $2)) AS ranked \
       WHERE n > $3 AND at <= $2) AS old \
     WHERE b.board = $1 AND b.author = old.author AND b.batch = old.batch";

/// An element: its page and id, as stored.
type ElementKey<'a> = (&'a [u8], &'a [u8]);

/// Writes a flush and moves the watermark, in one transaction; forgets
/// the board's old batch records when `forget` says it is due.
pub(crate) async fn flush(
    client: &mut Client,
    write: &FlushWrite,
    forget: &Mutex<ForgetSchedule>,
) -> Result<(), StoreError> {
    let batch = &write.batch;
    let board = write.board.as_str().as_bytes();
    // Each element's final state: the upserts in order, then the deletes.
    let mut last: HashMap<ElementKey<'_>, Option<&[u8]>> = HashMap::new();
    for (page, changes) in &batch.pages {
        for (element, data) in &changes.upserts {
            last.insert(
                (page.as_str().as_bytes(), element.as_str().as_bytes()),
                Some(data.as_bytes()),
            );
        }
        for element in &changes.deletes {
            last.insert(
                (page.as_str().as_bytes(), element.as_str().as_bytes()),
                None,
            );
        }
    }
    let (mut up_pages, mut up_elements, mut up_data) = (Vec::new(), Vec::new(), Vec::new());
    let (mut del_pages, mut del_elements) = (Vec::new(), Vec::new());
    for ((page, element), data) in last {
        match data {
            Some(data) => {
                up_pages.push(page);
                up_elements.push(element);
                up_data.push(data);
            }
            None => {
                del_pages.push(page);
                del_elements.push(element);
            }
        }
    }

    let tx = client.transaction().await.map_err(store_error)?;
    let (seen, log_end) = read_head(&tx, &write.board).await?;
    if seen.epoch != write.epoch {
        // Taken over (or never this writer's): the locked check says which.
        owned_head(&tx, &write.board, write.epoch, RowLock::NoKeyUpdate).await?;
    }
    // The log end read is of committed events only, and a flush covers
    // acknowledged (so committed) events: an append in flight cannot make
    // a valid flush look ahead of the log.
    if plan_flush(&write.board, batch, seen.pages_sequence, log_end)? == FlushPlan::AlreadyApplied {
        return Ok(());
    }
    if !up_pages.is_empty() {
        let stmt = tx
            .prepare_cached(UPSERT_ELEMENTS)
            .await
            .map_err(store_error)?;
        tx.execute(&stmt, &[&board, &up_pages, &up_elements, &up_data])
            .await
            .map_err(store_error)?;
    }
    if !del_pages.is_empty() {
        let stmt = tx
            .prepare_cached(DELETE_ELEMENTS)
            .await
            .map_err(store_error)?;
        tx.execute(&stmt, &[&board, &del_pages, &del_elements])
            .await
            .map_err(store_error)?;
    }
    // The batch records of the events the flush covers, as the engine hands
    // them (with their digests): written here, once per flush, rather than
    // with every append (a load takes the newer ones from the events it
    // reads anyway). Then the window by age.
    let newest = batch.batches.iter().map(|r| r.at).max();
    if !batch.batches.is_empty() {
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in &batch.batches {
            columns.0.push(r.user.as_str().as_bytes());
            columns.1.push(r.batch.as_str().as_bytes());
            columns.2.push(seq_to_sql(r.last_seq)?);
            columns.3.push(r.digest.map(|d| bits_to_sql(d.bits())));
            columns.4.push(bits_to_sql(r.at.as_millis()));
        }
        let stmt = tx
            .prepare_cached(RECORD_BATCHES)
            .await
            .map_err(store_error)?;
        tx.execute(
            &stmt,
            &[
                &board, &columns.0, &columns.1, &columns.2, &columns.3, &columns.4,
            ],
        )
        .await
        .map_err(store_error)?;
    }
    if let Some(newest) = newest.filter(|n| forget_due(forget, &write.board, *n)) {
        let cutoff = bits_to_sql(newest.saturating_sub(BATCH_RECORD_MAX_AGE).as_millis());
        let per_user = count_to_sql(BATCH_RECORDS_PER_USER);
        let stmt = tx
            .prepare_cached(FORGET_BATCHES)
            .await
            .map_err(store_error)?;
        tx.execute(&stmt, &[&board, &cutoff, &per_user])
            .await
            .map_err(store_error)?;
    }
    let head = owned_head(&tx, &write.board, write.epoch, RowLock::NoKeyUpdate).await?;
    if head.pages_sequence != seen.pages_sequence {
        // Another flush of this epoch moved the watermark meanwhile (the
        // driver runs one at a time per board): nothing is written, and a
        // retry plans again.
        return Err(StoreError::Unavailable(format!(
            "board {}: its watermark moved during a flush",
            write.board
        )));
    }
    let stmt = tx
        .prepare_cached("UPDATE boards SET pages_sequence = $1 WHERE id = $2")
        .await
        .map_err(store_error)?;
    let through = seq_to_sql(batch.through)?;
    tx.execute(&stmt, &[&through, &board])
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)
}

/// Whether the board's flush at `newest` forgets, noting it if so (a
/// flush that then fails only delays the next forget by a period).
fn forget_due(forget: &Mutex<ForgetSchedule>, board: &BoardId, newest: Timestamp) -> bool {
    // A poisoned lock only means a panic elsewhere while noting a time.
    let mut schedule = forget.lock().unwrap_or_else(|e| e.into_inner());
    let due = schedule.due(board, newest);
    if due {
        schedule.forgot(board, newest);
    }
    due
}
