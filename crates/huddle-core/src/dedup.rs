//! Idempotent batches: the recent batches of each user on a board, so
//! that a batch re-sent after a lost acknowledgement is applied at most once
//! and answered with its original sequence, and a batch id used again for
//! other content is told apart by its content digest ([`BatchDigest`]).
//!
//! The window: every batch younger than `max_age` (the client's recovery
//! limit: the oldest batch a client still re-sends), whatever their number,
//! and at least each user's last `per_user` whatever their age; one user's
//! traffic never evicts another's. All of it within `max_bytes` per board:
//! beyond that the board's oldest batches are forgotten first, whoever sent
//! them and however young (counted in [`Dedup::forgotten_young`]). A user's
//! batches past the window are forgotten when that user sends the next one.
//! After a reload the window is rebuilt from the store's batch records and
//! the loaded event history, so retries across a restart are recognised
//! too; loaded batches count as remembered at the load.
//!
//! Users are found through a hint, the user remembered last: a board's
//! batches come from the same writer in a row as a rule, whose id is then
//! compared (the very `Arc` as a rule: one pointer comparison) instead of
//! hashed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use indexmap::IndexMap;

use crate::digest::BatchDigest;
use crate::ids::{BatchId, UserId};
use crate::storage::BatchRecord;
use crate::time::Timestamp;

/// Bytes a remembered batch takes besides its ids: its map entry, its
/// place in the order and the shared id handles.
const ENTRY_BYTES: usize = 96;

/// What is known of a remembered batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The sequence of its last mutation.
    pub(crate) last_seq: u64,
    /// Its content digest; `None` for a batch known only from a record
    /// stored without one (before digests) or from a partly loaded log.
    pub(crate) digest: Option<BatchDigest>,
}

#[derive(Debug)]
struct Remembered {
    batch: BatchId,
    at: Timestamp,
    bytes: usize,
}

#[derive(Debug, Default)]
struct UserBatches {
    /// Oldest first.
    order: VecDeque<Remembered>,
    seen: HashMap<BatchId, Seen>,
}

/// The window's bounds (from [`crate::Config`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) per_user: usize,
    pub(crate) max_age: Duration,
    pub(crate) max_bytes: usize,
}

#[derive(Debug)]
pub(crate) struct Dedup {
    users: IndexMap<UserId, UserBatches>,
    /// The index in `users` of the user remembered last.
    hint: usize,
    window: Window,
    bytes: usize,
    forgotten_young: u64,
}

impl Dedup {
    pub(crate) fn new(window: Window) -> Self {
        Dedup {
            users: IndexMap::new(),
            hint: 0,
            window,
            bytes: 0,
            forgotten_young: 0,
        }
    }

    /// The index of a user's batches: the hint's if it is theirs.
    fn user_index(&self, user: &UserId) -> Option<usize> {
        match self.users.get_index(self.hint) {
            Some((key, _)) if key == user => Some(self.hint),
            _ => self.users.get_index_of(user),
        }
    }

    /// What is known of a batch already applied.
    pub(crate) fn lookup(&self, user: &UserId, batch: &BatchId) -> Option<Seen> {
        let (_, batches) = self.users.get_index(self.user_index(user)?)?;
        batches.seen.get(batch).copied()
    }

    /// Remembers a batch applied at `at` (or moves its last sequence
    /// forward, and learns its digest if it was unknown), then forgets what
    /// the window no longer holds.
    pub(crate) fn remember(&mut self, user: &UserId, batch: &BatchId, seen: Seen, at: Timestamp) {
        if self.window.per_user == 0 && self.window.max_age.is_zero() {
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
        let Some((user_id, entry)) = self.users.get_index_mut(index) else {
            return;
        };
        match entry.seen.entry(batch.clone()) {
            Entry::Occupied(mut known) => {
                let known = known.get_mut();
                known.last_seq = known.last_seq.max(seen.last_seq);
                known.digest = known.digest.or(seen.digest);
                return;
            }
            Entry::Vacant(slot) => {
                slot.insert(seen);
            }
        }
        let bytes = ENTRY_BYTES + batch.as_str().len() + user_id.as_str().len();
        entry.order.push_back(Remembered {
            batch: batch.clone(),
            at,
            bytes,
        });
        self.bytes += bytes;
        // The writer's own batches past the window.
        let window = self.window;
        let cutoff = at.saturating_sub(window.max_age);
        while entry.order.len() > window.per_user
            && entry.order.front().is_some_and(|r| r.at < cutoff)
        {
            if let Some(old) = entry.order.pop_front() {
                entry.seen.remove(&old.batch);
                self.bytes -= old.bytes;
            }
        }
        // The board's budget: its oldest batches go first.
        while self.bytes > window.max_bytes && self.forget_oldest(cutoff) {}
    }

    /// Forgets the board's oldest batch (the lowest last sequence among
    /// each user's oldest). Returns whether there was one.
    fn forget_oldest(&mut self, cutoff: Timestamp) -> bool {
        let oldest = self
            .users
            .values()
            .enumerate()
            .filter_map(|(i, u)| {
                let r = u.order.front()?;
                Some((u.seen.get(&r.batch).map_or(0, |s| s.last_seq), i))
            })
            .min();
        let Some((_, index)) = oldest else {
            return false;
        };
        let Some((_, user)) = self.users.get_index_mut(index) else {
            return false;
        };
        if let Some(old) = user.order.pop_front() {
            user.seen.remove(&old.batch);
            self.bytes -= old.bytes;
            if old.at >= cutoff {
                self.forgotten_young += 1;
            }
        }
        if user.order.is_empty() {
            self.users.swap_remove_index(index);
            self.hint = 0;
        }
        true
    }

    /// The remembered batches whose last sequence is in `after+1..=through`,
    /// as records for the store (written with the flush that covers them).
    pub(crate) fn records(&self, after: u64, through: u64) -> Vec<BatchRecord> {
        let mut out = Vec::new();
        for (user, batches) in &self.users {
            // Newest first: a user's order follows their sequences.
            for r in batches.order.iter().rev() {
                let Some(seen) = batches.seen.get(&r.batch) else {
                    continue;
                };
                if seen.last_seq <= after {
                    break;
                }
                if seen.last_seq <= through {
                    out.push(BatchRecord {
                        user: user.clone(),
                        batch: r.batch.clone(),
                        last_seq: seen.last_seq,
                        digest: seen.digest,
                        at: r.at,
                    });
                }
            }
        }
        out.sort_unstable_by_key(|r| r.last_seq);
        out
    }

    /// Batch ids remembered over all users.
    pub(crate) fn len(&self) -> usize {
        self.users.values().map(|u| u.order.len()).sum()
    }

    /// Bytes the remembered batches take (estimated: ids plus a fixed
    /// amount per batch).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Batches younger than `max_age` that the byte budget made the board
    /// forget: re-sent, they would be applied again.
    pub(crate) fn forgotten_young(&self) -> u64 {
        self.forgotten_young
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_000_000);

    fn window(per_user: usize, max_age_s: u64, max_bytes: usize) -> Window {
        Window {
            per_user,
            max_age: Duration::from_secs(max_age_s),
            max_bytes,
        }
    }

    fn seen(last_seq: u64) -> Seen {
        Seen {
            last_seq,
            digest: Some(BatchDigest::from_bits(last_seq)),
        }
    }

    fn at(s: u64) -> Timestamp {
        T0.saturating_add(Duration::from_secs(s))
    }

    fn last(d: &Dedup, user: &UserId, batch: &str) -> Option<u64> {
        d.lookup(user, &batch.into()).map(|s| s.last_seq)
    }

    #[test]
    fn window_is_per_user() {
        // No age window: only each user's last 2.
        let mut d = Dedup::new(window(2, 0, usize::MAX));
        let (a, b) = (UserId::from("a"), UserId::from("b"));
        d.remember(&a, &"1".into(), seen(1), at(0));
        d.remember(&b, &"1".into(), seen(2), at(0));
        d.remember(&a, &"2".into(), seen(3), at(1));
        d.remember(&a, &"3".into(), seen(4), at(2));
        assert_eq!(last(&d, &a, "1"), None, "evicted by a's own traffic");
        assert_eq!(last(&d, &a, "3"), Some(4));
        assert_eq!(last(&d, &b, "1"), Some(2), "untouched by a's traffic");
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn every_batch_younger_than_the_age_is_kept_whatever_their_number() {
        let mut d = Dedup::new(window(2, 300, usize::MAX));
        let a = UserId::from("a");
        // 5000 batches within 5 minutes: all kept.
        for n in 0..5000u64 {
            d.remember(&a, &format!("{n}").into(), seen(n + 1), at(n * 300 / 5000));
        }
        assert_eq!(d.len(), 5000);
        assert_eq!(last(&d, &a, "0"), Some(1));
        // Past the age, only the user's last 2 are kept.
        d.remember(&a, &"late".into(), seen(5001), at(301));
        assert_eq!(
            last(&d, &a, "0"),
            None,
            "older than 5 min and not among the last 2"
        );
        assert_eq!(last(&d, &a, "4999"), Some(5000));
        d.remember(&a, &"later".into(), seen(5002), at(10_000));
        assert_eq!(d.len(), 2);
        assert_eq!(last(&d, &a, "late"), Some(5001));
    }

    #[test]
    fn the_byte_budget_forgets_the_boards_oldest_first() {
        let cost = ENTRY_BYTES + 1 + 1;
        let mut d = Dedup::new(window(1024, 300, 3 * cost));
        let (a, b) = (UserId::from("a"), UserId::from("b"));
        d.remember(&a, &"1".into(), seen(1), at(0));
        d.remember(&b, &"2".into(), seen(2), at(0));
        d.remember(&a, &"3".into(), seen(3), at(0));
        assert_eq!(d.bytes(), 3 * cost);
        d.remember(&b, &"4".into(), seen(4), at(0));
        assert_eq!(d.bytes(), 3 * cost);
        assert_eq!(last(&d, &a, "1"), None, "the oldest, although young");
        assert_eq!(d.forgotten_young(), 1);
        for (u, b_, s) in [(&b, "2", 2), (&a, "3", 3), (&b, "4", 4)] {
            assert_eq!(last(&d, u, b_), Some(s));
        }
    }

    #[test]
    fn a_known_batch_learns_its_digest_and_keeps_its_newest_sequence() {
        let mut d = Dedup::new(window(4, 300, usize::MAX));
        let a = UserId::from("a");
        let unknown = Seen {
            last_seq: 3,
            digest: None,
        };
        d.remember(&a, &"x".into(), unknown, at(0));
        d.remember(&a, &"x".into(), seen(2), at(0));
        assert_eq!(
            d.lookup(&a, &"x".into()),
            Some(Seen {
                last_seq: 3,
                digest: Some(BatchDigest::from_bits(2))
            })
        );
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn records_are_the_batches_of_a_range() {
        let mut d = Dedup::new(window(4, 300, usize::MAX));
        let (a, b) = (UserId::from("a"), UserId::from("b"));
        d.remember(&a, &"1".into(), seen(2), at(0));
        d.remember(&b, &"2".into(), seen(5), at(1));
        d.remember(&a, &"3".into(), seen(6), at(2));
        let got: Vec<(String, u64)> = d
            .records(2, 5)
            .into_iter()
            .map(|r| (r.batch.to_string(), r.last_seq))
            .collect();
        assert_eq!(got, vec![("2".to_string(), 5)]);
        let all = d.records(0, 6);
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].at, at(2));
        assert_eq!(all[2].digest, Some(BatchDigest::from_bits(6)));
    }

    #[test]
    fn the_hint_follows_the_writer() {
        let mut d = Dedup::new(window(4, 0, usize::MAX));
        let users: Vec<UserId> = ["a", "b", "c"].map(UserId::from).into();
        // Interleaved and in runs; equal ids in other allocations too.
        for (n, u) in [0, 0, 1, 2, 2, 0, 1, 1].into_iter().enumerate() {
            let batch = BatchId::from(format!("{n}"));
            d.remember(&users[u], &batch, seen(n as u64), at(0));
            let again = UserId::from(users[u].as_str());
            assert_eq!(last(&d, &again, batch.as_str()), Some(n as u64));
            for (v, other) in users.iter().enumerate() {
                if v != u {
                    assert_eq!(last(&d, other, batch.as_str()), None, "{n}: {v}");
                }
            }
        }
        assert_eq!(d.len(), 8);
    }
}
