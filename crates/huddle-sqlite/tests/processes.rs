//! Two processes on one SQLite file: the lease, on the database's clock,
//! decides which one owns a board.
//!
//! The parent acquires a board and writes; a child process (this binary
//! again, `HUDDLE_LEASE_CHILD` set) is refused, naming the parent, until
//! the parent's lease expires (the parent does not renew it); then the
//! child takes the board over and writes, and the parent's next write is
//! fenced.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use huddle_core::BoardId;
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::conformance::events;
use huddle_store::{AppendBatch, Epoch, Node, Store, StoreError};

const CHILD: &str = "HUDDLE_LEASE_CHILD";
const TTL: Duration = Duration::from_millis(800);

fn board() -> BoardId {
    BoardId::from("between-processes")
}

fn node(id: &str) -> Node {
    Node::new(id, format!("ws://{id}.test/ws")).with_lease_ttl(TTL)
}

fn append(epoch: Epoch, seq: u64) -> Vec<AppendBatch> {
    vec![AppendBatch {
        board: board(),
        epoch,
        events: events(seq, seq).into(),
    }]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match std::env::var(CHILD) {
        Ok(path) => runtime.block_on(child(Path::new(&path))),
        Err(_) => runtime.block_on(parent()),
    }
}

/// Tries to acquire until granted, printing the first refusal.
async fn child(path: &Path) {
    let store = SqliteStore::open(path, SqliteOptions::default())
        .await
        .expect("open");
    let started = Instant::now();
    let mut told = false;
    let acquired = loop {
        match store.acquire_board(&board(), &node("child")).await {
            Ok(acquired) => break acquired,
            Err(StoreError::OwnedElsewhere { owner, .. }) => {
                if !told {
                    println!("refused {} {}", owner.node, owner.url);
                    told = true;
                }
            }
            Err(e) => panic!("acquire: {e}"),
        }
        assert!(started.elapsed() < 10 * TTL, "never granted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("took {} {}", acquired.epoch, acquired.took_over);
    assert_eq!(
        store.append_events(append(acquired.epoch, 3)).await,
        vec![Ok(())]
    );
    println!("appended");
}

async fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.db");
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open");
    // Before the acquire: the lease cannot expire earlier than a TTL
    // after this.
    let granted_at = Instant::now();
    let held = store
        .acquire_board(&board(), &node("parent"))
        .await
        .expect("acquire");
    for seq in 1..=2 {
        assert_eq!(
            store.append_events(append(held.epoch, seq)).await,
            vec![Ok(())]
        );
    }
    let mut child = Command::new(std::env::current_exe().expect("own binary"))
        .env(CHILD, &path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || lines.next().expect("a line").expect("read");
    assert_eq!(next(), "refused parent ws://parent.test/ws");
    let took = next();
    let waited = granted_at.elapsed();
    // (5 ms for the database clock's millisecond rounding.)
    assert!(
        waited + Duration::from_millis(5) >= TTL,
        "taken over after {waited:?}, before the TTL"
    );
    assert_eq!(took, format!("took {} true", held.epoch.next()));
    assert_eq!(next(), "appended");
    assert!(child.wait().expect("wait").success());
    let fenced = store.append_events(append(held.epoch, 4)).await;
    assert!(
        matches!(fenced[..], [Err(StoreError::Fenced { .. })]),
        "{fenced:?}"
    );
    let log = store.read_events(&board(), 0, 10).await.expect("read");
    assert_eq!(log, events(1, 3));
    println!("two processes: taken over {waited:?} after the grant (TTL {TTL:?}); 1 passed");
}
