//! The host side of a measurement: drains every output as a real host
//! must, and confirms storage effects at once (a store with no latency), so
//! that the engine's whole cycle — sequence, append, confirm, ack,
//! broadcast, flush — is inside the measured loop.

use huddle_core::{
    ConnId, Effect, Engine, LoadedBoard, Notice, Output, SnapshotId, StorageOutcome, Timestamp,
};

/// Counts what a drain saw. Notices are handed to `deliver`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Notices for connections (a broadcast counts once per recipient).
    pub notices: u64,
    /// Effects confirmed.
    pub effects: u64,
    /// Engine events.
    pub events: u64,
}

/// What an effect's report is, for a store that succeeds at once. Loads get
/// `load` (or an empty board).
pub fn outcome(effect: &Effect, load: &mut Option<LoadedBoard>) -> StorageOutcome {
    match effect {
        Effect::LoadBoard { .. } => {
            StorageOutcome::Loaded(Box::new(load.take().unwrap_or_default()))
        }
        Effect::StoreSnapshot { snapshot, .. } => {
            StorageOutcome::SnapshotStored(SnapshotId::from(format!("snap-{}", snapshot.version)))
        }
        _ => StorageOutcome::Stored,
    }
}

/// Drains the engine: notices go to `deliver` with their recipients (one
/// call per `Notify` or `Broadcast`: a host encodes each once), effects are
/// confirmed (loads answered with `load`, else an empty board), events (and
/// the `Released`/`Drained` signals) are counted and dropped.
/// Panics if the engine refuses the report of its own effect (a bug).
#[inline(never)]
pub fn drain_with(
    engine: &mut Engine,
    now: Timestamp,
    load: &mut Option<LoadedBoard>,
    mut deliver: impl FnMut(&[ConnId], Notice),
) -> Drained {
    let mut d = Drained::default();
    while let Some(output) = engine.poll_output() {
        match output {
            Output::Notify { conn, notice } => {
                d.notices += 1;
                deliver(&[conn], notice);
            }
            Output::Broadcast { conns, notice } => {
                d.notices += conns.len() as u64;
                deliver(&conns, notice);
            }
            Output::Effect(effect) => {
                d.effects += 1;
                let report = outcome(&effect, load);
                let id = effect.id();
                drop(effect);
                if let Err(e) = engine.handle_storage(now, id, report) {
                    panic!("the engine refused the report of its own effect {id:?}: {e}");
                }
            }
            // Released and Drained are bookkeeping signals, counted as events.
            Output::Signal(_) | Output::Released { .. } | Output::Drained => d.events += 1,
        }
    }
    d
}

/// Drains the engine, dropping notices (as if sent).
pub fn drain(engine: &mut Engine, now: Timestamp) -> Drained {
    drain_with(engine, now, &mut None, |_, notice| {
        std::hint::black_box(&notice);
    })
}
