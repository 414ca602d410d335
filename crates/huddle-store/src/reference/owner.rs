//! One host performing engine effects against the reference model.

use std::collections::BTreeMap;

use huddle_core::{BoardId, Effect, StorageOutcome};

use super::{LoadShape, ReferenceStore};
use crate::epoch::Epoch;
use crate::error::StoreError;
use crate::model::{AppendBatch, FlushWrite};
use crate::perform::UnknownBoard;

/// One host's ownership of boards: the epochs it acquired, as
/// [`crate::Performer`] holds them. Several owners on one
/// [`ReferenceStore`] are several hosts sharing a store: the last to load
/// a board owns it, and the others' writes to it are fenced.
#[derive(Clone, Debug, Default)]
pub struct Owner {
    epochs: BTreeMap<BoardId, Epoch>,
}

impl Owner {
    /// A host that holds no board.
    pub fn new() -> Self {
        Owner::default()
    }

    /// The epoch this host holds for a board, if it loaded it.
    pub fn epoch(&self, board: &BoardId) -> Option<Epoch> {
        self.epochs.get(board).copied()
    }

    /// Holds `epoch` for a board, as if this host had acquired it (to
    /// replay a write another host issued with it).
    pub fn hold(&mut self, board: BoardId, epoch: Epoch) {
        self.epochs.insert(board, epoch);
    }

    /// Forgets a board (the host dropped its session).
    pub fn release(&mut self, board: &BoardId) {
        self.epochs.remove(board);
    }

    /// Forgets every board (the host crashed).
    pub fn clear(&mut self) {
        self.epochs.clear();
    }

    fn held(&self, board: &BoardId) -> Result<Epoch, StoreError> {
        self.epoch(board)
            .ok_or_else(|| StoreError::NotAcquired(board.clone()))
    }

    /// Performs one effect the way [`crate::Performer::perform`] does: a
    /// load acquires the board first (and hands it out as `shape` says),
    /// every write carries the epoch held. The error is the model's typed
    /// refusal; the caller maps it to the engine's outcome.
    pub fn perform(
        &mut self,
        store: &mut ReferenceStore,
        effect: &Effect,
        unknown: UnknownBoard,
        shape: LoadShape,
    ) -> Result<StorageOutcome, StoreError> {
        match effect {
            Effect::LoadBoard { board, .. } => {
                let epoch = store.acquire_board(board);
                self.epochs.insert(board.clone(), epoch);
                let loaded = if shape == LoadShape::CONTRACT {
                    store.load_board(board)?
                } else {
                    store.load_board_shaped(board, shape)?
                };
                Ok(match (loaded, unknown) {
                    (Some(loaded), _) => StorageOutcome::Loaded(Box::new(loaded)),
                    (None, UnknownBoard::CreateEmpty) => StorageOutcome::Loaded(Box::default()),
                    (None, UnknownBoard::NotFound) => StorageOutcome::NotFound,
                })
            }
            Effect::AppendEvents { board, events, .. } => {
                let epoch = self.held(board)?;
                store.append(&AppendBatch {
                    board: board.clone(),
                    epoch,
                    events: events.clone(),
                })?;
                Ok(StorageOutcome::Stored)
            }
            Effect::Flush { board, batch, .. } => {
                let epoch = self.held(board)?;
                store.flush(&FlushWrite {
                    board: board.clone(),
                    epoch,
                    batch: batch.clone(),
                })?;
                Ok(StorageOutcome::Stored)
            }
            Effect::StoreSnapshot { snapshot, .. } => {
                let epoch = self.held(&snapshot.board)?;
                let id = store.store_snapshot(epoch, snapshot.clone())?;
                Ok(StorageOutcome::SnapshotStored(id))
            }
            Effect::PruneSnapshots {
                board, keep_last, ..
            } => {
                let epoch = self.held(board)?;
                store.prune_snapshots(board, epoch, *keep_last)?;
                Ok(StorageOutcome::Stored)
            }
            Effect::StoreUserSession { record, .. } => {
                let epoch = self.held(&record.board_id)?;
                store.put_user_session(epoch, (**record).clone())?;
                Ok(StorageOutcome::Stored)
            }
        }
    }
}
