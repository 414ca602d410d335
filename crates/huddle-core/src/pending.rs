//! The pending set: the last write of every element changed since the last
//! confirmed flush, grouped by page.
//!
//! A flush takes the whole set (O(1)); new writes start a fresh set. If the
//! store fails, the taken writes are merged back under the newer ones, so
//! nothing is lost and nothing newer is overwritten.
//!
//! Element ids are hashed by the board state's hasher when the set holds
//! nothing yet ([`PendingSet::record_hashed`] adopts it), so that the hash
//! computed here serves the board state too ([`crate::element_hash`]).

use indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};
use indexmap::IndexMap;

use crate::element_hash::ElementHasher;
use crate::ids::{ElementId, PageId};
use crate::mutation::{Mutation, Payload};
use crate::storage::{FlushBatch, PageChanges};

/// `None` marks a delete.
type PageWrites = IndexMap<ElementId, Option<Payload>, ElementHasher>;

#[derive(Debug)]
pub(crate) struct PendingSet {
    pages: IndexMap<PageId, PageWrites>,
    /// The hasher of every page's element ids.
    hasher: ElementHasher,
    elements: usize,
    /// The index in `pages` of the page written last (consecutive writes
    /// usually touch one page: its id is compared instead of hashed).
    hint: usize,
}

impl PendingSet {
    /// Nothing pending; element ids hashed by `hasher` (the board state's).
    pub(crate) fn new(hasher: ElementHasher) -> Self {
        PendingSet {
            pages: IndexMap::new(),
            hasher,
            elements: 0,
            hint: 0,
        }
    }

    /// Records a committed mutation as the element's last write.
    pub(crate) fn record(&mut self, mutation: &Mutation) {
        let hash = self.hasher.hash(mutation.element().as_str());
        self.record_with(mutation, hash);
    }

    /// Records a mutation like [`record`](Self::record) and returns the
    /// hash of its element id by `hasher`. The set takes `hasher` as its own
    /// when it holds nothing (so the hash is computed once for both); a set
    /// with another hasher hashes the id again with its own.
    pub(crate) fn record_hashed(&mut self, mutation: &Mutation, hasher: &ElementHasher) -> u64 {
        if self.pages.is_empty() && !self.hasher.same(hasher) {
            self.hasher = hasher.clone();
        }
        let hash = hasher.hash(mutation.element().as_str());
        if self.hasher.same(hasher) {
            self.record_with(mutation, hash);
        } else {
            self.record(mutation);
        }
        hash
    }

    /// Records a mutation whose element id hashes to `hash` by the set's
    /// hasher.
    fn record_with(&mut self, mutation: &Mutation, hash: u64) {
        let page = mutation.page();
        let index = match self.pages.get_index(self.hint) {
            Some((key, _)) if key == page => self.hint,
            _ => match self.pages.get_index_of(page) {
                Some(i) => i,
                None => {
                    let writes = PageWrites::with_hasher(self.hasher.clone());
                    self.pages.insert_full(page.clone(), writes).0
                }
            },
        };
        self.hint = index;
        let Some((_, writes)) = self.pages.get_index_mut(index) else {
            return;
        };
        let element = mutation.element();
        match writes
            .raw_entry_mut_v1()
            .from_hash(hash, |key| key == element)
        {
            RawEntryMut::Occupied(mut slot) => *slot.get_mut() = mutation.data().cloned(),
            RawEntryMut::Vacant(slot) => {
                slot.insert_hashed_nocheck(hash, element.clone(), mutation.data().cloned());
                self.elements += 1;
            }
        }
    }

    /// Elements with a pending write.
    pub(crate) fn len(&self) -> usize {
        self.elements
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.elements == 0
    }

    /// Takes everything, as a flush batch covering `first_seq..=through`.
    pub(crate) fn take(&mut self, first_seq: u64, through: u64) -> FlushBatch {
        self.elements = 0;
        let pages = std::mem::take(&mut self.pages)
            .into_iter()
            .map(|(page, writes)| {
                let mut changes = PageChanges::default();
                for (element, data) in writes {
                    match data {
                        Some(d) => changes.upserts.push((element, d)),
                        None => changes.deletes.push(element),
                    }
                }
                (page, changes)
            })
            .collect();
        FlushBatch {
            first_seq,
            through,
            pages,
            batches: Vec::new(),
        }
    }

    /// Puts back the writes of a failed flush, under any newer writes.
    pub(crate) fn restore(&mut self, failed: &FlushBatch) {
        for (page, changes) in &failed.pages {
            let hasher = &self.hasher;
            let writes = self
                .pages
                .entry(page.clone())
                .or_insert_with(|| PageWrites::with_hasher(hasher.clone()));
            let older = changes
                .upserts
                .iter()
                .map(|(e, d)| (e, Some(d.clone())))
                .chain(changes.deletes.iter().map(|e| (e, None)));
            for (element, data) in older {
                if !writes.contains_key(element) {
                    writes.insert(element.clone(), data);
                    self.elements += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(p: &str, e: &str, d: &str) -> Mutation {
        Mutation::Upsert {
            page: p.into(),
            element: e.into(),
            data: d.into(),
        }
    }

    #[test]
    fn last_write_wins_grouped_by_page() {
        let mut s = PendingSet::new(ElementHasher::new());
        s.record(&up("p1", "a", "1"));
        s.record(&up("p2", "b", "2"));
        s.record(&up("p1", "a", "3"));
        s.record(&Mutation::Delete {
            page: "p2".into(),
            element: "b".into(),
        });
        assert_eq!(s.len(), 2);
        let b = s.take(1, 4);
        assert!(s.is_empty());
        assert_eq!((b.first_seq, b.through), (1, 4));
        assert_eq!(b.pages["p1"].upserts, vec![("a".into(), "3".into())]);
        assert!(b.pages["p2"].upserts.is_empty());
        assert_eq!(b.pages["p2"].deletes, vec![ElementId::from("b")]);
    }

    #[test]
    fn restore_keeps_newer_writes() {
        let mut s = PendingSet::new(ElementHasher::new());
        s.record(&up("p", "a", "old"));
        s.record(&up("p", "b", "old"));
        let failed = s.take(1, 2);
        s.record(&up("p", "a", "new"));
        s.restore(&failed);
        assert_eq!(s.len(), 2);
        let b = s.take(1, 3);
        let ups: Vec<_> = b.pages["p"]
            .upserts
            .iter()
            .map(|(e, d)| (e.as_str().to_owned(), d.clone()))
            .collect();
        assert!(ups.contains(&("a".to_owned(), Payload::from("new"))));
        assert!(ups.contains(&("b".to_owned(), Payload::from("old"))));
    }

    fn upserts(b: &FlushBatch, page: &str) -> Vec<(String, Payload)> {
        let mut ups: Vec<_> = b.pages[page]
            .upserts
            .iter()
            .map(|(e, d)| (e.as_str().to_owned(), d.clone()))
            .collect();
        ups.sort_by(|x, y| x.0.cmp(&y.0));
        ups
    }

    #[test]
    fn a_hash_is_shared_only_with_the_same_hasher() {
        let (board, other) = (ElementHasher::new(), ElementHasher::new());
        let mut s = PendingSet::new(ElementHasher::new());
        // Empty: the set takes the board's hasher.
        let h = s.record_hashed(&up("p", "a", "1"), &board);
        assert_eq!(h, board.hash("a"));
        assert!(s.hasher.same(&board));
        // Not empty: another hasher's hash is not used, the id is hashed
        // again; the writes still land on the same elements.
        assert_eq!(s.record_hashed(&up("p", "a", "2"), &other), other.hash("a"));
        s.record_hashed(&up("p", "b", "3"), &other);
        s.record_hashed(&up("p", "b", "4"), &board);
        s.record(&up("p", "a", "5"));
        assert!(s.hasher.same(&board));
        assert_eq!(s.len(), 2);
        // A failed flush put back under newer writes, then a later hasher.
        let failed = s.take(1, 5);
        s.record_hashed(&up("p", "c", "6"), &other);
        assert!(s.hasher.same(&other), "taken when empty");
        s.restore(&failed);
        s.record_hashed(&up("p", "a", "7"), &other);
        s.record_hashed(&up("p", "b", "8"), &board);
        assert_eq!(s.len(), 3);
        let b = s.take(1, 8);
        let want: Vec<(String, Payload)> = [("a", "7"), ("b", "8"), ("c", "6")]
            .iter()
            .map(|(e, d)| ((*e).to_owned(), Payload::from(*d)))
            .collect();
        assert_eq!(upserts(&b, "p"), want);
    }
}
