//! # huddle-benches
//!
//! Benchmarks of `huddle-core` against a baseline measured in the same
//! run. The machines are shared and noisy, so every figure is a ratio to a
//! baseline run alternately with the engine in one process, and a median
//! over several rounds.
//!
//! Run the comparison (table plus one JSON line per case):
//!
//! ```text
//! cargo run --release -p huddle-benches --bin compare            # full
//! cargo run --release -p huddle-benches --bin compare -- --quick # CI smoke
//! ```
//!
//! and the same cases under criterion with `cargo bench -p huddle-benches`
//! (`-- --quick` for a short run, `-- --test` to run each once).
//!
//! ## The baseline
//!
//! [`baseline::Baseline`] does the least any sequencer must do with a
//! mutation: give it the next number, push it into a bounded ring of the
//! last 1000 events, and add it to a pending list grouped by page, sharing
//! the payload. Every engine case is compared with the least work of the
//! same kind (each module says which).
//!
//! ## The cases
//!
//! - [`apply`] — `apply_mutations`: batches of 1, 16 and 256 upserts with
//!   64 B and 1 KiB payloads, with 1 and 10 participants. One iteration is
//!   one batch, through to the engine being quiet: the host drains the
//!   outputs (ack, broadcast, events) and confirms the storage effects (the
//!   append that the default durability waits for, the flush every 4096).
//! - [`sync`] — joins that get a delta of 100 or 999 missed events, and
//!   full syncs of 1 000 and 10 000 elements, with the answer encoded (see
//!   [`encode`]) or not.
//! - [`join`] — a current client joining a board that someone edits, and
//!   leaving.
//! - [`timers`] — `poll_timeout` with 1 000 and 100 000 idle boards, and
//!   `handle_timeout` with 100 000 idle boards of which 0, 1, 100 or 1 000
//!   expire per call.
//! - [`decode`] — decoding `mutate` frames of 10 and 1 upserts, as the
//!   server's WebSocket pump does before the engine sees them.
//! - [`memory`] — bytes held per idle board and per event beyond its
//!   payload, counted by a global allocator ([`alloc`]).
//!
//! Inputs are built before the measured loop, as a host would receive
//! them: fresh ids and payloads per mutation ([`inputs`]). Storage is a
//! store that succeeds at once ([`host`]).

#![deny(unsafe_code)]

pub mod alloc;
pub mod apply;
pub mod baseline;
pub mod case;
pub mod decode;
pub mod encode;
pub mod host;
pub mod inputs;
pub mod join;
pub mod memory;
pub mod report;
pub mod sample;
pub mod sync;
pub mod timers;

use case::{Planned, Scale};

/// Every timing case, planned (not set up yet), in the order they are
/// reported. `filter` keeps the cases whose id contains it.
pub fn plan(scale: Scale, filter: Option<&str>) -> Vec<Planned> {
    let mut all = apply::cases();
    all.extend(sync::cases());
    all.extend(join::cases());
    all.extend(timers::cases(scale.idle_boards()));
    all.extend(decode::cases());
    all.retain(|c| filter.is_none_or(|f| c.id().contains(f)));
    all
}
