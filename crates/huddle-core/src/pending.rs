//! The pending set: the last write of every element changed since the last
//! confirmed flush, grouped by page.
//!
//! A flush takes the whole set (O(1)); new writes start a fresh set. If the
//! store fails, the taken writes are merged back under the newer ones, so
//! nothing is lost and nothing newer is overwritten.

use indexmap::IndexMap;

use crate::ids::{ElementId, PageId};
use crate::mutation::{Mutation, Payload};
use crate::storage::{FlushBatch, PageChanges};

/// `None` marks a delete.
type PageWrites = IndexMap<ElementId, Option<Payload>>;

#[derive(Debug, Default)]
pub(crate) struct PendingSet {
    pages: IndexMap<PageId, PageWrites>,
    elements: usize,
    /// The index in `pages` of the page written last (consecutive writes
    /// usually touch one page: its id is compared instead of hashed).
    hint: usize,
}

impl PendingSet {
    /// Records a committed mutation as the element's last write.
    pub(crate) fn record(&mut self, mutation: &Mutation) {
        let page = mutation.page();
        let index = match self.pages.get_index(self.hint) {
            Some((key, _)) if key == page => self.hint,
            _ => match self.pages.get_index_of(page) {
                Some(i) => i,
                None => {
                    self.pages
                        .insert_full(page.clone(), PageWrites::default())
                        .0
                }
            },
        };
        self.hint = index;
        let Some((_, writes)) = self.pages.get_index_mut(index) else {
            return;
        };
        let element = mutation.element();
        match writes.get_mut(element) {
            Some(slot) => *slot = mutation.data().cloned(),
            None => {
                writes.insert(element.clone(), mutation.data().cloned());
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
        }
    }

    /// Puts back the writes of a failed flush, under any newer writes.
    pub(crate) fn restore(&mut self, failed: &FlushBatch) {
        for (page, changes) in &failed.pages {
            let writes = self.pages.entry(page.clone()).or_default();
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
        let mut s = PendingSet::default();
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
        let mut s = PendingSet::default();
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
}
