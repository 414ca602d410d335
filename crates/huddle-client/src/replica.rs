//! The client's copy of its board: the elements and the sequence they are
//! at, built only from what the server confirmed (syncs, others' events,
//! and the client's own acknowledged batches placed at their sequence).

use huddle_core::Mutation;
use huddle_core::Pages;
use huddle_core::ParticipantInfo;
use huddle_wire::WireEvent;

/// The confirmed state of the board as this client knows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoardReplica {
    pub(crate) pages: Pages,
    pub(crate) sequence: Option<u64>,
    pub(crate) participants: Vec<ParticipantInfo>,
}

/// The replica cannot take what arrived without a gap: the client re-syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gap;

impl BoardReplica {
    /// The elements, by page.
    pub fn pages(&self) -> &Pages {
        &self.pages
    }

    /// The last sequence applied (`None` before the first sync).
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// Who is present, as last told.
    pub fn participants(&self) -> &[ParticipantInfo] {
        &self.participants
    }

    /// Applies events; those at or below the replica's sequence are
    /// duplicates and skipped. Returns whether anything changed.
    pub(crate) fn apply_events(&mut self, events: &[WireEvent]) -> Result<bool, Gap> {
        let mut changed = false;
        for e in events {
            match self.sequence {
                Some(s) if e.seq <= s => continue,
                Some(s) if e.seq != s + 1 => return Err(Gap),
                None => return Err(Gap),
                _ => {}
            }
            self.pages.apply(&e.mutation);
            self.sequence = Some(e.seq);
            changed = true;
        }
        Ok(changed)
    }

    /// Places the client's own acknowledged batch, which ends at
    /// `sequence`. Already covered (by a sync or an earlier copy): no-op.
    pub(crate) fn apply_own(&mut self, mutations: &[Mutation], sequence: u64) -> Result<(), Gap> {
        let current = self.sequence.ok_or(Gap)?;
        if sequence <= current {
            return Ok(());
        }
        let len = u64::try_from(mutations.len()).map_err(|_| Gap)?;
        if len == 0 || sequence.checked_sub(len) != Some(current) {
            return Err(Gap);
        }
        for m in mutations {
            self.pages.apply(m);
        }
        self.sequence = Some(sequence);
        Ok(())
    }
}
