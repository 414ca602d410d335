//! The store model: effects in flight, their latency, crashes; what is
//! durable is [`crate::durable`], the storage contract's reference model.
//!
//! Effects the engine emits wait here until their (seeded) latency has
//! passed; then the store performs them against its durable state, or
//! fails them, and the host reports the outcome. A crash loses everything
//! in flight, except writes that (by the seed's choice) had already reached
//! the disk when the confirmation was lost. Like the SQLite store it
//! applies one board's appends in the order issued: when a later append
//! comes due first, the earlier ones are performed with it and only their
//! reports wait for their own latency, so confirmations overtake each
//! other. The store also checks the storage contract from its side:
//! appends are contiguous (a gap is refused, as a real store does, after an
//! earlier append of the board failed, and is a breach otherwise) and
//! never rewrite a sequence with other content.

use huddle_core::{BoardId, Effect, StorageOutcome, Timestamp};
use huddle_store::reference::BoardRecord;

use crate::durable::Durable;

pub use crate::durable::BATCH_WINDOW;

/// An effect waiting for its latency to pass.
#[derive(Clone, Debug)]
pub struct InFlight {
    /// When the store finishes it.
    pub due: Timestamp,
    /// Tie-break, in issue order.
    pub order: u64,
    /// The work.
    pub effect: Effect,
    /// An append issued after one of its board's whose failure the engine
    /// was told of: the engine re-sends its events without waiting for its
    /// report, so it no longer counts towards `appends_in_flight`.
    pub abandoned: bool,
    /// The store finished it already (applying its board's appends in
    /// order), with this outcome; only the report is still to come.
    pub settled: Option<StorageOutcome>,
    /// A write of a host that was taken over: it lands with the epoch
    /// that host held for the board (`Some(None)`: it held none) and is
    /// reported to no engine (see [`crate::takeover`]).
    pub stale: Option<Option<huddle_store::Epoch>>,
}

/// An effect the store finished (or is about to).
#[derive(Debug)]
pub struct Taken {
    /// The work.
    pub effect: Effect,
    /// Its outcome, if the store finished it earlier.
    pub settled: Option<StorageOutcome>,
    /// The engine no longer waited for it (see [`InFlight::abandoned`]).
    pub abandoned: bool,
    /// A taken-over host's write (see [`InFlight::stale`]).
    pub stale: Option<Option<huddle_store::Epoch>>,
}

/// The durable state plus the effects in flight.
#[derive(Debug, Default)]
pub struct StoreModel {
    /// What is durable: the reference model and this host's epochs.
    pub durable: Durable,
    /// Effects not yet reported, in issue order.
    pub in_flight: Vec<InFlight>,
    /// While set, every effect fails.
    pub outage_until: Option<Timestamp>,
    /// Ids this engine instance issued and the host already reported.
    pub reported: Vec<u64>,
    /// The highest id this engine instance issued.
    pub max_issued: u64,
    order: u64,
}

impl StoreModel {
    /// Queues an effect, due at `due`.
    pub fn submit(&mut self, effect: Effect, due: Timestamp) {
        self.order += 1;
        self.max_issued = self.max_issued.max(effect.id().0);
        self.in_flight.push(InFlight {
            due,
            order: self.order,
            effect,
            abandoned: false,
            settled: None,
            stale: None,
        });
    }

    /// An effect in flight that `effect` may not run beside: the storage
    /// contract issues at most `appends_in_flight` appends of one board at
    /// a time (the engine's setting), and one load and one flush per board
    /// at a time.
    pub fn conflicting(&self, effect: &Effect, appends_in_flight: usize) -> Option<u64> {
        let limit = match effect {
            Effect::AppendEvents { .. } => appends_in_flight.max(1),
            Effect::Flush { .. } | Effect::LoadBoard { .. } => 1,
            _ => return None,
        };
        let same: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|f| {
                !f.abandoned
                    && f.stale.is_none()
                    && f.effect.board() == effect.board()
                    && std::mem::discriminant(&f.effect) == std::mem::discriminant(effect)
            })
            .map(|f| f.effect.id().0)
            .collect();
        if same.len() >= limit {
            same.first().copied()
        } else {
            None
        }
    }

    /// Whether an effect of `board` is issued by the current host and not
    /// yet reported (a taken-over host's late writes are reported to no
    /// engine, so they do not count).
    pub fn board_in_flight(&self, board: &BoardId) -> bool {
        self.in_flight
            .iter()
            .any(|f| f.stale.is_none() && f.effect.board() == board)
    }

    /// Takes the next effect due at or before `now`, with its outcome if
    /// the store finished it earlier ([`StoreModel::set_settled`]).
    pub fn take_due(&mut self, now: Timestamp) -> Option<Taken> {
        let pos = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, f)| f.due <= now)
            .min_by_key(|(_, f)| (f.due, f.order))
            .map(|(i, _)| i)?;
        let f = self.in_flight.remove(pos);
        Some(Taken {
            effect: f.effect,
            settled: f.settled,
            abandoned: f.abandoned,
            stale: f.stale,
        })
    }

    /// The host is paused: every effect due at `now` is held until `wake`
    /// (a report reaches no stopped process). Returns the held effects the
    /// store has not finished yet, in the order they came due.
    pub fn defer_due(&mut self, now: Timestamp, wake: Timestamp) -> Vec<Effect> {
        let mut due: Vec<&mut InFlight> = self
            .in_flight
            .iter_mut()
            .filter(|f| f.due <= now && f.stale.is_none())
            .collect();
        due.sort_by_key(|f| (f.due, f.order));
        let mut unsettled = Vec::new();
        for f in due {
            f.due = wake;
            if f.settled.is_none() {
                unsettled.push(f.effect.clone());
            }
        }
        unsettled
    }

    /// The appends of `effect`'s board issued before it, still in flight
    /// and not yet finished, oldest first (none unless `effect` is an
    /// append).
    pub fn unsettled_appends_before(&self, effect: &Effect) -> Vec<Effect> {
        if !matches!(effect, Effect::AppendEvents { .. }) {
            return Vec::new();
        }
        self.in_flight
            .iter()
            .filter(|f| {
                matches!(f.effect, Effect::AppendEvents { .. })
                    && f.stale.is_none()
                    && f.effect.board() == effect.board()
                    && f.effect.id().0 < effect.id().0
                    && f.settled.is_none()
            })
            .map(|f| f.effect.clone())
            .collect()
    }

    /// Records that the store finished the effect `id` (its write, if any,
    /// is done) with `outcome`; the report follows when the effect is due.
    pub fn set_settled(&mut self, id: huddle_core::EffectId, outcome: StorageOutcome) {
        if let Some(f) = self
            .in_flight
            .iter_mut()
            .find(|f| f.stale.is_none() && f.effect.id() == id)
        {
            f.settled = Some(outcome);
        }
    }

    /// An append of `board` failed at the store: until one lands again,
    /// the appends after it may leave a gap, which the store refuses (as a
    /// real store does, `StoreError::Gap`) rather than calling it a breach.
    pub fn append_failed(&mut self, board: &BoardId) {
        self.durable.append_failed(board);
    }

    /// Every board the store has a record of.
    pub fn boards(&self) -> &std::collections::BTreeMap<BoardId, BoardRecord> {
        self.durable.boards()
    }

    /// The failure of append `id` was reported, and the engine still
    /// waited for it: it abandons the appends of the board issued after it
    /// (it re-sends their events), which no longer count towards
    /// `appends_in_flight` although their reports are still to come.
    pub fn append_failure_reported(&mut self, board: &BoardId, id: huddle_core::EffectId) {
        for f in &mut self.in_flight {
            if matches!(f.effect, Effect::AppendEvents { .. })
                && f.stale.is_none()
                && f.effect.board() == board
                && f.effect.id().0 > id.0
            {
                f.abandoned = true;
            }
        }
    }

    /// Performs an effect on the durable state. `Err` is a breach of the
    /// storage contract by the engine.
    pub fn perform(&mut self, effect: &Effect, now: Timestamp) -> Result<StorageOutcome, String> {
        let _ = now;
        self.durable.perform(effect)
    }

    /// The host crashed: effects in flight are lost; `keep(effect)` says
    /// whether one had reached the disk anyway (its write is performed).
    /// Returns contract breaches found while performing kept writes.
    pub fn crash(&mut self, mut keep: impl FnMut(&Effect) -> bool, now: Timestamp) -> Vec<String> {
        let in_flight = std::mem::take(&mut self.in_flight);
        let mut breaches = Vec::new();
        for f in in_flight {
            if f.stale.is_some() {
                // Another (taken over) host's write: still on its way.
                self.in_flight.push(f);
                continue;
            }
            if f.settled.is_some() {
                // Finished before the crash: its write (if any) is done.
                continue;
            }
            let write = !matches!(f.effect, Effect::LoadBoard { .. });
            let landed = write
                && keep(&f.effect)
                && match self.perform(&f.effect, now) {
                    // Refused (fenced off, say): as if it never came.
                    Ok(StorageOutcome::Failed(_)) => false,
                    Ok(_) => true,
                    Err(e) => {
                        breaches.push(e);
                        true
                    }
                };
            if landed {
                continue;
            }
            if let Effect::AppendEvents { board, .. } = &f.effect {
                // A later append of the board that did reach the disk
                // would have been refused: it starts after this one.
                self.append_failed(board);
            }
        }
        self.new_instance();
        breaches
    }

    /// A new engine instance starts from what is stored.
    pub fn new_instance(&mut self) {
        self.durable.restarted();
        self.reported.clear();
        self.max_issued = 0;
    }

    /// Remembers that an effect was reported (for stale confirmations).
    pub fn note_reported(&mut self, id: u64) {
        if self.reported.len() >= 64 {
            self.reported.remove(0);
        }
        self.reported.push(id);
    }
}
