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
