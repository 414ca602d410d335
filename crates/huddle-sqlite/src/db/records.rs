//! Rooms, ownership epochs and user session records.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use huddle_core::{BoardId, ConnId, Timestamp, UserSessionId, UserSessionRecord};
use huddle_store::{Epoch, Room, SessionIndex, StoreError};

use super::convert::{
    bits_from_sql, bits_to_sql, session_type_from_sql, session_type_to_sql, status_from_sql,
    status_to_sql,
};
use super::{owned_head, Db};
use crate::error::store_error;

const SELECT_SESSIONS: &str =
    "SELECT id, board, user, conn, started_at, last_activity, ended_at, status, client_info \
     FROM user_sessions";

impl Db {
    pub(crate) fn create_room(&mut self, room: &Room) -> Result<(), StoreError> {
        let inserted = self
            .conn
            .execute(
                "INSERT INTO rooms (id, name, session_type, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO NOTHING",
                params![
                    room.id.as_str(),
                    room.name,
                    session_type_to_sql(room.session_type),
                    bits_to_sql(room.created_at.as_millis()),
                ],
            )
            .map_err(store_error)?;
        if inserted == 0 {
            return Err(StoreError::RoomExists(room.id.clone()));
        }
        Ok(())
    }

    pub(crate) fn room(&mut self, id: &BoardId) -> Result<Option<Room>, StoreError> {
        let row = self
            .conn
            .prepare_cached("SELECT name, session_type, created_at FROM rooms WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([id.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .optional()
            })
            .map_err(store_error)?;
        row.map(|(name, session_type, created_at)| {
            Ok(Room {
                id: id.clone(),
                name,
                session_type: session_type_from_sql(&session_type)?,
                created_at: Timestamp::from_millis(bits_from_sql(created_at)),
            })
        })
        .transpose()
    }

    pub(crate) fn put_user_session(
        &mut self,
        epoch: Epoch,
        r: &UserSessionRecord,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        owned_head(&tx, &r.board_id, epoch)?;
        tx.execute(
            "INSERT OR REPLACE INTO user_sessions \
             (id, board, user, conn, started_at, last_activity, ended_at, status, client_info) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                bits_to_sql(r.id.0),
                r.board_id.as_str(),
                r.user_id.as_str(),
                bits_to_sql(r.conn.0),
                bits_to_sql(r.started_at.as_millis()),
                bits_to_sql(r.last_activity.as_millis()),
                r.ended_at.map(|t| bits_to_sql(t.as_millis())),
                status_to_sql(r.status),
                r.client_info.as_deref(),
            ],
        )
        .map_err(store_error)?;
        tx.commit().map_err(store_error)
    }

    pub(crate) fn user_sessions(
        &mut self,
        index: &SessionIndex,
    ) -> Result<Vec<UserSessionRecord>, StoreError> {
        let (sql, key) = match index {
            SessionIndex::Board(b) => (format!("{SELECT_SESSIONS} WHERE board = ?1"), b.as_str()),
            SessionIndex::User(u) => (format!("{SELECT_SESSIONS} WHERE user = ?1"), u.as_str()),
            SessionIndex::Status(s) => (
                format!("{SELECT_SESSIONS} WHERE status = ?1"),
                status_to_sql(*s),
            ),
        };
        let mut stmt = self.conn.prepare_cached(&sql).map_err(store_error)?;
        let mut rows = stmt.query([key]).map_err(store_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(store_error)? {
            out.push(decode_session(row)?);
        }
        out.sort_by_key(|r| (r.started_at, r.id));
        Ok(out)
    }
}

fn decode_session(row: &Row<'_>) -> Result<UserSessionRecord, StoreError> {
    let get_i64 = |i: usize| row.get::<_, i64>(i).map_err(store_error);
    let board: String = row.get(1).map_err(store_error)?;
    let user: String = row.get(2).map_err(store_error)?;
    let ended_at: Option<i64> = row.get(6).map_err(store_error)?;
    let status: String = row.get(7).map_err(store_error)?;
    let client_info: Option<String> = row.get(8).map_err(store_error)?;
    Ok(UserSessionRecord {
        id: UserSessionId(bits_from_sql(get_i64(0)?)),
        board_id: board.into(),
        user_id: user.into(),
        conn: ConnId(bits_from_sql(get_i64(3)?)),
        started_at: Timestamp::from_millis(bits_from_sql(get_i64(4)?)),
        last_activity: Timestamp::from_millis(bits_from_sql(get_i64(5)?)),
        ended_at: ended_at.map(|t| Timestamp::from_millis(bits_from_sql(t))),
        status: status_from_sql(&status)?,
        client_info: client_info.map(Arc::from),
    })
}
