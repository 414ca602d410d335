//! The storage benchmark on both backends side by side: durable appends
//! (events/s) with group commit across 64 boards, and the load of a board
//! with 10 000 elements, on SQLite (WAL, `synchronous = FULL`) and on
//! PostgreSQL (a private cluster of the installed server with its default
//! durability, `fsync = on`, `synchronous_commit = on`, over loopback TCP).
//! The workloads are those of `huddle-sqlite`'s storage benchmark.
//!
//! Full run: `cargo bench -p huddle-postgres --bench storage`.
//! Smoke run (each benchmark once, debug build):
//! `cargo test -p huddle-postgres --benches`.
//! `HUDDLE_TEST_DATABASE_URL` runs the PostgreSQL half against that server;
//! without PostgreSQL only the SQLite half runs (said loudly).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use huddle_core::{BoardId, Event, Mutation, Payload, Timestamp};
use huddle_postgres::testing;
use huddle_postgres::{PostgresOptions, PostgresStore};
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

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Makes fresh, empty stores on `rt`, keeping what they need alive.
struct Stores {
    _dirs: Vec<tempfile::TempDir>,
}

impl Stores {
    fn sqlite(&mut self, rt: &Runtime) -> SqliteStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = rt
            .block_on(SqliteStore::open(
                dir.path().join("bench.db"),
                SqliteOptions::default(),
            ))
            .expect("open");
        self._dirs.push(dir);
        store
    }

    fn postgres(&mut self, rt: &Runtime) -> Option<PostgresStore> {
        let db = rt.block_on(testing::database())?;
        Some(
            rt.block_on(PostgresStore::connect(&db.url, PostgresOptions::default()))
                .expect("connect"),
        )
    }
}

struct Fixture<S> {
    store: Arc<S>,
    boards: Vec<(BoardId, Epoch, u64)>,
}

fn fixture<S: Store>(rt: &Runtime, store: S, boards: usize) -> Fixture<S> {
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
        store: Arc::new(store),
        boards,
    }
}

fn next_group<S>(f: &mut Fixture<S>, batch: u64, data: &Payload) -> Vec<AppendBatch> {
    f.boards
        .iter_mut()
        .map(|(board, epoch, end)| {
            let events = events(*end + 1, batch, data);
            *end += batch;
            AppendBatch {
                board: board.clone(),
                epoch: *epoch,
                events,
            }
        })
        .collect()
}

/// One append call carrying `batch` events for each of 64 boards; then 64
/// concurrent calls of 16 events each.
fn appends_on<S: Store + 'static>(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    mut make: impl FnMut() -> S,
) {
    let mut group = c.benchmark_group(format!("durable_appends/{name}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let data = payload();
    for batch in [16u64, 256] {
        let mut f = fixture(rt, make(), BOARDS);
        group.throughput(Throughput::Elements(batch * BOARDS as u64));
        group.bench_with_input(
            BenchmarkId::new("group_commit_64_boards", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let batches = next_group(&mut f, batch, &data);
                        let start = Instant::now();
                        let results = rt.block_on(f.store.append_events(batches));
                        spent += start.elapsed();
                        assert!(results.iter().all(Result::is_ok));
                    }
                    spent
                });
            },
        );
    }
    let batch = 16u64;
    let mut f = fixture(rt, make(), BOARDS);
    group.throughput(Throughput::Elements(batch * BOARDS as u64));
    group.bench_function(
        BenchmarkId::new("concurrent_requests_64_boards", batch),
        |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let requests = next_group(&mut f, batch, &data);
                    let store = f.store.clone();
                    let start = Instant::now();
                    rt.block_on(async move {
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
    group.finish();
}

/// Loading a board with 10 000 elements (flushed) and a 10 000-event log.
fn load_on<S: Store>(c: &mut Criterion, rt: &Runtime, name: &str, store: S) {
    let f = fixture(rt, store, 1);
    let (board, epoch, _) = f.boards[0].clone();
    let data = payload();
    let all: Vec<Event> = events(1, 10_000, &data).to_vec();
    rt.block_on(async {
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
    let loaded = rt
        .block_on(f.store.load_board(&board))
        .expect("load")
        .expect("known");
    assert_eq!(loaded.pages.element_count(), 10_000);
    let mut group = c.benchmark_group(format!("load_board/{name}"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("10000_elements", |b| {
        b.iter(|| {
            let loaded = rt.block_on(f.store.load_board(&board)).expect("load");
            std::hint::black_box(loaded)
        });
    });
    group.finish();
}

fn both(c: &mut Criterion) {
    let rt = runtime();
    let mut stores = Stores { _dirs: Vec::new() };
    appends_on(c, &rt, "sqlite", || stores.sqlite(&rt));
    let store = stores.sqlite(&rt);
    load_on(c, &rt, "sqlite", store);

    // `testing::database` says loudly why, if there is no PostgreSQL.
    if stores.postgres(&rt).is_some() {
        appends_on(c, &rt, "postgres", || {
            stores
                .postgres(&rt)
                .expect("PostgreSQL was there a moment ago")
        });
        let store = stores.postgres(&rt).expect("PostgreSQL");
        load_on(c, &rt, "postgres", store);
    }
}

criterion_group!(benches, both);
criterion_main!(benches);
