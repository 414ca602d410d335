//! Snapshots: stored whole, listed newest first, pruned.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use huddle_core::{BoardId, Snapshot, SnapshotId, Timestamp};
use huddle_store::codec::{decode_pages, encode_pages};
use huddle_store::validate::check_snapshot;
use huddle_store::{Epoch, SnapshotMeta, StoreError};

use super::convert::{
    bits_from_sql, bits_to_sql, cause_from_sql, count_to_sql, seq_from_sql, seq_to_sql,
};
use super::{owned_head, Db};
use crate::error::store_error;

impl Db {
    pub(crate) fn store_snapshot(
        &mut self,
        epoch: Epoch,
        snapshot: &Snapshot,
    ) -> Result<SnapshotId, StoreError> {
        check_snapshot(snapshot)?;
        let pages = encode_pages(&snapshot.pages).map_err(StoreError::Invalid)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        owned_head(&tx, &snapshot.board, epoch)?;
        tx.execute(
            "INSERT INTO snapshots (board, version, created_at, created_by, elements, pages) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                snapshot.board.as_str(),
                seq_to_sql(snapshot.version)?,
                bits_to_sql(snapshot.created_at.as_millis()),
                snapshot.created_by.as_str(),
                count_to_sql(snapshot.pages.element_count()),
                pages,
            ],
        )
        .map_err(store_error)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(store_error)?;
        Ok(SnapshotId::from(id.to_string()))
    }

    pub(crate) fn list_snapshots(
        &mut self,
        board: &BoardId,
    ) -> Result<Vec<SnapshotMeta>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, version, created_at, created_by, elements FROM snapshots \
                 WHERE board = ?1 ORDER BY id DESC",
            )
            .map_err(store_error)?;
        let mut rows = stmt.query([board.as_str()]).map_err(store_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(store_error)? {
            let id: i64 = row.get(0).map_err(store_error)?;
            let cause: String = row.get(3).map_err(store_error)?;
            let elements: i64 = row.get(4).map_err(store_error)?;
            out.push(SnapshotMeta {
                id: SnapshotId::from(id.to_string()),
                board: board.clone(),
                version: seq_from_sql(row.get(1).map_err(store_error)?, "snapshot version")?,
                created_at: Timestamp::from_millis(bits_from_sql(row.get(2).map_err(store_error)?)),
                created_by: cause_from_sql(&cause)?,
                elements: usize::try_from(elements).map_err(|_| {
                    StoreError::Corrupt(format!("snapshot {id}: {elements} elements"))
                })?,
            });
        }
        Ok(out)
    }

    pub(crate) fn get_snapshot(
        &mut self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> Result<Option<Snapshot>, StoreError> {
        // Ids are the store's decimal row ids; anything else names nothing.
        let Ok(rowid) = id.as_str().parse::<i64>() else {
            return Ok(None);
        };
        let row = self
            .conn
            .prepare_cached(
                "SELECT version, created_at, created_by, pages FROM snapshots WHERE board = ?1 AND id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![board.as_str(), rowid], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                })
                .optional()
            })
            .map_err(store_error)?;
        let Some((version, created_at, cause, pages)) = row else {
            return Ok(None);
        };
        Ok(Some(Snapshot {
            board: board.clone(),
            version: seq_from_sql(version, "snapshot version")?,
            pages: decode_pages(&pages)
                .map_err(|e| StoreError::Corrupt(format!("snapshot {id}: {e}")))?,
            created_at: Timestamp::from_millis(bits_from_sql(created_at)),
            created_by: cause_from_sql(&cause)?,
        }))
    }

    pub(crate) fn prune_snapshots(
        &mut self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        owned_head(&tx, board, epoch)?;
        let deleted = tx
            .execute(
                "DELETE FROM snapshots WHERE board = ?1 AND id NOT IN \
                 (SELECT id FROM snapshots WHERE board = ?1 ORDER BY id DESC LIMIT ?2)",
                params![board.as_str(), count_to_sql(keep_last)],
            )
            .map_err(store_error)?;
        tx.commit().map_err(store_error)?;
        if deleted > 0 {
            // The prune is committed; a vacuum that fails loses nothing
            // (the pages stay free and are reused) and is tried again
            // after the next prune.
            let _ = crate::space::give_back_free_pages(&self.conn);
        }
        Ok(deleted)
    }
}
