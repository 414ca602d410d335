//! Performing the engine's effects against a store.
//!
//! A host turns each [`Effect`] into store calls and reports the
//! [`StorageOutcome`] the engine expects. [`Performer`] does that, as one
//! [`Node`], and keeps the node's leases: a `LoadBoard` acquires the board
//! (then loads it, so the state it hands the engine is final; a board
//! another node's lease holds answers
//! [`StorageOutcome::OwnedElsewhere`]), and every later write for the
//! board (user session records included) carries that epoch. The host
//! drops the epoch with [`Performer::release`] when the engine says so
//! ([`huddle_core::Output::Released`]) and frees the lease in the store
//! ([`Store::release_board`]).
//!
//! **Leases.** The host calls [`Performer::renew`] every
//! [`Node::renew_every`]; each board's lease counts as confirmed from the
//! moment the acquire or renewal that the store granted was sent. Past
//! [`Node::safe_window`] after that moment the performer writes nothing
//! more for the board (its writes fail as fenced, so the engine acks
//! nothing), although the store's lease runs a little longer; the host
//! ends such boards' sessions at once ([`Performer::overdue`], and the
//! boards a renewal did not renew).
//!
//! Every [`StoreError`] becomes a typed [`StorageFailure`] here, in one
//! place ([`failure_kind`]):
//! - `Fenced`, `LeaseExpired`, `NotAcquired` (and `OwnedElsewhere` outside
//!   a load): **fenced** — another host owns the board, this one's lease
//!   ended (or it never acquired the board); the engine ends the session at
//!   once.
//! - `Unavailable`, `Injected`, `Gap`: **transient** — retried with
//!   backoff. A `Gap` must stay transient: with pipelined appends a store
//!   refuses an append whose predecessor has not landed yet, and the engine
//!   re-sends it after the earlier ones.
//! - `Corrupt`, `Invalid`, `FlushGap`, `FlushAhead` (and `RoomExists`,
//!   which no effect causes): **invalid** — retrying cannot help.
//!
//! ```
//! use huddle_core::{BoardId, Effect, EffectId, StorageOutcome};
//! use huddle_store::{InMemoryStore, Performer, UnknownBoard};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let performer = Performer::new(InMemoryStore::new(), UnknownBoard::CreateEmpty);
//! let load = Effect::LoadBoard { id: EffectId(1), board: BoardId::from("b") };
//! assert!(matches!(performer.perform(&load).await, StorageOutcome::Loaded(_)));
//! # });
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use huddle_core::{BoardId, Effect, FailureKind, StorageFailure, StorageOutcome};

use crate::epoch::Epoch;
use crate::error::StoreError;
use crate::lease::Node;
use crate::model::{AppendBatch, FlushWrite};
use crate::store::Store;

/// What a load of a board the store does not know answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownBoard {
    /// An empty board: boards are created on first use.
    #[default]
    CreateEmpty,
    /// `NotFound`: only rooms created beforehand (`POST /rooms`) exist;
    /// joins of other boards get `BOARD_NOT_FOUND`.
    NotFound,
}

/// Performs engine effects against a store as one [`Node`], holding the
/// node's epochs and leases.
#[derive(Debug)]
pub struct Performer<S> {
    store: S,
    unknown: UnknownBoard,
    node: Node,
    held: Mutex<HashMap<BoardId, Held>>,
    takeovers: AtomicU64,
}

/// A board this node acquired: its epoch, and when the last acquire or
/// renewal the store granted was sent.
#[derive(Clone, Copy, Debug)]
struct Held {
    epoch: Epoch,
    confirmed: Instant,
}

impl<S: Store> Performer<S> {
    /// A performer over `store`, as the default (single) [`Node`].
    pub fn new(store: S, unknown: UnknownBoard) -> Self {
        Performer::with_node(store, unknown, Node::default())
    }

    /// A performer over `store`, as `node`.
    pub fn with_node(store: S, unknown: UnknownBoard, node: Node) -> Self {
        Performer {
            store,
            unknown,
            node,
            held: Mutex::new(HashMap::new()),
            takeovers: AtomicU64::new(0),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The node this performer is.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The epoch this host holds for a board, if it loaded it.
    pub fn epoch(&self, board: &BoardId) -> Option<Epoch> {
        self.leases().get(board).map(|h| h.epoch)
    }

    /// How many boards this node holds.
    pub fn leases_held(&self) -> usize {
        self.leases().len()
    }

    /// How many acquires took a board over from another node whose lease
    /// had expired.
    pub fn takeovers(&self) -> u64 {
        self.takeovers.load(Ordering::Relaxed)
    }

    /// Forgets a board's epoch and returns it: call it on the engine's
    /// [`Output::Released`](huddle_core::Output::Released), which comes
    /// after the last effect of the board's ended session and before the
    /// next session's load, then free the lease with
    /// [`Store::release_board`] and the epoch returned (a release that
    /// arrives after a newer acquire changes nothing).
    pub fn release(&self, board: &BoardId) -> Option<Epoch> {
        self.leases().remove(board).map(|h| h.epoch)
    }

    /// Renews every lease this node holds in one store call. Answers the
    /// boards lost: held when the call was sent and not renewed (expired
    /// or taken over); they are forgotten here, and the host ends their
    /// sessions. A failed call renews nothing and loses nothing (the safe
    /// window decides, see [`Performer::overdue`]).
    pub async fn renew(&self) -> Result<Vec<BoardId>, StoreError> {
        let asked: Vec<(BoardId, Epoch)> = self
            .leases()
            .iter()
            .map(|(b, h)| (b.clone(), h.epoch))
            .collect();
        if asked.is_empty() {
            return Ok(Vec::new());
        }
        let boards: Vec<BoardId> = asked.iter().map(|(b, _)| b.clone()).collect();
        let sent = Instant::now();
        let renewed = self.store.renew_leases(&self.node, &boards).await?;
        let mut held = self.leases();
        let mut lost = Vec::new();
        for (board, epoch) in asked {
            let Some(h) = held.get_mut(&board).filter(|h| h.epoch == epoch) else {
                continue; // released or acquired again meanwhile
            };
            if renewed.contains(&board) {
                h.confirmed = h.confirmed.max(sent);
            } else {
                held.remove(&board);
                lost.push(board);
            }
        }
        Ok(lost)
    }

    /// When the stalest lease this node holds was last confirmed (the send
    /// time of the acquire or renewal the store granted), if it holds any.
    /// A host renews once that is a renewal period
    /// ([`Node::renew_every`]) ago, whatever its schedule: an acquire
    /// answered late starts its lease late in the host's view, and must
    /// not wait for the schedule's next turn.
    pub fn stalest_confirmation(&self) -> Option<Instant> {
        self.leases().values().map(|h| h.confirmed).min()
    }

    /// The boards whose safe window ([`Node::safe_window`]) has closed at
    /// `now` without a renewal: forgotten here (their writes are refused
    /// from now on); the host ends their sessions.
    pub fn overdue(&self, now: Instant) -> Vec<BoardId> {
        let window = self.node.safe_window();
        let mut held = self.leases();
        let late: Vec<BoardId> = held
            .iter()
            .filter(|(_, h)| now >= h.confirmed + window)
            .map(|(b, _)| b.clone())
            .collect();
        for board in &late {
            held.remove(board);
        }
        late
    }

    fn leases(&self) -> MutexGuard<'_, HashMap<BoardId, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The epoch to write with, while the board's safe window is open.
    fn held(&self, board: &BoardId) -> Result<Epoch, StoreError> {
        let held = self
            .leases()
            .get(board)
            .copied()
            .ok_or_else(|| StoreError::NotAcquired(board.clone()))?;
        if Instant::now() >= held.confirmed + self.node.safe_window() {
            return Err(StoreError::LeaseExpired {
                board: board.clone(),
                epoch: held.epoch,
            });
        }
        Ok(held.epoch)
    }

    /// Performs one effect and returns the outcome to report for it.
    pub async fn perform(&self, effect: &Effect) -> StorageOutcome {
        match effect {
            Effect::LoadBoard { board, .. } => match self.load(board).await {
                Ok(outcome) => outcome,
                Err(StoreError::OwnedElsewhere { owner, .. }) => {
                    StorageOutcome::OwnedElsewhere(owner)
                }
                Err(e) => failed(&e),
            },
            Effect::AppendEvents { board, events, .. } => {
                let result = match self.held(board) {
                    Ok(epoch) => {
                        let batch = AppendBatch {
                            board: board.clone(),
                            epoch,
                            events: events.clone(),
                        };
                        self.store
                            .append_events(vec![batch])
                            .await
                            .pop()
                            .unwrap_or_else(|| {
                                Err(StoreError::Unavailable("the store gave no answer".into()))
                            })
                    }
                    Err(e) => Err(e),
                };
                stored(result)
            }
            Effect::Flush { board, batch, .. } => {
                let result = match self.held(board) {
                    Ok(epoch) => {
                        self.store
                            .flush(FlushWrite {
                                board: board.clone(),
                                epoch,
                                batch: batch.clone(),
                            })
                            .await
                    }
                    Err(e) => Err(e),
                };
                stored(result)
            }
            Effect::StoreSnapshot { snapshot, .. } => {
                let result = match self.held(&snapshot.board) {
                    Ok(epoch) => self.store.store_snapshot(epoch, snapshot.clone()).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(id) => StorageOutcome::SnapshotStored(id),
                    Err(e) => failed(&e),
                }
            }
            Effect::PruneSnapshots {
                board, keep_last, ..
            } => {
                let result = match self.held(board) {
                    Ok(epoch) => self
                        .store
                        .prune_snapshots(board, epoch, *keep_last)
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                };
                stored(result)
            }
            Effect::StoreUserSession { record, .. } => {
                let result = match self.held(&record.board_id) {
                    Ok(epoch) => self.store.put_user_session(epoch, (**record).clone()).await,
                    Err(e) => Err(e),
                };
                stored(result)
            }
        }
    }

    async fn load(&self, board: &BoardId) -> Result<StorageOutcome, StoreError> {
        let sent = Instant::now();
        let acquired = self.store.acquire_board(board, &self.node).await?;
        if acquired.took_over {
            self.takeovers.fetch_add(1, Ordering::Relaxed);
        }
        let held = Held {
            epoch: acquired.epoch,
            confirmed: sent,
        };
        self.leases().insert(board.clone(), held);
        Ok(match self.store.load_board(board).await? {
            Some(loaded) => StorageOutcome::Loaded(Box::new(loaded)),
            None => match self.unknown {
                UnknownBoard::CreateEmpty => StorageOutcome::Loaded(Box::default()),
                UnknownBoard::NotFound => StorageOutcome::NotFound,
            },
        })
    }

    /// Performs many effects at once: every `AppendEvents` among them in one
    /// group commit, the others one by one. Returns one outcome per effect,
    /// in order.
    pub async fn perform_appends(&self, effects: &[Effect]) -> Vec<StorageOutcome> {
        let mut outcomes: Vec<Option<StorageOutcome>> = vec![None; effects.len()];
        let mut batches = Vec::new();
        let mut slots = Vec::new();
        for (i, effect) in effects.iter().enumerate() {
            if let Effect::AppendEvents { board, events, .. } = effect {
                match self.held(board) {
                    Ok(epoch) => {
                        batches.push(AppendBatch {
                            board: board.clone(),
                            epoch,
                            events: events.clone(),
                        });
                        slots.push(i);
                    }
                    Err(e) => outcomes[i] = Some(failed(&e)),
                }
            }
        }
        if !batches.is_empty() {
            let results = self.store.append_events(batches).await;
            for (slot, result) in slots.into_iter().zip(results) {
                outcomes[slot] = Some(stored(result));
            }
        }
        let mut out = Vec::with_capacity(effects.len());
        for (effect, outcome) in effects.iter().zip(outcomes) {
            out.push(match outcome {
                Some(o) => o,
                None if matches!(effect, Effect::AppendEvents { .. }) => {
                    StorageOutcome::transient("the store answered fewer batches than sent")
                }
                None => self.perform(effect).await,
            });
        }
        out
    }
}

/// What the engine makes of a store error (see the module docs).
pub fn failure_kind(e: &StoreError) -> FailureKind {
    match e {
        StoreError::Fenced { .. }
        | StoreError::LeaseExpired { .. }
        | StoreError::OwnedElsewhere { .. }
        | StoreError::NotAcquired(_) => FailureKind::Fenced,
        StoreError::Unavailable(_) | StoreError::Injected(_) | StoreError::Gap { .. } => {
            FailureKind::Transient
        }
        StoreError::Corrupt(_)
        | StoreError::Invalid(_)
        | StoreError::FlushGap { .. }
        | StoreError::FlushAhead { .. }
        | StoreError::RoomExists(_) => FailureKind::Invalid,
    }
}

/// A store error as the engine's typed failure.
pub fn storage_failure(e: &StoreError) -> StorageFailure {
    StorageFailure::new(failure_kind(e), e.to_string())
}

fn failed(e: &StoreError) -> StorageOutcome {
    StorageOutcome::Failed(storage_failure(e))
}

fn stored(result: Result<(), StoreError>) -> StorageOutcome {
    match result {
        Ok(()) => StorageOutcome::Stored,
        Err(e) => failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epoch::Epoch;

    #[test]
    fn every_store_error_has_its_failure_kind() {
        let b = || BoardId::from("b");
        let cases = [
            (
                StoreError::Fenced {
                    board: b(),
                    presented: Epoch::new(1),
                    current: Epoch::new(2),
                },
                FailureKind::Fenced,
            ),
            (StoreError::NotAcquired(b()), FailureKind::Fenced),
            (
                StoreError::LeaseExpired {
                    board: b(),
                    epoch: Epoch::new(1),
                },
                FailureKind::Fenced,
            ),
            (
                StoreError::OwnedElsewhere {
                    board: b(),
                    owner: huddle_core::BoardOwner {
                        node: "n".into(),
                        url: "ws://n".into(),
                    },
                },
                FailureKind::Fenced,
            ),
            (StoreError::Unavailable("io".into()), FailureKind::Transient),
            (StoreError::Injected("x"), FailureKind::Transient),
            (
                StoreError::Gap {
                    board: b(),
                    log_end: 1,
                    first: 3,
                },
                FailureKind::Transient,
            ),
            (StoreError::Corrupt("x".into()), FailureKind::Invalid),
            (StoreError::Invalid("x".into()), FailureKind::Invalid),
            (
                StoreError::FlushGap {
                    board: b(),
                    pages_sequence: 1,
                    first_seq: 3,
                },
                FailureKind::Invalid,
            ),
            (
                StoreError::FlushAhead {
                    board: b(),
                    through: 5,
                    log_end: 3,
                },
                FailureKind::Invalid,
            ),
            (StoreError::RoomExists(b()), FailureKind::Invalid),
        ];
        for (error, kind) in cases {
            let failure = storage_failure(&error);
            assert_eq!(failure.kind, kind, "{error}");
            assert_eq!(failure.message, error.to_string());
        }
    }
}
