//! Sync on join: a reconnecting client that missed some events gets a
//! delta; a new one gets the whole board (full sync).
//!
//! Each iteration is one join on a fresh connection, drained (the `joined`
//! notice is encoded as the host would before sending, then dropped, and
//! the resident participant gets `participant_joined`); the leave that
//! follows is not measured.
//!
//! Baselines: for a delta, copying the missed events out of the
//! baseline's ring; for a full sync, copying the board out of plain maps
//! (`IndexMap`s of pages of elements, what cloning `Pages` did before the
//! board state was shared copy-on-write: every id and payload pointer
//! copied); in both, wrapping the answer in a `joined` notice and encoding
//! it the same way ([`encode`]).

use std::hint::black_box;
use std::time::{Duration, Instant};

use huddle_core::{
    BoardId, ConnId, ElementId, Engine, JoinRequest, LoadedBoard, PageId, Pages, Payload,
};
use indexmap::IndexMap;

use crate::apply::{run_baseline, run_engine, NOW};
use crate::baseline::Baseline;
use crate::case::{Case, Planned, Runner};
use crate::encode::{self, Encoding};
use crate::host;
use crate::inputs::{payload, Batches, PAGES};

/// Joins a connection with `request`, drains (encoding the notices) and
/// returns the time; then leaves, unmeasured.
fn timed_join(
    engine: &mut Engine,
    conn: ConnId,
    request: JoinRequest,
    encoding: Encoding,
    buf: &mut Vec<u8>,
) -> Duration {
    let start = Instant::now();
    engine
        .join(NOW, conn, request)
        .unwrap_or_else(|e| panic!("join: {e}"));
    host::drain_with(engine, NOW, &mut None, |_, notice| {
        encode::notice(&notice, encoding, buf);
        black_box(&buf);
    });
    let elapsed = start.elapsed();
    engine
        .leave(NOW, conn)
        .unwrap_or_else(|e| panic!("leave: {e}"));
    host::drain(engine, NOW);
    elapsed
}

/// A delta of `missed` events (64-byte payloads, batches of 16).
pub fn delta(missed: u64, encoding: Encoding) -> Case {
    let mut engine = crate::apply::engine_with_participants(1);
    let mut baseline = Baseline::default();
    run_engine(&mut engine, &mut Batches::new("h", 16, 64), 128);
    run_baseline(&mut baseline, &mut Batches::new("h", 16, 64), 128);
    let sequence = engine.session("board").map_or(0, |s| s.sequence);
    assert_eq!(sequence, baseline.sequence());
    let last = sequence - missed;

    let mut next_conn = 1_000u64;
    let mut buf = Vec::new();
    let engine: Runner = Box::new(move |iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            next_conn += 1;
            let request = JoinRequest::new("board", "late", "Late").last_sequence(last);
            total += timed_join(&mut engine, ConnId(next_conn), request, encoding, &mut buf);
        }
        total
    });
    let mut buf = Vec::new();
    let board = BoardId::from("board");
    let baseline: Runner = Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let events = baseline.since(last).unwrap_or_default();
            let answer = encode::delta(&board, sequence, events);
            encode::notice(&answer, encoding, &mut buf);
            black_box(&buf);
        }
        start.elapsed()
    });
    Case {
        group: "delta_sync",
        name: format!("missed={missed} encoding={}", encoding.name()),
        unit: "join",
        items: missed,
        engine,
        baseline,
        fixed_iters: None,
    }
}

/// A board as plain maps: the baseline's copy of it.
type Plain = IndexMap<PageId, IndexMap<ElementId, Payload>>;

/// A board of `elements` elements (64-byte payloads, over 4 pages).
pub fn board_pages(elements: u64) -> Pages {
    Pages::from_elements((0..elements).map(|n| {
        (
            PageId::from(format!("page-{}", n % PAGES)),
            ElementId::from(format!("el-{n:06}")),
            payload(64, n),
        )
    }))
}

/// A full sync of a board of `elements` elements.
pub fn full(elements: u64, encoding: Encoding) -> Case {
    let pages = board_pages(elements);
    let mut engine = huddle_core::Engine::new(huddle_core::Config::default(), 1);
    engine
        .join(NOW, ConnId(1), JoinRequest::new("board", "user-1", "User"))
        .unwrap_or_else(|e| panic!("join: {e}"));
    let mut load = Some(LoadedBoard {
        pages: pages.clone(),
        ..LoadedBoard::default()
    });
    host::drain_with(&mut engine, NOW, &mut load, |_, _| {});
    assert_eq!(
        engine.pages("board").map(Pages::element_count),
        Some(elements as usize)
    );

    let mut next_conn = 1_000u64;
    let mut buf = Vec::new();
    let engine: Runner = Box::new(move |iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            next_conn += 1;
            let request = JoinRequest::new("board", "late", "Late");
            total += timed_join(&mut engine, ConnId(next_conn), request, encoding, &mut buf);
        }
        total
    });
    let mut buf = Vec::new();
    let board = BoardId::from("board");
    let plain: Plain = pages
        .iter()
        .map(|(page, elements)| {
            let elements = elements.iter().map(|(e, d)| (e.clone(), d.clone()));
            (page.clone(), elements.collect())
        })
        .collect();
    let baseline: Runner = Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            // The copy, then a notice of the same content for the encoder.
            let copy = black_box(plain.clone());
            let answer = encode::full(&board, 0, pages.clone());
            encode::notice(&answer, encoding, &mut buf);
            black_box(&buf);
            drop(copy);
        }
        start.elapsed()
    });
    Case {
        group: "full_sync",
        name: format!("elements={elements} encoding={}", encoding.name()),
        unit: "join",
        items: elements,
        engine,
        baseline,
        fixed_iters: None,
    }
}

/// Every sync case.
pub fn cases() -> Vec<Planned> {
    let mut cases = Vec::new();
    for encoding in Encoding::all() {
        for missed in [100, 999] {
            let name = format!("missed={missed} encoding={}", encoding.name());
            cases.push(Planned::new("delta_sync", name, move || {
                delta(missed, encoding)
            }));
        }
    }
    for encoding in Encoding::all() {
        for elements in [1_000, 10_000] {
            let name = format!("elements={elements} encoding={}", encoding.name());
            cases.push(Planned::new("full_sync", name, move || {
                full(elements, encoding)
            }));
        }
    }
    cases
}
