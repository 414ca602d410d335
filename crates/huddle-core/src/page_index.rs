//! One bucket of a page's index: an open-addressing hash table of element
//! positions (linear probing, backward-shift deletion).
//!
//! A slot is one `u64`: the position in its high half, the low half of the
//! element id's hash in its low half (where probing starts, and a filter
//! before the id itself is compared). The ids live in the page's chunks;
//! the caller's `is` closure compares them, so an id is hashed once per
//! operation and held once. The table is at most three quarters full, so
//! a probe always ends at an empty slot.

/// An empty slot (no position reaches `u32::MAX`: a page's elements would
/// need hundreds of gigabytes first).
const EMPTY: u64 = u64::MAX;
/// Slots of a new table.
const MIN_SLOTS: usize = 8;

/// Positions whose ids hash into one bucket.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    slots: Vec<u64>,
    len: usize,
}

/// An empty bucket without slots (no allocation): its first insert
/// allocates them.
impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            slots: Vec::new(),
            len: 0,
        }
    }
}

fn slot(hash: u64, pos: usize) -> u64 {
    ((pos as u64) << 32) | (hash & 0xffff_ffff)
}

fn pos_of(slot: u64) -> usize {
    (slot >> 32) as usize
}

impl Bucket {
    /// A table for about `n` positions.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let slots = (n.saturating_mul(4) / 3 + 1)
            .max(MIN_SLOTS)
            .next_power_of_two();
        Bucket {
            slots: vec![EMPTY; slots],
            len: 0,
        }
    }

    /// The slot index bits (all bits set when there are no slots: then
    /// every slot lookup misses, and an insert grows the table first).
    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot holding a position with this hash that `is` accepts.
    #[inline]
    fn find(&self, hash: u64, mut is: impl FnMut(usize) -> bool) -> Option<usize> {
        let mask = self.mask();
        let low = hash & 0xffff_ffff;
        let mut i = (hash as usize) & mask;
        loop {
            let s = *self.slots.get(i)?;
            if s == EMPTY {
                return None;
            }
            if s & 0xffff_ffff == low && is(pos_of(s)) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The position with this hash that `is` accepts.
    #[inline]
    pub(crate) fn get(&self, hash: u64, is: impl FnMut(usize) -> bool) -> Option<usize> {
        let i = self.find(hash, is)?;
        self.slots.get(i).map(|&s| pos_of(s))
    }

    /// Adds a position (not already held).
    pub(crate) fn insert(&mut self, hash: u64, pos: usize) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = (hash as usize) & mask;
        while let Some(s) = self.slots.get_mut(i) {
            if *s == EMPTY {
                *s = slot(hash, pos);
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; slots]);
        self.len = 0;
        for s in old.into_iter().filter(|&s| s != EMPTY) {
            self.insert(s & 0xffff_ffff, pos_of(s));
        }
    }

    /// Removes the position `pos` held for `hash`.
    pub(crate) fn remove(&mut self, hash: u64, pos: usize) {
        let Some(mut hole) = self.find(hash, |p| p == pos) else {
            return;
        };
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some(&s) = self.slots.get(j) else {
                break;
            };
            if s == EMPTY {
                break;
            }
            // Move `s` back into the hole unless its home lies cyclically
            // after the hole (then it is already as close as it can be).
            let home = (s as usize) & mask;
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = s;
                }
                hole = j;
            }
        }
        if let Some(h) = self.slots.get_mut(hole) {
            *h = EMPTY;
        }
        self.len -= 1;
    }

    /// Changes the position `from` held for `hash` to `to`.
    pub(crate) fn relocate(&mut self, hash: u64, from: usize, to: usize) {
        if let Some(i) = self.find(hash, |p| p == from) {
            if let Some(s) = self.slots.get_mut(i) {
                *s = slot(hash, to);
            }
        }
    }

    /// Positions held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash with chosen low bits, to force collisions and wrap-around.
    fn h(low: u64) -> u64 {
        0xabcd_0000_0000_0000 | low
    }

    #[test]
    fn insert_get_relocate_remove_with_collisions_and_wrap_around() {
        let mut b = Bucket::default();
        // Five positions with the same home slot (7, the last), wrapping.
        for pos in 0..5 {
            b.insert(h(7), pos);
        }
        b.insert(h(1), 100);
        assert_eq!(b.len(), 6);
        for pos in 0..5 {
            assert_eq!(b.get(h(7), |p| p == pos), Some(pos));
        }
        assert_eq!(b.get(h(1), |_| true), Some(100));
        assert_eq!(b.get(h(2), |_| true), None);
        // Removing from the middle of the run keeps the others findable.
        b.remove(h(7), 2);
        assert_eq!(b.get(h(7), |p| p == 2), None);
        for pos in [0, 1, 3, 4] {
            assert_eq!(b.get(h(7), |p| p == pos), Some(pos));
        }
        assert_eq!(b.get(h(1), |_| true), Some(100));
        b.relocate(h(7), 4, 2);
        assert_eq!(b.get(h(7), |p| p == 4), None);
        assert_eq!(b.get(h(7), |p| p == 2), Some(2));
        for pos in [0, 1, 3, 2] {
            b.remove(h(7), pos);
        }
        assert_eq!(b.len(), 1);
        assert_eq!(b.get(h(1), |_| true), Some(100));
    }

    #[test]
    fn an_empty_bucket_without_slots_finds_nothing_and_takes_inserts() {
        let mut b = Bucket::default();
        assert!(b.slots.is_empty());
        assert_eq!(b.get(h(3), |_| true), None);
        b.remove(h(3), 0);
        b.relocate(h(3), 0, 1);
        assert_eq!(b.len(), 0);
        b.insert(h(3), 9);
        assert_eq!(b.get(h(3), |p| p == 9), Some(9));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn grows_and_keeps_every_position() {
        let mut b = Bucket::default();
        let hash = |pos: usize| (pos as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for pos in 0..1000 {
            b.insert(hash(pos), pos);
        }
        for pos in 0..1000 {
            assert_eq!(b.get(hash(pos), |p| p == pos), Some(pos));
        }
        for pos in (0..1000).step_by(2) {
            b.remove(hash(pos), pos);
        }
        for pos in 0..1000 {
            let want = (pos % 2 == 1).then_some(pos);
            assert_eq!(b.get(hash(pos), |p| p == pos), want);
        }
        assert_eq!(b.len(), 500);
    }
}
