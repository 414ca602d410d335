//! The board state: pages of elements, shared copy-on-write.
//!
//! [`Pages`] is an `Arc` of its page table, and every page ([`Page`]) is
//! chunked storage in parts ([`crate::page_part`]): the page's own while
//! no one else holds them, so that a write checks no reference count, and
//! behind `Arc`s once [`Pages::share`] took a share (a full sync, a
//! snapshot: O(parts), about `n / 64 + n / 100` pointer moves for `n`
//! elements, then O(1) while no write intervenes). The first write after
//! a share copies the page table with the pages' chunk and bucket pointers,
//! then the one chunk (and index bucket) it touches, or takes them back
//! without a copy if the share is gone: never the elements of a whole
//! page. The engine takes the page table for a whole committed run of
//! mutations at once ([`Pages::writer`]), so a run pays one uniqueness
//! check for it, and each part one per share.
//!
//! All pages of one `Pages` hash element ids with its one
//! [`ElementHasher`], which the board's pending set takes too: the hash the
//! pending set computes for a committed mutation is the board state's
//! ([`crate::element_hash`]).
//!
//! The order of pages and of elements within a page is that of `IndexMap`s
//! (insertion order, a removal moving the last one into the hole), so
//! iteration, serialization and equality are as they were with plain maps.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::element_hash::ElementHasher;
use crate::ids::{ElementId, PageId};
use crate::mutation::{Mutation, Payload};
use crate::page::Page;

/// All elements of all pages: `{page: {element: data}}`.
///
/// Pages exist only while they hold elements: deleting a page's last element
/// removes the page. Equality ignores order. Cloning is O(1) (the page
/// table is shared), but a write to either side afterwards copies every
/// page part not shared yet: to hand out a copy, take a share
/// ([`Pages::share`]), whose later writes copy only pointers and the parts
/// they touch (see the module docs).
#[derive(Clone)]
pub struct Pages {
    table: Arc<IndexMap<PageId, Page>>,
    /// The hasher of every page's element ids (see [`crate::element_hash`]).
    hasher: ElementHasher,
}

impl Default for Pages {
    fn default() -> Self {
        Pages {
            table: Arc::default(),
            hasher: ElementHasher::new(),
        }
    }
}

/// Equal when they hold the same pages with the same elements, in any
/// order.
impl PartialEq for Pages {
    fn eq(&self, other: &Self) -> bool {
        self.table == other.table
    }
}

impl Eq for Pages {}

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pages").field(&MapView(self)).finish()
    }
}

struct MapView<'a>(&'a Pages);

impl fmt::Debug for MapView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

/// `{page: {element: data}}`, in order.
impl Serialize for Pages {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.table.len()))?;
        for (page, elements) in self.iter() {
            map.serialize_entry(page, elements)?;
        }
        map.end()
    }
}

/// Deserializing keeps the invariant that every page holds elements: an
/// empty page in stored data (`{"p": {}}`) is dropped, as if its last
/// element had been deleted. (Kept, it made `is_empty` wrong and an
/// encoding that `huddle_store::codec` refuses to decode.)
impl<'de> Deserialize<'de> for Pages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pages = IndexMap::<PageId, IndexMap<ElementId, Payload>>::deserialize(d)?;
        let mut out = Pages::new();
        for (page, elements) in pages {
            for (element, data) in elements {
                out.apply(&Mutation::Upsert {
                    page: page.clone(),
                    element,
                    data,
                });
            }
        }
        Ok(out)
    }
}

impl Pages {
    /// No pages.
    pub fn new() -> Self {
        Pages::default()
    }

    /// Applies one mutation. Returns the change in payload bytes held.
    pub fn apply(&mut self, mutation: &Mutation) -> isize {
        self.writer().apply_shared(mutation, &mut 0, None).0
    }

    /// A copy for someone else (a full sync, a snapshot): puts every page
    /// part behind an `Arc` (O(parts), once per share: a share taken while
    /// the last one is still held and nothing was written moves nothing)
    /// and clones. Writes to either side afterwards copy only the page
    /// table's pointers and the parts they touch.
    pub fn share(&mut self) -> Pages {
        if let Some(table) = Arc::get_mut(&mut self.table) {
            table.values_mut().for_each(Page::share);
        }
        self.clone()
    }

    /// Write access for a run of mutations: the page table is made this
    /// `Pages`' own (copied if shared) once, not per mutation.
    pub(crate) fn writer(&mut self) -> PagesWriter<'_> {
        PagesWriter {
            table: Arc::make_mut(&mut self.table),
            hasher: &self.hasher,
        }
    }

    /// The hasher of the element ids of every page.
    pub(crate) fn hasher(&self) -> &ElementHasher {
        &self.hasher
    }

    /// The data of one element.
    pub fn get(&self, page: &str, element: &str) -> Option<&Payload> {
        self.table.get(page)?.get(element)
    }

    /// The elements of one page.
    pub fn page(&self, page: &str) -> Option<&Page> {
        self.table.get(page)
    }

    /// Pages in order.
    pub fn iter(&self) -> impl Iterator<Item = (&PageId, &Page)> {
        self.table.iter()
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.table.len()
    }

    /// Number of elements over all pages.
    pub fn element_count(&self) -> usize {
        self.table.values().map(|p| p.len()).sum()
    }

    /// Sum of all payload sizes.
    pub fn payload_bytes(&self) -> usize {
        self.table
            .values()
            .flat_map(|p| p.values())
            .map(Payload::len)
            .sum()
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Builds pages from `(page, element, data)` triples.
    pub fn from_elements(items: impl IntoIterator<Item = (PageId, ElementId, Payload)>) -> Self {
        let mut pages = Pages::new();
        for (page, element, data) in items {
            pages.apply(&Mutation::Upsert {
                page,
                element,
                data,
            });
        }
        pages
    }
}

/// Writes to a [`Pages`] whose page table it holds exclusively (see
/// [`Pages::writer`]).
pub(crate) struct PagesWriter<'a> {
    table: &'a mut IndexMap<PageId, Page>,
    hasher: &'a ElementHasher,
}

impl PagesWriter<'_> {
    /// Applies one mutation, like [`Pages::apply`], and also returns the
    /// page and element ids to hold for it elsewhere: these pages' own keys
    /// where they keep them (sharing their allocations), else the
    /// mutation's. `hint` is the index of the page touched last: when
    /// consecutive mutations touch one page (the usual case) its id is
    /// compared instead of hashed. It is updated. `hash`, if known, is the
    /// hash of the mutation's element id by [`Pages::hasher`] (so it is not
    /// hashed again).
    pub(crate) fn apply_shared(
        &mut self,
        mutation: &Mutation,
        hint: &mut usize,
        hash: Option<u64>,
    ) -> (isize, PageId, ElementId) {
        let page = mutation.page();
        let pages = &mut *self.table;
        let index = match pages.get_index(*hint) {
            Some((key, _)) if key == page => Some(*hint),
            _ => pages.get_index_of(page),
        };
        match mutation {
            Mutation::Upsert { element, data, .. } => {
                let index = match index {
                    Some(i) => i,
                    None => {
                        let new = Page::with_hasher(self.hasher.clone());
                        pages.insert_full(page.clone(), new).0
                    }
                };
                *hint = index;
                let Some((page_key, elements)) = pages.get_index_mut(index) else {
                    return (0, page.clone(), element.clone());
                };
                let hash = hash.unwrap_or_else(|| self.hasher.hash(element.as_str()));
                let (delta, element_key) = elements.upsert_hashed(element, data, hash);
                (delta, page_key.clone(), element_key)
            }
            Mutation::Delete { element, .. } => {
                let Some((i, (_, elements))) =
                    index.and_then(|i| Some((i, pages.get_index_mut(i)?)))
                else {
                    return (0, page.clone(), element.clone());
                };
                *hint = i;
                let old = elements.remove(element.as_str());
                let emptied = elements.is_empty();
                let (element_key, delta) = match old {
                    Some((key, data)) => (key, -(data.len() as isize)),
                    None => (element.clone(), 0),
                };
                let page_key = if emptied {
                    pages
                        .swap_remove_index(i)
                        .map_or_else(|| page.clone(), |(key, _)| key)
                } else {
                    pages
                        .get_index(i)
                        .map_or_else(|| page.clone(), |(key, _)| key.clone())
                };
                (delta, page_key, element_key)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(page: &str, element: &str, data: &str) -> Mutation {
        Mutation::Upsert {
            page: page.into(),
            element: element.into(),
            data: data.into(),
        }
    }

    #[test]
    fn a_known_hash_writes_what_hashing_the_id_writes() {
        let (mut known, mut hashed) = (Pages::new(), Pages::new());
        let mut hint = (0, 0);
        for i in 0..300 {
            let m = up(
                &format!("p{}", i % 3),
                &format!("e{}", i % 130),
                &i.to_string(),
            );
            let h = known.hasher().hash(m.element().as_str());
            let a = known.writer().apply_shared(&m, &mut hint.0, Some(h));
            let b = hashed.writer().apply_shared(&m, &mut hint.1, None);
            assert_eq!(a, b);
        }
        assert_eq!(known, hashed);
        assert_eq!(known.element_count(), 300);
        // Every page hashes with its state's hasher: ids are found again.
        for i in 0..300 {
            let (p, e) = (format!("p{}", i % 3), format!("e{}", i % 130));
            let data = i.to_string();
            assert_eq!(
                known.get(&p, &e).map(Payload::as_bytes),
                Some(data.as_bytes())
            );
        }
    }
}
