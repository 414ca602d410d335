//! The invariants, checked as outputs leave the engine and after every
//! step. Each violation names what broke; the runner adds the seed and the
//! command that replays it.
//!
//! The checks about the engine and the store are shared with the property
//! tests and the fuzz target: [`huddle_testkit::invariants`] (sequences
//! gapless and never rewritten, durable sequences never going back nor
//! beyond the store, acks and broadcasts only of stored batches,
//! lifecycle transitions, the sync a join gets, snapshot + log = replay).
//! The world feeds its observer ([`crate::World::inv`]) every effect,
//! event and notice, and its state after every step. What is the
//! simulator's own:
//!
//! - **Archive**: only once the store's log is wholly flushed and (for a
//!   persistent board) a snapshot at the final sequence is stored; never
//!   before `idle_since + idle_timeout` by the engine's clock.
//! - **Close**: a closed session left the store flushed to everything
//!   clients saw.
//!
//!   With several hosts, the checks that compare a host's engine with the
//!   store (these two, a re-sent batch being remembered, the live board
//!   against the stored one) apply to the host that holds the board's
//!   current epoch ([`World::serves`]): a deposed host that has not yet
//!   learnt it was deposed knows nothing of what the new owner stored (its
//!   writes are fenced).
//! - **Timeouts** (see `docs/testing.md`): the host calls `handle_timeout`
//!   when its clock reaches `poll_timeout()`; afterwards the next deadline
//!   is later than the engine's clock (no hot loop); an early call does
//!   nothing; while a session waits to be archived, a deadline no later
//!   than its archive time is armed; a user session times out only after
//!   `inactivity_timeout` without activity.
//! - **Snapshots**: the stored board equals the live one at the log's end.
//! - **Refused confirmations** change nothing (checked in the host).
//! - **Ownership** (fencing, leases): no sequence of a board is
//!   acknowledged for two batches, whichever hosts, instances and epochs
//!   acknowledged them (each ack is recorded with its host, instance and
//!   epoch), and a board taken over converges on its new owner; with
//!   several hosts, every client converges on the host whose lease on its
//!   board runs in the store.

use std::collections::BTreeMap;

use huddle_core::{
    BoardId, ConnId, JoinSync, Notice, SessionEnd, SessionState, SessionType, Signal, Timestamp,
    UserSessionStatus,
};

use crate::world::World;

/// What one board has been seen doing.
#[derive(Clone, Debug, Default)]
pub struct BoardObs {
    /// The session's state by its transitions (`None`: no session).
    pub state: Option<SessionState>,
    /// The highest sequence clients were shown.
    pub max_sequence: u64,
    /// When (engine clock) the session last became idle or was created.
    pub idle_since: Option<Timestamp>,
    /// A session of the board ended and is not yet released.
    pub unreleased: bool,
}

/// Who acknowledged a sequence: the host, its engine instance, and the
/// epoch it held for the board (its ownership when it acked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckedBy {
    /// The host (index).
    pub host: usize,
    /// Its engine instance.
    pub instance: u64,
    /// The board's epoch it held.
    pub epoch: Option<huddle_store::Epoch>,
}

impl std::fmt::Display for AckedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host {} (instance {}, epoch ", self.host, self.instance)?;
        match self.epoch {
            Some(e) => write!(f, "{e:?})"),
            None => write!(f, "none)"),
        }
    }
}

/// What the invariants remember between steps.
#[derive(Debug, Default)]
pub struct Observed {
    /// Per board.
    pub boards: BTreeMap<BoardId, BoardObs>,
    /// Each acknowledged (board, sequence): who acknowledged it first, and
    /// the batch (shared by every host: not parked with one).
    pub acks: BTreeMap<(BoardId, u64), (AckedBy, huddle_core::BatchId)>,
    /// The board each joined connection is on.
    pub conn_board: BTreeMap<ConnId, BoardId>,
}

impl Observed {
    /// The engine is gone: no session exists any more.
    pub fn crashed(&mut self) {
        for b in self.boards.values_mut() {
            b.state = None;
            b.idle_since = None;
            b.unreleased = false;
        }
        self.conn_board.clear();
    }
}

impl World {
    /// Checks a release: once per ended session, after it ended, and only
    /// when none of the board's effects is still in flight (so a host never
    /// drops an epoch a write still needs, nor a new session's).
    pub fn observe_release(&mut self, board: BoardId) {
        crate::trace!(self, "released {board}");
        let obs = self.obs.boards.entry(board.clone()).or_default();
        if !std::mem::take(&mut obs.unreleased) {
            return self.fail(format!("{board} released without an ended session"));
        }
        if self.store.board_in_flight(&board) {
            self.fail(format!("{board} released with an effect still in flight"));
        }
    }

    /// Checks an engine event as it leaves the engine.
    pub fn observe_event(&mut self, event: Signal) {
        let clock = self.clock.host.engine_clock;
        if let Err(e) = self.inv.event(&event) {
            return self.fail(e);
        }
        match event {
            Signal::StateChanged {
                board, from, to, ..
            } => {
                crate::trace!(self, "state {board} {from:?} -> {to:?}");
                let obs = self.obs.boards.entry(board.clone()).or_default();
                obs.state = Some(to);
                if to == SessionState::Idle {
                    obs.idle_since = Some(clock);
                }
                if to == SessionState::Archived {
                    self.check_archive(&board);
                }
            }
            Signal::SessionEnded { board, reason } => {
                crate::trace!(self, "ended {board} {reason:?}");
                let obs = self.obs.boards.entry(board.clone()).or_default();
                if std::mem::replace(&mut obs.unreleased, true) {
                    return self.fail(format!("{board} ended again before it was released"));
                }
                let state = obs.state.take();
                obs.idle_since = None;
                if reason == SessionEnd::Archived {
                    self.counters.archives += 1;
                    if state != Some(SessionState::Archived) {
                        self.fail(format!("{board} ended archived from {state:?}"));
                    }
                }
                if reason == SessionEnd::Closed && self.serves(&board) {
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
            Signal::UserSessionEnded(record) if record.status == UserSessionStatus::Timeout => {
                self.counters.session_timeouts += 1;
                let ended = record.ended_at.unwrap_or(Timestamp::EPOCH);
                let quiet = ended.saturating_duration_since(record.last_activity);
                // Never before the deadline; no later than the host's
                // clock reaching it (it lags by at most 5 s), plus the time
                // the host was paused meanwhile, or its clock lagged after a
                // pause that stopped it (several hosts).
                let paused = self.paused_within(record.last_activity, ended);
                let latest =
                    self.config.inactivity_timeout + std::time::Duration::from_secs(5) + paused;
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
        let clock = self.clock.host.engine_clock;
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
        if !self.serves(board) {
            // A deposed host that had nothing left to write: the store's
            // state is the new owner's.
            return;
        }
        let stored = self.store.boards().get(board).cloned().unwrap_or_default();
        let last = stored.sequence();
        if stored.pages_sequence != last || last < obs.max_sequence {
            return self.fail(format!(
                "{board} archived with the store flushed to {} of {last} (clients saw {})",
                stored.pages_sequence, obs.max_sequence
            ));
        }
        // A board over the snapshot cap is archived without one (the
        // engine signals the skip); its flushed state is checked above.
        let too_large = stored.pages.payload_bytes() > self.config.limits.max_snapshot_bytes;
        if kind == SessionType::Persistent
            && !too_large
            && !stored.snapshots.iter().any(|(_, s)| {
                s.version == last && s.created_by == huddle_core::SnapshotCause::Archive
            })
        {
            self.fail(format!(
                "persistent {board} archived without an archive snapshot at {last}"
            ));
        }
    }

    /// Checks a notice as it leaves the engine: the shared checks
    /// ([`huddle_testkit::invariants`]), then the simulator's counters.
    pub fn observe_notice(&mut self, conn: ConnId, notice: &Notice) {
        let batch_len = match notice {
            Notice::Ack { batch, .. } => {
                Some(self.ledger.lens.get(batch).copied().unwrap_or(0) as u64)
            }
            _ => None,
        };
        let checked = self.inv.notice(
            conn,
            notice,
            &self.engine,
            self.store.durable.model(),
            batch_len,
        );
        if let Err(e) = checked {
            return self.fail(e);
        }
        match notice {
            Notice::Joined(joined) => {
                crate::trace!(
                    self,
                    "joined {conn:?} {} at {} from {} {}",
                    joined.board,
                    joined.sequence,
                    joined.history_from,
                    match &joined.sync {
                        JoinSync::Delta { events } => format!("delta {}", events.len()),
                        JoinSync::Full { reason, .. } => format!("full {reason:?}"),
                    }
                );
                match &joined.sync {
                    JoinSync::Delta { .. } => self.counters.deltas += 1,
                    JoinSync::Full { .. } => self.counters.fulls += 1,
                }
                self.obs.conn_board.insert(conn, joined.board.clone());
                let obs = self.obs.boards.entry(joined.board.clone()).or_default();
                obs.max_sequence = obs.max_sequence.max(joined.sequence);
            }
            Notice::Events(events) => {
                let first = events.first().map_or(0, |e| e.seq);
                let last = events.last().map_or(0, |e| e.seq);
                crate::trace!(self, "events {conn:?} {first}..={last}");
                if let Some(board) = self.obs.conn_board.get(&conn).cloned() {
                    let obs = self.obs.boards.entry(board).or_default();
                    obs.max_sequence = obs.max_sequence.max(last);
                }
            }
            Notice::Ack { batch, sequence } => {
                crate::trace!(self, "ack {conn:?} {batch} {sequence}");
                if let Some(board) = self.obs.conn_board.get(&conn).cloned() {
                    self.check_ack_owner(&board, *sequence, batch);
                    let obs = self.obs.boards.entry(board).or_default();
                    obs.max_sequence = obs.max_sequence.max(*sequence);
                }
            }
            _ => {}
        }
    }
}
