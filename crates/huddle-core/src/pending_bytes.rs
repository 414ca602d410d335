//! The pending byte ledger: the payload bytes of the mutations a board
//! accepted but has not yet flushed (`Limits::max_pending_bytes`), the byte
//! counterpart of `assigned - flushed_through`.
//!
//! One entry per accepted batch (its last sequence, its payload bytes), in
//! sequence order; a confirmed flush through `t` drops the entries up to
//! `t`. Each costs O(1): no walk over the pending set or the board. A flush
//! always ends on a batch boundary (it covers what is durable, and appends
//! carry whole batches); an entry a flush would cut (never in practice) is
//! kept until a flush covers all of it, so the count errs high, never low.

use std::collections::VecDeque;

#[derive(Debug, Default)]
pub(crate) struct PendingBytes {
    /// `(last sequence, payload bytes)` of each batch not yet flushed.
    batches: VecDeque<(u64, usize)>,
    /// The sum of `batches`' bytes.
    held: usize,
}

impl PendingBytes {
    /// A batch ending at `last_seq` with `bytes` of payload was accepted
    /// (or, at load, replayed as pending).
    pub(crate) fn accepted(&mut self, last_seq: u64, bytes: usize) {
        self.batches.push_back((last_seq, bytes));
        self.held = self.held.saturating_add(bytes);
    }

    /// A flush through `through` was confirmed.
    pub(crate) fn flushed(&mut self, through: u64) {
        while let Some(&(last, bytes)) = self.batches.front() {
            if last > through {
                break;
            }
            self.batches.pop_front();
            self.held = self.held.saturating_sub(bytes);
        }
        if self.batches.is_empty() {
            // A burst's entries do not stay allocated once it is flushed.
            self.batches.shrink_to(16);
        }
    }

    /// Payload bytes accepted and not yet flushed.
    pub(crate) fn held(&self) -> usize {
        self.held
    }
}

/// The payload bytes of `mutations` (the data of their upserts).
pub(crate) fn payload_bytes<'a>(
    mutations: impl IntoIterator<Item = &'a crate::mutation::Mutation>,
) -> usize {
    mutations
        .into_iter()
        .filter_map(|m| m.data())
        .fold(0usize, |sum, d| sum.saturating_add(d.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_drops_the_batches_it_covers() {
        let mut p = PendingBytes::default();
        p.accepted(3, 100);
        p.accepted(5, 20);
        p.accepted(9, 7);
        assert_eq!(p.held(), 127);
        p.flushed(2);
        assert_eq!(p.held(), 127, "a flush inside a batch keeps it");
        p.flushed(5);
        assert_eq!(p.held(), 7);
        p.flushed(100);
        assert_eq!(p.held(), 0);
        p.flushed(100);
        assert_eq!(p.held(), 0);
    }
}
