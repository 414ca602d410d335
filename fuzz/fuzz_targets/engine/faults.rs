//! Storage reports and their faults: how a `Report` of the input becomes
//! the outcome the engine is told (honest from the testkit's store, failed,
//! fenced, invalid, an outcome that does not fit, a made-up or mangled
//! loaded board), how a report is confirmed (refused when the outcome does
//! not fit the effect, leaving it outstanding) and which reports lie about
//! the store (taint).

use huddle_core::*;

use crate::host::Host;
use crate::input::{Mangle, Report};

impl Host {
    pub(crate) fn taint(&mut self, report: &Report) {
        if !matches!(
            report,
            Report::Honest
                | Report::Failed
                | Report::Fenced
                | Report::Invalid
                | Report::SnapshotStored
                | Report::NotFound
        ) {
            self.tainted = true;
        }
    }

    pub(crate) fn report(&mut self, effect: &Effect, report: &Report) -> StorageOutcome {
        match report {
            Report::Honest => self.store.perform(effect, self.now),
            Report::Failed => StorageOutcome::transient("fuzz"),
            Report::Fenced => StorageOutcome::fenced("fuzz"),
            Report::Invalid => StorageOutcome::invalid("fuzz"),
            Report::Stored => StorageOutcome::Stored,
            Report::NotFound => StorageOutcome::NotFound,
            Report::SnapshotStored => StorageOutcome::SnapshotStored("s".into()),
            Report::Loaded(l) => StorageOutcome::Loaded(Box::new(l.build(self.now))),
            Report::Mangled(m) => {
                let honest = match effect {
                    Effect::LoadBoard { .. } => self.store.perform(effect, self.now),
                    _ => StorageOutcome::Loaded(Box::default()),
                };
                let StorageOutcome::Loaded(mut l) = honest else {
                    return honest;
                };
                match *m {
                    Mangle::DropEvent(i) => {
                        if !l.events.is_empty() {
                            let i = usize::from(i) % l.events.len();
                            l.events.remove(i);
                        }
                    }
                    Mangle::DuplicateEvent(i) => {
                        if !l.events.is_empty() {
                            let i = usize::from(i) % l.events.len();
                            let e = l.events[i].clone();
                            l.events.insert(i, e);
                        }
                    }
                    Mangle::ShiftSequences(s) => {
                        for e in &mut l.events {
                            e.seq = e.seq.wrapping_add(s.0);
                        }
                    }
                    Mangle::PagesSequence(s) => l.pages_sequence = s.0,
                    Mangle::Truncate(n) => l.events.truncate(usize::from(n)),
                    Mangle::BatchAt(s) => l.batches.push(BatchRecord {
                        user: "u0".into(),
                        batch: "b0".into(),
                        last_seq: s.0,
                        digest: None,
                        at: huddle_core::Timestamp::EPOCH,
                    }),
                }
                StorageOutcome::Loaded(l)
            }
        }
    }

    /// Reports `effect`; a refused report (an outcome that does not fit)
    /// leaves it outstanding.
    pub(crate) fn confirm(&mut self, index: usize, effect: Effect, report: &Report) {
        let outcome = self.report(&effect, report);
        let fits = matches!(
            (&effect, &outcome),
            (
                Effect::LoadBoard { .. },
                StorageOutcome::Loaded(_) | StorageOutcome::NotFound | StorageOutcome::Failed(_)
            ) | (
                Effect::AppendEvents { .. }
                    | Effect::Flush { .. }
                    | Effect::PruneSnapshots { .. }
                    | Effect::StoreUserSession { .. },
                StorageOutcome::Stored | StorageOutcome::Failed(_)
            ) | (
                Effect::StoreSnapshot { .. },
                StorageOutcome::SnapshotStored(_) | StorageOutcome::Failed(_)
            )
        );
        let id = effect.id();
        let r = self.engine.handle_storage(self.t(), id, outcome);
        assert_eq!(r.is_ok(), fits, "report of {effect:?}: {r:?}");
        if r.is_ok() {
            self.taint(report);
            self.reported.push(id);
            if self.reported.len() > 64 {
                self.reported.remove(0);
            }
        } else {
            self.outstanding.insert(index, effect);
        }
    }
}
