//! Idempotent batches: the recent batch ids of each user on a board, so
//! that a batch re-sent after a lost acknowledgement is applied at most once
//! and answered with its original sequence.
//!
//! Each user's window holds their last `window` batch ids; one user's
//! traffic never evicts another's. After a reload the window is rebuilt
//! from the loaded event history, so retries across a server restart are
//! recognised too.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use crate::ids::{BatchId, UserId};

#[derive(Debug, Default)]
struct UserBatches {
    order: VecDeque<BatchId>,
    last_seq: HashMap<BatchId, u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Dedup {
    users: HashMap<UserId, UserBatches>,
    window: usize,
}

impl Dedup {
    pub(crate) fn new(window: usize) -> Self {
        Dedup {
            users: HashMap::new(),
            window,
        }
    }

    /// The last sequence of a batch already applied.
    pub(crate) fn lookup(&self, user: &UserId, batch: &BatchId) -> Option<u64> {
        self.users.get(user)?.last_seq.get(batch).copied()
    }

    /// Remembers a batch (or moves its last sequence forward).
    pub(crate) fn remember(&mut self, user: &UserId, batch: &BatchId, last_seq: u64) {
        if self.window == 0 {
            return;
        }
        let entry = match self.users.get_mut(user) {
            Some(e) => e,
            None => self.users.entry(user.clone()).or_default(),
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
}
