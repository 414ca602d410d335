//! Join and leave: a client reconnects to a board that one participant is
//! editing (it is current: its delta is empty) and leaves again; both
//! inputs and their drains are measured (the resident participant gets
//! `participant_joined` and `participant_left`; user-session records come
//! out as events).
//!
//! Baseline: the least a room must do, registering the connection in a
//! hash map of connections and removing it again.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use huddle_core::{ConnId, JoinRequest, UserId};

use crate::apply::{engine_with_participants, run_engine, NOW};
use crate::case::{Case, Planned, Runner};
use crate::host;
use crate::inputs::Batches;

/// The case's name.
pub const NAME: &str = "current client, 1 participant present";

/// The join-and-leave case, planned.
pub fn cases() -> Vec<Planned> {
    vec![Planned::new("join_leave", NAME.into(), case)]
}

/// The join-and-leave case.
pub fn case() -> Case {
    let mut engine = engine_with_participants(1);
    run_engine(&mut engine, &mut Batches::new("h", 16, 64), 64);
    let sequence = engine.session("board").map_or(0, |s| s.sequence);
    let mut next_conn = 1_000u64;
    let engine: Runner = Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            next_conn += 1;
            let conn = ConnId(next_conn);
            let request = JoinRequest::new("board", "late", "Late").last_sequence(sequence);
            engine
                .join(NOW, conn, request)
                .unwrap_or_else(|e| panic!("join: {e}"));
            black_box(host::drain(&mut engine, NOW));
            engine
                .leave(NOW, conn)
                .unwrap_or_else(|e| panic!("leave: {e}"));
            black_box(host::drain(&mut engine, NOW));
        }
        start.elapsed()
    });
    let mut conns: HashMap<ConnId, UserId> = HashMap::new();
    let mut next_conn = 1_000u64;
    let baseline: Runner = Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            next_conn += 1;
            conns.insert(ConnId(next_conn), UserId::from("late"));
            black_box(conns.remove(&ConnId(next_conn)));
        }
        start.elapsed()
    });
    Case {
        group: "join_leave",
        name: NAME.into(),
        unit: "join+leave",
        items: 1,
        engine,
        baseline,
        fixed_iters: None,
    }
}
