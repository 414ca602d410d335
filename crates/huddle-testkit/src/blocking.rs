//! Running huddle-core's virtual-time harness on any store.
//!
//! [`BlockingEffectStore`] implements the harness's
//! [`EffectStore`] for any [`Store`] by performing each
//! effect to completion on a private current-thread tokio runtime, through a
//! [`Performer`] (so epochs are acquired and carried like in a real host).
//! The harness runs in virtual time and never renews leases, so its node
//! (`local`, the default node's identity) leases for
//! [`huddle_store::lease::MAX_LEASE_TTL`]: a test's leases do not run out
//! while it runs.
//!
//! ```
//! use huddle_testkit::{BlockingEffectStore, Harness};
//! use huddle_core::{Config, ConnId, JoinRequest};
//! use huddle_store::{InMemoryStore, UnknownBoard};
//!
//! let store = BlockingEffectStore::new(InMemoryStore::new(), UnknownBoard::CreateEmpty).unwrap();
//! let mut h = Harness::with_store(Config::default(), 1, store);
//! h.join(ConnId(1), JoinRequest::new("b", "alice", "Alice")).unwrap();
//! assert!(h.engine.session("b").is_some());
//! ```
//!
//! Call it from synchronous test code only: blocking inside an async
//! runtime would stall it (tokio refuses with a panic).

use std::fmt;

use huddle_core::{BoardId, Effect, StorageOutcome, Timestamp};
use huddle_store::lease::MAX_LEASE_TTL;
use huddle_store::{Node, Performer, Store, UnknownBoard};

use crate::store::EffectStore;

/// A store driven to completion for each effect (see the module docs).
pub struct BlockingEffectStore<S> {
    performer: Performer<S>,
    runtime: tokio::runtime::Runtime,
}

impl<S: Store> BlockingEffectStore<S> {
    /// Wraps a store; fails only if the runtime cannot be built.
    pub fn new(store: S, unknown: UnknownBoard) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        Ok(BlockingEffectStore {
            performer: Performer::with_node(
                store,
                unknown,
                Node::default().with_lease_ttl(MAX_LEASE_TTL),
            ),
            runtime,
        })
    }

    /// The performer (epochs held, the store).
    pub fn performer(&self) -> &Performer<S> {
        &self.performer
    }

    /// The store.
    pub fn store(&self) -> &S {
        self.performer.store()
    }

    /// Runs any future on the private runtime (to inspect the store from a
    /// synchronous test).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl<S: Store> EffectStore for BlockingEffectStore<S> {
    fn perform(&mut self, effect: &Effect, _now: Timestamp) -> StorageOutcome {
        self.runtime.block_on(self.performer.perform(effect))
    }

    fn release(&mut self, board: &BoardId) {
        self.performer.release(board);
    }
}

impl<S: fmt::Debug> fmt::Debug for BlockingEffectStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingEffectStore")
            .field("performer", &self.performer)
            .finish_non_exhaustive()
    }
}
