//! The engine driven by an arbitrary sequence of inputs: joins, leaves,
//! disconnects, mutations (structured and as raw wire frames through
//! `wire::dispatch`), presence, snapshots, flushes, closes, timeouts with a
//! clock that may go back, a shutdown, and storage reports — honest ones
//! from the testkit's store, transient, fenced and invalid failures, wrong
//! outcomes, unknown / duplicate / stale effect ids and malformed loaded
//! boards. User session records are effects in half the runs.
//!
//! After each input: no panic, and cheap invariants hold (each
//! connection's view is gapless, effects are well formed, a board's
//! sequence never goes back while it is in memory, `poll_timeout` has
//! nothing due right after `handle_timeout`, a board is released once per
//! ended session and only with none of its effects outstanding, and
//! `Drained` comes once, when the engine is drained).
//!
//! The pieces live in `engine/`: `input` (what an input says and how its
//! bytes decode), `host` (the host driving the engine and draining its
//! outputs), `faults` (storage reports, honest or not, and their
//! confirmation) and `checks` (what is checked after each output).
#![no_main]

#[path = "engine/checks.rs"]
mod checks;
#[path = "engine/faults.rs"]
mod faults;
#[path = "engine/host.rs"]
mod host;
#[path = "engine/input.rs"]
mod input;

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use huddle_core::*;
use huddle_testkit::invariants::Observer;
use huddle_testkit::MemoryStore;
use libfuzzer_sys::fuzz_target;

use crate::host::Host;
use crate::input::{config, Input};

fuzz_target!(|input: Input| {
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("{input:#?}");
    }
    let config = config(&input);
    let inv = Observer::new(&config);
    let mut store = MemoryStore::default();
    store.strict = input.strict_store;
    let mut host = Host {
        engine: Engine::new(config.clone(), 0),
        config,
        store,
        now: Timestamp::from_millis(1_767_225_600_000),
        clock: Cell::new(Timestamp::EPOCH),
        outstanding: Vec::new(),
        reported: Vec::new(),
        replicas: HashMap::new(),
        batches: HashMap::new(),
        users: HashMap::new(),
        sequences: HashMap::new(),
        restarts: 0,
        appended: HashMap::new(),
        tainted: false,
        opaque_data: false,
        unreleased: HashSet::new(),
        aborted: HashSet::new(),
        drained: false,
        inv,
    };
    for op in input.ops.iter().take(256) {
        host.step(op);
    }
});
