//! Opening a database: create it on first use, refuse files that are not
//! Huddle's (or are newer), set durability, migrate.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::OpenError;
use crate::options::SqliteOptions;
use crate::schema::{Migration, APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, TABLES};

/// Opens (creating it and its parent directories if needed) and prepares a
/// database. Checks the file's identity before writing anything to it.
pub(crate) fn open_connection(
    path: &Path,
    options: &SqliteOptions,
) -> Result<Connection, OpenError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let sql = |e: rusqlite::Error| OpenError::from_sql(path, &e);
    let mut conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(options.busy_timeout).map_err(sql)?;

    let version = check_identity(&conn, path)?;
    if version == 0 {
        // Still without tables (a file with tables has a version): the
        // only moment the file's vacuum mode can be chosen cheaply.
        crate::space::return_space_in_new_file(&conn).map_err(sql)?;
    }

    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Sqlite {
            path: path.to_path_buf(),
            detail: format!("cannot use write-ahead logging here (journal mode {mode})"),
        });
    }
    // Checkpoints run on their own connection (`checkpoint.rs`); the
    // writer's is only a backstop.
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        crate::checkpoint::WRITER_AUTOCHECKPOINT_PAGES,
    )
    .map_err(sql)?;
    conn.pragma_update(None, "synchronous", options.synchronous.pragma())
        .map_err(sql)?;

    if version < SCHEMA_VERSION {
        migrate(&mut conn, path)?;
    }
    check_tables(&conn, path)?;
    Ok(conn)
}

/// Reads the file's identity; returns its schema version (0 when fresh).
fn check_identity(conn: &Connection, path: &Path) -> Result<i64, OpenError> {
    let sql = |e: rusqlite::Error| OpenError::from_sql(path, &e);
    let application_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(sql)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(sql)?;
    let fresh = application_id == 0 && version == 0 && tables == 0;
    if application_id != APPLICATION_ID && !fresh {
        return Err(OpenError::Foreign {
            path: path.to_path_buf(),
            application_id,
            tables,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

/// Applies the missing migrations, each in one transaction with its
/// version bump (another process may have migrated meanwhile: the version
/// is read again under the write lock).
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let sql = |e: rusqlite::Error| OpenError::from_sql(path, &e);
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        let Some(step) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(());
        };
        match step {
            Migration::Sql(step) => tx.execute_batch(step).map_err(sql)?,
            Migration::SqlThen(step, then) => {
                tx.execute_batch(step).map_err(sql)?;
                then(&tx, path)?;
            }
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sql)?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
}

/// A Huddle database of the current version has all its tables.
fn check_tables(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    for table in TABLES {
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .map_err(|e| OpenError::from_sql(path, &e))?;
        if found != 1 {
            return Err(OpenError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("table {table} is missing"),
            });
        }
    }
    Ok(())
}
