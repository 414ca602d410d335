//! The database operations. Each write is one transaction that first locks
//! its boards' rows in `boards` (`SELECT ... FOR UPDATE`, in id order so
//! that concurrent group commits cannot deadlock) and checks the writer's
//! epoch there; appends of many boards share one transaction (group
//! commit).

mod convert;
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
pub(crate) use log::{append_group, read_events};
pub(crate) use records::{create_room, put_user_session, room, user_sessions};
pub(crate) use snapshots::{get_snapshot, list_snapshots, prune_snapshots, store_snapshot};
pub(crate) use state::flush;

/// A board's row in `boards`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Head {
    epoch: Epoch,
    /// Whether the board's lease runs now (the database's clock).
    lease_live: bool,
    log_end: u64,
    pages_sequence: u64,
}

/// The epoch and watermarks from three columns of a row (the lease is
/// read where writes check it: [`lock_heads`]).
fn decode_head(row: &Row, from: usize) -> Result<Head, StoreError> {
    let get = |i: usize| row.try_get::<_, i64>(from + i).map_err(column);
    Ok(Head {
        epoch: Epoch::new(seq_from_sql(get(0)?, "epoch")?),
        log_end: seq_from_sql(get(1)?, "log end")?,
        pages_sequence: seq_from_sql(get(2)?, "pages sequence")?,
        lease_live: false,
    })
}

/// Locks the rows of some boards (`$1`, their ids) until the transaction
/// ends, in id order, and reads their heads and whether their leases run
/// (the database's clock).
const LOCK_HEADS: &str = "SELECT id, epoch, log_end, pages_sequence, \
     lease_node IS NOT NULL AND lease_until > clock_timestamp() FROM boards \
     WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Locks the rows of these boards until the transaction ends and reads
/// their heads (a board never acquired has none).
async fn lock_heads(
    tx: &Transaction<'_>,
    boards: &[&[u8]],
) -> Result<HashMap<Vec<u8>, Head>, StoreError> {
    let stmt = tx.prepare_cached(LOCK_HEADS).await.map_err(store_error)?;
    let rows = tx.query(&stmt, &[&boards]).await.map_err(store_error)?;
    decode_heads(&rows)
}

/// The heads of [`LOCK_HEADS`]'s rows, by board id.
fn decode_heads(rows: &[Row]) -> Result<HashMap<Vec<u8>, Head>, StoreError> {
    let mut heads = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Vec<u8> = row.try_get(0).map_err(column)?;
        let mut head = decode_head(row, 1)?;
        head.lease_live = row.try_get(4).map_err(column)?;
        heads.insert(id, head);
    }
    Ok(heads)
}

/// A board's head as the transaction's snapshot sees it, without a lock;
/// a board never acquired has none.
async fn read_head(tx: &Transaction<'_>, board: &BoardId) -> Result<Head, StoreError> {
    let stmt = tx
        .prepare_cached("SELECT epoch, log_end, pages_sequence FROM boards WHERE id = $1")
        .await
        .map_err(store_error)?;
    let row = tx
        .query_opt(&stmt, &[&board.as_str().as_bytes()])
        .await
        .map_err(store_error)?;
    row.map_or(Ok(Head::default()), |row| decode_head(&row, 0))
}

/// Locks a board's row and returns its head, which the writer must own
/// with `epoch` ([`StoreError::Fenced`] otherwise) under a lease that
/// still runs ([`StoreError::LeaseExpired`] otherwise).
async fn owned_head(
    tx: &Transaction<'_>,
    board: &BoardId,
    epoch: Epoch,
) -> Result<Head, StoreError> {
    let heads = lock_heads(tx, &[board.as_str().as_bytes()]).await?;
    let head = heads
        .get(board.as_str().as_bytes())
        .copied()
        .unwrap_or_default();
    huddle_store::validate::check_epoch(board, epoch, head.epoch, head.lease_live)?;
    Ok(head)
}
