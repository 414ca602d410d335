//! The Rust client machine on real sockets (`huddle_client::net`) against
//! the real server: two clients converge, and a server killed with -9 and
//! restarted loses nothing that was acknowledged, while what a client made
//! in the meantime is sent once the server is back.

mod support;

use support::{net_client, settled, upsert, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_converge_and_survive_a_server_kill() {
    let mut server = Server::start().await;
    server.room("net", "persistent").await;
    let alice = net_client(&server, "alice", "net").await;
    let bob = net_client(&server, "bob", "net").await;

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
