//! The database operations, run on the store's thread. Each write is one
//! transaction; appends of many boards share one (group commit).

mod convert;
mod lease;
mod log;
mod records;
mod snapshots;
mod state;

use rusqlite::{Connection, OptionalExtension};

use huddle_core::BoardId;
use huddle_store::forget::ForgetSchedule;
use huddle_store::{Epoch, StoreError};

use crate::error::store_error;
use convert::{seq_from_sql, seq_to_sql};

/// The connection, owned by the store's thread.
pub(crate) struct Db {
    conn: Connection,
    /// When each board's flushes last forgot old batch records.
    forget: ForgetSchedule,
}

/// A board's row in `boards`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Head {
    epoch: Epoch,
    /// Whether the board's lease runs now (the database's clock).
    lease_live: bool,
    log_end: u64,
    pages_sequence: u64,
}

impl Db {
    pub(crate) fn new(conn: Connection) -> Self {
        Db {
            conn,
            forget: ForgetSchedule::default(),
        }
    }
}

/// Reads a board's head (none: never acquired).
fn read_head(conn: &Connection, board: &BoardId) -> Result<Option<Head>, StoreError> {
    let sql = format!(
        "SELECT epoch, log_end, pages_sequence, {} FROM boards WHERE id = ?1",
        lease::LIVE
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row([board.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            })
            .optional()
        })
        .map_err(store_error)?
        .map(|(epoch, log_end, pages_sequence, lease_live)| {
            Ok(Head {
                epoch: Epoch::new(seq_from_sql(epoch, "epoch")?),
                lease_live,
                log_end: seq_from_sql(log_end, "log end")?,
                pages_sequence: seq_from_sql(pages_sequence, "pages sequence")?,
            })
        })
        .transpose()
}

/// The head of a board the caller must own with `epoch`, under a lease
/// that still runs.
fn owned_head(conn: &Connection, board: &BoardId, epoch: Epoch) -> Result<Head, StoreError> {
    let head = read_head(conn, board)?.unwrap_or_default();
    huddle_store::validate::check_epoch(board, epoch, head.epoch, head.lease_live)?;
    Ok(head)
}

fn write_log_end(conn: &Connection, board: &BoardId, log_end: u64) -> Result<(), StoreError> {
    let log_end = seq_to_sql(log_end)?;
    conn.prepare_cached("UPDATE boards SET log_end = ?1 WHERE id = ?2")
        .and_then(|mut s| s.execute(rusqlite::params![log_end, board.as_str()]))
        .map_err(store_error)?;
    Ok(())
}
