//! The invariants, checked as outputs leave the engine and after every
//! step. Each violation names what broke; the runner adds the seed and the
//! command that replays it.
//!
//! - **Sequences**: every board's stored log is gapless from 1 and never
//!   rewritten; events reach a connection in strictly increasing order,
//!   contiguous within one notice.
//! - **Durability**: a session's durable sequence never goes back (across
//!   crashes and archives too) and never exceeds what the store holds; its
//!   flushed sequence never exceeds the store's; an ack (in ack-on-store
//!   mode) names a batch the store already holds at that sequence; after a
//!   crash the store still holds every acknowledged batch.
//! - **Lifecycle**: only the spec's transitions, each from the state the
//!   session was in; a session's state always equals the last transition.
//! - **Archive**: only once the store's log is wholly flushed and (for a
//!   persistent board) a snapshot at the final sequence is stored; never
//!   before `idle_since + idle_timeout` by the engine's clock.
//! - **Timeouts** (see `docs/testing.md`): the host calls `handle_timeout`
//!   when its clock reaches `poll_timeout()`; afterwards the next deadline
//!   is later than the engine's clock (no hot loop); an early call does
//!   nothing; while a session waits to be archived, a deadline no later
//!   than its archive time is armed; a user session times out only after
//!   `inactivity_timeout` without activity.
//! - **Sync**: a join gets a delta exactly when the spec says so (with
//!   exactly the missed events), else a full state with the right reason;
//!   a full state equals the engine's board.
//! - **Snapshots**: the newest stored snapshot plus the log after it equals
//!   the log replayed, the flushed state plus the log after it, and the
//!   live board.
//! - **Refused confirmations** change nothing (checked in the host).

use std::collections::BTreeMap;

use huddle_core::{
    BoardId, ConnId, Durability, EngineEvent, FullSyncReason, Notice, SessionEnd, SessionState,
    SessionType, Sync, Timestamp, UserSessionStatus,
};

use crate::world::World;

/// What one board has been seen doing.
#[derive(Clone, Debug, Default)]
pub struct BoardObs {
    /// The session's state by its transitions (`None`: no session).
    pub state: Option<SessionState>,
    /// The highest durable sequence ever reported.
    pub max_durable: u64,
    /// The highest sequence clients were shown.
    pub max_sequence: u64,
    /// When (engine clock) the session last became idle or was created.
    pub idle_since: Option<Timestamp>,
}

/// What the invariants remember between steps.
#[derive(Debug, Default)]
pub struct Observed {
    /// Per board.
    pub boards: BTreeMap<BoardId, BoardObs>,
    /// The `last_sequence` of each connection's pending join.
    pub joins: BTreeMap<ConnId, Option<u64>>,
    /// The last sequence each connection was shown.
    pub conn_seq: BTreeMap<ConnId, u64>,
    /// The board each joined connection is on.
    pub conn_board: BTreeMap<ConnId, BoardId>,
}

impl Observed {
    /// A connection sent a join.
    pub fn join_requested(&mut self, conn: ConnId, last_sequence: Option<u64>) {
        self.joins.insert(conn, last_sequence);
    }

    /// The engine is gone: no session exists any more.
    pub fn crashed(&mut self) {
        for b in self.boards.values_mut() {
            b.state = None;
            b.idle_since = None;
        }
        self.joins.clear();
        self.conn_seq.clear();
        self.conn_board.clear();
    }
}

impl World {
    /// Checks an engine event as it leaves the engine.
    pub fn observe_event(&mut self, event: EngineEvent) {
        let clock = self.clock.engine_clock;
        match event {
            EngineEvent::StateChanged {
                board, from, to, ..
            } => {
                crate::trace!(self, "state {board} {from:?} -> {to:?}");
                let obs = self.obs.boards.entry(board.clone()).or_default();
                let known = obs.state.unwrap_or(SessionState::Created);
                if !SessionState::is_legal_transition(from, to) || from != known {
                    return self.fail(format!(
                        "illegal transition of {board}: {from:?} -> {to:?} (it was {known:?})"
                    ));
                }
                obs.state = Some(to);
                if to == SessionState::Idle {
                    obs.idle_since = Some(clock);
                }
                if to == SessionState::Archived {
                    self.check_archive(&board);
                }
            }
            EngineEvent::SessionEnded { board, reason } => {
                crate::trace!(self, "ended {board} {reason:?}");
                let obs = self.obs.boards.entry(board.clone()).or_default();
                let state = obs.state.take();
                obs.idle_since = None;
                if reason == SessionEnd::Archived {
                    self.counters.archives += 1;
                    if state != Some(SessionState::Archived) {
                        self.fail(format!("{board} ended archived from {state:?}"));
                    }
                }
                if reason == SessionEnd::Closed {
                    self.counters.closes += 1;
                    let stored = self.store.boards().get(&board).cloned().unwrap_or_default();
                    let max = self.obs.boards.get(&board).map_or(0, |o| o.max_sequence);
                    if stored.pages_sequence != stored.sequence() || stored.sequence() < max {
                        self.fail(format!(
                            "{board} closed with the store flushed to {} of {} (clients saw {max})",
                            stored.pages_sequence,
                            stored.sequence()
                        ));
                    }
                }
            }
            EngineEvent::UserSessionEnded(record)
                if record.status == UserSessionStatus::Timeout =>
            {
                self.counters.session_timeouts += 1;
                let ended = record.ended_at.unwrap_or(Timestamp::EPOCH);
                let quiet = ended.saturating_duration_since(record.last_activity);
                // Never before the deadline; no later than the host's
                // clock reaching it (it lags by at most 5 s).
                let latest = self.config.inactivity_timeout + std::time::Duration::from_secs(5);
                if quiet < self.config.inactivity_timeout || quiet > latest {
                    self.fail(format!(
                        "user session {:?} timed out after {}ms without activity",
                        record.id,
                        quiet.as_millis()
                    ));
                }
            }
            _ => {}
        }
    }

    /// A session was archived: is everything stored?
    fn check_archive(&mut self, board: &BoardId) {
        let clock = self.clock.engine_clock;
        let Some(i) = self.board_index(board.as_str()) else {
            return;
        };
        let kind = self
            .engine
            .session(board.as_str())
            .map_or(self.boards[i].kind, |s| s.kind);
        let obs = self.obs.boards.get(board).cloned().unwrap_or_default();
        // `idle_since` of a session created without a participant is its
        // creation time, which the transition events do not show: use the
        // session's own where the observation has none.
        if let Some(since) = obs.idle_since {
            let due = since.saturating_add(self.config.idle_timeout(kind));
            if clock < due {
                return self.fail(format!(
                    "{board} archived at {} before its idle deadline {}",
                    clock.as_millis(),
                    due.as_millis()
                ));
            }
        }
        let stored = self.store.boards().get(board).cloned().unwrap_or_default();
        let last = stored.sequence();
        if stored.pages_sequence != last || last < obs.max_sequence {
            return self.fail(format!(
                "{board} archived with the store flushed to {} of {last} (clients saw {})",
                stored.pages_sequence, obs.max_sequence
            ));
        }
        if kind == SessionType::Persistent
            && !stored.snapshots.iter().any(|(_, s)| {
                s.version == last && s.created_by == huddle_core::SnapshotCause::Archive
            })
        {
            self.fail(format!(
                "persistent {board} archived without an archive snapshot at {last}"
            ));
        }
    }

    /// Checks a notice as it leaves the engine.
    pub fn observe_notice(&mut self, conn: ConnId, notice: &Notice) {
        match notice {
            Notice::Joined(joined) => {
                let last = self.obs.joins.remove(&conn).flatten();
                crate::trace!(
                    self,
                    "joined {conn:?} {} last {last:?} at {} from {} {}",
                    joined.board,
                    joined.sequence,
                    joined.history_from,
                    match &joined.sync {
                        Sync::Delta { events } => format!("delta {}", events.len()),
                        Sync::Full { reason, .. } => format!("full {reason:?}"),
                    }
                );
                self.check_join(conn, last, joined);
                self.obs.conn_seq.insert(conn, joined.sequence);
                self.obs.conn_board.insert(conn, joined.board.clone());
                let obs = self.obs.boards.entry(joined.board.clone()).or_default();
                obs.max_sequence = obs.max_sequence.max(joined.sequence);
            }
            Notice::Events(events) => {
                let Some(board) = self.obs.conn_board.get(&conn).cloned() else {
                    return self.fail(format!("events to {conn:?}, which never joined"));
                };
                let seen = self.obs.conn_seq.get(&conn).copied().unwrap_or(0);
                let first = events.first().map_or(0, |e| e.seq);
                let contiguous = events.windows(2).all(|w| w[1].seq == w[0].seq + 1);
                if first != seen + 1 || !contiguous {
                    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
                    return self.fail(format!(
                        "events {seqs:?} to {conn:?} after it was shown {seen} (not the next ones)"
                    ));
                }
                let last = events.last().map_or(seen, |e| e.seq);
                crate::trace!(self, "events {conn:?} {first}..={last}");
                self.obs.conn_seq.insert(conn, last);
                let obs = self.obs.boards.entry(board.clone()).or_default();
                obs.max_sequence = obs.max_sequence.max(last);
                self.check_durable_at(&board, last, None, "broadcast");
            }
            Notice::Ack { batch, sequence } => {
                crate::trace!(self, "ack {conn:?} {batch} {sequence}");
                if let Some(board) = self.obs.conn_board.get(&conn).cloned() {
                    let seen = self.obs.conn_seq.get(&conn).copied().unwrap_or(0);
                    // A new ack covers the next sequences on this connection
                    // (its own batch, which it gets no events for); an ack at
                    // or below what it was shown answers a re-sent batch.
                    let len = self.ledger.lens.get(batch).copied().unwrap_or(0) as u64;
                    if *sequence > seen && sequence.saturating_sub(len) != seen {
                        return self.fail(format!(
                            "ack of {batch} ({len} mutations) at {sequence} to {conn:?} after it was shown {seen}: a gap"
                        ));
                    }
                    self.obs.conn_seq.insert(conn, seen.max(*sequence));
                    let obs = self.obs.boards.entry(board.clone()).or_default();
                    obs.max_sequence = obs.max_sequence.max(*sequence);
                    self.check_durable_at(&board, *sequence, Some(batch), "ack");
                }
            }
            _ => {}
        }
    }

    /// In ack-on-store mode, what clients are shown must be durable.
    fn check_durable_at(
        &mut self,
        board: &BoardId,
        sequence: u64,
        batch: Option<&huddle_core::BatchId>,
        what: &str,
    ) {
        if self.config.durability != Durability::AckOnStore {
            return;
        }
        let Some(stored) = self.store.boards().get(board) else {
            return self.fail(format!(
                "{what} of {board} at {sequence} before anything is stored"
            ));
        };
        let held = stored.events.get((sequence as usize).wrapping_sub(1));
        match (held, batch) {
            (None, _) => self.fail(format!(
                "{what} of {board} at {sequence}, but the store's log ends at {}",
                stored.sequence()
            )),
            (Some(e), Some(b)) if &e.batch != b => self.fail(format!(
                "ack of {b} at {sequence} of {board}, but the store holds {} there",
                e.batch
            )),
            _ => {}
        }
    }

    fn check_join(&mut self, conn: ConnId, last: Option<u64>, joined: &huddle_core::Joined) {
        let (s, h) = (joined.sequence, joined.history_from);
        let threshold = self.config.delta_threshold;
        let fail = |w: &mut World, why: &str| {
            w.fail(format!(
                "join of {conn:?} to {} with last_sequence {last:?} at sequence {s} (history from {h}): {why}",
                joined.board
            ))
        };
        match (&joined.sync, last) {
            (Sync::Delta { events }, Some(l)) => {
                self.counters.deltas += 1;
                if l > s || s - l >= threshold || l < h {
                    return fail(self, "a delta where the spec says full");
                }
                let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
                if seqs.len() as u64 != s - l || seqs.iter().zip(l + 1..).any(|(a, b)| *a != b) {
                    fail(self, &format!("delta with events {seqs:?}"));
                }
            }
            (Sync::Delta { .. }, None) => fail(self, "a delta without a last sequence"),
            (Sync::Full { reason, pages }, _) => {
                self.counters.fulls += 1;
                let expected: &[FullSyncReason] = match last {
                    None => &[FullSyncReason::Initial],
                    Some(l) if l > s => &[FullSyncReason::Ahead],
                    Some(l) if s - l >= threshold && l < h => {
                        &[FullSyncReason::TooOld, FullSyncReason::NoHistory]
                    }
                    Some(l) if s - l >= threshold => &[FullSyncReason::TooOld],
                    Some(l) if l < h => &[FullSyncReason::NoHistory],
                    Some(_) => &[],
                };
                if !expected.contains(reason) {
                    return fail(
                        self,
                        &format!("full sync ({reason:?}) where the spec says {expected:?}"),
                    );
                }
                let live = self
                    .engine
                    .session(joined.board.as_str())
                    .map(|i| i.sequence);
                if live == Some(s) && self.engine.pages(joined.board.as_str()) != Some(pages) {
                    fail(self, "full state differs from the engine's board");
                }
            }
        }
    }
}
