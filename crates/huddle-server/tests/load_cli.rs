//! `huddle load` (the `huddle-load` crate behind a subcommand) against a
//! real `huddle serve`: a short run completes, every batch is acknowledged
//! and the report has its figures; the boards hold what was acknowledged.

mod support;

use std::process::Command;

use support::{Server, ADMIN_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huddle_load_runs_against_the_server() {
    let server = Server::start().await;
    let url = server.url("");
    let bin = std::env::var("HUDDLE_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_huddle").to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["load", "--url", &url, "--admin-key", ADMIN_KEY])
            .args(["--clients", "6", "--boards", "2", "--batch", "5"])
            .args(["--duration", "1s", "--warmup", "200ms", "--prefix", "smoke"])
            .args(["--rate", "2000", "--no-progress"])
            .output()
            .expect("run huddle load")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("acked mutations/s"), "{stdout}");
    assert!(stdout.contains("p99.9"), "{stdout}");
    assert!(stdout.contains("errors: none"), "{stdout}");
    // The two boards exist and hold the acknowledged work.
    let a = server.sequence("smoke-b0").await;
    let b = server.sequence("smoke-b1").await;
    assert!(a > 0 && b > 0, "sequences {a} {b}");
    assert_eq!((a + b) % 5, 0, "whole batches of 5: {a} + {b}");
}

/// The reconnect storm against the real server: every client drops and
/// rejoins with its last sequence, gets a delta, and the boards hold every
/// acknowledged upsert; the server's process figures come from /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huddle_load_storm_runs_against_the_server() {
    let server = Server::start().await;
    let url = server.url("");
    let bin = std::env::var("HUDDLE_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_huddle").to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["load", "--url", &url, "--admin-key", ADMIN_KEY, "--storm"])
            .args(["--clients", "24", "--boards", "4", "--batch", "5"])
            .args(["--prefix", "storm", "--no-progress", "--json", "-"])
            .output()
            .expect("run huddle load --storm")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("errors: none"), "{stdout}");
    // `--json -` writes the JSON report before the text one.
    let text_at = stdout.find("\nhuddle load:").expect("the text report");
    let json: serde_json::Value = serde_json::from_str(&stdout[..text_at]).expect("JSON");
    let storm = &json["storm"];
    assert_eq!(storm["dropped"], 24, "{stdout}");
    assert_eq!(storm["refused_clients"], 0, "{stdout}");
    assert_eq!(storm["delta_syncs"], 24, "{stdout}");
    assert_eq!(storm["checked_mutations"], 24 * 2 * 5, "{stdout}");
    assert_eq!(storm["lost_mutations"], 0, "{stdout}");
    assert_eq!(storm["unchecked_boards"], 0, "{stdout}");
    assert!(storm["resync_seconds"].as_f64().is_some(), "{stdout}");
    if cfg!(target_os = "linux") {
        assert!(json["server"]["peak_memory_bytes"].as_u64().unwrap() > 0);
        assert!(storm["server"]["cpu_seconds"].as_f64().is_some());
    }
    for b in 0..4 {
        let sequence = server.sequence(&format!("storm-b{b}")).await;
        assert_eq!(sequence, 6 * 2 * 5, "board {b}");
    }
}

/// `huddle load` against three nodes on one PostgreSQL database, its
/// clients spread over them (`--connect-url`): the joins that reach a
/// non-owner follow its `redirect`, every batch is acknowledged, and each
/// board's log holds whole batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huddle_load_drives_a_cluster_through_redirects() {
    let Some(cluster) = support::cluster::Cluster::start(3, "5s").await else {
        return;
    };
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url("")).collect();
    let bin = std::env::var("HUDDLE_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_huddle").to_owned());
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(bin);
        cmd.args(["load", "--url", &urls[0], "--admin-key", ADMIN_KEY]);
        for url in &urls {
            cmd.args(["--connect-url", url]);
        }
        cmd.args(["--clients", "9", "--boards", "3", "--batch", "5"])
            .args([
                "--duration",
                "1s",
                "--warmup",
                "200ms",
                "--prefix",
                "spread",
            ])
            .args(["--rate", "1500", "--no-progress", "--json", "-"])
            .output()
            .expect("run huddle load")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("errors: none"), "{stdout}");
    let text_at = stdout.find("\nhuddle load:").expect("the text report");
    let json: serde_json::Value = serde_json::from_str(&stdout[..text_at]).expect("JSON");
    // Each board's three clients join through one node each; the first
    // join of a board takes it where it lands, so two of the three are
    // redirected (joins racing for a free board may add a hop).
    let redirects = json["redirects"].as_u64().expect("redirects");
    assert!(
        (6..=9).contains(&redirects),
        "{redirects} redirects: {stdout}"
    );
    assert!(json["acked_batches"].as_u64().unwrap() > 0, "{stdout}");
    // The server cost is the three nodes' together.
    assert!(json["server"]["cpu_seconds"].as_f64().is_some(), "{stdout}");
    let mut owners = Vec::new();
    for b in 0..3 {
        let board = format!("spread-b{b}");
        let info = cluster.nodes[0].room_info(&board).await;
        let sequence = info["sequence"].as_u64().expect("sequence");
        assert!(sequence > 0 && sequence % 5 == 0, "{board}: {info}");
        owners.push(info["owner"]["node"].as_str().unwrap_or("").to_owned());
    }
    let mut redirected = 0.0;
    for node in &cluster.nodes {
        redirected += support::cluster::counter(node, "huddle_redirects_total").await;
    }
    assert_eq!(redirected as u64, redirects, "owners {owners:?}");
}
