//! Board leases on the database's clock.
//!
//! Lease times are milliseconds since the Unix epoch as SQLite computes
//! them ([`NOW`]), never the process's: every process on the file agrees.
//! An acquire reads and writes the board's row in one `IMMEDIATE`
//! transaction, so that two processes cannot both take a board; a renewal
//! is one `UPDATE` of all the node's asked-for boards.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, TransactionBehavior};

use huddle_core::{BoardId, BoardOwner};
use huddle_store::{Acquired, Epoch, Node, StoreError};

use super::convert::{seq_from_sql, seq_to_sql};
use super::Db;
use crate::error::store_error;

/// Now, by the database's clock, in milliseconds since the Unix epoch.
pub(super) const NOW: &str = "((julianday('now') - 2440587.5) * 86400000.0)";

/// Whether a board row's lease runs now (an SQL expression).
pub(super) const LIVE: &str =
    "(lease_node IS NOT NULL AND lease_until > ((julianday('now') - 2440587.5) * 86400000.0))";

/// Boards renewed per statement (SQLite's limit on parameters is 32766).
const RENEW_CHUNK: usize = 10_000;

fn ttl(node: &Node) -> Result<i64, StoreError> {
    i64::try_from(node.ttl_millis()).map_err(|_| StoreError::Invalid("lease TTL too long".into()))
}

impl Db {
    pub(crate) fn acquire_board(
        &mut self,
        board: &BoardId,
        node: &Node,
    ) -> Result<Acquired, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        let current = tx
            .prepare_cached(&format!(
                "SELECT lease_node, lease_url, {LIVE} FROM boards WHERE id = ?1"
            ))
            .and_then(|mut s| {
                s.query_row([board.as_str()], |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, bool>(2)?,
                    ))
                })
                .optional()
            })
            .map_err(store_error)?;
        let mut took_over = false;
        if let Some((Some(holder), url, live)) = current {
            if holder != node.id() {
                if live {
                    return Err(StoreError::OwnedElsewhere {
                        board: board.clone(),
                        owner: BoardOwner {
                            node: holder,
                            url: url.unwrap_or_default(),
                        },
                    });
                }
                took_over = true;
            }
        }
        let ttl = ttl(node)?;
        let epoch: i64 = tx
            .prepare_cached(&format!(
                "INSERT INTO boards (id, epoch, lease_node, lease_url, lease_until) \
                 VALUES (?1, 1, ?2, ?3, {NOW} + ?4) \
                 ON CONFLICT (id) DO UPDATE SET epoch = epoch + 1, \
                 lease_node = excluded.lease_node, lease_url = excluded.lease_url, \
                 lease_until = excluded.lease_until RETURNING epoch"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![board.as_str(), node.id(), node.owner.url, ttl],
                    |r| r.get(0),
                )
            })
            .map_err(store_error)?;
        tx.commit().map_err(store_error)?;
        Ok(Acquired {
            epoch: Epoch::new(seq_from_sql(epoch, "epoch")?),
            took_over,
        })
    }

    pub(crate) fn renew_leases(
        &mut self,
        node: &Node,
        boards: &[BoardId],
    ) -> Result<Vec<BoardId>, StoreError> {
        let ttl = ttl(node)?;
        let mut renewed = Vec::new();
        for chunk in boards.chunks(RENEW_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "UPDATE boards SET lease_until = {NOW} + ?2 \
                 WHERE lease_node = ?1 AND {LIVE} AND id IN ({marks}) RETURNING id"
            );
            let mut stmt = self.conn.prepare(&sql).map_err(store_error)?;
            let args = [Value::Text(node.id().to_owned()), Value::Integer(ttl)]
                .into_iter()
                .chain(chunk.iter().map(|b| Value::Text(b.as_str().to_owned())));
            let rows = stmt
                .query_map(params_from_iter(args), |r| r.get::<_, String>(0))
                .map_err(store_error)?;
            for id in rows {
                renewed.push(BoardId::from(id.map_err(store_error)?));
            }
        }
        Ok(renewed)
    }

    pub(crate) fn release_board(
        &mut self,
        board: &BoardId,
        epoch: Epoch,
    ) -> Result<(), StoreError> {
        let epoch = seq_to_sql(epoch.get())?;
        self.conn
            .prepare_cached(
                "UPDATE boards SET lease_node = NULL, lease_url = NULL, lease_until = 0 \
                 WHERE id = ?1 AND epoch = ?2",
            )
            .and_then(|mut s| s.execute(params![board.as_str(), epoch]))
            .map_err(store_error)?;
        Ok(())
    }

    pub(crate) fn board_owner(
        &mut self,
        board: &BoardId,
    ) -> Result<Option<BoardOwner>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT lease_node, lease_url FROM boards WHERE id = ?1 AND {LIVE}"
            ))
            .and_then(|mut s| {
                s.query_row([board.as_str()], |r| {
                    Ok(BoardOwner {
                        node: r.get(0)?,
                        url: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    })
                })
                .optional()
            })
            .map_err(store_error)
    }
}
