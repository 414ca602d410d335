//! The database operations. Each write is one transaction that locks its
//! boards' rows in `boards` (in id order, so that concurrent transactions
//! cannot deadlock) and checks the writer's epoch there, holding the lock
//! until it ends; appends of many boards share one transaction (group
//! commit). Appends, snapshots and session records take the rows `FOR KEY
//! SHARE`, flushes `FOR NO KEY UPDATE`, renewals update them (`FOR NO KEY
//! UPDATE`), and only an acquire takes them `FOR UPDATE`, which waits for
//! every write in flight and makes every later one wait: the lock matrix
//! and why the fence holds are in `docs/storage.md`. A board's log end is
//! not stored: it is the largest `last_seq` of its event chunks
//! ([`LOG_ENDS`]).

pub(crate) mod convert;
mod lease;
mod load;
mod log;
mod records;
mod snapshots;
mod state;

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use huddle_core::BoardId;
use huddle_store::{Epoch, StoreError};
use tokio_postgres::Row;

use crate::error::{column, store_error};
use convert::seq_from_sql;

pub(crate) use lease::{acquire_board, board_owner, release_board, renew_leases};
pub(crate) use load::{board_summary, load_board};
pub(crate) use log::{append_group, read_events, Chain, Ends, Outcome, INSERT_CHUNKS};
pub(crate) use records::{create_room, put_user_session, room, user_sessions};
pub(crate) use snapshots::{get_snapshot, list_snapshots, prune_snapshots, store_snapshot};
pub(crate) use state::flush;

/// A board's row in `boards`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Head {
    epoch: Epoch,
    /// Whether the board's lease runs now (the database's clock).
    lease_live: bool,
    pages_sequence: u64,
}

/// How a write holds its boards' rows until it ends (see the lock matrix
/// in `docs/storage.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowLock {
    /// `FOR KEY SHARE`: a write that only needs the epoch to hold until it
    /// commits (appends, snapshots, session records). Writes that share a
    /// board do not wait for each other, nor for renewals; an acquire's
    /// `FOR UPDATE` waits for them, and they for it.
    KeyShare,
    /// `FOR NO KEY UPDATE`: a flush, which moves `pages_sequence`. It waits
    /// for another flush and for an acquire, not for appends.
    NoKeyUpdate,
}

/// The epoch and watermark from two columns of a row (the lease is read
/// where writes check it: [`lock_heads`]).
fn decode_head(row: &Row, from: usize) -> Result<Head, StoreError> {
    let get = |i: usize| row.try_get::<_, i64>(from + i).map_err(column);
    Ok(Head {
        epoch: Epoch::new(seq_from_sql(get(0)?, "epoch")?),
        pages_sequence: seq_from_sql(get(1)?, "pages sequence")?,
        lease_live: false,
    })
}

/// Locks the rows of some boards (`$1`, their ids) until the transaction
/// ends, in id order, and reads their heads and whether their leases run
/// (the database's clock). `FOR KEY SHARE`: see [`RowLock::KeyShare`].
const LOCK_HEADS: &str = "SELECT id, epoch, pages_sequence, \
     lease_node IS NOT NULL AND lease_until > clock_timestamp() FROM boards \
     WHERE id = ANY($1) ORDER BY id FOR KEY SHARE";

/// [`LOCK_HEADS`] for a flush: see [`RowLock::NoKeyUpdate`].
const LOCK_HEADS_FOR_FLUSH: &str = "SELECT id, epoch, pages_sequence, \
     lease_node IS NOT NULL AND lease_until > clock_timestamp() FROM boards \
     WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE";

/// The log end of each of some boards (`$1`, their ids): the largest
/// `last_seq` in `event_chunks` (0 for an empty log), one backward step on the
/// primary key per board. The log end is not stored anywhere else: an
/// append that stored it would have to update the board's row and so hold
/// it until its commit.
const LOG_ENDS: &str = "SELECT b.id, \
     COALESCE((SELECT max(c.last_seq) FROM event_chunks c WHERE c.board = b.id), 0) \
     FROM UNNEST($1::bytea[]) AS b(id)";

/// Locks the rows of these boards until the transaction ends and reads
/// their heads (a board never acquired has none).
async fn lock_heads(
    tx: &Transaction<'_>,
    boards: &[&[u8]],
    lock: RowLock,
) -> Result<HashMap<Vec<u8>, Head>, StoreError> {
    let sql = match lock {
        RowLock::KeyShare => LOCK_HEADS,
        RowLock::NoKeyUpdate => LOCK_HEADS_FOR_FLUSH,
    };
    let stmt = tx.prepare_cached(sql).await.map_err(store_error)?;
    let rows = tx.query(&stmt, &[&boards]).await.map_err(store_error)?;
    decode_heads(&rows)
}

/// The heads of [`LOCK_HEADS`]'s rows, by board id.
fn decode_heads(rows: &[Row]) -> Result<HashMap<Vec<u8>, Head>, StoreError> {
    let mut heads = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Vec<u8> = row.try_get(0).map_err(column)?;
        let mut head = decode_head(row, 1)?;
        head.lease_live = row.try_get(3).map_err(column)?;
        heads.insert(id, head);
    }
    Ok(heads)
}

/// The log ends of [`LOG_ENDS`]'s rows, by board id.
fn decode_log_ends(rows: &[Row]) -> Result<HashMap<Vec<u8>, u64>, StoreError> {
    let mut ends = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Vec<u8> = row.try_get(0).map_err(column)?;
        let end = seq_from_sql(row.try_get(1).map_err(column)?, "log end")?;
        ends.insert(id, end);
    }
    Ok(ends)
}

/// A board's head and log end as the statement's snapshot sees them,
/// without a lock; a board never acquired has none.
async fn read_head(tx: &Transaction<'_>, board: &BoardId) -> Result<(Head, u64), StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT epoch, pages_sequence, \
             COALESCE((SELECT max(last_seq) FROM event_chunks WHERE board = $1), 0) \
             FROM boards WHERE id = $1",
        )
        .await
        .map_err(store_error)?;
    let row = tx
        .query_opt(&stmt, &[&board.as_str().as_bytes()])
        .await
        .map_err(store_error)?;
    let Some(row) = row else {
        return Ok((Head::default(), 0));
    };
    let end = seq_from_sql(row.try_get(2).map_err(column)?, "log end")?;
    Ok((decode_head(&row, 0)?, end))
}

/// Locks a board's row (`lock`) and returns its head, which the writer
/// must own with `epoch` ([`StoreError::Fenced`] otherwise) under a lease
/// that still runs ([`StoreError::LeaseExpired`] otherwise).
async fn owned_head(
    tx: &Transaction<'_>,
    board: &BoardId,
    epoch: Epoch,
    lock: RowLock,
) -> Result<Head, StoreError> {
    let heads = lock_heads(tx, &[board.as_str().as_bytes()], lock).await?;
    let head = heads
        .get(board.as_str().as_bytes())
        .copied()
        .unwrap_or_default();
    huddle_store::validate::check_epoch(board, epoch, head.epoch, head.lease_live)?;
    Ok(head)
}
