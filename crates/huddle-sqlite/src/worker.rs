//! The store's thread: it owns the connection and serves requests in
//! groups. It takes whatever requests are queued (up to
//! `SqliteOptions::max_group`), commits all appends among them in one
//! transaction, then serves the others in arrival order. Requests taken
//! together were all in flight at once, so serving the appends first is
//! an order their callers could have seen anyway.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};

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
}

/// Starts the thread; it opens the database and reports the result
/// through `opened` before it serves anything.
pub(crate) fn spawn(
    path: PathBuf,
    options: SqliteOptions,
    opened: Box<dyn FnOnce(Result<(), OpenError>) + Send>,
) -> Result<Sender<Command>, OpenError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("huddle-sqlite".into())
        .spawn(move || match open_connection(&path, &options) {
            Ok(conn) => {
                opened(Ok(()));
                // Dropped when this thread ends, which stops the
                // checkpointer too.
                let (_stop, stop_rx) = std::sync::mpsc::channel();
                checkpoint::spawn(path, options.busy_timeout, stop_rx);
                serve(Db::new(conn), &rx, options.max_group);
            }
            Err(e) => opened(Err(e)),
        })
        .map_err(|e| OpenError::Thread(e.to_string()))?;
    Ok(tx)
}

fn serve(mut db: Db, rx: &Receiver<Command>, max_group: usize) {
    let mut appends: Vec<(Vec<AppendBatch>, AppendReply)> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(command) = next.take() {
            match command {
                Command::Append(batches, reply) => appends.push((batches, reply)),
                Command::Run(job) => jobs.push(job),
            }
            taken += 1;
            if taken < max_group {
                next = rx.try_recv().ok();
            }
        }
        if !appends.is_empty() {
            commit_appends(&mut db, &mut appends);
        }
        for job in jobs.drain(..) {
            job(&mut db);
        }
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
