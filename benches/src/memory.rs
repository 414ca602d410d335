//! Memory held, measured with the counting allocator ([`crate::alloc`]):
//! the bytes the engine keeps allocated after an operation, divided by
//! how many times it was done. Requires a binary that installed
//! [`crate::alloc::Counting`] as its global allocator.
//!
//! - **Per idle board**: open `n` boards (one join and leave each, fully
//!   drained), so that each waits for its idle timeout; everything the
//!   engine holds for them (the session, its id, its timer, and the growth
//!   of the engine's tables) divided by `n`.
//! - **Per event beyond its payload**: a board whose elements all exist
//!   and whose delta history is empty (as after a reload) takes 992 upserts
//!   of existing elements, in batches, with fresh page and element ids as
//!   if just parsed; the pending set is flushed. The payloads are allocated
//!   before the measurement and stay alive outside the engine, so what is
//!   counted is everything the engine holds per event besides them: the
//!   history's record, ids, batch bookkeeping (idempotency window, batch
//!   metadata).

use huddle_core::{
    BatchId, Config, ConnId, Engine, JoinRequest, LoadedBoard, Mutation, Pages, Payload,
};

use crate::alloc::live_bytes;
use crate::apply::{engine_with_participants, run_engine, NOW};
use crate::host;
use crate::inputs::{element_id, page_id, payload, Batches};

/// Events per measurement of the per-event cost (under the history's 1000,
/// a multiple of 16).
pub const EVENTS: u64 = 992;

/// Bytes held per idle board, over `n` boards.
pub fn per_idle_board(n: u64) -> f64 {
    let mut engine = Engine::new(Config::default(), 1);
    let open = |engine: &mut Engine, i: u64| {
        let request = JoinRequest::new(format!("board-{i}").as_str(), "u", "U");
        engine
            .join(NOW, ConnId(i), request)
            .unwrap_or_else(|e| panic!("join: {e}"));
        host::drain(engine, NOW);
        engine
            .leave(NOW, ConnId(i))
            .unwrap_or_else(|e| panic!("leave: {e}"));
        host::drain(engine, NOW);
    };
    open(&mut engine, 0);
    let before = live_bytes();
    for i in 1..=n {
        open(&mut engine, i);
    }
    let after = live_bytes();
    assert_eq!(engine.stats().idle_sessions as u64, n + 1);
    drop(engine);
    (after - before) as f64 / n as f64
}

/// Bytes held per event beyond its payload, for events in batches of
/// `batch` 64-byte upserts.
pub fn per_event(batch: u64) -> f64 {
    // A board with every element the inputs touch, and no history.
    let mut warm = engine_with_participants(1);
    run_engine(
        &mut warm,
        &mut Batches::new("warm", batch as usize, 64),
        2048 / batch,
    );
    let pages: Pages = warm.pages("board").cloned().unwrap_or_default();
    drop(warm);
    let mut engine = Engine::new(Config::default(), 1);
    engine
        .join(NOW, ConnId(1), JoinRequest::new("board", "user-1", "User"))
        .unwrap_or_else(|e| panic!("join: {e}"));
    // The engine gets the only reference to the loaded pages: a copy kept
    // here would share them (`Pages` is copy-on-write) and make the engine's
    // first writes copy them, which is not what this measures. The loaded
    // payloads stay alive here (as the store's copy would keep them), so
    // that replacing them frees nothing.
    let loaded: Vec<Payload> = pages
        .iter()
        .flat_map(|(_, elements)| elements.values().cloned())
        .collect();
    let mut load = Some(LoadedBoard {
        pages,
        pages_sequence: 2048,
        ..LoadedBoard::default()
    });
    host::drain_with(&mut engine, NOW, &mut load, |_, _| {});

    // Payloads live outside the engine for the whole measurement.
    let payloads: Vec<Payload> = (0..EVENTS).map(|n| payload(64, n)).collect();
    let before = live_bytes();
    for b in 0..EVENTS / batch {
        let mutations: Vec<Mutation> = (b * batch..(b + 1) * batch)
            .map(|n| Mutation::Upsert {
                page: page_id(b),
                element: element_id(n),
                data: payloads[n as usize].clone(),
            })
            .collect();
        engine
            .apply_mutations(NOW, ConnId(1), BatchId::from(format!("m-{b}")), mutations)
            .unwrap_or_else(|e| panic!("apply: {e}"));
        host::drain(&mut engine, NOW);
    }
    engine
        .flush_pending(NOW, "board")
        .unwrap_or_else(|e| panic!("flush: {e}"));
    host::drain(&mut engine, NOW);
    let after = live_bytes();
    let info = engine.session("board").unwrap_or_else(|| panic!("board"));
    assert_eq!(info.sequence, 2048 + EVENTS);
    assert_eq!(info.pending_mutations, 0);
    assert_eq!(engine.stats().events_held as u64, EVENTS);
    drop((engine, loaded, payloads));
    (after - before) as f64 / EVENTS as f64
}

/// The memory figures reported.
#[derive(Debug, Clone)]
pub struct Report {
    /// Idle boards measured.
    pub boards: u64,
    /// Bytes per idle board.
    pub idle_board: f64,
    /// Bytes per event beyond its payload, batches of 16.
    pub event_batch16: f64,
    /// Bytes per event beyond its payload, batches of 1.
    pub event_batch1: f64,
}

/// Measures every figure (`boards` idle boards).
pub fn report(boards: u64) -> Report {
    Report {
        boards,
        idle_board: per_idle_board(boards),
        event_batch16: per_event(16),
        event_batch1: per_event(1),
    }
}
