//! Rooms, ownership epochs and user session records.

use std::sync::Arc;

use deadpool_postgres::Client;
use huddle_core::{BoardId, ConnId, Timestamp, UserSessionId, UserSessionRecord};
use huddle_store::{Epoch, Room, SessionIndex, StoreError};
use tokio_postgres::Row;

use super::convert::{
    bits_from_sql, bits_to_sql, session_type_from_sql, session_type_to_sql, status_from_sql,
    status_to_sql, text_from_sql,
};
use super::{owned_head, RowLock};
use crate::error::{column, store_error};

const SELECT_SESSIONS: &str = "SELECT id, board, user_id, conn, started_at, last_activity, \
     ended_at, status, client_info FROM user_sessions";

const UPSERT_SESSION: &str = "INSERT INTO user_sessions \
     (id, board, user_id, conn, started_at, last_activity, ended_at, status, client_info) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (id) DO UPDATE SET board = excluded.board, user_id = excluded.user_id, \
     conn = excluded.conn, started_at = excluded.started_at, \
     last_activity = excluded.last_activity, ended_at = excluded.ended_at, \
     status = excluded.status, client_info = excluded.client_info";

pub(crate) async fn create_room(client: &Client, room: &Room) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO rooms (id, name, session_type, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .await
        .map_err(store_error)?;
    let inserted = client
        .execute(
            &stmt,
            &[
                &room.id.as_str().as_bytes(),
                &room.name.as_bytes(),
                &session_type_to_sql(room.session_type),
                &bits_to_sql(room.created_at.as_millis()),
            ],
        )
        .await
        .map_err(store_error)?;
    if inserted == 0 {
        return Err(StoreError::RoomExists(room.id.clone()));
    }
    Ok(())
}

pub(crate) async fn room(client: &Client, id: &BoardId) -> Result<Option<Room>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT name, session_type, created_at FROM rooms WHERE id = $1")
        .await
        .map_err(store_error)?;
    let Some(row) = client
        .query_opt(&stmt, &[&id.as_str().as_bytes()])
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let session_type: String = row.try_get(1).map_err(column)?;
    Ok(Some(Room {
        id: id.clone(),
        name: text_from_sql(row.try_get(0).map_err(column)?, "a room's name")?,
        session_type: session_type_from_sql(&session_type)?,
        created_at: Timestamp::from_millis(bits_from_sql(row.try_get(2).map_err(column)?)),
    }))
}

pub(crate) async fn put_user_session(
    client: &mut Client,
    epoch: Epoch,
    r: &UserSessionRecord,
) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(store_error)?;
    owned_head(&tx, &r.board_id, epoch, RowLock::KeyShare).await?;
    let stmt = tx
        .prepare_cached(UPSERT_SESSION)
        .await
        .map_err(store_error)?;
    tx.execute(
        &stmt,
        &[
            &bits_to_sql(r.id.0),
            &r.board_id.as_str().as_bytes(),
            &r.user_id.as_str().as_bytes(),
            &bits_to_sql(r.conn.0),
            &bits_to_sql(r.started_at.as_millis()),
            &bits_to_sql(r.last_activity.as_millis()),
            &r.ended_at.map(|t| bits_to_sql(t.as_millis())),
            &status_to_sql(r.status),
            &r.client_info.as_deref().map(str::as_bytes),
        ],
    )
    .await
    .map_err(store_error)?;
    tx.commit().await.map_err(store_error)
}

pub(crate) async fn user_sessions(
    client: &Client,
    index: &SessionIndex,
) -> Result<Vec<UserSessionRecord>, StoreError> {
    let rows = match index {
        SessionIndex::Board(b) => query_sessions(client, "board", &b.as_str().as_bytes()).await?,
        SessionIndex::User(u) => query_sessions(client, "user_id", &u.as_str().as_bytes()).await?,
        SessionIndex::Status(s) => query_sessions(client, "status", &status_to_sql(*s)).await?,
    };
    let mut out = rows
        .iter()
        .map(decode_session)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|r| (r.started_at, r.id));
    Ok(out)
}

async fn query_sessions(
    client: &Client,
    column: &str,
    key: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Vec<Row>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("{SELECT_SESSIONS} WHERE {column} = $1"))
        .await
        .map_err(store_error)?;
    client.query(&stmt, &[key]).await.map_err(store_error)
}

fn decode_session(row: &Row) -> Result<UserSessionRecord, StoreError> {
    let get_i64 = |i: usize| row.try_get::<_, i64>(i).map_err(column);
    let bytes = |i: usize| row.try_get::<_, Vec<u8>>(i).map_err(column);
    let ended_at: Option<i64> = row.try_get(6).map_err(column)?;
    let status: String = row.try_get(7).map_err(column)?;
    let client_info: Option<Vec<u8>> = row.try_get(8).map_err(column)?;
    Ok(UserSessionRecord {
        id: UserSessionId(bits_from_sql(get_i64(0)?)),
        board_id: text_from_sql(bytes(1)?, "a session's board")?.into(),
        user_id: text_from_sql(bytes(2)?, "a session's user")?.into(),
        conn: ConnId(bits_from_sql(get_i64(3)?)),
        started_at: Timestamp::from_millis(bits_from_sql(get_i64(4)?)),
        last_activity: Timestamp::from_millis(bits_from_sql(get_i64(5)?)),
        ended_at: ended_at.map(|t| Timestamp::from_millis(bits_from_sql(t))),
        status: status_from_sql(&status)?,
        client_info: client_info
            .map(|c| text_from_sql(c, "a session's client info").map(Arc::from))
            .transpose()?,
    })
}
