//! [`PostgresStore`]: the [`Store`] on a pool of PostgreSQL connections.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use crate::appender::{self, Command, Request};
use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use huddle_core::{
    BoardId, BoardOwner, Event, LoadedBoard, Snapshot, SnapshotId, UserSessionRecord,
};
use huddle_store::forget::ForgetSchedule;
use huddle_store::{
    Acquired, AppendBatch, BoardSummary, Epoch, FlushWrite, Node, Room, SessionIndex, SnapshotMeta,
    Store, StoreError,
};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::db;
use crate::error::{pool_error, OpenError};
use crate::options::PostgresOptions;
use crate::schema;
use crate::tls::{self, TlsSettings};

/// A PostgreSQL store. Cheap to clone: clones share the pool and the
/// appender. Appends are grouped in the order they arrive, many callers'
/// together, by one task (see `appender.rs`), started on the runtime that
/// opened the store, and each board's are applied in that order; other requests run concurrently, each on a connection
/// of its own; a connection that
/// died (server restarted, network cut) is dropped by the pool and replaced
/// on a later request, so the store recovers by itself.
///
/// [`Store::close`] goes through the appender: every append queued before
/// it is committed, then (no append transaction open) the pool is closed;
/// later calls fail with [`StoreError::Unavailable`].
///
/// # Examples
///
/// Connect (the first connection migrates an empty database), create a
/// room, read it back, and close the store. The hidden lines start a
/// private PostgreSQL for the example (the `testing` feature); a service
/// passes its own URL, e.g. `postgres://huddle@db.internal/huddle`.
///
/// ```
/// use huddle_core::{SessionType, Timestamp};
/// use huddle_postgres::{PostgresOptions, PostgresStore};
/// use huddle_store::{Room, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let Some(database) = huddle_postgres::testing::database().await else { return Ok(()) };
/// # let url = database.url;
/// let store = PostgresStore::connect(&url, PostgresOptions::default()).await?;
/// let room = Room {
///     id: "board-1".into(),
///     name: "Planning".into(),
///     session_type: SessionType::Persistent,
///     created_at: Timestamp::from_millis(1_700_000_000_000),
/// };
/// store.create_room(room.clone()).await?;
/// assert_eq!(store.room(&room.id).await?, Some(room));
/// store.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    appends: mpsc::UnboundedSender<Command>,
    target: Arc<str>,
    /// When each board's flushes last forgot old batch records.
    forget: Arc<Mutex<ForgetSchedule>>,
    /// Turns for the flushes (`PostgresOptions::flush_transactions`).
    flushes: Arc<Semaphore>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`
    /// or a `key=value` connection string), checks that it is Huddle's (or
    /// empty) and not newer than this build, and migrates it. The string's
    /// `sslmode` and `sslrootcert` say how TLS is used, as with libpq
    /// (see [`TlsSettings`]).
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, OpenError> {
        let (rest, tls) = tls::split(url)?;
        let config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| OpenError::Config(e.to_string()))?;
        PostgresStore::open(config, tls, options).await
    }

    /// [`PostgresStore::connect`] with a parsed configuration and TLS
    /// settings (which win over the configuration's own `ssl_mode`).
    pub async fn open(
        mut config: tokio_postgres::Config,
        tls: TlsSettings,
        options: PostgresOptions,
    ) -> Result<Self, OpenError> {
        config.ssl_mode(tls.negotiation());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("huddle");
        }
        let session = options.session_options(config.get_options());
        config.options(session);
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            OpenError::Config(
                "the PostgreSQL store runs on a tokio runtime; open it from one".into(),
            )
        })?;
        let target = describe(&config);
        let manager = Manager::from_config(
            config,
            tls.connector()?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| OpenError::Config(e.to_string()))?;
        let mut client = pool.get().await.map_err(OpenError::from_pool)?;
        schema::prepare(&mut client).await?;
        drop(client);
        Ok(PostgresStore {
            appends: appender::spawn(
                &runtime,
                pool.clone(),
                options.max_group,
                options.open_transactions,
            ),
            pool,
            target: target.into(),
            forget: Arc::default(),
            flushes: Arc::new(Semaphore::new(options.flush_transactions.max(1))),
        })
    }

    /// Where the store connects (hosts, port, database, user; never the
    /// password).
    pub fn target(&self) -> &str {
        &self.target
    }

    async fn client(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

/// A printable description of a connection target, without secrets.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "host={} port={} dbname={} user={}",
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or("(default)"),
        config.get_user().unwrap_or("(default)")
    )
}

impl Store for PostgresStore {
    async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.appends.send(Command::Close(done)).is_ok() {
            // Dropped unanswered: the appender had stopped already.
            let _ = closed.await;
        }
        // Also when the appender was gone already.
        self.pool.close();
    }

    async fn create_room(&self, room: Room) -> Result<(), StoreError> {
        db::create_room(&self.client().await?, &room).await
    }

    async fn room(&self, id: &BoardId) -> Result<Option<Room>, StoreError> {
        db::room(&self.client().await?, id).await
    }

    async fn acquire_board(&self, board: &BoardId, node: &Node) -> Result<Acquired, StoreError> {
        db::acquire_board(&mut self.client().await?, board, node).await
    }

    async fn renew_leases(
        &self,
        node: &Node,
        boards: &[BoardId],
    ) -> Result<Vec<BoardId>, StoreError> {
        db::renew_leases(&self.client().await?, node, boards).await
    }

    async fn release_board(&self, board: &BoardId, epoch: Epoch) -> Result<(), StoreError> {
        db::release_board(&self.client().await?, board, epoch).await
    }

    async fn board_owner(&self, board: &BoardId) -> Result<Option<BoardOwner>, StoreError> {
        db::board_owner(&self.client().await?, board).await
    }

    async fn load_board(&self, board: &BoardId) -> Result<Option<LoadedBoard>, StoreError> {
        db::load_board(&mut self.client().await?, board).await
    }

    async fn board_summary(&self, board: &BoardId) -> Result<Option<BoardSummary>, StoreError> {
        db::board_summary(&mut self.client().await?, board).await
    }

    async fn append_events(&self, batches: Vec<AppendBatch>) -> Vec<Result<(), StoreError>> {
        if batches.is_empty() {
            return Vec::new();
        }
        let n = batches.len();
        let stopped = || vec![Err(StoreError::Unavailable("the appender has stopped".into())); n];
        let (reply, answer) = oneshot::channel();
        if self
            .appends
            .send(Command::Append(Request { batches, reply }))
            .is_err()
        {
            return stopped();
        }
        answer.await.unwrap_or_else(|_| stopped())
    }

    async fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        db::read_events(&self.client().await?, board, after, limit).await
    }

    async fn flush(&self, write: FlushWrite) -> Result<(), StoreError> {
        // The turns are never closed; were they, the flush would be retried.
        let _turn = self
            .flushes
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        db::flush(&mut self.client().await?, &write, &self.forget).await
    }

    async fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> Result<SnapshotId, StoreError> {
        db::store_snapshot(&mut self.client().await?, epoch, &snapshot).await
    }

    async fn list_snapshots(&self, board: &BoardId) -> Result<Vec<SnapshotMeta>, StoreError> {
        db::list_snapshots(&self.client().await?, board).await
    }

    async fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> Result<Option<Snapshot>, StoreError> {
        db::get_snapshot(&self.client().await?, board, id).await
    }

    async fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> Result<usize, StoreError> {
        db::prune_snapshots(&mut self.client().await?, board, epoch, keep_last).await
    }

    async fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> Result<(), StoreError> {
        db::put_user_session(&mut self.client().await?, epoch, &record).await
    }

    async fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> Result<Vec<UserSessionRecord>, StoreError> {
        db::user_sessions(&self.client().await?, &index).await
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A session of the store that sits idle inside a transaction longer
    /// than `idle_transaction_timeout` is ended by PostgreSQL (and its
    /// locks released), as a node paused mid-transaction is.
    #[tokio::test]
    async fn an_idle_transaction_is_ended_after_the_timeout() {
        let Some(db) = crate::testing::database().await else {
            return;
        };
        let options = PostgresOptions::default()
            .max_connections(2)
            .idle_transaction_timeout(Duration::from_millis(300));
        let store = PostgresStore::connect(&db.url, options)
            .await
            .expect("connect");
        let client = store.client().await.expect("a session");
        let setting = client
            .query_one("SHOW idle_in_transaction_session_timeout", &[])
            .await
            .expect("show");
        assert_eq!(setting.get::<_, String>(0), "300ms");
        client.batch_execute("BEGIN").await.expect("begin");
        client.query_one("SELECT 1", &[]).await.expect("select");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = client.query_one("SELECT 1", &[]).await;
        assert!(after.is_err(), "the idle transaction was left open");
        // Without the pause the same session works as usual.
        let fresh = store.client().await.expect("a session");
        fresh.batch_execute("BEGIN").await.expect("begin");
        fresh.query_one("SELECT 1", &[]).await.expect("select");
        fresh.batch_execute("COMMIT").await.expect("commit");
    }
}
