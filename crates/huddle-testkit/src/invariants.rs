//! The invariants about the engine and the store, written once and shared
//! by the property tests (`huddle-core/tests/model.rs`), the simulator
//! (`huddle-sim`) and the engine fuzz target.
//!
//! An [`Observer`] watches what leaves one engine (effects, engine events,
//! notices) and, after each step, the engine's sessions against the store
//! (the [`ReferenceStore`] every test host is built on). Each check answers
//! `Err` with a sentence that names what broke; the caller adds its own
//! context (a seed, a step) and fails.
//!
//! - **Sequences**: an append is contiguous and never rewrites a stored
//!   sequence with other content; every board's stored log is gapless from
//!   1; events reach a connection in strictly increasing order,
//!   contiguous, continuing what it was shown.
//! - **Durability**: a session's durable sequence never goes back (across
//!   crashes and archives too) and never exceeds the store's log; its
//!   flushed sequence never exceeds the store's; in ack-on-store mode an
//!   ack names a batch the store holds at that sequence and a broadcast
//!   only stored events.
//! - **Lifecycle**: only the spec's transitions, each from the state the
//!   session was in; a live session's state equals its last transition.
//! - **Sync**: a join gets a delta exactly when the spec says (with exactly
//!   the missed events), else a full state with the right reason; a full
//!   state equals the engine's board.
//! - **Snapshots**: the newest stored snapshot plus the log after it equals
//!   the flushed state plus the log after it (snapshot + log = replay).
//!
//! What is specific to one user stays with it (the property tests' own
//! model of every board, the simulator's archive deadlines and liveness,
//! the fuzz target's wire round trips).

use std::collections::BTreeMap;

use huddle_core::{
    BatchId, BoardId, Config, ConnId, Durability, Effect, Engine, FullSyncReason, JoinSync, Joined,
    Notice, SessionState, Signal,
};
use huddle_store::reference::{BoardRecord, ReferenceStore};

/// A broken invariant, in words.
pub type Violation = String;

/// What the observer remembers of one board.
#[derive(Clone, Debug, Default)]
pub struct BoardSeen {
    /// The session's state by its transitions (`None`: no session).
    pub state: Option<SessionState>,
    /// The highest durable sequence a session of the board ever reported.
    pub max_durable: u64,
    /// The highest sequence clients were shown.
    pub max_sequence: u64,
    /// The stored log is verified gapless up to here.
    verified: usize,
}

/// Watches one engine and its store (see the module docs).
#[derive(Clone, Debug)]
pub struct Observer {
    delta_threshold: u64,
    ack_on_store: bool,
    /// Per board.
    pub boards: BTreeMap<BoardId, BoardSeen>,
    /// The `last_sequence` of each connection's pending join.
    joins: BTreeMap<ConnId, Option<u64>>,
    /// The board each joined connection is on, and the last sequence it
    /// was shown.
    conns: BTreeMap<ConnId, (BoardId, u64)>,
}

impl Observer {
    /// An observer of an engine with this configuration.
    pub fn new(config: &Config) -> Self {
        Observer {
            delta_threshold: config.delta_threshold,
            ack_on_store: config.durability == Durability::AckOnStore,
            boards: BTreeMap::new(),
            joins: BTreeMap::new(),
            conns: BTreeMap::new(),
        }
    }

    /// A connection sent a join with this `last_sequence` (then the sync
    /// its `joined` gets is checked).
    pub fn join_requested(&mut self, conn: ConnId, last_sequence: Option<u64>) {
        self.joins.insert(conn, last_sequence);
    }

    /// A connection is gone (it will join afresh).
    pub fn disconnected(&mut self, conn: ConnId) {
        self.joins.remove(&conn);
        self.conns.remove(&conn);
    }

    /// The engine is gone (a crash): no session or connection exists any
    /// more; what was durable stays durable.
    pub fn crashed(&mut self) {
        for b in self.boards.values_mut() {
            b.state = None;
        }
        self.joins.clear();
        self.conns.clear();
    }

    /// The highest sequence clients of `board` were shown.
    pub fn max_sequence(&self, board: &BoardId) -> u64 {
        self.boards.get(board).map_or(0, |b| b.max_sequence)
    }

    /// An effect as it leaves the engine, before the store performs it: an
    /// append is contiguous and repeats stored sequences only with the same
    /// events; a flush's range is not empty.
    pub fn effect(&mut self, effect: &Effect, store: &ReferenceStore) -> Result<(), Violation> {
        match effect {
            Effect::AppendEvents { board, events, .. } => {
                let first = events.first().map_or(0, |e| e.seq);
                if events.is_empty() || first == 0 {
                    return Err(format!("append to {board} of no events or of sequence 0"));
                }
                if let Some(w) = events.windows(2).find(|w| w[0].seq + 1 != w[1].seq) {
                    return Err(format!(
                        "append to {board} has a hole: {} then {}",
                        w[0].seq, w[1].seq
                    ));
                }
                let stored = store.board(board);
                for e in events.iter() {
                    let Some(held) = stored.and_then(|s| s.events.get((e.seq - 1) as usize)) else {
                        break;
                    };
                    if held != e {
                        return Err(format!(
                            "append rewrites sequence {} of {board}: held {} by {}, new {} by {}",
                            e.seq, held.batch, held.author, e.batch, e.author
                        ));
                    }
                }
                Ok(())
            }
            Effect::Flush { board, batch, .. } if batch.first_seq > batch.through => Err(format!(
                "flush of {board} over the empty range {}..={}",
                batch.first_seq, batch.through
            )),
            _ => Ok(()),
        }
    }

    /// An engine event as it leaves the engine: lifecycle transitions.
    pub fn event(&mut self, event: &Signal) -> Result<(), Violation> {
        match event {
            Signal::StateChanged {
                board, from, to, ..
            } => {
                let seen = self.boards.entry(board.clone()).or_default();
                let known = seen.state.unwrap_or(SessionState::Created);
                if !SessionState::is_legal_transition(*from, *to) || *from != known {
                    return Err(format!(
                        "illegal transition of {board}: {from:?} -> {to:?} (it was {known:?})"
                    ));
                }
                seen.state = Some(*to);
                Ok(())
            }
            Signal::SessionEnded { board, .. } => {
                self.boards.entry(board.clone()).or_default().state = None;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A notice as it leaves the engine. `batch_len` is the number of
    /// mutations of an acked batch, if the caller knows it (then the ack
    /// must continue what the connection was shown).
    pub fn notice(
        &mut self,
        conn: ConnId,
        notice: &Notice,
        engine: &Engine,
        store: &ReferenceStore,
        batch_len: Option<u64>,
    ) -> Result<(), Violation> {
        match notice {
            Notice::Joined(joined) => {
                // The sync rule needs the join's `last_sequence`: checked
                // for joins announced through `join_requested`.
                if let Some(last) = self.joins.remove(&conn) {
                    self.join(conn, last, joined, engine)?;
                }
                self.conns
                    .insert(conn, (joined.board.clone(), joined.sequence));
                self.shown(&joined.board, joined.sequence);
                Ok(())
            }
            Notice::Events(events) => {
                let Some((board, seen)) = self.conns.get(&conn).cloned() else {
                    return Err(format!("events to {conn:?}, which never joined"));
                };
                let first = events.first().map_or(0, |e| e.seq);
                let contiguous = events.windows(2).all(|w| w[1].seq == w[0].seq + 1);
                if first != seen + 1 || !contiguous {
                    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
                    return Err(format!(
                        "events {seqs:?} to {conn:?} after it was shown {seen} (not the next ones)"
                    ));
                }
                let last = events.last().map_or(seen, |e| e.seq);
                self.conns.insert(conn, (board.clone(), last));
                self.shown(&board, last);
                self.durable_at(&board, last, None, store, "broadcast")
            }
            Notice::Ack { batch, sequence } => {
                let Some((board, seen)) = self.conns.get(&conn).cloned() else {
                    return Ok(());
                };
                // A new ack covers the next sequences on this connection (its
                // own batch, which it gets no events for); one at or below
                // what it was shown answers a re-sent batch.
                if let Some(len) = batch_len {
                    if *sequence > seen && sequence.saturating_sub(len) != seen {
                        return Err(format!(
                            "ack of {batch} ({len} mutations) at {sequence} to {conn:?} after it was shown {seen}: a gap"
                        ));
                    }
                }
                self.conns
                    .insert(conn, (board.clone(), seen.max(*sequence)));
                self.shown(&board, *sequence);
                self.durable_at(&board, *sequence, Some(batch), store, "ack")
            }
            _ => Ok(()),
        }
    }

    fn shown(&mut self, board: &BoardId, sequence: u64) {
        let seen = self.boards.entry(board.clone()).or_default();
        seen.max_sequence = seen.max_sequence.max(sequence);
    }

    /// In ack-on-store mode, what clients are shown must be stored (and an
    /// ack's batch at its sequence).
    fn durable_at(
        &self,
        board: &BoardId,
        sequence: u64,
        batch: Option<&BatchId>,
        store: &ReferenceStore,
        what: &str,
    ) -> Result<(), Violation> {
        if !self.ack_on_store {
            return Ok(());
        }
        let log_end = store.board(board).map_or(0, BoardRecord::log_end);
        let held = store
            .board(board)
            .and_then(|s| s.events.get((sequence as usize).wrapping_sub(1)));
        match (held, batch) {
            (None, _) => Err(format!(
                "{what} of {board} at {sequence}, but the store's log ends at {log_end}"
            )),
            (Some(e), Some(b)) if &e.batch != b => Err(format!(
                "ack of {b} at {sequence} of {board}, but the store holds {} there",
                e.batch
            )),
            _ => Ok(()),
        }
    }

    /// The sync a join got: delta exactly when the spec says so.
    fn join(
        &self,
        conn: ConnId,
        last: Option<u64>,
        joined: &Joined,
        engine: &Engine,
    ) -> Result<(), Violation> {
        let (s, h) = (joined.sequence, joined.history_from);
        let threshold = self.delta_threshold;
        let fail = |why: &str| {
            Err(format!(
                "join of {conn:?} to {} with last_sequence {last:?} at sequence {s} (history from {h}): {why}",
                joined.board
            ))
        };
        match (&joined.sync, last) {
            (JoinSync::Delta { events }, Some(l)) => {
                if l > s || s - l >= threshold || l < h {
                    return fail("a delta where the spec says full");
                }
                let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
                if seqs.len() as u64 != s - l || seqs.iter().zip(l + 1..).any(|(a, b)| *a != b) {
                    return fail(&format!("delta with events {seqs:?}"));
                }
                Ok(())
            }
            (JoinSync::Delta { .. }, None) => fail("a delta without a last sequence"),
            (JoinSync::Full { reason, pages }, _) => {
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
                    return fail(&format!(
                        "full sync ({reason:?}) where the spec says {expected:?}"
                    ));
                }
                let live = engine.session(joined.board.as_str()).map(|i| i.sequence);
                if live == Some(s) && engine.pages(joined.board.as_str()) != Some(pages) {
                    return fail("full state differs from the engine's board");
                }
                Ok(())
            }
        }
    }

    /// After a step: every session against the store, every stored log
    /// gapless. Each stored event is looked at once; each board every call
    /// (see [`Observer::state_of`] for many boards).
    pub fn state(&mut self, engine: &Engine, store: &ReferenceStore) -> Result<(), Violation> {
        let mut boards: Vec<&BoardId> = store.boards().keys().collect();
        boards.extend(engine.boards());
        self.state_of(boards, engine, store)
    }

    /// [`Observer::state`] for the boards a step touched (those of its
    /// effects, events and joins; the others did not change).
    pub fn state_of<'a>(
        &mut self,
        boards: impl IntoIterator<Item = &'a BoardId>,
        engine: &Engine,
        store: &ReferenceStore,
    ) -> Result<(), Violation> {
        let boards: std::collections::BTreeSet<&BoardId> = boards.into_iter().collect();
        for board in &boards {
            let (board, Some(stored)) = (*board, store.board(board)) else {
                continue;
            };
            let seen = self.boards.entry(board.clone()).or_default();
            for (i, e) in stored.events.iter().enumerate().skip(seen.verified) {
                if e.seq != i as u64 + 1 {
                    return Err(format!(
                        "the stored log of {board} has {} at position {}",
                        e.seq,
                        i + 1
                    ));
                }
            }
            seen.verified = stored.events.len();
            if stored.pages_sequence > stored.log_end() {
                return Err(format!(
                    "{board}: the stored state is as of {}, past the log's end {}",
                    stored.pages_sequence,
                    stored.log_end()
                ));
            }
        }
        for board in boards {
            let Some(info) = engine.session(board.as_str()) else {
                continue;
            };
            let seen = self.boards.entry(board.clone()).or_default();
            let state = seen.state.unwrap_or(SessionState::Created);
            if state != info.state {
                return Err(format!(
                    "{board} is {:?}, its transitions say {state:?}",
                    info.state
                ));
            }
            let stored = store.board(board);
            let log_end = stored.map_or(0, BoardRecord::log_end);
            let flushed = stored.map_or(0, |s| s.pages_sequence);
            if !info.loading {
                if info.durable_sequence < seen.max_durable {
                    return Err(format!(
                        "{board}: durable sequence went back from {} to {}",
                        seen.max_durable, info.durable_sequence
                    ));
                }
                seen.max_durable = info.durable_sequence;
                seen.max_sequence = seen.max_sequence.max(info.sequence);
            }
            if info.durable_sequence > log_end {
                return Err(format!(
                    "{board}: durable sequence {} beyond the store's log end {log_end}",
                    info.durable_sequence
                ));
            }
            if info.flushed_sequence > flushed {
                return Err(format!(
                    "{board}: flushed sequence {} beyond the store's {flushed}",
                    info.flushed_sequence
                ));
            }
        }
        Ok(())
    }

    /// Snapshot + log = replay: the newest stored snapshot of `board` plus
    /// the log after it equals the flushed state plus the log after it.
    /// Costs a replay: call it when a snapshot was stored.
    pub fn snapshots(&self, board: &BoardId, store: &ReferenceStore) -> Result<(), Violation> {
        let Some(stored) = store.board(board) else {
            return Ok(());
        };
        let Some((id, newest)) = stored.snapshots.last() else {
            return Ok(());
        };
        if newest.version > stored.log_end() {
            if !self.ack_on_store {
                // Acknowledged on apply: a snapshot may run ahead of the log.
                return Ok(());
            }
            return Err(format!(
                "{board}: snapshot {id} at {} is past the log's end {}",
                newest.version,
                stored.log_end()
            ));
        }
        let mut from_snapshot = newest.pages.clone();
        for e in stored.events.iter().filter(|e| e.seq > newest.version) {
            from_snapshot.apply(&e.mutation);
        }
        if from_snapshot != stored.replayed() {
            return Err(format!(
                "{board}: snapshot {id} at {} plus the log differs from the stored board",
                newest.version
            ));
        }
        Ok(())
    }
}
