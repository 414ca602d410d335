//! Many clients on several boards and shards, on a multi-threaded runtime:
//! every batch is acked once, in order, and every other participant sees
//! every event exactly once, in sequence order.

mod common;

use common::*;
use huddle_core::wire::ServerMessage;
use huddle_core::BoardId;
use huddle_store::InMemoryStore;
use huddle_tokio::Driver;

const BOARDS: usize = 6;
const PER_BOARD: usize = 3;
const BATCHES: u32 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_many_boards() {
    let driver = Driver::start(config(3), InMemoryStore::new());
    let mut tasks = Vec::new();
    for b in 0..BOARDS {
        let board = format!("board-{b}");
        let mut clients = Vec::new();
        for u in 0..PER_BOARD {
            clients.push(Client::join(&driver, &format!("u{u}"), &board).await);
        }
        for (u, mut c) in clients.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                for i in 0..BATCHES {
                    c.send(mutate(&format!("u{u}-{i}"), &format!("e{u}"), i));
                }
                // Read until our acks and every other writer's events arrived.
                let mut acks = Vec::new();
                let mut seen = Vec::new();
                let others = (PER_BOARD - 1) * BATCHES as usize;
                while acks.len() < BATCHES as usize || seen.len() < others {
                    match c.next().await {
                        Frame::Msg(ServerMessage::Ack { batch, sequence }) => {
                            acks.push((batch.as_str().to_string(), sequence))
                        }
                        Frame::Msg(ServerMessage::Events { events }) => {
                            seen.extend(events.iter().map(|e| e.seq))
                        }
                        Frame::Msg(ServerMessage::ParticipantJoined(_)) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
                let batches: Vec<String> = acks.iter().map(|a| a.0.clone()).collect();
                let expected: Vec<String> = (0..BATCHES).map(|i| format!("u{u}-{i}")).collect();
                assert_eq!(batches, expected, "acks in order, once each");
                assert!(acks.windows(2).all(|w| w[0].1 < w[1].1));
                assert!(seen.windows(2).all(|w| w[0] < w[1]), "events in order");
                (acks, seen)
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for b in 0..BOARDS {
        let info = driver
            .session(&BoardId::from(format!("board-{b}")))
            .await
            .unwrap();
        assert_eq!(info.sequence, (PER_BOARD as u64) * u64::from(BATCHES));
        assert_eq!(info.durable_sequence, info.sequence);
    }
    assert_eq!(
        driver.metrics().batches_acked(),
        (BOARDS * PER_BOARD) as u64 * u64::from(BATCHES)
    );
    driver.shutdown().await;
}
