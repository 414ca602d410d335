//! Idempotent batches: the recent batch ids of each user on a board, so
//! that a batch re-sent after a lost acknowledgement is applied at most once
//! and answered with its original sequence.
//!
//! Each user's window holds their last `window` batch ids; one user's
//! traffic never evicts another's. After a reload the window is rebuilt
//! from the loaded event history, so retries across a server restart are
//! recognised too.
//!
//! Users are found through a hint, the user remembered last: a board's
//! batches come from the same writer in a row as a rule, whose id is then
//! compared (the very `Arc` as a rule: one pointer comparison) instead of
//! hashed. Users are never removed, so the hint's index stays valid.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use indexmap::IndexMap;

use crate::ids::{BatchId, UserId};

#[derive(Debug, Default)]
struct UserBatches {
    order: VecDeque<BatchId>,
    last_seq: HashMap<BatchId, u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Dedup {
    users: IndexMap<UserId, UserBatches>,
    /// The index in `users` of the user remembered last.
    hint: usize,
    window: usize,
}

impl Dedup {
    pub(crate) fn new(window: usize) -> Self {
        Dedup {
            users: IndexMap::new(),
            hint: 0,
            window,
        }
    }

    /// The index of a user's batches: the hint's if it is theirs.
    fn user_index(&self, user: &UserId) -> Option<usize> {
        match self.users.get_index(self.hint) {
            Some((key, _)) if key == user => Some(self.hint),
            _ => self.users.get_index_of(user),
        }
    }

    /// The last sequence of a batch already applied.
    pub(crate) fn lookup(&self, user: &UserId, batch: &BatchId) -> Option<u64> {
        let (_, batches) = self.users.get_index(self.user_index(user)?)?;
        batches.last_seq.get(batch).copied()
    }

    /// Remembers a batch (or moves its last sequence forward).
    pub(crate) fn remember(&mut self, user: &UserId, batch: &BatchId, last_seq: u64) {
        if self.window == 0 {
            return;
        }
        let index = match self.user_index(user) {
            Some(i) => i,
            None => {
                self.users
                    .insert_full(user.clone(), UserBatches::default())
                    .0
            }
        };
        self.hint = index;
        let Some((_, entry)) = self.users.get_index_mut(index) else {
            return;
        };
        // One lookup for both the check and the insert; the oldest id is
        // evicted after the insert (never the new one: the window is not 0).
        match entry.last_seq.entry(batch.clone()) {
            Entry::Occupied(mut seq) => {
                let seq = seq.get_mut();
                *seq = (*seq).max(last_seq);
                return;
            }
            Entry::Vacant(slot) => {
                slot.insert(last_seq);
            }
        }
        entry.order.push_back(batch.clone());
        if entry.order.len() > self.window {
            if let Some(old) = entry.order.pop_front() {
                entry.last_seq.remove(&old);
            }
        }
    }

    /// Batch ids remembered over all users.
    pub(crate) fn len(&self) -> usize {
        self.users.values().map(|u| u.order.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_per_user() {
        let mut d = Dedup::new(2);
        let (a, b) = (UserId::from("a"), UserId::from("b"));
        d.remember(&a, &"1".into(), 1);
        d.remember(&b, &"1".into(), 2);
        d.remember(&a, &"2".into(), 3);
        d.remember(&a, &"3".into(), 4);
        assert_eq!(
            d.lookup(&a, &"1".into()),
            None,
            "evicted by a's own traffic"
        );
        assert_eq!(d.lookup(&a, &"3".into()), Some(4));
        assert_eq!(
            d.lookup(&b, &"1".into()),
            Some(2),
            "untouched by a's traffic"
        );
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn the_hint_follows_the_writer() {
        let mut d = Dedup::new(4);
        let users: Vec<UserId> = ["a", "b", "c"].map(UserId::from).into();
        // Interleaved and in runs; equal ids in other allocations too.
        for (n, u) in [0, 0, 1, 2, 2, 0, 1, 1].into_iter().enumerate() {
            let batch = BatchId::from(format!("{n}"));
            d.remember(&users[u], &batch, n as u64);
            let again = UserId::from(users[u].as_str());
            assert_eq!(d.lookup(&again, &batch), Some(n as u64));
            for (v, other) in users.iter().enumerate() {
                if v != u {
                    assert_eq!(d.lookup(other, &batch), None, "{n}: {v}");
                }
            }
        }
        assert_eq!(d.len(), 8);
    }
}
