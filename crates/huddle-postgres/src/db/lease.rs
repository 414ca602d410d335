//! Board leases on the database's clock (`clock_timestamp()`, never a
//! node's).
//!
//! An acquire locks the board's row (creating it if need be) `FOR UPDATE`
//! and decides in that transaction, so two nodes cannot both take a board;
//! that lock conflicts with every write's, so the acquire waits for the
//! writes in flight on the board (the previous owner's appends among them)
//! to end, and the writes that come after it wait for its commit and then
//! read the new epoch. A renewal is one `UPDATE` of all the node's
//! asked-for boards that still hold a live lease.

use deadpool_postgres::Client;
use huddle_core::{BoardId, BoardOwner};
use huddle_store::{Acquired, Epoch, Node, StoreError};

use super::convert::{seq_from_sql, seq_to_sql, text_from_sql};
use crate::error::{column, store_error};

fn ttl(node: &Node) -> Result<f64, StoreError> {
    // At most an hour of milliseconds: exact in a double.
    Ok(node.ttl_millis() as f64)
}

pub(crate) async fn acquire_board(
    client: &mut Client,
    board: &BoardId,
    node: &Node,
) -> Result<Acquired, StoreError> {
    let id = board.as_str().as_bytes();
    let tx = client.transaction().await.map_err(store_error)?;
    let create = tx
        .prepare_cached("INSERT INTO boards (id, epoch) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING")
        .await
        .map_err(store_error)?;
    tx.execute(&create, &[&id]).await.map_err(store_error)?;
    let lock = tx
        .prepare_cached(
            "SELECT lease_node, lease_url, lease_until > clock_timestamp() \
             FROM boards WHERE id = $1 FOR UPDATE",
        )
        .await
        .map_err(store_error)?;
    let row = tx.query_one(&lock, &[&id]).await.map_err(store_error)?;
    let holder: Option<String> = row.try_get(0).map_err(column)?;
    let live: bool = row.try_get(2).map_err(column)?;
    let mut took_over = false;
    if let Some(holder) = holder.filter(|h| h != node.id()) {
        if live {
            let url: Option<String> = row.try_get(1).map_err(column)?;
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
    let take = tx
        .prepare_cached(
            "UPDATE boards SET epoch = epoch + 1, lease_node = $2, lease_url = $3, \
             lease_until = clock_timestamp() + $4::float8 * interval '1 millisecond' \
             WHERE id = $1 RETURNING epoch",
        )
        .await
        .map_err(store_error)?;
    let row = tx
        .query_one(&take, &[&id, &node.id(), &node.owner.url, &ttl(node)?])
        .await
        .map_err(store_error)?;
    let epoch = seq_from_sql(row.try_get(0).map_err(column)?, "epoch")?;
    tx.commit().await.map_err(store_error)?;
    Ok(Acquired {
        epoch: Epoch::new(epoch),
        took_over,
    })
}

/// Renews the leases this node holds among `boards`. The rows are locked
/// in id order, as every write transaction locks them, so a renewal never
/// deadlocks with a flush or an acquire; `FOR NO KEY UPDATE` (the lock its
/// `UPDATE` of non-key columns takes anyway) does not conflict with the
/// appends' `FOR KEY SHARE`, so renewals and appends never wait for each
/// other.
pub(crate) async fn renew_leases(
    client: &Client,
    node: &Node,
    boards: &[BoardId],
) -> Result<Vec<BoardId>, StoreError> {
    if boards.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&[u8]> = boards.iter().map(|b| b.as_str().as_bytes()).collect();
    let stmt = client
        .prepare_cached(
            "WITH mine AS (SELECT id FROM boards WHERE id = ANY($2) AND lease_node = $1 \
             ORDER BY id FOR NO KEY UPDATE) \
             UPDATE boards b SET lease_until = clock_timestamp() + $3::float8 * interval '1 millisecond' \
             FROM mine WHERE b.id = mine.id AND b.lease_node = $1 AND b.lease_until > clock_timestamp() \
             RETURNING b.id",
        )
        .await
        .map_err(store_error)?;
    let rows = client
        .query(&stmt, &[&node.id(), &ids, &ttl(node)?])
        .await
        .map_err(store_error)?;
    rows.iter()
        .map(|row| {
            let id: Vec<u8> = row.try_get(0).map_err(column)?;
            Ok(BoardId::from(text_from_sql(id, "a board id")?))
        })
        .collect()
}

pub(crate) async fn release_board(
    client: &Client,
    board: &BoardId,
    epoch: Epoch,
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "UPDATE boards SET lease_node = NULL, lease_url = NULL, lease_until = '-infinity' \
             WHERE id = $1 AND epoch = $2",
        )
        .await
        .map_err(store_error)?;
    client
        .execute(
            &stmt,
            &[&board.as_str().as_bytes(), &seq_to_sql(epoch.get())?],
        )
        .await
        .map_err(store_error)?;
    Ok(())
}

pub(crate) async fn board_owner(
    client: &Client,
    board: &BoardId,
) -> Result<Option<BoardOwner>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT lease_node, lease_url FROM boards WHERE id = $1 \
             AND lease_node IS NOT NULL AND lease_until > clock_timestamp()",
        )
        .await
        .map_err(store_error)?;
    let Some(row) = client
        .query_opt(&stmt, &[&board.as_str().as_bytes()])
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let url: Option<String> = row.try_get(1).map_err(column)?;
    Ok(Some(BoardOwner {
        node: row.try_get(0).map_err(column)?,
        url: url.unwrap_or_default(),
    }))
}
