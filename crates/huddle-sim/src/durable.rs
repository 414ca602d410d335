//! What the simulated store durably holds: the storage contract's
//! reference model ([`huddle_store::reference`]) as this host's engine
//! sees it, plus the checks the simulator makes from the store's side.
//!
//! The model decides every answer (epochs, idempotent appends, gap
//! refusal, flush watermarks, loads, snapshots); [`Durable::perform`] is
//! the one place where an effect goes to the model and its refusal becomes
//! an outcome or a breach. Before the model sees a write, the simulator
//! checks the engine's side of the contract: an append never rewrites a
//! stored sequence with other content, and leaves no gap unless an earlier
//! append of the board failed (then the model's refusal is expected); a
//! flush never reaches past the log nor goes back; afterwards the flushed
//! state must equal the log replayed up to it. A host that no longer owns
//! a board (another took it over) is simply fenced by the model.

use std::collections::{BTreeMap, HashMap, HashSet};

use huddle_core::{
    BatchId, BoardId, Effect, Event, Pages, StorageOutcome, UserId, UserSessionStatus,
};
use huddle_store::reference::{BoardRecord, LoadShape, Owner, ReferenceStore};
use huddle_store::{storage_failure, Epoch, StoreError, UnknownBoard};

/// Each user's batches handed to a load (the engine's default window).
pub const BATCH_WINDOW: usize = 1024;

/// What became of a taken-over host's write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleWrite {
    /// The serving host had acquired the board: the store fenced it.
    Fenced,
    /// Nobody had acquired the board since: it landed (the serving host
    /// loads it with the board).
    Landed,
    /// The store refused it for another reason (a gap after an earlier
    /// write of it failed; it never held the board).
    Refused,
}

/// The simulator's indexes over one board's stored log.
#[derive(Clone, Debug, Default)]
struct BoardIndex {
    /// Each (user, batch)'s last sequence in the log.
    last_of: HashMap<(UserId, BatchId), u64>,
    /// Each user's batches by their last sequence.
    by_user: HashMap<UserId, BTreeMap<u64, BatchId>>,
    /// The log replayed from nothing up to `replay_seq` (kept incrementally).
    replay: Pages,
    replay_seq: u64,
    /// The log is indexed up to here.
    indexed: u64,
}

impl BoardIndex {
    fn index(&mut self, e: &Event) {
        let key = (e.author.clone(), e.batch.clone());
        let user = self.by_user.entry(e.author.clone()).or_default();
        if let Some(old) = self.last_of.insert(key, e.seq) {
            user.remove(&old);
        }
        user.insert(e.seq, e.batch.clone());
    }

    /// Replays the log up to `through`.
    fn advance(&mut self, events: &[Event], through: u64) {
        while self.replay_seq < through {
            let Some(e) = events.get(self.replay_seq as usize) else {
                break;
            };
            self.replay.apply(&e.mutation);
            self.replay_seq += 1;
        }
    }
}

/// The durable state: the reference model, the hosts' epochs, the
/// simulator's indexes.
#[derive(Debug, Default)]
pub struct Durable {
    model: ReferenceStore,
    /// The serving host's epochs (a new engine instance keeps them: it
    /// loads every board again before writing to it).
    owner: Owner,
    index: BTreeMap<BoardId, BoardIndex>,
    /// Events handed to a load: at least this many of the log's tail (and
    /// always every event after the flushed state).
    pub load_tail: usize,
    /// Boards whose appends may leave a gap (an earlier one failed).
    gaps_expected: HashSet<BoardId>,
}

impl Durable {
    /// Every board the store has a record of.
    pub fn boards(&self) -> &BTreeMap<BoardId, BoardRecord> {
        self.model.boards()
    }

    /// The model.
    pub fn model(&self) -> &ReferenceStore {
        &self.model
    }

    /// The model, for a second host performing against it.
    pub fn model_mut(&mut self) -> &mut ReferenceStore {
        &mut self.model
    }

    /// The epoch the serving host holds for a board.
    pub fn epoch(&self, board: &BoardId) -> Option<Epoch> {
        self.owner.epoch(board)
    }

    /// Where `user`'s `batch` last ends in the log, and how many of the
    /// user's other batches end after it (counted up to `cap`).
    pub fn batch_position(
        &self,
        board: &BoardId,
        user: &UserId,
        batch: &BatchId,
        cap: usize,
    ) -> Option<(u64, usize)> {
        let index = self.index.get(board)?;
        let seq = *index.last_of.get(&(user.clone(), batch.clone()))?;
        let newer = index
            .by_user
            .get(user)
            .map_or(0, |b| b.range(seq + 1..).take(cap).count());
        Some((seq, newer))
    }

    /// An append of `board` failed: later ones may leave a gap.
    pub fn append_failed(&mut self, board: &BoardId) {
        self.gaps_expected.insert(board.clone());
    }

    /// A new engine instance starts from what is stored.
    pub fn restarted(&mut self) {
        self.gaps_expected.clear();
    }

    /// Puts another host's epochs (and the boards whose appends may leave a
    /// gap) in service, keeping the current ones in `owner` and `gaps`
    /// ([`crate::cluster`]).
    pub fn exchange_host(&mut self, owner: &mut Owner, gaps: &mut HashSet<BoardId>) {
        std::mem::swap(&mut self.owner, owner);
        std::mem::swap(&mut self.gaps_expected, gaps);
    }

    /// The host in service forgets a board's epoch and, if it can reach
    /// the store, frees the board's lease (changing nothing if another
    /// epoch is current).
    pub fn release(&mut self, board: &BoardId, reachable: bool) {
        if let Some(epoch) = self.owner.epoch(board) {
            self.owner.release(board);
            if reachable {
                self.model.release_board(board, epoch);
            }
        }
    }

    /// The host in service restarted: it holds no epoch.
    pub fn forget_epochs(&mut self) {
        self.owner.clear();
    }

    /// The store's clock (what leases run on) reads `now`.
    pub fn set_time(&mut self, now: huddle_core::Timestamp) {
        self.model.set_clock(now.as_millis());
    }

    /// Another host takes over: the serving host from now on holds no
    /// board until it loads it (acquiring a newer epoch).
    pub fn new_owner(&mut self) {
        self.owner.clear();
    }

    /// A write the taken-over host issued with `epoch` lands now. It is
    /// fenced once the serving host acquired the board; landing anyway on
    /// a board the serving host owns is a breach.
    pub fn perform_stale(
        &mut self,
        effect: &Effect,
        epoch: Option<Epoch>,
    ) -> Result<StaleWrite, String> {
        let board = effect.board().clone();
        let owned = self.owns(&board);
        let mut host = Owner::new();
        if let Some(epoch) = epoch {
            host.hold(board.clone(), epoch);
        }
        let shape = LoadShape::CONTRACT;
        match host.perform(&mut self.model, effect, UnknownBoard::CreateEmpty, shape) {
            Err(StoreError::Fenced { .. }) => Ok(StaleWrite::Fenced),
            Ok(_) if owned => Err(format!(
                "a write of the host taken over landed on {board}, which the serving host owns"
            )),
            Ok(_) => {
                self.after_write(effect)?;
                Ok(StaleWrite::Landed)
            }
            Err(_) => Ok(StaleWrite::Refused),
        }
    }

    /// Whether the host in service holds the board's current epoch.
    pub fn owns(&self, board: &BoardId) -> bool {
        let current = self.model.board(board).map(|b| b.epoch);
        current.is_some() && self.owner.epoch(board) == current
    }

    /// The engine's side of the contract, checked before the model sees a
    /// write of a board this host owns. `Err` is a breach.
    fn check_write(&self, effect: &Effect) -> Result<(), String> {
        let board = effect.board();
        let stored = self.model.board(board);
        let log_end = stored.map_or(0, BoardRecord::log_end);
        match effect {
            // A session's record, once ended, is never overwritten by
            // another (its start, say): records keep their order.
            Effect::StoreUserSession { record, .. } => {
                if let Some(held) = self.model.user_session(record.id) {
                    if held.status != UserSessionStatus::Active && *held != **record {
                        return Err(format!(
                            "user session {:?} record {:?} overwritten by {:?}",
                            record.id, held.status, record.status
                        ));
                    }
                }
                Ok(())
            }
            Effect::AppendEvents { events, .. } => {
                for e in events.iter() {
                    if e.seq <= log_end {
                        let held = stored.and_then(|s| s.events.get((e.seq - 1) as usize));
                        if held != Some(e) {
                            return Err(format!(
                                "append rewrites sequence {} of {board}: held {held:?}, new {:?} by {}",
                                e.seq, e.batch, e.author
                            ));
                        }
                    } else if e.seq != log_end + 1 && !self.gaps_expected.contains(board) {
                        return Err(format!(
                            "append leaves a gap in {board}: log ends at {log_end}, append starts at {}",
                            e.seq
                        ));
                    } else {
                        break;
                    }
                }
                Ok(())
            }
            Effect::Flush { batch, .. } => {
                let pages_sequence = stored.map_or(0, |s| s.pages_sequence);
                if batch.through > log_end {
                    return Err(format!(
                        "flush of {board} through {} before the log holds it (log ends at {log_end})",
                        batch.through
                    ));
                }
                if batch.through < pages_sequence {
                    return Err(format!(
                        "flush of {board} through {} goes back from {pages_sequence}",
                        batch.through
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Performs an effect on the durable state. `Err` is a breach of the
    /// storage contract by the engine.
    pub fn perform(&mut self, effect: &Effect) -> Result<StorageOutcome, String> {
        let board = effect.board().clone();
        let write = !matches!(effect, Effect::LoadBoard { .. });
        if write && self.owns(&board) {
            self.check_write(effect)?;
        }
        let shape = LoadShape {
            history: self.load_tail as u64,
            batches_per_user: BATCH_WINDOW,
            batch_max_age: LoadShape::CONTRACT.batch_max_age,
        };
        let result = self
            .owner
            .perform(&mut self.model, effect, UnknownBoard::CreateEmpty, shape);
        match result {
            Ok(outcome) => {
                self.after_write(effect)?;
                Ok(outcome)
            }
            // Fenced: another host owns the board (a takeover), or this
            // host's lease ran out in the store.
            Err(
                e @ (StoreError::Fenced { .. }
                | StoreError::NotAcquired(_)
                | StoreError::LeaseExpired { .. }),
            ) => Ok(StorageOutcome::Failed(storage_failure(&e))),
            // Transient: the engine re-sends it after the earlier ones.
            Err(e @ StoreError::Gap { .. }) if self.gaps_expected.contains(&board) => {
                Ok(StorageOutcome::Failed(storage_failure(&e)))
            }
            Err(e) => Err(format!("the store refused an effect of {board}: {e}")),
        }
    }

    /// Keeps the indexes and checks the flushed state after a write.
    fn after_write(&mut self, effect: &Effect) -> Result<(), String> {
        let board = effect.board();
        let Some(stored) = self.model.board(board) else {
            return Ok(());
        };
        let index = self.index.entry(board.clone()).or_default();
        match effect {
            Effect::AppendEvents { events, .. } => {
                let new = events.last().is_some_and(|e| e.seq > index.indexed);
                for e in stored.events.iter().skip(index.indexed as usize) {
                    index.index(e);
                }
                index.indexed = stored.log_end();
                if new {
                    self.gaps_expected.remove(board);
                }
            }
            Effect::Flush { batch, .. } => {
                index.advance(&stored.events, stored.pages_sequence);
                if index.replay_seq != stored.pages_sequence || index.replay != stored.pages {
                    return Err(format!(
                        "flush of {board} through {} ({}..): stored state differs from the log replayed: {:?}",
                        batch.through,
                        batch.first_seq,
                        diff(&stored.pages, &index.replay)
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The elements where the flushed state and the replayed log differ.
fn diff(pages: &Pages, replay: &Pages) -> Vec<String> {
    let mut out = Vec::new();
    for (page, elements) in pages.iter() {
        for (element, data) in elements {
            let logged = replay.get(page.as_str(), element.as_str());
            if logged != Some(data) {
                out.push(format!("{page}/{element}: stored {data:?}, log {logged:?}"));
            }
        }
    }
    for (page, elements) in replay.iter() {
        for (element, data) in elements {
            if pages.get(page.as_str(), element.as_str()).is_none() {
                out.push(format!("{page}/{element}: stored none, log {data:?}"));
            }
        }
    }
    out
}
