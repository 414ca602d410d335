//! The crash test: a child process appends to many boards under load
//! (concurrent tasks, so appends are group-committed) and flushes now and
//! then, printing every append the store confirmed; the parent kills it
//! with SIGKILL at a random moment, reopens the file and checks that every
//! confirmed append is there, every log is exactly what was written with
//! no gap, and every board state is exactly the log replayed to its
//! watermark. 24 rounds on one file, so each round also recovers from the
//! previous crash.
//!
//! It re-spawns its own binary as the child (`HUDDLE_CRASH_CHILD` set).
//! `HUDDLE_CRASH_SEED` replays a run; `HUDDLE_CRASH_ROUNDS` changes the
//! number of rounds.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_core::{BoardId, Pages};
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::conformance::{events, flush_batch};
use huddle_store::load::check_loaded;
use huddle_store::{AppendBatch, FlushWrite, Store};

const CHILD: &str = "HUDDLE_CRASH_CHILD";
const BOARDS: u64 = 8;

fn board(i: u64) -> BoardId {
    BoardId::from(format!("crash-{i}"))
}

fn main() {
    match std::env::var(CHILD) {
        Ok(path) => child(Path::new(&path)),
        Err(_) => parent(),
    }
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// --------------------------------------------------------------------------
// The child: appends until it is killed.
// --------------------------------------------------------------------------

fn child(path: &Path) {
    let seed: u64 = std::env::var("HUDDLE_CRASH_CHILD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = Arc::new(
            SqliteStore::open(path, SqliteOptions::default())
                .await
                .expect("open"),
        );
        let mut tasks = Vec::new();
        for i in 0..BOARDS {
            let store = store.clone();
            let b = board(i);
            let epoch = store
                .acquire_board(&b, &huddle_store::Node::default())
                .await
                .expect("acquire")
                .epoch;
            let loaded = store
                .load_board(&b)
                .await
                .expect("load")
                .unwrap_or_default();
            let mut log_end = loaded
                .events
                .last()
                .map_or(loaded.pages_sequence, |e| e.seq);
            let mut flushed = loaded.pages_sequence;
            let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(i) | 1);
            tasks.push(async move {
                loop {
                    let len = 1 + rng.below(16);
                    let batch = AppendBatch {
                        board: b.clone(),
                        epoch,
                        events: events(log_end + 1, log_end + len).into(),
                    };
                    let result = store.append_events(vec![batch]).await;
                    assert_eq!(result, vec![Ok(())], "append to {b}");
                    log_end += len;
                    {
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "confirmed {b} {log_end}").expect("stdout");
                        out.flush().expect("stdout");
                    }
                    if rng.below(8) == 0 {
                        let all = events(flushed + 1, log_end);
                        let write = FlushWrite {
                            board: b.clone(),
                            epoch,
                            batch: Arc::new(flush_batch(&all, flushed + 1, log_end)),
                        };
                        store.flush(write).await.expect("flush");
                        flushed = log_end;
                    }
                }
            });
        }
        println!("ready");
        let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
        for h in handles {
            h.await.expect("task");
        }
    });
}

// --------------------------------------------------------------------------
// The parent: kill, reopen, check.
// --------------------------------------------------------------------------

/// What the parent knows of a board across rounds.
#[derive(Default)]
struct Known {
    /// The log was checked up to here.
    checked: u64,
    /// The largest sequence ever confirmed.
    confirmed: u64,
    /// `events(1, replayed)` applied.
    replayed: u64,
    pages: Pages,
}

fn parent() {
    let seed: u64 = std::env::var("HUDDLE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    let rounds: u32 = std::env::var("HUDDLE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    println!("crash test: {rounds} rounds, HUDDLE_CRASH_SEED={seed}");
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash/huddle.db");
    let exe = std::env::current_exe().expect("current_exe");
    let mut known: HashMap<BoardId, Known> = HashMap::new();
    let mut confirmations = 0usize;
    let mut killed_mid_work = 0u32;

    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .env(CHILD, &path)
            .env("HUDDLE_CRASH_CHILD_SEED", rng.next().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until it works, then let it run a random while.
        let ready = rx.recv_timeout(Duration::from_secs(30));
        assert_eq!(
            ready.as_deref(),
            Ok("ready"),
            "round {round}: child never got ready"
        );
        std::thread::sleep(Duration::from_millis(20 + rng.below(130)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "the child was killed");
        reader.join().expect("reader");

        let mut round_confirmed: HashMap<BoardId, u64> = HashMap::new();
        for line in rx.try_iter() {
            let mut parts = line.split(' ');
            if let (Some("confirmed"), Some(b), Some(seq)) =
                (parts.next(), parts.next(), parts.next())
            {
                let seq: u64 = seq.parse().expect("sequence");
                let entry = round_confirmed.entry(BoardId::from(b)).or_default();
                *entry = (*entry).max(seq);
                confirmations += 1;
            }
        }
        if !round_confirmed.is_empty() {
            killed_mid_work += 1;
        }
        for (b, seq) in round_confirmed {
            let k = known.entry(b).or_default();
            k.confirmed = k.confirmed.max(seq);
        }
        check(&path, &mut known, round);
    }
    assert!(
        killed_mid_work >= rounds / 2,
        "only {killed_mid_work} of {rounds} rounds were killed while appending"
    );
    let total: u64 = known.values().map(|k| k.checked).sum();
    println!(
        "crash test: {rounds} rounds ({killed_mid_work} killed mid-append), {confirmations} confirmed appends, {total} events checked, {:.1}s",
        started.elapsed().as_secs_f64()
    );
    println!("1 passed, 0 failed");
}

/// Reopens the file and checks every board.
fn check(path: &Path, known: &mut HashMap<BoardId, Known>, round: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = SqliteStore::open(path, SqliteOptions::default())
            .await
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        for i in 0..BOARDS {
            let b = board(i);
            let k = known.entry(b.clone()).or_default();
            // The new part of the log is exactly what was written.
            let mut next = k.checked;
            loop {
                let page = store.read_events(&b, next, 4096).await.expect("read");
                if page.is_empty() {
                    break;
                }
                let last = page.last().map_or(next, |e| e.seq);
                assert_eq!(
                    page,
                    events(next + 1, last),
                    "round {round}: {b} log after {next}"
                );
                next = last;
            }
            assert!(
                next >= k.confirmed,
                "round {round}: {b} lost confirmed appends: log ends at {next}, {} was confirmed",
                k.confirmed
            );
            k.checked = next;
            // The state is the log replayed to its watermark.
            let loaded = store.load_board(&b).await.expect("load");
            let Some(loaded) = loaded else {
                assert_eq!(next, 0, "round {round}: {b} has events but does not load");
                continue;
            };
            check_loaded(&loaded, next).unwrap_or_else(|e| panic!("round {round}: {b}: {e}"));
            assert!(
                loaded.pages_sequence >= k.replayed,
                "round {round}: {b} watermark went back"
            );
            for e in events(k.replayed + 1, loaded.pages_sequence) {
                k.pages.apply(&e.mutation);
            }
            k.replayed = loaded.pages_sequence;
            assert_eq!(
                loaded.pages, k.pages,
                "round {round}: {b} state as of {}",
                k.replayed
            );
        }
    });
}
