//! The board state: pages of elements.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::ids::{ElementId, PageId};
use crate::mutation::{Mutation, Payload};

/// All elements of all pages: `{page: {element: data}}`.
///
/// Pages exist only while they hold elements: deleting a page's last element
/// removes the page. Equality ignores order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Pages(IndexMap<PageId, IndexMap<ElementId, Payload>>);

/// Deserializing keeps the invariant that every page holds elements: an
/// empty page in stored data (`{"p": {}}`) is dropped, as if its last
/// element had been deleted. (Kept, it made `is_empty` wrong and an
/// encoding that `huddle_store::codec` refuses to decode.)
impl<'de> Deserialize<'de> for Pages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut pages = IndexMap::<PageId, IndexMap<ElementId, Payload>>::deserialize(d)?;
        pages.retain(|_, elements| !elements.is_empty());
        Ok(Pages(pages))
    }
}

impl Pages {
    /// No pages.
    pub fn new() -> Self {
        Pages::default()
    }

    /// Applies one mutation. Returns the change in payload bytes held.
    pub fn apply(&mut self, mutation: &Mutation) -> isize {
        self.apply_shared(mutation, &mut 0).0
    }

    /// Applies one mutation, like [`apply`](Self::apply), and also returns
    /// the page and element ids to hold for it elsewhere: these pages' own
    /// keys where they keep them (sharing their allocations), else the
    /// mutation's. `hint` is the index of the page touched last: when
    /// consecutive mutations touch one page (the usual case) its id is
    /// compared instead of hashed. It is updated.
    pub(crate) fn apply_shared(
        &mut self,
        mutation: &Mutation,
        hint: &mut usize,
    ) -> (isize, PageId, ElementId) {
        let page = mutation.page();
        let index = match self.0.get_index(*hint) {
            Some((key, _)) if key == page => Some(*hint),
            _ => self.0.get_index_of(page),
        };
        match mutation {
            Mutation::Upsert { element, data, .. } => {
                let index = match index {
                    Some(i) => i,
                    None => self.0.insert_full(page.clone(), IndexMap::new()).0,
                };
                *hint = index;
                let Some((page_key, elements)) = self.0.get_index_mut(index) else {
                    return (0, page.clone(), element.clone());
                };
                let (delta, element_key) = match elements.get_full_mut(element) {
                    Some((_, key, slot)) => {
                        let old = std::mem::replace(slot, data.clone());
                        (data.len() as isize - old.len() as isize, key.clone())
                    }
                    None => {
                        elements.insert(element.clone(), data.clone());
                        (data.len() as isize, element.clone())
                    }
                };
                (delta, page_key.clone(), element_key)
            }
            Mutation::Delete { element, .. } => {
                let Some((i, (_, elements))) =
                    index.and_then(|i| Some((i, self.0.get_index_mut(i)?)))
                else {
                    return (0, page.clone(), element.clone());
                };
                *hint = i;
                let old = elements.swap_remove_full(element);
                let emptied = elements.is_empty();
                let (element_key, delta) = match old {
                    Some((_, key, data)) => (key, -(data.len() as isize)),
                    None => (element.clone(), 0),
                };
                let page_key = if emptied {
                    self.0
                        .swap_remove_index(i)
                        .map_or_else(|| page.clone(), |(key, _)| key)
                } else {
                    self.0
                        .get_index(i)
                        .map_or_else(|| page.clone(), |(key, _)| key.clone())
                };
                (delta, page_key, element_key)
            }
        }
    }

    /// The data of one element.
    pub fn get(&self, page: &str, element: &str) -> Option<&Payload> {
        self.0.get(page)?.get(element)
    }

    /// Pages in order.
    pub fn iter(&self) -> impl Iterator<Item = (&PageId, &IndexMap<ElementId, Payload>)> {
        self.0.iter()
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.0.len()
    }

    /// Number of elements over all pages.
    pub fn element_count(&self) -> usize {
        self.0.values().map(IndexMap::len).sum()
    }

    /// Sum of all payload sizes.
    pub fn payload_bytes(&self) -> usize {
        self.0
            .values()
            .flat_map(IndexMap::values)
            .map(Payload::len)
            .sum()
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
