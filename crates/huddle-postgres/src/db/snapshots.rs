//! Snapshots: stored whole (`huddle_store::codec`), listed newest first,
//! pruned.

use deadpool_postgres::Client;
use huddle_core::{BoardId, Snapshot, SnapshotId, Timestamp};
use huddle_store::codec::{decode_pages, encode_pages};
use huddle_store::validate::check_snapshot;
use huddle_store::{Epoch, SnapshotMeta, StoreError};

use super::convert::{
    bits_from_sql, bits_to_sql, cause_from_sql, count_to_sql, seq_from_sql, seq_to_sql,
};
use super::{owned_head, RowLock};
use crate::error::{column, store_error};

pub(crate) async fn store_snapshot(
    client: &mut Client,
    epoch: Epoch,
    snapshot: &Snapshot,
) -> Result<SnapshotId, StoreError> {
    check_snapshot(snapshot)?;
    let pages = encode_pages(&snapshot.pages).map_err(StoreError::Invalid)?;
    let version = seq_to_sql(snapshot.version)?;
    let tx = client.transaction().await.map_err(store_error)?;
    owned_head(&tx, &snapshot.board, epoch, RowLock::KeyShare).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO snapshots (board, version, created_at, created_by, elements, pages) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .await
        .map_err(store_error)?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &snapshot.board.as_str().as_bytes(),
                &version,
                &bits_to_sql(snapshot.created_at.as_millis()),
                &snapshot.created_by.as_str(),
                &count_to_sql(snapshot.pages.element_count()),
                &pages,
            ],
        )
        .await
        .map_err(store_error)?;
    let id: i64 = row.try_get(0).map_err(column)?;
    tx.commit().await.map_err(store_error)?;
    Ok(SnapshotId::from(id.to_string()))
}

pub(crate) async fn list_snapshots(
    client: &Client,
    board: &BoardId,
) -> Result<Vec<SnapshotMeta>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT id, version, created_at, created_by, elements FROM snapshots \
             WHERE board = $1 ORDER BY id DESC",
        )
        .await
        .map_err(store_error)?;
    let rows = client
        .query(&stmt, &[&board.as_str().as_bytes()])
        .await
        .map_err(store_error)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get(0).map_err(column)?;
        let cause: String = row.try_get(3).map_err(column)?;
        let elements: i64 = row.try_get(4).map_err(column)?;
        out.push(SnapshotMeta {
            id: SnapshotId::from(id.to_string()),
            board: board.clone(),
            version: seq_from_sql(row.try_get(1).map_err(column)?, "snapshot version")?,
            created_at: Timestamp::from_millis(bits_from_sql(row.try_get(2).map_err(column)?)),
            created_by: cause_from_sql(&cause)?,
            elements: usize::try_from(elements)
                .map_err(|_| StoreError::Corrupt(format!("snapshot {id}: {elements} elements")))?,
        });
    }
    Ok(out)
}

pub(crate) async fn get_snapshot(
    client: &Client,
    board: &BoardId,
    id: &SnapshotId,
) -> Result<Option<Snapshot>, StoreError> {
    // Ids are the store's decimal identities; anything else names nothing.
    let Ok(key) = id.as_str().parse::<i64>() else {
        return Ok(None);
    };
    let stmt = client
        .prepare_cached(
            "SELECT version, created_at, created_by, pages FROM snapshots \
             WHERE board = $1 AND id = $2",
        )
        .await
        .map_err(store_error)?;
    let Some(row) = client
        .query_opt(&stmt, &[&board.as_str().as_bytes(), &key])
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let cause: String = row.try_get(2).map_err(column)?;
    let pages: Vec<u8> = row.try_get(3).map_err(column)?;
    Ok(Some(Snapshot {
        board: board.clone(),
        version: seq_from_sql(row.try_get(0).map_err(column)?, "snapshot version")?,
        pages: decode_pages(&pages)
            .map_err(|e| StoreError::Corrupt(format!("snapshot {id}: {e}")))?,
        created_at: Timestamp::from_millis(bits_from_sql(row.try_get(1).map_err(column)?)),
        created_by: cause_from_sql(&cause)?,
    }))
}

pub(crate) async fn prune_snapshots(
    client: &mut Client,
    board: &BoardId,
    epoch: Epoch,
    keep_last: usize,
) -> Result<usize, StoreError> {
    let tx = client.transaction().await.map_err(store_error)?;
    owned_head(&tx, board, epoch, RowLock::KeyShare).await?;
    let stmt = tx
        .prepare_cached(
            "DELETE FROM snapshots WHERE board = $1 AND id NOT IN \
             (SELECT id FROM snapshots WHERE board = $1 ORDER BY id DESC LIMIT $2)",
        )
        .await
        .map_err(store_error)?;
    let deleted = tx
        .execute(
            &stmt,
            &[&board.as_str().as_bytes(), &count_to_sql(keep_last)],
        )
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(store_error)?;
    Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
}
