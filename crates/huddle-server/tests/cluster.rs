//! Three `huddle serve` nodes (`a`, `b`, `c`) on one PostgreSQL database
//! (`docs/operations.md`, "Several nodes"), with clients that mutate
//! continuously: three boards, `ra` owned by `a`, `rb` by `b`, `rc` by `c`,
//! each with one writer joining through every node (two of them
//! redirected to the owner). The writers are the Rust client machine on
//! real sockets (`huddle_client::net`), writing one-upsert batches one
//! after the other until the test stops them (`support::cluster`).
//!
//! Each scenario ends with the same checks of every board, read from the
//! database: the log is gapless, every acknowledged batch is in it exactly
//! once at its acknowledged sequence and nothing else is, and every writer
//! converged on it (its replica is the log replayed).
//!
//! - a join through a non-owner is redirected and served;
//! - kill -9 of a busy board's owner: another node serves the board within
//!   the lease TTL plus a reconnect, the other boards never stop;
//! - SIGSTOP of the owner past its TTL, another node takes over, SIGCONT:
//!   the woken node acknowledges nothing more and its clients move;
//! - SIGTERM of the owner hands its boards over at once (well within a
//!   minute-long TTL), nothing lost.

mod support;

use std::time::{Duration, Instant};

use huddle_wire::{close, ClientMessage, ServerMessage};
use support::cluster::{check_and_close, counter, wait_owner, Cluster, Seen, Writers};

/// The boards and their owners.
const BOARDS: [(&str, &str); 3] = [("ra", "a"), ("rb", "b"), ("rc", "c")];
const BOARD_IDS: [&str; 3] = ["ra", "rb", "rc"];

/// Three nodes with `ttl` leases and nine writers, every one of which has
/// had acks (so every client is joined at its board's owner).
async fn busy_cluster(ttl: &str) -> Option<(Cluster, Writers)> {
    let cluster = Cluster::start(3, ttl).await?;
    let began = Instant::now();
    let mut writers = Writers::default();
    for (board, owner) in BOARDS {
        writers.start_board(&cluster, owner, board).await;
    }
    for i in 0..writers.running.len() {
        writers.wait_acks(&[i], 3, began).await;
    }
    for (board, owner) in BOARDS {
        for node in &cluster.nodes {
            let info = node.room_info(board).await;
            assert_eq!(info["owner"]["node"], owner, "{board}: {info}");
        }
    }
    Some((cluster, writers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_through_non_owners_are_redirected_and_served() {
    let Some((cluster, writers)) = busy_cluster("5s").await else {
        return;
    };
    let (a, b) = (cluster.node("a"), cluster.node("b"));
    assert_eq!(
        b.room_info("ra").await["owner"]["url"],
        format!("ws://{}/ws", a.addr)
    );
    // A raw join at b: the redirect frame, then close 4003.
    let mut ws = b.connect("carol", "ra").await;
    ws.send(&ClientMessage::Join {
        board: "ra".into(),
        last_sequence: None,
    })
    .await;
    match ws.recv().await {
        ServerMessage::Redirect { board, owner } => {
            assert_eq!(board.as_str(), "ra");
            assert_eq!(owner.node, "a");
            assert_eq!(owner.url, format!("ws://{}/ws", a.addr));
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
    assert_eq!(ws.closed().await, Some(close::REDIRECT));

    let since = Instant::now();
    let all: Vec<usize> = (0..writers.running.len()).collect();
    writers.wait_acks(&all, 30, since).await;
    let stopped = writers.stop().await;
    // Each writer that joined through a non-owner was sent to the owner
    // (once: it stayed connected there); the owner's own was not.
    for w in &stopped {
        let owner = BOARDS.iter().find(|(b, _)| *b == w.board).unwrap().1;
        let redirects: Vec<Seen> = w
            .log
            .iter()
            .map(|(_, s)| s.clone())
            .filter(|s| matches!(s, Seen::Redirected { .. }))
            .collect();
        let expected = if w.through == owner {
            vec![]
        } else {
            vec![Seen::Redirected {
                node: owner.to_owned(),
            }]
        };
        assert_eq!(redirects, expected, "{} via {}", w.user, w.through);
    }
    // Every node redirected the two writers of the boards it does not own,
    // and, all being healthy, neither lost nor took over a lease.
    for node in &cluster.nodes {
        let n = counter(node, "huddle_redirects_total").await;
        assert!(n >= 2.0, "{}: {n} redirects", node.addr);
        for family in ["huddle_lease_losses_total", "huddle_lease_takeovers_total"] {
            assert_eq!(counter(node, family).await, 0.0, "{}: {family}", node.addr);
        }
        assert_eq!(
            counter(node, "huddle_leases_held").await,
            1.0,
            "{}",
            node.addr
        );
    }
    check_and_close(&cluster.db.url, &BOARD_IDS, stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_busy_owner_is_served_elsewhere_within_ttl_and_a_reconnect() {
    let ttl = Duration::from_secs(2);
    let Some((mut cluster, writers)) = busy_cluster("2s").await else {
        return;
    };
    let killed_at = Instant::now();
    cluster.node_mut("a").kill9();
    // A bound on correctness (TTL, one reconnect, a loaded machine), not
    // a performance figure: those are in docs/performance.md.
    let failover = writers
        .failover("ra", killed_at, ttl + Duration::from_secs(10))
        .await;
    eprintln!("ra served again {failover:?} after kill -9 of its owner");
    let new_owner = cluster.owner("b", "ra").await;
    assert!(["b", "c"].contains(&new_owner.as_str()), "{new_owner}");
    // The other boards never waited for a.
    for board in ["rb", "rc"] {
        assert!(
            writers.acks_since(&writers.of_board(board), killed_at) > 0,
            "{board} stalled"
        );
    }
    // The writer that joins through a reaches the new owner once a is back.
    let restarted_at = Instant::now();
    cluster.node_mut("a").restart_in_place().await;
    let through_a = writers.index("ra", "a");
    writers.wait_acks(&[through_a], 3, restarted_at).await;
    let others: Vec<usize> = (0..writers.running.len()).collect();
    writers.wait_acks(&others, 20, Instant::now()).await;
    assert_eq!(cluster.owner("a", "ra").await, new_owner);
    let stopped = writers.stop().await;
    check_and_close(&cluster.db.url, &BOARD_IDS, stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_paused_past_its_ttl_acks_nothing_more_when_it_wakes() {
    let Some((cluster, writers)) = busy_cluster("2s").await else {
        return;
    };
    let a = cluster.node("a");
    let stopped_at = Instant::now();
    a.signal("STOP");
    // Past a's lease: ra's writers give up their connections to a (no
    // pong), and the first of them to rejoin through b or c takes it.
    writers
        .failover("ra", stopped_at, Duration::from_secs(30))
        .await;
    let new_owner = cluster.owner("b", "ra").await;
    assert!(["b", "c"].contains(&new_owner.as_str()), "{new_owner}");

    a.signal("CONT");
    // The writer through a moves too: a's session of ra is fenced, and a
    // redirects the writer to the new owner.
    let continued_at = Instant::now();
    let through_a = writers.index("ra", "a");
    writers.wait_acks(&[through_a], 3, continued_at).await;
    wait_owner(a, "ra", &new_owner).await;
    // From now on a acknowledges nothing (it owns no board any more),
    // while every writer keeps writing.
    let acked_on_a = counter(a, "huddle_batches_acked_total").await;
    let all: Vec<usize> = (0..writers.running.len()).collect();
    writers.wait_acks(&all, 30, Instant::now()).await;
    assert_eq!(
        counter(a, "huddle_batches_acked_total").await,
        acked_on_a,
        "a acknowledged batches after it lost ra"
    );
    let stopped = writers.stop().await;
    check_and_close(&cluster.db.url, &BOARD_IDS, stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_an_owner_hands_its_boards_over_at_once() {
    // Leases of a minute: another node can only serve ra within the
    // bound below if a released it on shutdown.
    let Some((mut cluster, writers)) = busy_cluster("60s").await else {
        return;
    };
    let termed_at = Instant::now();
    let status = cluster.node_mut("a").sigterm().await;
    assert!(status.success(), "a exited with {status}");
    let handover = writers
        .failover("ra", termed_at, Duration::from_secs(30))
        .await;
    eprintln!("ra served again {handover:?} after SIGTERM of its owner");
    let new_owner = cluster.owner("b", "ra").await;
    assert!(["b", "c"].contains(&new_owner.as_str()), "{new_owner}");

    let restarted_at = Instant::now();
    cluster.node_mut("a").restart_in_place().await;
    let through_a = writers.index("ra", "a");
    writers.wait_acks(&[through_a], 3, restarted_at).await;
    let stopped = writers.stop().await;
    check_and_close(&cluster.db.url, &BOARD_IDS, stopped).await;
}
