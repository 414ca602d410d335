//! Performing the engine's effects against a store.
//!
//! A host turns each [`Effect`] into store calls and reports the
//! [`StorageOutcome`] the engine expects. [`Performer`] does that, and
//! keeps the ownership epochs: a `LoadBoard` acquires the board (then
//! loads it, so the state it hands the engine is final), and every later
//! write for the board carries that epoch. A host that lost a board to
//! another owner gets `Failed` outcomes with a `Fenced` message, and the
//! engine keeps the data pending instead of believing it stored.
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

use huddle_core::{BoardId, Effect, LoadedBoard, StorageOutcome};

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

    /// Forgets a board's epoch (when its session left memory). Harmless to
    /// skip: the next load acquires a new one anyway.
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
                    StorageOutcome::Failed("the store answered fewer batches than sent".into())
                }
                None => self.perform(effect).await,
            });
        }
        out
    }
}

fn failed(e: &StoreError) -> StorageOutcome {
    StorageOutcome::Failed(e.to_string())
}

fn stored(result: Result<(), StoreError>) -> StorageOutcome {
    match result {
        Ok(()) => StorageOutcome::Stored,
        Err(e) => failed(&e),
    }
}
