//! The store model: what is durable, synchronously and in process.
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use huddle_core::{
    BatchId, BatchRecord, BoardId, Effect, Event, LoadedBoard, Pages, SessionType, Snapshot,
    SnapshotId, StorageOutcome, Timestamp, UserId, UserSessionId, UserSessionRecord,
    UserSessionStatus,
};

/// Each user's batches handed to a load (the engine's default window).
pub const BATCH_WINDOW: usize = 1024;

/// One board as the store durably holds it.
#[derive(Clone, Debug, Default)]
pub struct StoredBoard {
    /// The room's type, as first stored.
    pub session_type: Option<SessionType>,
    /// The whole event log, from sequence 1, gapless.
    pub events: Vec<Event>,
    /// Board state as of `pages_sequence` (the last flush).
    pub pages: Pages,
    /// What the flushed state reflects.
    pub pages_sequence: u64,
    /// Snapshots, oldest first.
    pub snapshots: Vec<(SnapshotId, Arc<Snapshot>)>,
    /// Each (user, batch)'s last sequence in the log.
    last_of: HashMap<(UserId, BatchId), u64>,
    /// Each user's batches by their last sequence.
    by_user: HashMap<UserId, BTreeMap<u64, BatchId>>,
    /// The log replayed from nothing up to `replay_seq` (kept incrementally).
    replay: Pages,
    replay_seq: u64,
}

impl StoredBoard {
    /// The last sequence in the log.
    pub fn sequence(&self) -> u64 {
        self.events
            .last()
            .map_or(0, |e| e.seq)
            .max(self.pages_sequence)
    }

    /// The flushed state plus the log after it.
    pub fn replayed(&self) -> Pages {
        let mut pages = self.pages.clone();
        for e in self.events.iter().filter(|e| e.seq > self.pages_sequence) {
            pages.apply(&e.mutation);
        }
        pages
    }

    fn index(&mut self, e: &Event) {
        let key = (e.author.clone(), e.batch.clone());
        let user = self.by_user.entry(e.author.clone()).or_default();
        if let Some(old) = self.last_of.insert(key, e.seq) {
            user.remove(&old);
        }
        user.insert(e.seq, e.batch.clone());
    }

    /// Where `user`'s `batch` last ends in the log, and how many of the
    /// user's other batches end after it (counted up to `cap`).
    pub fn batch_position(
        &self,
        user: &UserId,
        batch: &BatchId,
        cap: usize,
    ) -> Option<(u64, usize)> {
        let seq = *self.last_of.get(&(user.clone(), batch.clone()))?;
        let newer = self
            .by_user
            .get(user)
            .map_or(0, |b| b.range(seq + 1..).take(cap).count());
        Some((seq, newer))
    }

    /// The elements where the flushed state and the replayed log differ.
    pub fn diff(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (page, elements) in self.pages.iter() {
            for (element, data) in elements {
                if self.replay.get(page.as_str(), element.as_str()) != Some(data) {
                    out.push(format!(
                        "{page}/{element}: stored {data:?}, log {:?}",
                        self.replay.get(page.as_str(), element.as_str())
                    ));
                }
            }
        }
        for (page, elements) in self.replay.iter() {
            for (element, data) in elements {
                if self.pages.get(page.as_str(), element.as_str()).is_none() {
                    out.push(format!("{page}/{element}: stored none, log {data:?}"));
                }
            }
        }
        out
    }

    /// Whether the flushed state equals the log replayed up to it.
    fn flushed_state_matches_log(&mut self) -> bool {
        advance_replay(
            &mut self.replay,
            &mut self.replay_seq,
            &self.events,
            self.pages_sequence,
        );
        self.replay_seq == self.pages_sequence && self.replay == self.pages
    }
}

fn advance_replay(replay: &mut Pages, replay_seq: &mut u64, events: &[Event], through: u64) {
    while *replay_seq < through {
        let Some(e) = events.get(*replay_seq as usize) else {
            break;
        };
        replay.apply(&e.mutation);
        *replay_seq += 1;
    }
}

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
}

/// The durable state plus the effects in flight.
#[derive(Debug, Default)]
pub struct StoreModel {
    /// Boards by id.
    pub boards: BTreeMap<BoardId, StoredBoard>,
    /// Effects not yet reported, in issue order.
    pub in_flight: Vec<InFlight>,
    /// While set, every effect fails.
    pub outage_until: Option<Timestamp>,
    /// Events handed to a load: at least this many of the log's tail (and
    /// always every event after the flushed state). Decided by the seed.
    pub load_tail: usize,
    /// Ids this engine instance issued and the host already reported.
    pub reported: Vec<u64>,
    /// The highest id this engine instance issued.
    pub max_issued: u64,
    order: u64,
    snapshots_made: u64,
    /// Boards whose appends may leave a gap (see [`StoreModel::append_failed`]).
    gaps_expected: HashSet<BoardId>,
    /// User session records by id (replaced on every write).
    pub user_sessions: HashMap<UserSessionId, UserSessionRecord>,
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

    /// When the next effect is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.in_flight.iter().map(|f| f.due).min()
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
        })
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
        if let Some(f) = self.in_flight.iter_mut().find(|f| f.effect.id() == id) {
            f.settled = Some(outcome);
        }
    }

    /// An append of `board` failed at the store: until one lands again,
    /// the appends after it may leave a gap, which the store refuses (as a
    /// real store does, `StoreError::Gap`) rather than calling it a breach.
    pub fn append_failed(&mut self, board: &BoardId) {
        self.gaps_expected.insert(board.clone());
    }

    /// The failure of append `id` was reported, and the engine still
    /// waited for it: it abandons the appends of the board issued after it
    /// (it re-sends their events), which no longer count towards
    /// `appends_in_flight` although their reports are still to come.
    pub fn append_failure_reported(&mut self, board: &BoardId, id: huddle_core::EffectId) {
        for f in &mut self.in_flight {
            if matches!(f.effect, Effect::AppendEvents { .. })
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
        Ok(match effect {
            Effect::LoadBoard { board, .. } => self.load(board),
            Effect::AppendEvents { board, events, .. } => {
                let stored = self.boards.entry(board.clone()).or_default();
                for e in events.iter() {
                    let last = stored.events.last().map_or(0, |e| e.seq);
                    if e.seq <= last {
                        let held = &stored.events[(e.seq - 1) as usize];
                        if held != e {
                            return Err(format!(
                                "append rewrites sequence {} of {board}: held {:?} by {}, new {:?} by {}",
                                e.seq, held.batch, held.author, e.batch, e.author
                            ));
                        }
                        continue;
                    }
                    if e.seq != last + 1 {
                        if self.gaps_expected.contains(board) {
                            // Transient: the engine re-sends it after the
                            // earlier ones.
                            return Ok(StorageOutcome::transient(format!(
                                "gap: log ends at {last}, append starts at {}",
                                e.seq
                            )));
                        }
                        return Err(format!(
                            "append leaves a gap in {board}: log ends at {last}, append starts at {}",
                            e.seq
                        ));
                    }
                    stored.events.push(e.clone());
                    stored.index(e);
                    self.gaps_expected.remove(board);
                }
                StorageOutcome::Stored
            }
            Effect::Flush { board, batch, .. } => {
                let stored = self.boards.entry(board.clone()).or_default();
                if batch.through > stored.events.last().map_or(0, |e| e.seq) {
                    return Err(format!(
                        "flush of {board} through {} before the log holds it (log ends at {})",
                        batch.through,
                        stored.sequence()
                    ));
                }
                if batch.through < stored.pages_sequence {
                    return Err(format!(
                        "flush of {board} through {} goes back from {}",
                        batch.through, stored.pages_sequence
                    ));
                }
                {
                    batch.apply_to(&mut stored.pages);
                    stored.pages_sequence = batch.through;
                    if !stored.flushed_state_matches_log() {
                        return Err(format!(
                            "flush of {board} through {} ({}..): stored state differs from the log replayed: {:?}",
                            batch.through, batch.first_seq, stored.diff()
                        ));
                    }
                }
                StorageOutcome::Stored
            }
            Effect::StoreSnapshot { snapshot, .. } => {
                self.snapshots_made += 1;
                let id = SnapshotId::from(format!("snap-{}", self.snapshots_made));
                let stored = self.boards.entry(snapshot.board.clone()).or_default();
                stored.snapshots.push((id.clone(), snapshot.clone()));
                StorageOutcome::SnapshotStored(id)
            }
            Effect::PruneSnapshots {
                board, keep_last, ..
            } => {
                if let Some(stored) = self.boards.get_mut(board) {
                    let excess = stored.snapshots.len().saturating_sub(*keep_last);
                    stored.snapshots.drain(..excess);
                }
                StorageOutcome::Stored
            }
            Effect::StoreUserSession { record, .. } => {
                if let Some(held) = self.user_sessions.get(&record.id) {
                    let ended = held.status != UserSessionStatus::Active;
                    if ended && *held != **record {
                        return Err(format!(
                            "user session {:?} record {:?} overwritten by {:?}",
                            record.id, held.status, record.status
                        ));
                    }
                }
                self.user_sessions.insert(record.id, (**record).clone());
                StorageOutcome::Stored
            }
        })
    }

    /// Whether an effect of `board` is issued and not yet reported.
    pub fn board_in_flight(&self, board: &BoardId) -> bool {
        self.in_flight.iter().any(|f| f.effect.board() == board)
    }

    fn load(&self, board: &BoardId) -> StorageOutcome {
        let Some(stored) = self.boards.get(board) else {
            return StorageOutcome::Loaded(Box::default());
        };
        let after_flush = stored
            .events
            .iter()
            .filter(|e| e.seq > stored.pages_sequence)
            .count();
        let keep = self.load_tail.max(after_flush).min(stored.events.len());
        let events = stored.events[stored.events.len() - keep..].to_vec();
        StorageOutcome::Loaded(Box::new(LoadedBoard {
            session_type: stored.session_type,
            pages: stored.pages.clone(),
            pages_sequence: stored.pages_sequence,
            events,
            snapshot_count: stored.snapshots.len(),
            last_snapshot_version: stored.snapshots.iter().map(|(_, s)| s.version).max(),
            batches: BatchRecord::recent(stored.events.iter().rev(), BATCH_WINDOW),
        }))
    }

    /// The host crashed: effects in flight are lost; `keep(effect)` says
    /// whether one had reached the disk anyway (its write is performed).
    /// Returns contract breaches found while performing kept writes.
    pub fn crash(&mut self, mut keep: impl FnMut(&Effect) -> bool, now: Timestamp) -> Vec<String> {
        let in_flight = std::mem::take(&mut self.in_flight);
        let mut breaches = Vec::new();
        for f in in_flight {
            if f.settled.is_some() {
                // Finished before the crash: its write (if any) is done.
                continue;
            }
            let write = !matches!(f.effect, Effect::LoadBoard { .. });
            if write && keep(&f.effect) {
                if let Err(e) = self.perform(&f.effect, now) {
                    breaches.push(e);
                }
            } else if let Effect::AppendEvents { board, .. } = &f.effect {
                // A later append of the board that did reach the disk
                // would have been refused: it starts after this one.
                self.append_failed(board);
            }
        }
        // The new engine instance starts from what is stored.
        self.gaps_expected.clear();
        self.reported.clear();
        self.max_issued = 0;
        breaches
    }

    /// Remembers that an effect was reported (for stale confirmations).
    pub fn note_reported(&mut self, id: u64) {
        if self.reported.len() >= 64 {
            self.reported.remove(0);
        }
        self.reported.push(id);
    }
}
