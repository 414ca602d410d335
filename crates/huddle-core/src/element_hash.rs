//! The hash of element ids, one per board state, shared with the board's
//! pending set so that a committed mutation's element id is hashed once,
//! not once for each.
//!
//! An [`ElementHasher`] is a keyed SipHash (`RandomState`: element ids
//! come from clients) behind an `Arc`, so that its copies can tell they are
//! one hasher ([`ElementHasher::same`]): a hash computed by one is used in
//! a table built with another only if they are the same, never otherwise.
//! [`KnownHashes`] carries the hashes of a run of events from where they
//! were computed (the pending set, when the events became durable) to where
//! they are used again (the board state, when they are committed).

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::BuildHasher;
use std::sync::Arc;

use smallvec::SmallVec;

/// A keyed hash of element ids. (No `Default`: a table of element ids is
/// built with the hasher of the state it belongs to, never a fresh one.)
#[derive(Clone, Debug)]
pub(crate) struct ElementHasher(Arc<RandomState>);

impl ElementHasher {
    /// A hasher with fresh keys.
    // The keys place ids in index tables only: no order that reaches an
    // output follows them.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn new() -> Self {
        ElementHasher(Arc::new(RandomState::new()))
    }

    /// The hash of an element id (as its `ElementId` hashes in a map built
    /// with this hasher).
    #[inline]
    pub(crate) fn hash(&self, element: &str) -> u64 {
        self.0.hash_one(element)
    }

    /// Whether `other` is this very hasher (so its hashes are this one's).
    #[inline]
    pub(crate) fn same(&self, other: &ElementHasher) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl BuildHasher for ElementHasher {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        self.0.build_hasher()
    }
}

/// The element hashes of consecutive events, by sequence, and the hasher
/// that computed them.
#[derive(Debug)]
pub(crate) struct KnownHashes {
    hasher: ElementHasher,
    first_seq: u64,
    hashes: SmallVec<[u64; 16]>,
}

impl KnownHashes {
    /// None yet, to be computed by `hasher`.
    pub(crate) fn new(hasher: ElementHasher) -> Self {
        KnownHashes {
            hasher,
            first_seq: 0,
            hashes: SmallVec::new(),
        }
    }

    /// The hasher the hashes are (to be) computed with.
    pub(crate) fn hasher(&self) -> &ElementHasher {
        &self.hasher
    }

    /// Keeps the hash of event `seq`'s element. Only a run of consecutive
    /// sequences is kept: a gap ends it (later hashes are computed again
    /// where they are needed).
    pub(crate) fn push(&mut self, seq: u64, hash: u64) {
        if self.hashes.is_empty() {
            self.first_seq = seq;
        } else if Some(seq) != self.first_seq.checked_add(self.hashes.len() as u64) {
            return;
        }
        self.hashes.push(hash);
    }

    /// The hash of event `seq`'s element, if kept: a hash by
    /// [`hasher`](Self::hasher), which the caller checks is its own.
    #[inline]
    pub(crate) fn get(&self, seq: u64) -> Option<u64> {
        let i = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.hashes.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ElementId;

    #[test]
    fn a_hash_is_that_of_the_id_in_a_map_of_the_same_hasher_only() {
        let a = ElementHasher::new();
        let b = ElementHasher::new();
        assert!(a.same(&a.clone()));
        assert!(!a.same(&b));
        let id = ElementId::from("el-1");
        assert_eq!(a.hash("el-1"), a.hash_one(&id), "str and ElementId agree");

        let mut known = KnownHashes::new(a.clone());
        known.push(7, a.hash("x"));
        known.push(8, a.hash("y"));
        known.push(10, a.hash("gap"));
        assert!(known.hasher().same(&a));
        assert_eq!(known.get(7), Some(a.hash("x")));
        assert_eq!(known.get(8), Some(a.hash("y")));
        assert_eq!(known.get(10), None, "after a gap");
        assert_eq!(known.get(6), None);
    }
}
