//! Black-box tests of `huddle serve --database-url` on PostgreSQL: kill -9
//! under load loses no acknowledged batch (checked through the server and
//! in the database itself: the logs are gapless and the flushed state is
//! the replayed log), and PostgreSQL restarted under load leaves the
//! server running, its acks resuming, nothing acknowledged lost.
//!
//! (The other suites run on PostgreSQL too with `HUDDLE_TEST_STORE=postgres`;
//! see `support`.)

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_core::{BoardId, Pages};
use huddle_postgres::testing::{self, Cluster};
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::Store as _;
use huddle_wire::{ClientMessage, WireSync};
use support::{poll, upsert, Opts, Server, Store, Ws};

/// What a writer saw acknowledged: batch number -> sequence.
type Acked = BTreeMap<u64, u64>;

/// Sends batches (4 in flight) until `stop` is set or the connection dies,
/// then waits for the answers still due; batch `n` upserts its own element
/// `{user}-b{n}` = `n`. Every answer must be an ack.
async fn writer(mut ws: Ws, user: String, counter: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> Acked {
    let mut acked = Acked::new();
    let mut pending = VecDeque::new();
    let mut n = 0u64;
    loop {
        while pending.len() < 4 && !stop.load(Ordering::Relaxed) {
            let frame = ClientMessage::Mutate {
                batch: format!("{user}-{n}").as_str().into(),
                mutations: vec![upsert("p", &format!("{user}-b{n}"), &n.to_string())],
            }
            .to_json()
            .expect("encode");
            if !ws.try_send_text(&frame).await {
                return acked;
            }
            pending.push_back(n);
            n += 1;
        }
        if pending.is_empty() {
            return acked;
        }
        let Some((batch, result)) = ws.next_answer().await else {
            return acked;
        };
        let m: u64 = batch.rsplit('-').next().unwrap().parse().unwrap();
        pending.retain(|&p| p != m);
        match result {
            Ok(seq) => {
                acked.insert(m, seq);
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Err(code) => panic!("batch {batch} refused: {code}"),
        }
    }
}

fn full_pages(sync: &WireSync) -> BTreeMap<String, String> {
    let WireSync::Full { pages, .. } = sync else {
        panic!("not a full sync")
    };
    let mut out = BTreeMap::new();
    for (page, elements) in pages.iter() {
        for (element, data) in elements {
            out.insert(
                format!("{}/{}", page.as_str(), element.as_str()),
                String::from_utf8_lossy(data.as_bytes()).into_owned(),
            );
        }
    }
    out
}

/// Starts `writers` writers on each board; returns their tasks.
async fn start_writers(
    server: &Server,
    boards: &[&str],
    writers: usize,
    counter: &Arc<AtomicU64>,
    stop: &Arc<AtomicBool>,
) -> Vec<(String, String, tokio::task::JoinHandle<Acked>)> {
    let mut tasks = Vec::new();
    for b in boards {
        for w in 0..writers {
            let user = format!("{b}-w{w}");
            let (ws, _) = server.joined(&user, b).await;
            let task = tokio::spawn(writer(ws, user.clone(), counter.clone(), stop.clone()));
            tasks.push((b.to_string(), user, task));
        }
    }
    tasks
}

/// Checks the database itself: the board's log is gapless from 1, every
/// acknowledged batch is in it at its acknowledged sequence, and the
/// flushed state equals the log replayed up to its watermark.
async fn check_database(url: &str, board: &str, acked: &[(String, u64, u64)]) -> u64 {
    let store = PostgresStore::connect(url, PostgresOptions::default().max_connections(2))
        .await
        .expect("connect");
    let id = BoardId::from(board);
    let log = store.read_events(&id, 0, usize::MAX).await.expect("read");
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "{board}: the log has a gap");
    }
    for (user, n, seq) in acked {
        let e = log
            .get((*seq as usize).wrapping_sub(1))
            .unwrap_or_else(|| panic!("{board}: acked sequence {seq} is not stored"));
        assert_eq!(
            (e.author.as_str(), e.batch.as_str()),
            (user.as_str(), format!("{user}-{n}").as_str()),
            "{board}: sequence {seq} holds another batch"
        );
    }
    let loaded = store.load_board(&id).await.expect("load").expect("known");
    let mut replayed = Pages::new();
    for e in log.iter().filter(|e| e.seq <= loaded.pages_sequence) {
        replayed.apply(&e.mutation);
    }
    assert_eq!(
        loaded.pages, replayed,
        "{board}: state differs from the log"
    );
    log.len() as u64
}

fn by_board(tasks: Vec<(String, String, Acked)>) -> BTreeMap<String, Vec<(String, u64, u64)>> {
    let mut out: BTreeMap<String, Vec<(String, u64, u64)>> = BTreeMap::new();
    for (b, user, acked) in tasks {
        assert!(!acked.is_empty(), "{user} got no ack");
        for (n, seq) in acked {
            out.entry(b.clone())
                .or_default()
                .push((user.clone(), n, seq));
        }
    }
    out
}

/// Every acknowledged batch is in a fresh client's full sync.
async fn check_server(server: &Server, board: &str, acked: &[(String, u64, u64)]) {
    let stored = server.sequence(board).await;
    let (_fresh, joined) = server.joined(&format!("{board}-fresh"), board).await;
    assert_eq!(joined.sequence, stored);
    let state = full_pages(&joined.sync);
    for (user, n, _) in acked {
        assert_eq!(
            state.get(&format!("p/{user}-b{n}")).map(String::as_str),
            Some(n.to_string().as_str()),
            "{board}: acknowledged batch {user}-{n} lost"
        );
    }
    assert_eq!(state.len() as u64, stored, "{board}: elements vs sequence");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_batch_on_postgres() {
    if testing::find_bin_dir().is_none() && std::env::var(testing::DATABASE_URL_VAR).is_err() {
        testing::skip("no PostgreSQL server binaries and no HUDDLE_TEST_DATABASE_URL");
        return;
    }
    let mut server = Server::start_with(
        Opts::default()
            .store(Store::Postgres)
            .flag("--idle-timeout-ephemeral", "5m")
            .flag("--idle-timeout-persistent", "5m")
            .flag("--flush-threshold", "64"),
    )
    .await;
    let url = server.database.clone().expect("a database").url;
    for (round, batches) in [(0, 200u64), (1, 600)] {
        let boards = [format!("crash{round}-a"), format!("crash{round}-b")];
        let boards: Vec<&str> = boards.iter().map(String::as_str).collect();
        for b in &boards {
            server.room(b, "persistent").await;
        }
        let counter = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = start_writers(&server, &boards, 2, &counter, &stop).await;
        poll("acknowledged batches", || {
            let c = counter.clone();
            async move { (c.load(Ordering::Relaxed) >= batches).then_some(()) }
        })
        .await;
        server.kill9();
        let mut done = Vec::new();
        for (b, user, task) in tasks {
            done.push((b, user, task.await.expect("writer task")));
        }
        let acked = by_board(done);
        // The database as the crash left it, before the server reads it.
        for (b, acked) in &acked {
            check_database(&url, b, acked).await;
        }
        server.kill9_and_restart().await;
        for (b, acked) in &acked {
            check_server(&server, b, acked).await;
            check_database(&url, b, acked).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_nothing_and_acks_resume() {
    let Some(cluster) = Cluster::start_or_skip() else {
        return;
    };
    let db = cluster.database().await;
    let server = Server::start_with(
        Opts::default()
            .store(Store::Sqlite)
            .flag("--database-url", &db.url)
            .flag("--idle-timeout-ephemeral", "5m")
            .flag("--idle-timeout-persistent", "5m")
            .flag("--storage-retry-initial", "100ms")
            .flag("--storage-retry-max", "1s")
            .flag("--flush-threshold", "64"),
    )
    .await;
    let boards = ["pg-a", "pg-b"];
    for b in boards {
        server.room(b, "persistent").await;
    }
    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_writers(&server, &boards, 2, &counter, &stop).await;
    poll("acks before the restart", || {
        let c = counter.clone();
        async move { (c.load(Ordering::Relaxed) >= 100).then_some(()) }
    })
    .await;
    cluster.restart().expect("pg_ctl restart");
    let after_restart = counter.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter.load(Ordering::Relaxed) < after_restart + 200 {
        assert!(
            Instant::now() < deadline,
            "acks did not resume after the restart:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut done = Vec::new();
    for (b, user, task) in tasks {
        done.push((b, user, task.await.expect("writer task")));
    }
    let (healthz, _) = server.get("/healthz").await;
    assert_eq!(healthz, 200, "the server kept running");
    for (b, acked) in &by_board(done) {
        check_server(&server, b, acked).await;
        check_database(&db.url, b, acked).await;
    }
}
