//! One host performing engine effects against the reference model.

use std::collections::BTreeMap;

use huddle_core::{BoardId, Effect, StorageOutcome};

use super::{LoadShape, ReferenceStore};
use crate::epoch::Epoch;
use crate::error::StoreError;
use crate::lease::Node;
use crate::model::{AppendBatch, FlushWrite};
use crate::perform::UnknownBoard;

/// One host's ownership of boards: its [`Node`] identity and the epochs
/// it acquired, as [`crate::Performer`] holds them. Several owners on one
/// [`ReferenceStore`] are several hosts sharing a store: owners of one
/// node (the default) take a board from each other on load, fencing the
/// other's writes (a node restarted); owners of different nodes are
/// refused a board while another's lease on it runs.
#[derive(Clone, Debug, Default)]
pub struct Owner {
    node: Node,
    epochs: BTreeMap<BoardId, Epoch>,
}

impl Owner {
    /// A host of the default node that holds no board.
    pub fn new() -> Self {
        Owner::default()
    }

    /// A host of `node` that holds no board.
    pub fn of_node(node: Node) -> Self {
        Owner {
            node,
            epochs: BTreeMap::new(),
        }
    }

    /// The node this host is.
    pub fn node(&self) -> &Node {
        &self.node
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
    /// every write carries the epoch held. A load refused because another
    /// node's lease runs is `OwnedElsewhere`. The error is the model's
    /// typed refusal; the caller maps it to the engine's outcome.
    pub fn perform(
        &mut self,
        store: &mut ReferenceStore,
        effect: &Effect,
        unknown: UnknownBoard,
        shape: LoadShape,
    ) -> Result<StorageOutcome, StoreError> {
        match effect {
            Effect::LoadBoard { board, .. } => {
                let epoch = match store.acquire_board(board, &self.node) {
                    Ok(acquired) => acquired.epoch,
                    Err(StoreError::OwnedElsewhere { owner, .. }) => {
                        return Ok(StorageOutcome::OwnedElsewhere(owner))
                    }
                    Err(e) => return Err(e),
                };
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
