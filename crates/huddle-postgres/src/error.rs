//! Errors of opening a store, and how PostgreSQL errors map to
//! [`StoreError`].
//!
//! While serving a request: a lost connection, a server that is shutting
//! down or restarting, a full pool, a timeout, a serialization failure or a
//! deadlock are [`StoreError::Unavailable`] (retry; the pool replaces dead
//! connections by itself); a violated constraint or unreadable data is
//! [`StoreError::Corrupt`] (the rows disagree with what the store wrote);
//! a missing table or column is [`StoreError::Corrupt`] too (the schema
//! was damaged after the store opened).

use deadpool_postgres::PoolError;
use huddle_store::StoreError;
use tokio_postgres::error::SqlState;

/// Why a store could not be opened. Nothing was changed in the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The connection URL (or configuration) is not usable.
    #[error("bad PostgreSQL configuration: {0}")]
    Config(String),
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    /// TLS failed: the `sslmode` asks for TLS and the server does not offer
    /// it, the server's certificate is not trusted or not the host's, the
    /// handshake failed, or the `sslrootcert` file is unusable.
    #[error("TLS to PostgreSQL failed: {0}")]
    Tls(String),
    /// The database holds tables that are not Huddle's.
    #[error("the database is not Huddle's (schema {schema} has tables {tables:?} and no huddle_schema table of Huddle's); refusing to touch it")]
    Foreign {
        /// The schema searched (the connection's `current_schema()`).
        schema: String,
        /// Some of the tables found (up to 10).
        tables: Vec<String>,
    },
    /// A Huddle database written by a newer version of Huddle.
    #[error(
        "the database has Huddle schema version {found}, this build supports up to {supported}; upgrade Huddle"
    )]
    TooNew {
        /// The database's schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A Huddle database that is damaged (a table missing, a bad version
    /// row).
    #[error("the Huddle database is corrupt: {0}")]
    Corrupt(String),
    /// Any other PostgreSQL failure while checking or migrating the schema.
    #[error("PostgreSQL failed while opening the store: {0}")]
    Postgres(String),
}

/// Maps a PostgreSQL error met while serving a request.
pub(crate) fn store_error(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No server error: the connection is gone, an IO error, a timeout,
        // or a value that did not convert (reported by `column` below).
        return StoreError::Unavailable(e.to_string());
    };
    let detail = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    let code = db.code();
    let class = code.code().get(..2).unwrap_or("");
    if *code == SqlState::DATA_CORRUPTED
        || *code == SqlState::INDEX_CORRUPTED
        || *code == SqlState::UNDEFINED_TABLE
        || *code == SqlState::UNDEFINED_COLUMN
    {
        return StoreError::Corrupt(detail);
    }
    match class {
        // Integrity constraint violations and data exceptions: the stored
        // rows disagree with each other (requests are checked before they
        // reach SQL).
        "22" | "23" => StoreError::Corrupt(detail),
        _ => StoreError::Unavailable(detail),
    }
}

/// Maps a failure to get a connection from the pool.
pub(crate) fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => store_error(e),
        other => StoreError::Unavailable(format!("connection pool: {other}")),
    }
}

/// A column that could not be read as the type the schema says.
pub(crate) fn column(e: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// How tokio-postgres's TLS errors display.
const TLS_FAILED: &str = "error performing TLS handshake";

/// An error and its sources, "outer: inner: ...".
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

impl OpenError {
    pub(crate) fn from_pg(e: tokio_postgres::Error) -> Self {
        // tokio-postgres names no error kinds; a TLS error (the server
        // refused TLS under `sslmode=require`, or the handshake failed)
        // displays as "error performing TLS handshake" and carries its
        // reason as its source. tests/tls.rs pins this.
        if e.to_string() == TLS_FAILED {
            let cause = std::error::Error::source(&e).map_or_else(String::new, chain);
            return OpenError::Tls(if cause == "server does not support TLS" {
                "the server does not offer TLS, and the sslmode requires it".to_owned()
            } else {
                cause
            });
        }
        if let Some(db) = e.as_db_error() {
            OpenError::Postgres(format!(
                "{} {}: {}",
                db.severity(),
                db.code().code(),
                db.message()
            ))
        } else {
            OpenError::Connect(chain(&e))
        }
    }

    pub(crate) fn from_pool(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => OpenError::from_pg(e),
            other => OpenError::Connect(other.to_string()),
        }
    }
}
