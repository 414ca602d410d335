//! Migration 4's Rust step: the `events` rows (one per event) become
//! `event_chunks` rows (one per run of a batch), then `events` is dropped.
//!
//! A chunk is a run of contiguous events of one board and one batch, at
//! most [`MAX_CHUNK_EVENTS`] long; a gap in the old log stays a gap (the
//! loads report it as before). A row that cannot be read as an event
//! (an unknown kind, an upsert without data, an id that is not UTF-8)
//! stops the migration: its transaction rolls back, the file stays at
//! version 3 and the open fails with [`OpenError::Corrupt`].

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};

use huddle_core::{Event, Mutation, Payload, Timestamp};
use huddle_store::sql::{bits_from_sql, seq_from_sql, seq_to_sql};

use crate::error::OpenError;
use huddle_store::chunk;

/// A migration's Rust step, run in its transaction after its SQL.
pub(crate) type Step = fn(&Connection, &Path) -> Result<(), OpenError>;

/// The longest chunk the migration writes.
const MAX_CHUNK_EVENTS: usize = 256;

/// Moves every `events` row into `event_chunks`, then drops `events`.
pub(crate) fn events_to_chunks(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let sql = |e: rusqlite::Error| OpenError::from_sql(path, &e);
    let corrupt = |detail: String| OpenError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("migrating the event log: {detail}"),
    };
    let mut select = conn
        .prepare(
            "SELECT board, seq, author, batch, at, kind, page, element, data FROM events \
             ORDER BY board, seq",
        )
        .map_err(sql)?;
    let mut insert = conn
        .prepare(
            "INSERT INTO event_chunks (board, last_seq, first_seq, events) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(sql)?;
    let mut write = |board: &str, run: &[Event]| -> Result<(), OpenError> {
        let (Some(first), Some(last)) = (run.first(), run.last()) else {
            return Ok(());
        };
        let mut blob = Vec::new();
        chunk::encode(run, &mut blob).map_err(|e| corrupt(e.to_string()))?;
        let first = seq_to_sql(first.seq).map_err(|e| corrupt(e.to_string()))?;
        let last = seq_to_sql(last.seq).map_err(|e| corrupt(e.to_string()))?;
        insert
            .execute(params![board, last, first, blob])
            .map_err(sql)?;
        Ok(())
    };
    let mut rows = select.query([]).map_err(sql)?;
    let mut board = String::new();
    let mut run: Vec<Event> = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        let row_board: String = row.get(0).map_err(sql)?;
        let event =
            legacy_event(row).map_err(|detail| corrupt(format!("board {row_board}: {detail}")))?;
        let continues = row_board == board
            && run.len() < MAX_CHUNK_EVENTS
            && run
                .last()
                .is_some_and(|l| l.seq.checked_add(1) == Some(event.seq) && l.batch == event.batch);
        if !continues {
            write(&board, &run)?;
            run.clear();
            board = row_board;
        }
        run.push(event);
    }
    write(&board, &run)?;
    drop(rows);
    conn.execute_batch("DROP TABLE events").map_err(sql)
}

/// One `events` row (columns 1 to 8 of the migration's query).
fn legacy_event(row: &Row<'_>) -> Result<Event, String> {
    let text = |i: usize| -> Result<String, String> {
        match row.get_ref(i).map_err(|e| e.to_string())? {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(str::to_owned)
                .map_err(|_| format!("column {i} is not UTF-8")),
            other => Err(format!("column {i} is {:?}, not text", other.data_type())),
        }
    };
    let int = |i: usize| row.get::<_, i64>(i).map_err(|e| e.to_string());
    let seq = seq_from_sql(int(1)?, "sequence").map_err(|e| e.to_string())?;
    let author = text(2)?;
    let batch = text(3)?;
    let at = Timestamp::from_millis(bits_from_sql(int(4)?));
    let kind = int(5)?;
    let page = text(6)?;
    let element = text(7)?;
    let data = match row.get_ref(8).map_err(|e| e.to_string())? {
        ValueRef::Blob(b) => Some(Payload::from(b.to_vec())),
        ValueRef::Null => None,
        other => return Err(format!("event {seq}: data is {:?}", other.data_type())),
    };
    let mutation = match (kind, data) {
        (0, Some(data)) => Mutation::Upsert {
            page: page.into(),
            element: element.into(),
            data,
        },
        (1, None) => Mutation::Delete {
            page: page.into(),
            element: element.into(),
        },
        (kind, data) => {
            return Err(format!(
                "event {seq}: kind {kind} with {} data",
                if data.is_some() { "some" } else { "no" }
            ))
        }
    };
    Ok(Event {
        seq,
        author: author.into(),
        batch: batch.into(),
        at,
        mutation,
    })
}
