//! Many clients on several boards and shards, on a multi-threaded runtime:
//! every batch is acked once, in order, and every other participant sees
//! every event exactly once, in sequence order.

mod common;

use common::*;
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
        for (u, c) in clients.into_iter().enumerate() {
            let others = (PER_BOARD - 1) * BATCHES as usize;
            tasks.push(tokio::spawn(write_and_check(c, u, BATCHES, others)));
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
