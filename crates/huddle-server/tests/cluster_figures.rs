//! The cluster's failover figures of `docs/performance.md` ("Several
//! nodes"): ignored by default (they take minutes), run on purpose against
//! a release build:
//!
//! ```sh
//! cargo build --release -p huddle-server --features load
//! HUDDLE_TEST_BIN=$PWD/target/release/huddle HUDDLE_REQUIRE_POSTGRES=1 \
//!   cargo test -p huddle-server --test cluster_figures -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - `failover_after_kill_9`: three nodes; `HUDDLE_FIGURES_RUNS` (20) times,
//!   a board owned by one of them (in turn) gets three writers, one
//!   through each node (`support::cluster`), and once they are busy its
//!   owner is killed (SIGKILL); the figure is the time from the kill to
//!   the first ack of the board after a writer rejoined (the new owner's
//!   first ack); it also prints when the old owner's lease stopped running
//!   and another node's started (the database, polled every 10 ms), and with `HUDDLE_FIGURES_TRACE=1`
//!   what each writer saw after the kill. The killed node is restarted in
//!   place, and each run's
//!   board is checked against the database as the cluster suite does.
//!   `HUDDLE_FIGURES_TTL` sets the lease TTL (default `5s`, the server's
//!   default). Prints every run, the median and the worst.
//! - `three_nodes_against_one`: `huddle load` with the same arguments
//!   against one node, then against three nodes on one database with the
//!   clients spread over them (`--connect-url`, each board's clients
//!   through every node, redirected to the owner). Prints both reports.
//!
//! The nodes run with the server's defaults (not the suite's short
//! timings) but for `--node-id` and `--lease-ttl`. Both print the load
//! average before and after: the figures are only as quiet as the machine.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use huddle_core::BoardId;
use huddle_postgres::{PostgresOptions, PostgresStore};
use huddle_store::Store as _;
use support::cluster::{check_and_close, node_name, Cluster, Seen, Writers};
use support::{Opts, ADMIN_KEY};

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure, not a test: minutes long (docs/performance.md)"]
async fn failover_after_kill_9() {
    let runs: usize = env_or("HUDDLE_FIGURES_RUNS", "20")
        .parse()
        .expect("HUDDLE_FIGURES_RUNS");
    let ttl_text = env_or("HUDDLE_FIGURES_TTL", "5s");
    let ttl = huddle_duration::parse_duration(&ttl_text).expect("HUDDLE_FIGURES_TTL");
    let Some(mut cluster) = Cluster::start_with(3, &ttl_text, Opts::new).await else {
        return;
    };
    println!("load average before: {}", load_average());
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let owner = node_name(run % 3);
        let board = format!("f{run}");
        let mut writers = Writers::default();
        writers.start_board(&cluster, &owner, &board).await;
        let all = writers.of_board(&board);
        let busy_from = Instant::now();
        writers.wait_acks(&all, 30, busy_from).await;

        let killed_at = Instant::now();
        cluster.node_mut(&owner).kill9();
        let watch = tokio::spawn(watch_owner(
            cluster.db.url.clone(),
            board.clone(),
            owner.clone(),
            killed_at,
            ttl + Duration::from_secs(30),
        ));
        let failover = writers
            .failover(&board, killed_at, ttl + Duration::from_secs(30))
            .await;
        let (expired, taken) = watch.await.expect("owner watch");
        let new_owner = cluster.owner(&survivor_name(run), &board).await;
        let secs = |d: Option<Duration>| match d {
            Some(d) => format!("{:.3} s", d.as_secs_f64()),
            None => "?".to_owned(),
        };
        println!(
            "run {run:2}: kill -9 of {owner} -> first ack on {new_owner} after {:.3} s \
             (lease gone after {}, taken after {})",
            failover.as_secs_f64(),
            secs(expired),
            secs(taken)
        );
        times.push(failover);

        if std::env::var("HUDDLE_FIGURES_TRACE").is_ok_and(|v| v == "1") {
            trace(&writers, killed_at);
        }
        let restarted_at = Instant::now();
        cluster.node_mut(&owner).restart_in_place().await;
        let through_owner = writers.index(&board, &owner);
        writers.wait_acks(&[through_owner], 3, restarted_at).await;
        let stopped = writers.stop().await;
        check_and_close(&cluster.db.url, &[board.as_str()], stopped).await;
    }
    times.sort();
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2
    };
    println!(
        "failover after kill -9 (lease TTL {ttl_text}, {runs} runs): median {:.3} s, worst {:.3} s, best {:.3} s",
        median.as_secs_f64(),
        times[times.len() - 1].as_secs_f64(),
        times[0].as_secs_f64()
    );
    println!("load average after: {}", load_average());
}

/// Prints what each writer saw after `since` (reconnects, redirects and
/// to which node, the rejoin, the first acks), `HUDDLE_FIGURES_TRACE=1`.
fn trace(writers: &Writers, since: Instant) {
    for w in &writers.running {
        let log = w.log.lock().unwrap_or_else(|e| e.into_inner());
        let after: Vec<String> = log
            .iter()
            .filter(|(at, s)| *at >= since && !matches!(s, Seen::Reconnecting(_)))
            .take(40)
            .map(|(at, s)| format!("{:.3} {s:?}", at.duration_since(since).as_secs_f64()))
            .collect();
        println!("  {} via {}: {}", w.user, w.through, after.join(", "));
    }
}

fn survivor_name(run: usize) -> String {
    node_name((run + 1) % 3)
}

/// Polls the database every 10 ms from `since` (the store's
/// `board_owner`, the lease that runs now; not `GET /rooms/{id}`, which a
/// node answers with itself while it merely loads the board): when `old`'s
/// lease stopped running, and when another node's did, as delays from
/// `since`.
async fn watch_owner(
    db_url: String,
    board: String,
    old: String,
    since: Instant,
    limit: Duration,
) -> (Option<Duration>, Option<Duration>) {
    let store = PostgresStore::connect(&db_url, PostgresOptions::default().max_connections(1))
        .await
        .expect("connect to the cluster's database");
    let board = BoardId::from(board.as_str());
    let mut expired = None;
    while since.elapsed() < limit {
        if let Ok(owner) = store.board_owner(&board).await {
            let node = owner.map(|o| o.node).unwrap_or_default();
            if node != old {
                let at = since.elapsed();
                expired.get_or_insert(at);
                if !node.is_empty() {
                    return (expired, Some(at));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (expired, None)
}

/// `huddle load`'s arguments for both runs (`HUDDLE_FIGURES_LOAD` replaces
/// them, split at spaces).
const LOAD_ARGS: &str = "--clients 60 --boards 12 --batch 10 --window 4 --duration 20s --warmup 3s";

/// Runs `huddle load` against `cluster`, its clients through every node.
async fn load(cluster: &Cluster, prefix: &str) -> String {
    let args = env_or("HUDDLE_FIGURES_LOAD", LOAD_ARGS);
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url("")).collect();
    let bin = std::env::var("HUDDLE_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_huddle").to_owned());
    let prefix = prefix.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(bin);
        cmd.args(["load", "--url", &urls[0], "--admin-key", ADMIN_KEY]);
        if urls.len() > 1 {
            for url in &urls {
                cmd.args(["--connect-url", url]);
            }
        }
        cmd.args(args.split_whitespace())
            .args(["--prefix", &prefix, "--no-progress"])
            .output()
            .expect("run huddle load")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure, not a test: a minute long (docs/performance.md)"]
async fn three_nodes_against_one() {
    println!("load average before: {}", load_average());
    for nodes in [1, 3] {
        let Some(cluster) = Cluster::start_with(nodes, "5s", Opts::new).await else {
            return;
        };
        let report = load(&cluster, &format!("n{nodes}")).await;
        println!(
            "--- {nodes} node(s), load average now {}:\n{report}",
            load_average()
        );
    }
}
