//! The Rust client machine on real sockets (`huddle_client::net`) against
//! the real server: two clients converge, and a server killed with -9 and
//! restarted loses nothing that was acknowledged, while what a client made
//! in the meantime is sent once the server is back.

mod support;

use std::time::Duration;

use huddle_client::net::{spawn, NetClient, NetConfig};
use huddle_client::{ClientConfig, ConnectionState, Credentials};
use support::{poll, upsert, Server};

fn config(server: &Server, room: &str, token: String) -> NetConfig {
    let mut config = NetConfig::new(
        format!("ws://{}/ws", server.addr),
        room,
        Credentials::new(token),
    );
    // Reconnect quickly: the test restarts the server.
    config.client = ClientConfig {
        backoff: huddle_client::Backoff {
            first_delay: Duration::from_millis(50),
            base_delay: Duration::from_millis(100),
            multiplier: 2,
            max_delay: Duration::from_millis(400),
            max_attempts: 200,
            jitter: 0.0,
        },
        ..ClientConfig::default()
    };
    config
}

/// Waits until `client` is connected with nothing unacknowledged at
/// `sequence`; its replica's sequence.
async fn settled(client: &NetClient, sequence: u64) {
    poll(&format!("client settled at {sequence}"), || async {
        let seen = client.observe().await.expect("client running");
        (seen.state == ConnectionState::Connected
            && seen.unacked_batches == 0
            && seen.replica.sequence() == Some(sequence))
        .then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_converge_and_survive_a_server_kill() {
    let mut server = Server::start().await;
    server.room("net", "persistent").await;
    let alice = spawn(config(&server, "net", server.token("alice", "net").await));
    let bob = spawn(config(&server, "net", server.token("bob", "net").await));

    for i in 0..20 {
        alice
            .mutate(vec![upsert("p", &format!("a{i}"), &i.to_string())])
            .await
            .expect("alice mutates");
        bob.mutate(vec![upsert("p", &format!("b{i}"), &i.to_string())])
            .await
            .expect("bob mutates");
    }
    settled(&alice, 40).await;
    settled(&bob, 40).await;

    server.kill9_and_restart_in_place().await;
    // Made while the server was away or just back: queued, then sent.
    for i in 20..25 {
        alice
            .mutate(vec![upsert("p", &format!("a{i}"), &i.to_string())])
            .await
            .expect("alice mutates");
    }
    settled(&alice, 45).await;
    settled(&bob, 45).await;
    let (a, b) = (alice.observe().await.unwrap(), bob.observe().await.unwrap());
    assert_eq!(a.replica.pages(), b.replica.pages());
    assert_eq!(
        a.replica
            .pages()
            .iter()
            .map(|(_, p)| p.len())
            .sum::<usize>(),
        45
    );
    assert_eq!(server.sequence("net").await, 45, "each batch stored once");
    alice.close().await;
    bob.close().await;
}
