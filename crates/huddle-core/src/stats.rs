//! Aggregate statistics for operators.

use serde::{Deserialize, Serialize};

use crate::board::Phase;
use crate::engine::{Conn, Engine};
use crate::output::SessionState;

/// What [`Engine::stats`] reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Sessions with participants.
    pub active_sessions: usize,
    /// Sessions without participants, waiting for their idle timeout (or
    /// being archived).
    pub idle_sessions: usize,
    /// Sessions open but never joined (including those still loading).
    pub created_sessions: usize,
    /// Sessions being closed (`close_session`), not yet out of memory.
    pub closing_sessions: usize,
    /// Participants over all sessions.
    pub total_participants: usize,
    /// Live user sessions (connections joined to a board).
    pub user_sessions: usize,
    /// Connections whose join waits for a board load.
    pub joins_waiting: usize,
    /// Mutations accepted but not yet in a confirmed flush.
    pub pending_mutations: u64,
    /// Distinct elements with a write waiting for the next flush.
    pub pending_elements: usize,
    /// Mutations assigned a sequence but not yet stored in the log.
    pub undurable_mutations: u64,
    /// Events held for delta sync.
    pub events_held: usize,
    /// Bytes of the wire encodings of the events held (made by the host's
    /// encoder, once per batch, and kept with the batch in the history).
    pub encoded_bytes_held: usize,
    /// Elements held over all boards.
    pub elements_held: usize,
    /// Payload bytes of the elements held.
    pub payload_bytes_held: usize,
    /// Batch ids remembered for idempotent retries.
    pub batch_ids_remembered: usize,
    /// Effects reported to the host and not yet answered.
    pub effects_outstanding: usize,
    /// Armed timers.
    pub timers_armed: usize,
}

impl Stats {
    pub(crate) fn collect(engine: &Engine) -> Stats {
        let mut s = Stats::default();
        for b in engine.boards.values() {
            if b.phase == Phase::Closing {
                s.closing_sessions += 1;
                continue;
            }
            match b.state {
                SessionState::Active => s.active_sessions += 1,
                SessionState::Idle => s.idle_sessions += 1,
                SessionState::Created => s.created_sessions += 1,
                SessionState::Archived => {}
            }
            s.total_participants += b.participants.len();
            s.pending_mutations += b.pending_mutations();
            s.pending_elements += b.pending.len();
            s.undurable_mutations += b.assigned.saturating_sub(b.durable);
            s.events_held += b.history.len();
            s.encoded_bytes_held += b.history.encoded_bytes();
            s.elements_held += b.pages.element_count();
            s.payload_bytes_held += b.payload_bytes;
            s.batch_ids_remembered += b.dedup.len();
        }
        for c in engine.conns.values() {
            match c {
                Conn::Live(_) => s.user_sessions += 1,
                Conn::Joining(_) => s.joins_waiting += 1,
                Conn::Expired(_) => {}
            }
        }
        s.effects_outstanding = engine.io.effects.len();
        s.timers_armed = engine.io.timers.len();
        s
    }
}
