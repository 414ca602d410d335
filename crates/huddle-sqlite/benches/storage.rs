//! Durable appends (events/s) with group commit across boards, and the load
//! of a board with 10 000 elements, on the SQLite backend with its default
//! durability (WAL, `synchronous = FULL`: every commit is fsynced).
//!
//! Full run: `cargo bench -p huddle-sqlite --bench storage`.
//! Smoke run (each benchmark once, debug build):
//! `cargo test -p huddle-sqlite --benches`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use huddle_core::{BoardId, Event, Mutation, Payload, Timestamp};
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::conformance::flush_batch;
use huddle_store::{AppendBatch, Epoch, FlushWrite, Store};
use tokio::runtime::Runtime;

/// Boards whose appends share one commit.
const BOARDS: usize = 64;

fn payload() -> Payload {
    Payload::from(
        r##"{"type":"rect","x":120.5,"y":48.25,"w":200,"h":80,"fill":"#4ECDC4","stroke":"#222","z":3}"##,
    )
}

fn events(first: u64, n: u64, data: &Payload) -> Arc<[Event]> {
    (first..first + n)
        .map(|seq| Event {
            seq,
            author: "bench-user".into(),
            batch: format!("batch-{}", seq / 16).into(),
            at: Timestamp::from_millis(1_767_225_600_000 + seq),
            mutation: Mutation::Upsert {
                page: "page-1".into(),
                element: format!("el-{}", seq % 10_000).into(),
                data: data.clone(),
            },
        })
        .collect()
}

struct Fixture {
    rt: Runtime,
    store: Arc<SqliteStore>,
    boards: Vec<(BoardId, Epoch, u64)>,
    _dir: tempfile::TempDir,
}

fn fixture(boards: usize) -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = rt
        .block_on(SqliteStore::open(
            dir.path().join("bench.db"),
            SqliteOptions::default(),
        ))
        .expect("open");
    let boards = (0..boards)
        .map(|i| {
            let b = BoardId::from(format!("board-{i}"));
            let epoch = rt
                .block_on(store.acquire_board(&b, &huddle_store::Node::default()))
                .expect("acquire")
                .epoch;
            (b, epoch, 0)
        })
        .collect();
    Fixture {
        rt,
        store: Arc::new(store),
        boards,
        _dir: dir,
    }
}

/// One append call carrying `batch` events for each of `boards` boards.
fn grouped(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_appends");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let data = payload();
    for batch in [1u64, 16, 256] {
        let mut f = fixture(BOARDS);
        group.throughput(Throughput::Elements(batch * BOARDS as u64));
        group.bench_with_input(
            BenchmarkId::new("group_commit_64_boards", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let batches: Vec<AppendBatch> = f
                            .boards
                            .iter_mut()
                            .map(|(board, epoch, end)| {
                                let events = events(*end + 1, batch, &data);
                                *end += batch;
                                AppendBatch {
                                    board: board.clone(),
                                    epoch: *epoch,
                                    events,
                                }
                            })
                            .collect();
                        let start = Instant::now();
                        let results = f.rt.block_on(f.store.append_events(batches));
                        spent += start.elapsed();
                        assert!(results.iter().all(Result::is_ok));
                    }
                    spent
                });
            },
        );
    }

    // The same, but each board's append is its own concurrent request:
    // the store's thread groups whatever is queued into one commit.
    let batch = 16u64;
    let mut f = fixture(BOARDS);
    group.throughput(Throughput::Elements(batch * BOARDS as u64));
    group.bench_function(
        BenchmarkId::new("concurrent_requests_64_boards", batch),
        |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let requests: Vec<AppendBatch> = f
                        .boards
                        .iter_mut()
                        .map(|(board, epoch, end)| {
                            let events = events(*end + 1, batch, &data);
                            *end += batch;
                            AppendBatch {
                                board: board.clone(),
                                epoch: *epoch,
                                events,
                            }
                        })
                        .collect();
                    let store = f.store.clone();
                    let start = Instant::now();
                    f.rt.block_on(async move {
                        let tasks: Vec<_> = requests
                            .into_iter()
                            .map(|r| {
                                let store = store.clone();
                                tokio::spawn(async move { store.append_events(vec![r]).await })
                            })
                            .collect();
                        for t in tasks {
                            let r = t.await.expect("task");
                            assert!(r.iter().all(Result::is_ok));
                        }
                    });
                    spent += start.elapsed();
                }
                spent
            });
        },
    );

    // Baseline: one board, one event, one commit (one fsync) per call.
    let mut f = fixture(1);
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("one_board_per_commit", 1), |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let (board, epoch, end) = &mut f.boards[0];
                let batch = AppendBatch {
                    board: board.clone(),
                    epoch: *epoch,
                    events: events(*end + 1, 1, &data),
                };
                *end += 1;
                let start = Instant::now();
                let r = f.rt.block_on(f.store.append_events(vec![batch]));
                spent += start.elapsed();
                assert!(r.iter().all(Result::is_ok));
            }
            spent
        });
    });
    group.finish();
}

/// Loading a board with 10 000 elements (flushed) and a 10 000-event log.
fn load(c: &mut Criterion) {
    let f = fixture(1);
    let (board, epoch, _) = f.boards[0].clone();
    let data = payload();
    let all: Vec<Event> = events(1, 10_000, &data).to_vec();
    f.rt.block_on(async {
        for chunk in all.chunks(1000) {
            let batch = AppendBatch {
                board: board.clone(),
                epoch,
                events: chunk.to_vec().into(),
            };
            assert!(f.store.append_events(vec![batch]).await[0].is_ok());
        }
        let write = FlushWrite {
            board: board.clone(),
            epoch,
            batch: Arc::new(flush_batch(&all, 1, 10_000)),
        };
        f.store.flush(write).await.expect("flush");
    });
    let loaded =
        f.rt.block_on(f.store.load_board(&board))
            .expect("load")
            .expect("known");
    assert_eq!(loaded.pages.element_count(), 10_000);
    let mut group = c.benchmark_group("load_board");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("10000_elements", |b| {
        b.iter(|| {
            let loaded = f.rt.block_on(f.store.load_board(&board)).expect("load");
            std::hint::black_box(loaded)
        });
    });
    group.finish();
}

criterion_group!(benches, grouped, load);
criterion_main!(benches);
