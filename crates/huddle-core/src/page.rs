//! One page's elements, shared copy-on-write.
//!
//! A [`Page`] keeps its elements in the order an `IndexMap` would: in
//! insertion order, a delete moving the last element into the hole
//! (`swap_remove`). It is stored in parts ([`crate::page_part`]) so that a
//! shared page is cloned without copying an element and a write after
//! that copies only a small part of it:
//!
//! - the entries (element id, payload, hash of the id) sit in chunks of
//!   [`CHUNK`]: position `p` is entry `p % CHUNK` of chunk `p / CHUNK`; an
//!   update copies (if shared) the one chunk it touches, an insert the last
//!   chunk, a delete those two;
//! - the index from id to position is split into buckets by the id's hash
//!   (its high half), each an open-addressing table of positions
//!   ([`crate::page_index`]) that compares ids through the chunks, so an id
//!   is hashed once per operation and held once; an insert or a delete
//!   copies (if shared) the one or two buckets it touches. Buckets double
//!   when they average more than [`BUCKET_MAX`] positions.
//!
//! Parts are the page's own until [`Page::share`] (a full sync, a
//! snapshot) puts each behind an `Arc`: writes to an unshared page check
//! no reference count, and sharing a page of `n` elements moves
//! `n / CHUNK + buckets` parts. After a share, the first write to a page
//! copies those pointers (the clone of the page table) and one chunk of
//! entries, not `n` entries. (A plain `clone()` of a page whose parts are
//! its own copies them: it is a deep copy.)

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::element_hash::ElementHasher;
use crate::ids::ElementId;
use crate::mutation::Payload;
use crate::page_index::Bucket;
use crate::page_part::Part;

/// Entries per chunk.
pub(crate) const CHUNK: usize = 64;
/// Most positions a bucket holds on average before the buckets double.
pub(crate) const BUCKET_MAX: usize = 128;

/// One element: its id, its data and the hash of its id.
#[derive(Clone)]
struct Entry {
    id: ElementId,
    data: Payload,
    hash: u64,
}

/// The elements of one page, in order. Equality ignores order.
#[derive(Clone)]
pub struct Page {
    hasher: ElementHasher,
    chunks: Vec<Part<Vec<Entry>>>,
    buckets: Vec<Part<Bucket>>,
    len: usize,
}

impl Default for Page {
    fn default() -> Self {
        Page::new()
    }
}

/// The bucket of a hash among `count` (a power of two). Uses bits the
/// bucket's own table does not lean on.
#[inline]
fn bucket_of(hash: u64, count: usize) -> usize {
    ((hash >> 32) as usize) & (count - 1)
}

impl Page {
    /// No elements.
    pub fn new() -> Self {
        Page::with_hasher(ElementHasher::new())
    }

    /// No elements; ids hashed by `hasher` (the board state's).
    // The hasher picks index buckets and slots only: iteration follows the
    // chunks (insertion order), never the hash (as in an `IndexMap`, which
    // seeds itself the same way); `tests/pages.rs` checks the order.
    pub(crate) fn with_hasher(hasher: ElementHasher) -> Self {
        Page {
            hasher,
            chunks: Vec::new(),
            buckets: vec![Part::Own(Bucket::default())],
            len: 0,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The data of one element.
    pub fn get(&self, element: &str) -> Option<&Payload> {
        let pos = self.position(element, self.hash(element))?;
        self.entry(pos).map(|e| &e.data)
    }

    /// Elements in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self
                .chunks
                .iter()
                .flat_map(chunk_entries as ChunkEntries<'_>),
            left: self.len,
        }
    }

    /// Element ids in order.
    pub fn keys(&self) -> impl Iterator<Item = &ElementId> {
        self.iter().map(|(k, _)| k)
    }

    /// Payloads in order.
    pub fn values(&self) -> impl Iterator<Item = &Payload> {
        self.iter().map(|(_, v)| v)
    }

    #[inline]
    fn hash(&self, element: &str) -> u64 {
        self.hasher.hash(element)
    }

    #[inline]
    fn entry(&self, pos: usize) -> Option<&Entry> {
        self.chunks.get(pos / CHUNK)?.get().get(pos % CHUNK)
    }

    #[inline]
    fn position(&self, element: &str, hash: u64) -> Option<usize> {
        let chunks = &self.chunks;
        let bucket = self.buckets.get(bucket_of(hash, self.buckets.len()))?;
        // The bucket compares the low half of the hash first; the high
        // half picked the bucket: an id comparison is all that is left.
        bucket.get().get(hash, |p| {
            chunks
                .get(p / CHUNK)
                .and_then(|c| c.get().get(p % CHUNK))
                .is_some_and(|e| e.id.as_str() == element)
        })
    }

    /// [`upsert_hashed`](Self::upsert_hashed), hashing the id.
    #[cfg(test)]
    pub(crate) fn upsert(&mut self, element: &ElementId, data: &Payload) -> (isize, ElementId) {
        let hash = self.hash(element.as_str());
        self.upsert_hashed(element, data, hash)
    }

    /// Sets an element's data, given the hash of its id by this page's
    /// hasher. Returns the change in payload bytes and the id this page
    /// holds for the element (its own where it had one).
    #[inline]
    pub(crate) fn upsert_hashed(
        &mut self,
        element: &ElementId,
        data: &Payload,
        hash: u64,
    ) -> (isize, ElementId) {
        if let Some(pos) = self.position(element.as_str(), hash) {
            let slot = self
                .chunks
                .get_mut(pos / CHUNK)
                .map(Part::to_mut)
                .and_then(|c| c.get_mut(pos % CHUNK));
            // `position` only names positions that hold an entry.
            let Some(slot) = slot else {
                return (0, element.clone());
            };
            let old = std::mem::replace(&mut slot.data, data.clone());
            return (data.len() as isize - old.len() as isize, slot.id.clone());
        }
        self.push(Entry {
            id: element.clone(),
            data: data.clone(),
            hash,
        });
        (data.len() as isize, element.clone())
    }

    /// Appends an element known not to be here.
    fn push(&mut self, entry: Entry) {
        let pos = self.len;
        let hash = entry.hash;
        if pos % CHUNK == 0 {
            // A small page's only chunk grows as a `Vec` does (up to CHUNK
            // exactly); later chunks are allocated whole.
            let chunk = if pos == 0 {
                Vec::new()
            } else {
                Vec::with_capacity(CHUNK)
            };
            self.chunks.push(Part::Own(chunk));
        }
        if let Some(last) = self.chunks.last_mut() {
            last.to_mut().push(entry);
        }
        self.len += 1;
        self.index_insert(hash, pos);
        if self.len > self.buckets.len() * BUCKET_MAX {
            self.grow_index();
        }
    }

    fn index_insert(&mut self, hash: u64, pos: usize) {
        let count = self.buckets.len();
        if let Some(bucket) = self.buckets.get_mut(bucket_of(hash, count)) {
            bucket.to_mut().insert(hash, pos);
        }
    }

    /// Doubles the buckets and redistributes every position.
    fn grow_index(&mut self) {
        let count = self.buckets.len() * 2;
        let per = self.len / count + 1;
        let mut buckets: Vec<Bucket> = (0..count).map(|_| Bucket::with_capacity(per)).collect();
        for (pos, entry) in self.chunks.iter().flat_map(|c| c.get().iter()).enumerate() {
            if let Some(b) = buckets.get_mut(bucket_of(entry.hash, count)) {
                b.insert(entry.hash, pos);
            }
        }
        self.buckets = buckets.into_iter().map(Part::Own).collect();
    }

    /// Puts every part behind an `Arc`, so that a clone of the page copies
    /// pointers only (see the module docs).
    pub(crate) fn share(&mut self) {
        self.chunks.iter_mut().for_each(Part::share);
        self.buckets.iter_mut().for_each(Part::share);
    }

    /// Changes the position `from` held for `hash` to `to`.
    fn index_move(&mut self, hash: u64, from: usize, to: usize) {
        let count = self.buckets.len();
        if let Some(bucket) = self.buckets.get_mut(bucket_of(hash, count)) {
            bucket.to_mut().relocate(hash, from, to);
        }
    }

    fn index_remove(&mut self, hash: u64, pos: usize) {
        let count = self.buckets.len();
        if let Some(bucket) = self.buckets.get_mut(bucket_of(hash, count)) {
            bucket.to_mut().remove(hash, pos);
        }
    }

    /// Removes an element, moving the last one into its place (as
    /// `IndexMap::swap_remove` does). Returns the page's id and data.
    pub(crate) fn remove(&mut self, element: &str) -> Option<(ElementId, Payload)> {
        let hash = self.hash(element);
        let pos = self.position(element, hash)?;
        let last = self.len.checked_sub(1)?;
        self.index_remove(hash, pos);
        let moved = self
            .chunks
            .get_mut(last / CHUNK)
            .and_then(|c| c.to_mut().pop())?;
        if last % CHUNK == 0 {
            self.chunks.pop();
        }
        self.len = last;
        if pos == last {
            return Some((moved.id, moved.data));
        }
        let moved_hash = moved.hash;
        let slot = self
            .chunks
            .get_mut(pos / CHUNK)
            .map(Part::to_mut)
            .and_then(|c| c.get_mut(pos % CHUNK))?;
        let old = std::mem::replace(slot, moved);
        self.index_move(moved_hash, last, pos);
        Some((old.id, old.data))
    }
}

type ChunkEntries<'a> = fn(&'a Part<Vec<Entry>>) -> std::slice::Iter<'a, Entry>;

fn chunk_entries(chunk: &Part<Vec<Entry>>) -> std::slice::Iter<'_, Entry> {
    chunk.get().iter()
}

/// Iterates a page's elements in order.
pub struct Iter<'a> {
    inner: std::iter::FlatMap<
        std::slice::Iter<'a, Part<Vec<Entry>>>,
        std::slice::Iter<'a, Entry>,
        ChunkEntries<'a>,
    >,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a ElementId, &'a Payload);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let e = self.inner.next()?;
        self.left = self.left.saturating_sub(1);
        Some((&e.id, &e.data))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Page {
    type Item = (&'a ElementId, &'a Payload);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Equal when both hold the same elements with the same data, in any
/// order (as `IndexMap`s compare).
impl PartialEq for Page {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|(k, v)| other.get(k.as_str()) == Some(v))
    }
}

impl Eq for Page {}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Page {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: usize) -> ElementId {
        ElementId::from(format!("e{i}"))
    }

    /// How many of `a`'s chunks and buckets are still `b`'s (not copied).
    fn shared(a: &Page, b: &Page) -> (usize, usize) {
        let chunks = a.chunks.iter().zip(&b.chunks);
        let buckets = a.buckets.iter().zip(&b.buckets);
        (
            chunks.filter(|(x, y)| x.same(y)).count(),
            buckets.filter(|(x, y)| x.same(y)).count(),
        )
    }

    fn big() -> Page {
        let mut page = Page::new();
        for i in 0..10_000 {
            page.upsert(&id(i), &Payload::from("1"));
        }
        page
    }

    /// A clone that shares the page's parts, as a full sync takes it.
    fn shared_clone(page: &mut Page) -> Page {
        page.share();
        page.clone()
    }

    #[test]
    fn a_write_after_a_share_copies_one_chunk_and_at_most_one_bucket() {
        let mut page = big();
        let (chunks, buckets) = (page.chunks.len(), page.buckets.len());
        assert_eq!(chunks, 10_000_usize.div_ceil(CHUNK));
        assert!(buckets > 1 && 10_000 <= buckets * BUCKET_MAX, "{buckets}");
        // Unshared parts are the page's own: a plain clone copies them.
        assert_eq!(shared(&page, &page.clone()), (0, 0));
        let clone = shared_clone(&mut page);
        assert_eq!(shared(&page, &clone), (chunks, buckets));

        // An update: one chunk copied, the index untouched.
        page.upsert(&id(5000), &Payload::from("2"));
        assert_eq!(shared(&page, &clone), (chunks - 1, buckets));
        assert_eq!(clone.get("e5000").map(Payload::as_bytes), Some(&b"1"[..]));
        assert_eq!(page.get("e5000").map(Payload::as_bytes), Some(&b"2"[..]));

        // An insert: the last chunk and one bucket.
        let clone = shared_clone(&mut page);
        page.upsert(&ElementId::from("new"), &Payload::from("3"));
        let (c, b) = shared(&page, &clone);
        assert_eq!((c, b), (chunks - 1, buckets - 1));
        assert_eq!(clone.get("new"), None);

        // A delete: the hole's chunk and the last one, two buckets at most.
        let clone = shared_clone(&mut page);
        assert!(page.remove("e17").is_some());
        let (c, b) = shared(&page, &clone);
        assert!(c >= clone.chunks.len() - 2, "{c}");
        assert!(b >= buckets - 2, "{b}");
        assert_eq!(clone.len(), 10_001);
        assert_eq!(page.len(), 10_000);
        assert!(clone.get("e17").is_some());
        assert!(page.get("e17").is_none());
    }

    #[test]
    fn a_share_no_one_else_holds_is_written_without_copies() {
        let mut page = big();
        let clone = shared_clone(&mut page);
        drop(clone);
        let first = page.chunks.first().map(|c| c.get().as_ptr());
        page.upsert(&id(0), &Payload::from("2"));
        assert_eq!(page.chunks.first().map(|c| c.get().as_ptr()), first);
        assert!(matches!(page.chunks.first(), Some(Part::Own(_))));
        assert_eq!(page.get("e0").map(Payload::as_bytes), Some(&b"2"[..]));
    }

    #[test]
    fn removal_moves_the_last_element_into_the_hole() {
        let mut page = Page::new();
        for i in 0..200 {
            page.upsert(&id(i), &Payload::from("1"));
        }
        assert_eq!(page.remove("e3").map(|(k, _)| k), Some(id(3)));
        let keys: Vec<_> = page.keys().take(5).cloned().collect();
        assert_eq!(keys, [id(0), id(1), id(2), id(199), id(4)]);
        assert_eq!(page.remove("e3"), None);
        assert_eq!(page.get("e199").map(Payload::as_bytes), Some(&b"1"[..]));
        // The last one: nothing moves.
        assert!(page.remove("e198").is_some());
        assert_eq!(page.keys().last(), Some(&id(197)));
        assert_eq!(page.iter().len(), 198);
    }
}
