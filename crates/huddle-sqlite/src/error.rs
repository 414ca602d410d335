//! Errors of opening a database, and how SQLite errors map to
//! [`StoreError`].

use std::path::PathBuf;

use huddle_store::StoreError;
use rusqlite::ErrorCode;

/// Why a database could not be opened. Nothing was changed in the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file or its directory could not be created or opened.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The database path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an SQLite database (or its header is damaged).
    #[error("{path} is not an SQLite database (or its header is corrupt)")]
    NotADatabase {
        /// The database path.
        path: PathBuf,
    },
    /// An SQLite database that is not Huddle's.
    #[error("{path} is an SQLite database, but not Huddle's (application id {application_id:#x}, {tables} tables); refusing to touch it")]
    Foreign {
        /// The database path.
        path: PathBuf,
        /// The file's application id (Huddle's is [`crate::APPLICATION_ID`]).
        application_id: i64,
        /// How many schema objects it has.
        tables: i64,
    },
    /// A Huddle database written by a newer version of Huddle.
    #[error(
        "{path} has schema version {found}, this build supports up to {supported}; upgrade Huddle"
    )]
    TooNew {
        /// The database path.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The database is damaged.
    #[error("{path} is corrupt: {detail}")]
    Corrupt {
        /// The database path.
        path: PathBuf,
        /// What SQLite or the schema check said.
        detail: String,
    },
    /// Any other SQLite failure (permissions, locks, a WAL-incapable file
    /// system...).
    #[error("cannot open {path}: {detail}")]
    Sqlite {
        /// The database path.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The store's thread could not be started or stopped before answering.
    #[error("the store's thread failed: {0}")]
    Thread(String),
}

impl OpenError {
    pub(crate) fn from_sql(path: &std::path::Path, e: &rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => OpenError::NotADatabase { path },
            Some(ErrorCode::DatabaseCorrupt) => OpenError::Corrupt {
                path,
                detail: e.to_string(),
            },
            _ => OpenError::Sqlite {
                path,
                detail: e.to_string(),
            },
        }
    }
}

/// Maps an SQLite error met while serving a request: damaged data is
/// [`StoreError::Corrupt`], anything else [`StoreError::Unavailable`].
pub(crate) fn store_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            return StoreError::Corrupt(e.to_string())
        }
        Some(_) => return StoreError::Unavailable(e.to_string()),
        None => {}
    }
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt(e.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}
