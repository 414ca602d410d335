//! Aggregate statistics for operators, and the bytes one board holds
//! ([`BoardBytes`]), which they add up.

use serde::{Deserialize, Serialize};

use crate::board::{Board, Phase};
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
    /// Payload bytes of the mutations accepted but not yet in a confirmed
    /// flush (`Limits::max_pending_bytes` per board).
    pub pending_bytes: usize,
    /// Events held for delta sync.
    pub events_held: usize,
    /// Payload bytes of the events held for delta sync
    /// (`Limits::max_history_bytes` per board).
    pub history_bytes_held: usize,
    /// Bytes of the wire encodings kept: `encoded_event_bytes_held` plus
    /// `encoded_element_bytes_held`.
    pub encoded_bytes_held: usize,
    /// Bytes of the encodings of the events held (made by the host's
    /// encoder once per batch, kept with the batch in the history).
    pub encoded_event_bytes_held: usize,
    /// Bytes of the encodings of elements (made by full syncs, kept per run
    /// of elements until one of them changes).
    pub encoded_element_bytes_held: usize,
    /// Elements held over all boards.
    pub elements_held: usize,
    /// Payload bytes of the elements held: the boards' sizes
    /// (`Limits::max_board_bytes` per board).
    pub payload_bytes_held: usize,
    /// Payload bytes that batches accepted but not yet visible may still
    /// add to their boards (counted against the board cap).
    pub reserved_bytes: usize,
    /// Automatic snapshots skipped because their board was larger than
    /// `Limits::max_snapshot_bytes` (over the sessions held).
    pub snapshots_skipped: u64,
    /// Board sessions the engine's table has room for (it gives room back
    /// once under a quarter full).
    pub board_slots: usize,
    /// Batch ids remembered for idempotent retries.
    pub batch_ids_remembered: usize,
    /// Bytes the remembered batch ids take (estimated).
    pub batch_id_bytes_remembered: usize,
    /// Batches younger than `dedup_max_age` that boards forgot because of
    /// `dedup_max_bytes` (a re-send of one would be applied again).
    pub young_batches_forgotten: u64,
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
            let bytes = BoardBytes::of(b);
            s.pending_bytes += bytes.pending;
            s.history_bytes_held += bytes.history;
            s.encoded_event_bytes_held += bytes.encoded_events;
            s.encoded_element_bytes_held += bytes.encoded_elements;
            s.encoded_bytes_held += bytes.encoded_events + bytes.encoded_elements;
            s.elements_held += b.pages.element_count();
            s.payload_bytes_held += bytes.elements;
            s.reserved_bytes += bytes.reserved;
            s.snapshots_skipped += b.snapshots_skipped;
            s.batch_ids_remembered += b.dedup.len();
            s.batch_id_bytes_remembered += b.dedup.bytes();
            s.young_batches_forgotten += b.dedup.forgotten_young();
        }
        for c in engine.conns.values() {
            match c {
                Conn::Live(_) => s.user_sessions += 1,
                Conn::Joining(_) => s.joins_waiting += 1,
                Conn::Expired(_) => {}
            }
        }
        s.board_slots = engine.boards.capacity();
        s.effects_outstanding = engine.io.effects.len();
        s.timers_armed = engine.io.timers.len();
        s
    }
}

/// The bytes one board session holds, by kind (payload bytes unless said
/// otherwise). Payloads are shared: an element's data held by the board is
/// the same allocation as the event's in the history and the pending set,
/// so these overlap and are bounded each by its own budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BoardBytes {
    /// The board's elements (`Limits::max_board_bytes`).
    pub elements: usize,
    /// What batches accepted but not yet visible may still add to
    /// `elements` (counted against the board cap).
    pub reserved: usize,
    /// The events held for delta sync (`Limits::max_history_bytes`).
    pub history: usize,
    /// The mutations accepted but not yet flushed
    /// (`Limits::max_pending_bytes`).
    pub pending: usize,
    /// The wire encodings kept of the events held (bytes of encoding).
    pub encoded_events: usize,
    /// The wire encodings kept of runs of elements (bytes of encoding).
    pub encoded_elements: usize,
}

impl BoardBytes {
    /// Reads them off the board: O(1) but for the encoded caches, which
    /// take one look per history chunk and per page.
    pub(crate) fn of(b: &Board) -> BoardBytes {
        BoardBytes {
            elements: b.payload_bytes,
            reserved: b.reserved_bytes,
            history: b.history.bytes(),
            pending: b.pending_bytes.held(),
            encoded_events: b.history.encoded_bytes(),
            encoded_elements: b.pages.iter().map(|(_, p)| p.encoded_bytes()).sum(),
        }
    }
}
