//! Performing the engine's effects against a store.
//!
//! A host turns each [`Effect`] into store calls and reports the
//! [`StorageOutcome`] the engine expects. [`Performer`] does that, and
//! keeps the ownership epochs: a `LoadBoard` acquires the board (then
//! loads it, so the state it hands the engine is final), and every later
//! write for the board (user session records included) carries that
//! epoch. The host drops the epoch with [`Performer::release`] when the
//! engine says so ([`huddle_core::Output::Released`]); it keeps no
//! bookkeeping of its own.
//!
//! Every [`StoreError`] becomes a typed [`StorageFailure`] here, in one
//! place ([`failure_kind`]):
//! - `Fenced`, `NotAcquired`: **fenced** — another host owns the board (or
//!   this one never acquired it); the engine ends the session at once.
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
use std::sync::{Mutex, MutexGuard, PoisonError};

use huddle_core::{BoardId, Effect, FailureKind, LoadedBoard, StorageFailure, StorageOutcome};

use crate::epoch::Epoch;
use crate::error::StoreError;
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

/// Performs engine effects against a store, holding this host's epochs.
#[derive(Debug)]
pub struct Performer<S> {
    store: S,
    unknown: UnknownBoard,
    epochs: Mutex<HashMap<BoardId, Epoch>>,
}

impl<S: Store> Performer<S> {
    /// A performer over `store`.
    pub fn new(store: S, unknown: UnknownBoard) -> Self {
        Performer {
            store,
            unknown,
            epochs: Mutex::new(HashMap::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The epoch this host holds for a board, if it loaded it.
    pub fn epoch(&self, board: &BoardId) -> Option<Epoch> {
        self.epochs().get(board).copied()
    }

    /// Forgets a board's epoch: call it on the engine's
    /// [`Output::Released`](huddle_core::Output::Released), which comes
    /// after the last effect of the board's ended session and before the
    /// next session's load. Harmless to skip: the next load acquires a new
    /// epoch anyway.
    pub fn release(&self, board: &BoardId) {
        self.epochs().remove(board);
    }

    fn epochs(&self) -> MutexGuard<'_, HashMap<BoardId, Epoch>> {
        self.epochs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn held(&self, board: &BoardId) -> Result<Epoch, StoreError> {
        self.epoch(board)
            .ok_or_else(|| StoreError::NotAcquired(board.clone()))
    }

    /// Performs one effect and returns the outcome to report for it.
    pub async fn perform(&self, effect: &Effect) -> StorageOutcome {
        match effect {
            Effect::LoadBoard { board, .. } => match self.load(board).await {
                Ok(Some(loaded)) => StorageOutcome::Loaded(Box::new(loaded)),
                Ok(None) => match self.unknown {
                    UnknownBoard::CreateEmpty => StorageOutcome::Loaded(Box::default()),
                    UnknownBoard::NotFound => StorageOutcome::NotFound,
                },
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

    async fn load(&self, board: &BoardId) -> Result<Option<LoadedBoard>, StoreError> {
        let epoch = self.store.acquire_board(board).await?;
        self.epochs().insert(board.clone(), epoch);
        self.store.load_board(board).await
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
