//! `appends_in_flight` above one: a shard keeps several group commits at
//! the store, they reach it in the order sent (no append is refused as a
//! gap), their confirmations may come back in any order, and every batch
//! is still acked once, in order, after it is stored.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use huddle_core::{BoardId, Config, Event, LoadedBoard, Snapshot, SnapshotId, UserSessionRecord};
use huddle_store::{
    AppendBatch, Epoch, FlushWrite, InMemoryStore, Room, SessionIndex, SnapshotMeta, Store,
    StoreError,
};
use huddle_tokio::{Driver, DriverConfig};

/// An in-memory store whose appends are applied when the call reaches it
/// (first poll) but confirmed after a delay that is longer for every other
/// call, so that confirmations overtake each other. The first call is
/// confirmed only once a second one has arrived (or after a second), so
/// that a pipelining shard is seen overlapping. It records the order in
/// which each board's appends arrived and how many were in flight.
#[derive(Default)]
struct Reordering {
    inner: InMemoryStore,
    calls: AtomicU64,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// (board, first sequence) of every batch, in arrival order.
    arrivals: Mutex<Vec<(BoardId, u64)>>,
}

impl Store for Reordering {
    async fn append_events(&self, batches: Vec<AppendBatch>) -> Vec<Result<(), StoreError>> {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(n, Ordering::SeqCst);
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        self.arrivals.lock().unwrap().extend(
            batches
                .iter()
                .map(|b| (b.board.clone(), b.events.first().map_or(0, |e| e.seq))),
        );
        let results = self.inner.append_events(batches).await;
        if call == 0 {
            for _ in 0..1000 {
                if self.calls.load(Ordering::SeqCst) > 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let delay = if call % 2 == 0 { 3 } else { 0 };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        results
    }

    fn create_room(&self, room: Room) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.create_room(room)
    }
    fn room(&self, id: &BoardId) -> impl Future<Output = Result<Option<Room>, StoreError>> + Send {
        self.inner.room(id)
    }
    fn acquire_board(
        &self,
        board: &BoardId,
        node: &huddle_store::Node,
    ) -> impl Future<Output = Result<huddle_store::Acquired, StoreError>> + Send {
        self.inner.acquire_board(board, node)
    }
    fn renew_leases(
        &self,
        node: &huddle_store::Node,
        boards: &[BoardId],
    ) -> impl Future<Output = Result<Vec<BoardId>, StoreError>> + Send {
        self.inner.renew_leases(node, boards)
    }
    fn release_board(
        &self,
        board: &BoardId,
        epoch: Epoch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.release_board(board, epoch)
    }
    fn board_owner(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<huddle_core::BoardOwner>, StoreError>> + Send {
        self.inner.board_owner(board)
    }
    fn load_board(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<LoadedBoard>, StoreError>> + Send {
        self.inner.load_board(board)
    }
    fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        self.inner.read_events(board, after, limit)
    }
    fn flush(&self, write: FlushWrite) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.flush(write)
    }
    fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> impl Future<Output = Result<SnapshotId, StoreError>> + Send {
        self.inner.store_snapshot(epoch, snapshot)
    }
    fn list_snapshots(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Vec<SnapshotMeta>, StoreError>> + Send {
        self.inner.list_snapshots(board)
    }
    fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        self.inner.get_snapshot(board, id)
    }
    fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.inner.prune_snapshots(board, epoch, keep_last)
    }
    fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.put_user_session(epoch, record)
    }
    fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> impl Future<Output = Result<Vec<UserSessionRecord>, StoreError>> + Send {
        self.inner.user_sessions(index)
    }
}

const BOARDS: usize = 3;
const WRITERS: usize = 2;
const BATCHES: u32 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_group_commits_keep_order_and_ack_everything_once() {
    let store = Arc::new(Reordering::default());
    // One shard: the overlap seen is that shard's own pipelining.
    let config = DriverConfig::new()
        .shards(1)
        .engine(Config::new().appends_in_flight(4));
    let driver = Driver::start(config, store.clone());
    let mut tasks = Vec::new();
    for b in 0..BOARDS {
        let board = format!("board-{b}");
        for u in 0..WRITERS {
            let c = Client::join(&driver, &format!("u{u}"), &board).await;
            let others = (WRITERS - 1) * BATCHES as usize;
            tasks.push(tokio::spawn(write_and_check(c, u, BATCHES, others)));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        driver.metrics().storage_failures(),
        0,
        "no append refused as a gap"
    );
    let arrivals = store.arrivals.lock().unwrap().clone();
    for b in 0..BOARDS {
        let board = BoardId::from(format!("board-{b}"));
        let firsts: Vec<u64> = arrivals
            .iter()
            .filter(|(id, _)| *id == board)
            .map(|(_, seq)| *seq)
            .collect();
        assert!(
            firsts.windows(2).all(|w| w[0] < w[1]),
            "{board}: appends reached the store in sequence order: {firsts:?}"
        );
        let info = driver.session(&board).await.unwrap();
        let total = (WRITERS as u64) * u64::from(BATCHES);
        assert_eq!((info.sequence, info.durable_sequence), (total, total));
    }
    assert!(
        store.most_in_flight.load(Ordering::SeqCst) > 1,
        "appends overlapped at the store"
    );
    driver.shutdown().await;
}
