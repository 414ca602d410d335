//! [`SqliteStore`]: the [`Store`] handle that sends requests to the
//! store's thread and awaits the answers without blocking the runtime.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use huddle_core::{
    BoardId, BoardOwner, Event, LoadedBoard, Snapshot, SnapshotId, UserSessionRecord,
};
use huddle_store::{
    Acquired, AppendBatch, BoardSummary, Epoch, FlushWrite, Node, Room, SessionIndex, SnapshotMeta,
    Store, StoreError,
};
use tokio::sync::oneshot;

use crate::db::Db;
use crate::error::OpenError;
use crate::options::SqliteOptions;
use crate::worker::{spawn, Command};

/// An SQLite store. Cheap to clone: clones share the one thread and
/// connection. The thread stops (and the database closes) when the last
/// clone is dropped and its queued requests are served, or at
/// [`Store::close`], which awaits it: every request queued before the
/// close is served (appends committed), the database is closed and the
/// thread ends; later requests fail with [`StoreError::Unavailable`].
///
/// # Examples
///
/// Open a database file, create a room, read it back, and close the store
/// (which waits for its thread):
///
/// ```
/// use huddle_core::{SessionType, Timestamp};
/// use huddle_sqlite::{SqliteOptions, SqliteStore};
/// use huddle_store::{Room, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("huddle.db"), SqliteOptions::default()).await?;
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
pub struct SqliteStore {
    tx: Sender<Command>,
    path: Arc<Path>,
    /// The store's thread, joined by the first close that finds it.
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's thread has stopped".into())
}

impl SqliteStore {
    /// Opens the database at `path` (created, with its parent directories,
    /// on first use) on a new thread, without blocking the caller's
    /// runtime.
    pub async fn open(path: impl Into<PathBuf>, options: SqliteOptions) -> Result<Self, OpenError> {
        let path: PathBuf = path.into();
        let (done, opened) = oneshot::channel();
        let (tx, thread) = spawn(
            path.clone(),
            options,
            Box::new(move |r| {
                let _ = done.send(r);
            }),
        )?;
        opened
            .await
            .map_err(|_| OpenError::Thread("stopped while opening".into()))??;
        Ok(SqliteStore {
            tx,
            path: path.into(),
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// [`SqliteStore::open`] for synchronous callers (not inside an async
    /// runtime: it blocks until the database is open).
    pub fn open_blocking(
        path: impl Into<PathBuf>,
        options: SqliteOptions,
    ) -> Result<Self, OpenError> {
        let path: PathBuf = path.into();
        let (done, opened) = std::sync::mpsc::channel();
        let (tx, thread) = spawn(
            path.clone(),
            options,
            Box::new(move |r| {
                let _ = done.send(r);
            }),
        )?;
        opened
            .recv()
            .map_err(|_| OpenError::Thread("stopped while opening".into()))??;
        Ok(SqliteStore {
            tx,
            path: path.into(),
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `job` on the store's thread and awaits its answer.
    async fn call<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(move |db: &mut Db| {
            let _ = reply.send(job(db));
        });
        self.tx.send(Command::Run(job)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Store for SqliteStore {
    fn close(&self) -> impl Future<Output = ()> + Send {
        let (done, closed) = oneshot::channel();
        let sent = self.tx.send(Command::Close(done)).is_ok();
        let thread = self.thread.clone();
        async move {
            if sent {
                // Dropped unanswered: another close stopped the thread first.
                let _ = closed.await;
            }
            // The thread has closed the database and answered (or ended):
            // all it has left is to return, so this join does not wait.
            let handle = thread.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(handle) = handle {
                let _ = handle.join();
            }
        }
    }

    fn create_room(&self, room: Room) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.call(move |db| db.create_room(&room))
    }

    fn room(&self, id: &BoardId) -> impl Future<Output = Result<Option<Room>, StoreError>> + Send {
        let id = id.clone();
        self.call(move |db| db.room(&id))
    }

    fn acquire_board(
        &self,
        board: &BoardId,
        node: &Node,
    ) -> impl Future<Output = Result<Acquired, StoreError>> + Send {
        let (board, node) = (board.clone(), node.clone());
        self.call(move |db| db.acquire_board(&board, &node))
    }

    fn renew_leases(
        &self,
        node: &Node,
        boards: &[BoardId],
    ) -> impl Future<Output = Result<Vec<BoardId>, StoreError>> + Send {
        let (node, boards) = (node.clone(), boards.to_vec());
        self.call(move |db| db.renew_leases(&node, &boards))
    }

    fn release_board(
        &self,
        board: &BoardId,
        epoch: Epoch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let board = board.clone();
        self.call(move |db| db.release_board(&board, epoch))
    }

    fn board_owner(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardOwner>, StoreError>> + Send {
        let board = board.clone();
        self.call(move |db| db.board_owner(&board))
    }

    fn load_board(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<LoadedBoard>, StoreError>> + Send {
        let board = board.clone();
        self.call(move |db| db.load_board(&board))
    }

    fn board_summary(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardSummary>, StoreError>> + Send {
        let board = board.clone();
        self.call(move |db| db.board_summary(&board))
    }

    async fn append_events(&self, batches: Vec<AppendBatch>) -> Vec<Result<(), StoreError>> {
        if batches.is_empty() {
            return Vec::new();
        }
        let n = batches.len();
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Command::Append(batches, reply)).is_err() {
            return vec![Err(stopped()); n];
        }
        answer.await.unwrap_or_else(|_| vec![Err(stopped()); n])
    }

    fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        let board = board.clone();
        self.call(move |db| db.read_events(&board, after, limit))
    }

    fn flush(&self, write: FlushWrite) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.call(move |db| db.flush(&write))
    }

    fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> impl Future<Output = Result<SnapshotId, StoreError>> + Send {
        self.call(move |db| db.store_snapshot(epoch, &snapshot))
    }

    fn list_snapshots(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Vec<SnapshotMeta>, StoreError>> + Send {
        let board = board.clone();
        self.call(move |db| db.list_snapshots(&board))
    }

    fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        let (board, id) = (board.clone(), id.clone());
        self.call(move |db| db.get_snapshot(&board, &id))
    }

    fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let board = board.clone();
        self.call(move |db| db.prune_snapshots(&board, epoch, keep_last))
    }

    fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.call(move |db| db.put_user_session(epoch, &record))
    }

    fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> impl Future<Output = Result<Vec<UserSessionRecord>, StoreError>> + Send {
        self.call(move |db| db.user_sessions(&index))
    }
}
