//! A coarse latency check that only a systematic stall can fail: two
//! clients on one board, each sending one batch at a time, must see a
//! median ack latency far below the 40 ms of a Nagle / delayed-ACK stall
//! (the server writes an `events` frame and then an `ack` to the same
//! socket; without TCP_NODELAY the second write waits for the client's
//! delayed ACK).

mod support;

use std::time::{Duration, Instant};

use support::{upsert, Server, Ws};

async fn round_trips(mut ws: Ws, user: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        ws.mutate(
            &format!("{user}-{i}"),
            vec![upsert("p", user, &i.to_string())],
        )
        .await;
        out.push(started.elapsed());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_a_board_see_no_nagle_stall() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (a, _) = server.joined("alice", "r1").await;
    let (b, _) = server.joined("bob", "r1").await;
    let (mut la, lb) = tokio::join!(round_trips(a, "alice", 60), round_trips(b, "bob", 60));
    la.extend(lb);
    la.sort();
    let median = la[la.len() / 2];
    assert!(
        median < Duration::from_millis(20),
        "median ack latency {median:?} (a 40 ms stall is Nagle + delayed ACK)"
    );
}
