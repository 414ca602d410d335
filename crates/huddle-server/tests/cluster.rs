//! Several `huddle serve` nodes on one PostgreSQL database
//! (`docs/operations.md`, "Several nodes"): a join through a node that does
//! not own the board is redirected to the owner and served there; SIGTERM
//! of the owner hands its boards over at once; kill -9 of the owner hands
//! them over once its lease expires; an owner paused (SIGSTOP) past its
//! lease and woken again acknowledges nothing more for the board. The clients are the Rust client
//! machine on real sockets (`huddle_client::net`), and every check is that
//! every acknowledged batch is stored once, in one gapless sequence.

mod support;

use huddle_client::net::NetClient;
use huddle_postgres::testing::{self, TestDatabase};
use huddle_wire::{close, ClientMessage, ServerMessage};
use support::{net_client, settled, upsert, Opts, Server};

/// Two nodes `a` and `b` on one fresh database, with `ttl` leases.
async fn two_nodes(ttl: &str) -> Option<(TestDatabase, Server, Server)> {
    let db = testing::database().await?;
    let node = |id: &str| {
        Opts::default()
            .shared_database(&db.url)
            .flag("--node-id", id)
            .flag("--lease-ttl", ttl)
    };
    let a = Server::start_with(node("a")).await;
    let b = Server::start_with(node("b")).await;
    Some((db, a, b))
}

/// `n` batches of one upsert each, element `{tag}{i}`.
async fn write(client: &NetClient, tag: &str, range: std::ops::Range<u32>) {
    for i in range {
        client
            .mutate(vec![upsert("p", &format!("{tag}{i}"), &i.to_string())])
            .await
            .expect("mutate");
    }
}

/// Room `r`, owned by `a`: alice writes 3 batches there; bob starts at
/// `b` (as behind a load balancer), is redirected to `a` and writes 10.
async fn busy_board(a: &Server, b: &Server) -> (NetClient, NetClient) {
    a.room("r", "persistent").await;
    let alice = net_client(a, "alice", "r").await;
    write(&alice, "a", 0..3).await;
    settled(&alice, 3).await;
    let bob = net_client(b, "bob", "r").await;
    write(&bob, "b", 0..10).await;
    settled(&bob, 13).await;
    (alice, bob)
}

/// The replica's element count: every batch applied exactly once.
async fn elements(client: &NetClient) -> usize {
    let seen = client.observe().await.expect("client running");
    seen.replica.pages().iter().map(|(_, p)| p.len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_through_a_non_owner_is_redirected_and_served() {
    let Some((_db, a, b)) = two_nodes("5s").await else {
        return;
    };
    a.room("r", "persistent").await;
    let alice = net_client(&a, "alice", "r").await;
    write(&alice, "a", 0..5).await;
    settled(&alice, 5).await;

    // Any node names the owner.
    for server in [&a, &b] {
        let owner = &server.room_info("r").await["owner"];
        assert_eq!(owner["node"], "a", "{owner}");
        assert_eq!(owner["url"], format!("ws://{}/ws", a.addr), "{owner}");
    }

    // A raw join at b: the redirect frame, then close 4003.
    let mut ws = b.connect("carol", "r").await;
    ws.send(&ClientMessage::Join {
        board: "r".into(),
        last_sequence: None,
    })
    .await;
    match ws.recv().await {
        ServerMessage::Redirect { board, owner } => {
            assert_eq!(board.as_str(), "r");
            assert_eq!(owner.node, "a");
            assert_eq!(owner.url, format!("ws://{}/ws", a.addr));
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
    assert_eq!(ws.closed().await, Some(close::REDIRECT));

    // The client machine that starts at b is served by a.
    let bob = net_client(&b, "bob", "r").await;
    write(&bob, "b", 0..5).await;
    settled(&bob, 10).await;
    settled(&alice, 10).await;
    assert_eq!(elements(&bob).await, 10);
    assert_eq!(a.sequence("r").await, 10);
    let (_, metrics) = b.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("huddle_redirects_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_the_owner_hands_its_boards_over_at_once() {
    // Leases of a minute: b can only take the board within the test's
    // waits if a released it on shutdown.
    let Some((_db, mut a, b)) = two_nodes("60s").await else {
        return;
    };
    let (alice, bob) = busy_board(&a, &b).await;

    let status = a.sigterm().await;
    assert!(status.success(), "a exited with {status}");
    // bob reconnects through b, which now takes the board.
    write(&bob, "b", 10..20).await;
    settled(&bob, 23).await;
    assert_eq!(elements(&bob).await, 23);
    assert_eq!(b.room_info("r").await["owner"]["node"], "b");
    assert_eq!(b.sequence("r").await, 23);
    bob.close().await;
    drop(alice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_owner_hands_its_boards_over_after_the_lease() {
    let Some((_db, mut a, b)) = two_nodes("2s").await else {
        return;
    };
    let (alice, bob) = busy_board(&a, &b).await;

    a.kill9();
    // Made while the owner is dead: queued, re-sent, applied once on b
    // after a's lease expired.
    write(&bob, "b", 10..20).await;
    settled(&bob, 23).await;
    assert_eq!(elements(&bob).await, 23);
    let info = b.room_info("r").await;
    assert_eq!(info["owner"]["node"], "b", "{info}");
    assert_eq!(info["sequence"], 23, "{info}");
    bob.close().await;
    drop(alice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_paused_past_its_lease_acks_nothing_more_when_it_wakes() {
    let Some((_db, a, b)) = two_nodes("2s").await else {
        return;
    };
    let (alice, bob) = busy_board(&a, &b).await;

    a.signal("STOP");
    // Past a's lease: carol, through b, is served by b, which takes over.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let carol = net_client(&b, "carol", "r").await;
    write(&carol, "c", 0..5).await;
    settled(&carol, 18).await;
    assert_eq!(b.room_info("r").await["owner"]["node"], "b");

    a.signal("CONT");
    // a's writes are fenced: alice's next batches are acknowledged only
    // once she has moved to b, and each is stored once.
    write(&alice, "a", 3..8).await;
    settled(&alice, 23).await;
    settled(&bob, 23).await;
    settled(&carol, 23).await;
    for client in [&alice, &bob, &carol] {
        assert_eq!(elements(client).await, 23);
    }
    let info = b.room_info("r").await;
    assert_eq!(
        (&info["owner"]["node"], &info["sequence"]),
        (&"b".into(), &23.into()),
        "{info}"
    );
    let (_, on_a) = a.get("/rooms/r").await;
    assert_eq!(
        on_a["owner"]["node"], "b",
        "a knows it lost the board: {on_a}"
    );
    for client in [alice, bob, carol] {
        client.close().await;
    }
}
