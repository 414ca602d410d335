//! Timers with many idle boards: `poll_timeout` must not scan them, and
//! `handle_timeout` must cost what expires, not what is held.
//!
//! Board `i` goes idle at `T0 + i ms`, so its archive is due 5 minutes
//! later, 1 ms after board `i - 1`'s. `handle_timeout` cases expire the
//! next `k` boards per call (drained: the archive's events are part of the
//! cost) and then, unmeasured, open and leave `k` new boards at the same
//! instant, so every call sees the same number of idle boards.
//!
//! Baselines: a binary heap of deadlines beside a hash map of boards:
//! `peek`, and `pop` plus `remove` for each expiring board.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hint::black_box;
use std::time::{Duration, Instant};

use huddle_core::{BoardId, Config, ConnId, Engine, JoinRequest, Timestamp};

use crate::case::{Case, Planned, Runner};
use crate::host;

/// The start of the timer cases' time.
pub const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// An engine holding idle boards, each with its archive deadline.
struct IdleBoards {
    engine: Engine,
    /// Deadlines in expiry order.
    deadlines: VecDeque<Timestamp>,
    next_board: u64,
    idle: Duration,
}

impl IdleBoards {
    fn new(n: u64) -> Self {
        let config = Config::default();
        let idle = config.idle_timeout_ephemeral;
        let mut boards = IdleBoards {
            engine: Engine::new(config, 1),
            deadlines: VecDeque::new(),
            next_board: 0,
            idle,
        };
        for i in 0..n {
            boards.open(T0.saturating_add(Duration::from_millis(i)));
        }
        boards
    }

    /// Opens a board at `now` and leaves it idle.
    fn open(&mut self, now: Timestamp) {
        let i = self.next_board;
        self.next_board += 1;
        let conn = ConnId(i);
        let request = JoinRequest::new(format!("board-{i}").as_str(), "u", "U");
        let e = &mut self.engine;
        e.join(now, conn, request)
            .unwrap_or_else(|e| panic!("join: {e}"));
        host::drain(e, now);
        e.leave(now, conn).unwrap_or_else(|e| panic!("leave: {e}"));
        host::drain(e, now);
        self.deadlines.push_back(now.saturating_add(self.idle));
    }

    /// Expires the next `k` boards (measured), then replaces them.
    fn expire(&mut self, k: u64) -> Duration {
        let now = if k == 0 {
            // Nothing due: one call at the latest time seen.
            self.deadlines
                .front()
                .map_or(T0, |d| Timestamp::from_millis(d.as_millis() - 1))
                .max(T0)
        } else {
            let mut now = T0;
            for _ in 0..k {
                now = self.deadlines.pop_front().unwrap_or(now);
            }
            now
        };
        let start = Instant::now();
        self.engine.handle_timeout(now);
        black_box(host::drain(&mut self.engine, now));
        let elapsed = start.elapsed();
        for _ in 0..k {
            self.open(now);
        }
        elapsed
    }
}

/// The baseline's timer table.
struct HeapBoards {
    heap: BinaryHeap<Reverse<(Timestamp, u64)>>,
    boards: HashMap<BoardId, u64>,
    next_board: u64,
    expired: u64,
    idle: Duration,
}

impl HeapBoards {
    fn new(n: u64) -> Self {
        let mut b = HeapBoards {
            heap: BinaryHeap::new(),
            boards: HashMap::new(),
            next_board: 0,
            expired: 0,
            idle: Config::default().idle_timeout_ephemeral,
        };
        for i in 0..n {
            b.open(T0.saturating_add(Duration::from_millis(i)));
        }
        b
    }

    fn open(&mut self, now: Timestamp) {
        let i = self.next_board;
        self.next_board += 1;
        self.boards.insert(BoardId::from(format!("board-{i}")), i);
        self.heap.push(Reverse((now.saturating_add(self.idle), i)));
    }

    fn expire(&mut self, k: u64) -> Duration {
        let ids: Vec<BoardId> = (self.expired..self.expired + k)
            .map(|i| BoardId::from(format!("board-{i}")))
            .collect();
        self.expired += k;
        let mut now = T0;
        let start = Instant::now();
        if k == 0 {
            black_box(self.heap.peek());
        }
        for id in &ids {
            if let Some(Reverse((deadline, _))) = self.heap.pop() {
                now = deadline;
            }
            black_box(self.boards.remove(id));
        }
        let elapsed = start.elapsed();
        for _ in 0..k {
            self.open(now);
        }
        elapsed
    }
}

/// `poll_timeout` with `n` idle boards.
pub fn poll(n: u64) -> Case {
    let boards = IdleBoards::new(n);
    let heap = HeapBoards::new(n);
    let engine: Runner = Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(black_box(&boards.engine).poll_timeout());
        }
        start.elapsed()
    });
    let baseline: Runner = Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(black_box(&heap.heap).peek());
        }
        start.elapsed()
    });
    Case {
        group: "poll_timeout",
        name: format!("idle_boards={n}"),
        unit: "call",
        items: 1,
        engine,
        baseline,
        fixed_iters: None,
    }
}

/// `handle_timeout` with `n` idle boards of which `k` expire per call.
pub fn handle(n: u64, k: u64) -> Case {
    let mut boards = IdleBoards::new(n);
    let mut heap = HeapBoards::new(n);
    let engine: Runner = Box::new(move |iters| (0..iters).map(|_| boards.expire(k)).sum());
    let baseline: Runner = Box::new(move |iters| (0..iters).map(|_| heap.expire(k)).sum());
    Case {
        group: "handle_timeout",
        name: format!("idle_boards={n} expiring={k}"),
        unit: "call",
        items: k.max(1),
        engine,
        baseline,
        // Each call with k > 0 also opens k boards, unmeasured: calibrate
        // on a fixed count instead of doubling.
        fixed_iters: Some(if k >= 100 { 3 } else { 50 }),
    }
}

/// Every timer case for `n` idle boards.
pub fn cases(n: u64) -> Vec<Planned> {
    let mut cases = Vec::new();
    for boards in [1_000, n] {
        let name = format!("idle_boards={boards}");
        cases.push(Planned::new("poll_timeout", name, move || poll(boards)));
    }
    for k in [0, 1, 100, 1_000] {
        let name = format!("idle_boards={n} expiring={k}");
        cases.push(Planned::new("handle_timeout", name, move || handle(n, k)));
    }
    cases
}
