//! The store's thread: it owns the connection and serves requests in
//! groups. Every append queued is committed in one transaction (group
//! commit); other requests ("jobs": flushes, snapshots, loads...) run one
//! at a time, and before each job the thread commits the appends that
//! queued meanwhile. So an append waits for at most one job, however many
//! are queued: when every board of a busy server reaches its flush
//! threshold at once, the flushes no longer hold acknowledgements back
//! one after another. Requests queued at once were all in flight at once,
//! so serving the appends first is an order their callers could have seen
//! anyway; appends keep their order among themselves.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;

use huddle_store::{AppendBatch, StoreError};
use tokio::sync::oneshot;

use crate::checkpoint;
use crate::db::Db;
use crate::error::OpenError;
use crate::open::open_connection;
use crate::options::SqliteOptions;

/// What the thread runs for a request other than an append.
pub(crate) type Job = Box<dyn FnOnce(&mut Db) + Send>;

/// Where the answers to one append request go.
pub(crate) type AppendReply = oneshot::Sender<Vec<Result<(), StoreError>>>;

/// A request to the store's thread.
pub(crate) enum Command {
    /// Appends, answered per batch.
    Append(Vec<AppendBatch>, AppendReply),
    /// Anything else.
    Run(Job),
    /// Serve what came before, then stop: the thread closes the database,
    /// joins the checkpointer, and only then answers.
    Close(oneshot::Sender<()>),
}

/// Starts the thread; it opens the database and reports the result
/// through `opened` before it serves anything.
pub(crate) fn spawn(
    path: PathBuf,
    options: SqliteOptions,
    opened: Box<dyn FnOnce(Result<(), OpenError>) + Send>,
) -> Result<(Sender<Command>, JoinHandle<()>), OpenError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("huddle-sqlite".into())
        .spawn(move || match open_connection(&path, &options) {
            Ok(conn) => {
                opened(Ok(()));
                // Dropping `stop` stops the checkpointer.
                let (stop, stop_rx) = std::sync::mpsc::channel::<()>();
                let checkpointer = checkpoint::spawn(path, options.busy_timeout, stop_rx);
                // The connection is closed when `serve` returns.
                let closers = serve(Db::new(conn), &rx, options.max_group);
                drop(stop);
                if let Some(checkpointer) = checkpointer {
                    let _ = checkpointer.join();
                }
                for closer in closers {
                    let _ = closer.send(());
                }
            }
            Err(e) => opened(Err(e)),
        })
        .map_err(|e| OpenError::Thread(e.to_string()))?;
    Ok((tx, thread))
}

/// Serves requests until every sender is gone, or until a close has been
/// taken and everything queued before it is served; returns who asked to
/// close. Requests queued after a close are dropped unanswered (their
/// callers see the store as stopped).
fn serve(mut db: Db, rx: &Receiver<Command>, max_group: usize) -> Vec<oneshot::Sender<()>> {
    let mut appends: Vec<(Vec<AppendBatch>, AppendReply)> = Vec::new();
    let mut jobs: VecDeque<Job> = VecDeque::new();
    let mut closers = Vec::new();
    loop {
        if appends.is_empty() && jobs.is_empty() {
            if !closers.is_empty() {
                return closers;
            }
            match rx.recv() {
                Ok(command) => take(command, &mut appends, &mut jobs, &mut closers),
                Err(_) => return closers,
            }
        }
        // Whatever else is queued, up to `max_group` appends (nothing after
        // a close).
        while closers.is_empty() && appends.len() < max_group {
            match rx.try_recv() {
                Ok(command) => take(command, &mut appends, &mut jobs, &mut closers),
                Err(_) => break,
            }
        }
        if !appends.is_empty() {
            commit_appends(&mut db, &mut appends);
        }
        if let Some(job) = jobs.pop_front() {
            job(&mut db);
        }
    }
}

fn take(
    command: Command,
    appends: &mut Vec<(Vec<AppendBatch>, AppendReply)>,
    jobs: &mut VecDeque<Job>,
    closers: &mut Vec<oneshot::Sender<()>>,
) {
    match command {
        Command::Append(batches, reply) => appends.push((batches, reply)),
        Command::Run(job) => jobs.push_back(job),
        Command::Close(done) => closers.push(done),
    }
}

/// One transaction for every queued append; each caller gets its answers.
fn commit_appends(db: &mut Db, appends: &mut Vec<(Vec<AppendBatch>, AppendReply)>) {
    let mut all = Vec::new();
    let mut callers = Vec::with_capacity(appends.len());
    for (batches, reply) in appends.drain(..) {
        callers.push((batches.len(), reply));
        all.extend(batches);
    }
    let mut results = db.append_group(&all).into_iter();
    for (n, reply) in callers {
        let answers: Vec<_> = results.by_ref().take(n).collect();
        // The caller may have stopped waiting; the work is done either way.
        let _ = reply.send(answers);
    }
}
