//! Checkpoints off the commit path.
//!
//! In WAL mode SQLite copies the log back into the database file
//! (a checkpoint) from the connection that commits, once the log passes
//! `wal_autocheckpoint` pages. That commit then also writes and fsyncs the
//! database file, and every batch waiting for it waits too: under load this
//! was the tail of the ack latency. So a second connection on its own
//! thread runs a `PASSIVE` checkpoint every [`INTERVAL`]; it never blocks
//! the writer. The writer keeps a high `wal_autocheckpoint`
//! ([`WRITER_AUTOCHECKPOINT_PAGES`]) only as a backstop that bounds the
//! log under sustained load: by then most of the log is copied already,
//! so the writer's own checkpoint is short, and the next commit starts the
//! log from the beginning.
//!
//! A failed checkpoint loses nothing (the log still holds every commit);
//! it is logged by its return and retried at the next interval.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

/// How often the background connection checkpoints.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);

/// The writer's own `wal_autocheckpoint`, a backstop (about 16 MiB of log
/// at 4 KiB pages).
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: i64 = 4000;

/// Starts the checkpointing thread; it stops when `stop`'s sender is
/// dropped (by the store's own thread, which then joins it). Failing to
/// start it is not an error: the writer's backstop checkpoints alone then
/// (`None`).
pub(crate) fn spawn(
    path: PathBuf,
    busy_timeout: Duration,
    stop: Receiver<()>,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("huddle-sqlite-checkpoint".into())
        .spawn(move || {
            let Ok(conn) = Connection::open(&path) else {
                return;
            };
            if conn.busy_timeout(busy_timeout).is_err() {
                return;
            }
            run(&conn, &stop);
        })
        .ok()
}

fn run(conn: &Connection, stop: &Receiver<()>) {
    loop {
        match stop.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {
                // (busy, log pages, pages checkpointed); a busy or failed
                // pass is simply retried next time.
                let _ =
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
