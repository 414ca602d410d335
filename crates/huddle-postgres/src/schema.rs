//! The schema, its versioned migrations and the identity check.
//!
//! A Huddle database (in the connection's `current_schema()`, normally
//! `public`) has a one-row table `huddle_schema (application, version)`
//! with `application = 'huddle'`. Migration `n` (1-based, the SQL files in
//! `migrations/`, then for some a Rust step: [`Migration`]) takes the
//! schema from version `n - 1` to `n`, in one transaction with the version
//! bump, under an advisory lock so that several nodes starting at once
//! migrate exactly once. A step that fails rolls its transaction back: the
//! database stays at version `n - 1`. Migrations are only ever appended.
//!
//! Before anything is written the database is identified: no tables at all
//! is a fresh database (migrated); tables without a `huddle_schema` of
//! Huddle's is [`OpenError::Foreign`]; a version above [`SCHEMA_VERSION`]
//! is [`OpenError::TooNew`]. Both are refused untouched.

use deadpool_postgres::Client;

use crate::error::OpenError;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What `huddle_schema.application` says in a Huddle database.
pub const APPLICATION: &str = "huddle";

/// The advisory lock key held while migrating ("HUDL").
const MIGRATION_LOCK: i64 = 0x4855_444C;

/// The tables a database of [`SCHEMA_VERSION`] must have.
pub(crate) const TABLES: &[&str] = &[
    "huddle_schema",
    "rooms",
    "boards",
    "event_chunks",
    "batches",
    "elements",
    "snapshots",
    "user_sessions",
];

/// A migration: its SQL, then possibly a Rust step, in one transaction.
enum Migration {
    /// SQL alone.
    Sql(&'static str),
    /// SQL, then a step that moves rows (in the same transaction).
    SqlThen(&'static str, Step),
}

/// The Rust steps of migrations.
#[derive(Clone, Copy)]
enum Step {
    /// Migration 5: the `events` rows become `event_chunks`
    /// (`migrate_chunks.rs`).
    EventsToChunks,
}

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration::Sql(include_str!("../migrations/0001_initial.sql")),
    Migration::Sql(include_str!("../migrations/0002_leases.sql")),
    Migration::Sql(include_str!("../migrations/0003_batch_digests.sql")),
    Migration::Sql(include_str!("../migrations/0004_derived_log_end.sql")),
    Migration::SqlThen(
        include_str!("../migrations/0005_event_chunks.sql"),
        Step::EventsToChunks,
    ),
    Migration::Sql(include_str!("../migrations/0006_elements_fillfactor.sql")),
];

const CREATE_VERSION_TABLE: &str = "CREATE TABLE huddle_schema (\
     application text NOT NULL, \
     version integer NOT NULL, \
     singleton boolean NOT NULL DEFAULT true PRIMARY KEY CHECK (singleton)); \
     INSERT INTO huddle_schema (application, version) VALUES ('huddle', 0)";

/// What the database is, before anything is written.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    /// No tables: a new Huddle database.
    Fresh,
    /// A Huddle database at this version.
    Huddle(i64),
}

/// Identifies the database, refusing a foreign or newer one.
async fn identify(client: &impl deadpool_postgres::GenericClient) -> Result<Identity, OpenError> {
    let rows = client
        .query(
            "SELECT current_schema()::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
             ORDER BY c.relname",
            &[],
        )
        .await
        .map_err(OpenError::from_pg)?;
    let mut schema = String::new();
    let mut tables = Vec::with_capacity(rows.len());
    for row in &rows {
        schema = row.try_get(0).map_err(OpenError::from_pg)?;
        tables.push(row.try_get::<_, String>(1).map_err(OpenError::from_pg)?);
    }
    if tables.is_empty() {
        return Ok(Identity::Fresh);
    }
    let foreign = |tables: Vec<String>| OpenError::Foreign {
        schema: schema.clone(),
        tables: tables.into_iter().take(10).collect(),
    };
    if !tables.iter().any(|t| t == "huddle_schema") {
        return Err(foreign(tables));
    }
    let rows = client
        .query(
            "SELECT application, version::bigint FROM huddle_schema",
            &[],
        )
        .await
        .map_err(|e| OpenError::Corrupt(format!("huddle_schema cannot be read: {e}")))?;
    let [row] = rows.as_slice() else {
        return Err(OpenError::Corrupt(format!(
            "huddle_schema has {} rows, not 1",
            rows.len()
        )));
    };
    let application: String = row
        .try_get(0)
        .map_err(|e| OpenError::Corrupt(format!("huddle_schema: {e}")))?;
    let version: i64 = row
        .try_get(1)
        .map_err(|e| OpenError::Corrupt(format!("huddle_schema: {e}")))?;
    if application != APPLICATION {
        return Err(foreign(tables));
    }
    if version > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 0 {
        return Err(OpenError::Corrupt(format!("schema version {version}")));
    }
    Ok(Identity::Huddle(version))
}

/// Checks the database's identity, applies the missing migrations and
/// checks the tables.
pub(crate) async fn prepare(client: &mut Client) -> Result<(), OpenError> {
    if identify(&*client).await? != Identity::Huddle(SCHEMA_VERSION) {
        migrate(client).await?;
    }
    check_tables(client).await
}

/// Applies the missing migrations, each in one transaction with its version
/// bump, identifying the database again under the lock each time (another
/// node may have migrated meanwhile).
async fn migrate(client: &mut Client) -> Result<(), OpenError> {
    loop {
        let tx = client.transaction().await.map_err(OpenError::from_pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(OpenError::from_pg)?;
        let version = match identify(&tx).await? {
            Identity::Fresh => {
                tx.batch_execute(CREATE_VERSION_TABLE)
                    .await
                    .map_err(OpenError::from_pg)?;
                0
            }
            Identity::Huddle(v) => v,
        };
        let Some(migration) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(());
        };
        let (sql, then) = match migration {
            Migration::Sql(sql) => (sql, None),
            Migration::SqlThen(sql, step) => (sql, Some(*step)),
        };
        tx.batch_execute(sql).await.map_err(|e| {
            OpenError::Postgres(format!("migration to version {}: {e}", version + 1))
        })?;
        match then {
            None => {}
            // Dropping `tx` on an error rolls the migration back.
            Some(Step::EventsToChunks) => crate::migrate_chunks::events_to_chunks(&tx).await?,
        }
        let next = i32::try_from(version + 1)
            .map_err(|_| OpenError::Corrupt(format!("schema version {version}")))?;
        tx.execute("UPDATE huddle_schema SET version = $1", &[&next])
            .await
            .map_err(OpenError::from_pg)?;
        tx.commit().await.map_err(OpenError::from_pg)?;
    }
}

/// A Huddle database of the current version has all its tables.
async fn check_tables(client: &Client) -> Result<(), OpenError> {
    for table in TABLES {
        let found: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables \
                 WHERE schemaname = current_schema() AND tablename = $1",
                &[table],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(OpenError::from_pg)?;
        if found != 1 {
            return Err(OpenError::Corrupt(format!("table {table} is missing")));
        }
    }
    Ok(())
}
