//! A client's replica of a board, built only from what the engine sends:
//! the sync in `joined`, then `events`. Checks that events arrive gapless.

use huddle_core::{Event, JoinSync, Mutation, Notice, Pages};

/// A client-side copy of one board.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replica {
    /// The elements.
    pub pages: Pages,
    /// The last sequence applied (`None` before the first join).
    pub sequence: Option<u64>,
}

impl Replica {
    /// Applies one notice. Returns an error describing any gap, reorder or
    /// inconsistency; notices that do not concern the board are ignored.
    pub fn apply(&mut self, notice: &Notice) -> Result<(), String> {
        match notice {
            Notice::Joined(j) => {
                match &j.sync {
                    JoinSync::Full { pages, .. } => self.pages = pages.clone(),
                    JoinSync::Delta { events } => {
                        if self.sequence.is_none() {
                            return Err("delta sync for a replica that has no state".into());
                        }
                        self.apply_each(events.iter().map(|e| (e.seq, e.mutation)))?;
                    }
                }
                if let JoinSync::Delta { .. } = j.sync {
                    if self.sequence != Some(j.sequence) {
                        return Err(format!(
                            "delta ends at {:?}, board is at {}",
                            self.sequence, j.sequence
                        ));
                    }
                }
                self.sequence = Some(j.sequence);
                Ok(())
            }
            Notice::Events(events) => self.apply_events(events),
            _ => Ok(()),
        }
    }

    /// Applies events, which must continue the replica's sequence.
    pub fn apply_events(&mut self, events: &[Event]) -> Result<(), String> {
        self.apply_each(events.iter().map(|e| (e.seq, &e.mutation)))
    }

    /// Applies `(sequence, mutation)` pairs, which must continue the
    /// replica's sequence.
    fn apply_each<'a>(
        &mut self,
        events: impl Iterator<Item = (u64, &'a Mutation)>,
    ) -> Result<(), String> {
        for (seq, mutation) in events {
            let expected = self.sequence.map_or(1, |s| s + 1);
            if self.sequence.is_some() && seq != expected {
                return Err(format!("expected event {expected}, got {seq}"));
            }
            self.pages.apply(mutation);
            self.sequence = Some(seq);
        }
        Ok(())
    }
}
