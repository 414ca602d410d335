//! Several hosts on one store: the reference model shared by harnesses,
//! each harness a host holding its own ownership epochs.
//!
//! A host acquires a board when it loads it (as [`huddle_store::Performer`]
//! does), so when host B loads a board host A serves, A's epoch is fenced
//! off: the model refuses A's later writes to the board
//! ([`StoreError::Fenced`]) and writes nothing. The harness reports the
//! refusal to A's engine through [`crate::to_outcome`].
//!
//! ```
//! use huddle_testkit::{Harness, SharedStore};
//! use huddle_core::{Config, ConnId, JoinRequest};
//!
//! let shared = SharedStore::default();
//! let mut a = Harness::with_store(Config::default(), 1, shared.host());
//! let mut b = Harness::with_store(Config::default(), 2, shared.host());
//! a.join(ConnId(1), JoinRequest::new("x", "alice", "Alice")).unwrap();
//! b.join(ConnId(2), JoinRequest::new("x", "bob", "Bob")).unwrap();
//! assert!(a.store.epoch("x") < b.store.epoch("x"), "b took the board over");
//! ```

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use huddle_core::{BoardId, Effect, StorageOutcome, Timestamp};
use huddle_store::reference::{LoadShape, Owner, ReferenceStore};
use huddle_store::{Epoch, StoreError, UnknownBoard};

use crate::store::{to_outcome, EffectStore};

/// One reference model that several hosts share (single-threaded: the
/// harnesses run in one test).
#[derive(Clone, Default)]
pub struct SharedStore {
    model: Rc<RefCell<ReferenceStore>>,
}

impl SharedStore {
    /// A new host on this store: it holds no board yet.
    pub fn host(&self) -> HostStore {
        HostStore {
            shared: self.clone(),
            owner: Owner::new(),
            refusals: Vec::new(),
        }
    }

    /// Reads the model.
    pub fn with<R>(&self, read: impl FnOnce(&ReferenceStore) -> R) -> R {
        read(&self.model.borrow())
    }
}

impl fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedStore")
            .field("boards", &self.model.borrow().boards().len())
            .finish_non_exhaustive()
    }
}

/// One host's side of a [`SharedStore`]: its epochs and what the model
/// refused it.
#[derive(Debug)]
pub struct HostStore {
    shared: SharedStore,
    owner: Owner,
    /// The model's refusals of this host's effects, oldest first.
    pub refusals: Vec<StoreError>,
}

impl HostStore {
    /// The store this host shares.
    pub fn shared(&self) -> &SharedStore {
        &self.shared
    }

    /// The epoch this host holds for a board (`None` if it never loaded it).
    pub fn epoch(&self, board: &str) -> Option<Epoch> {
        self.owner.epoch(&BoardId::from(board))
    }

    /// How many of this host's writes were refused as fenced.
    pub fn fenced(&self) -> usize {
        self.refusals
            .iter()
            .filter(|e| matches!(e, StoreError::Fenced { .. }))
            .count()
    }
}

impl EffectStore for HostStore {
    fn perform(&mut self, effect: &Effect, _now: Timestamp) -> StorageOutcome {
        let result = self.owner.perform(
            &mut self.shared.model.borrow_mut(),
            effect,
            UnknownBoard::CreateEmpty,
            LoadShape::CONTRACT,
        );
        if let Err(e) = &result {
            self.refusals.push(e.clone());
        }
        to_outcome(result)
    }
}
