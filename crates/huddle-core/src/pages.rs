//! The board state: pages of elements.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::ids::{ElementId, PageId};
use crate::mutation::{Mutation, Payload};

/// All elements of all pages: `{page: {element: data}}`.
///
/// Pages exist only while they hold elements: deleting a page's last element
/// removes the page. Equality ignores order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pages(IndexMap<PageId, IndexMap<ElementId, Payload>>);

impl Pages {
    /// No pages.
    pub fn new() -> Self {
        Pages::default()
    }

    /// Applies one mutation. Returns the change in payload bytes held.
    pub fn apply(&mut self, mutation: &Mutation) -> isize {
        match mutation {
            Mutation::Upsert {
                page,
                element,
                data,
            } => {
                let elements = match self.0.get_mut(page) {
                    Some(e) => e,
                    None => self.0.entry(page.clone()).or_default(),
                };
                let old = elements.insert(element.clone(), data.clone());
                data.len() as isize - old.map_or(0, |p| p.len() as isize)
            }
            Mutation::Delete { page, element } => {
                let Some(elements) = self.0.get_mut(page) else {
                    return 0;
                };
                let old = elements.swap_remove(element);
                if elements.is_empty() {
                    self.0.swap_remove(page);
                }
                -old.map_or(0, |p| p.len() as isize)
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
