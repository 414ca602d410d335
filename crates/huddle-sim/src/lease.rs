//! A host's side of its board leases, as the tokio driver keeps them
//! (`huddle_tokio`'s renewal task over [`huddle_store::Performer`]), on
//! the host's own clock.
//!
//! The driver's performer reads the wall clock (`Instant::now`) and is
//! async over a [`huddle_store::Store`], so the simulator cannot run it
//! deterministically; this is its policy, with the same numbers taken from
//! [`Node`] (only [`Node::renew_every`] and [`Node::safe_window`] decide):
//!
//! - each board's lease counts as confirmed from the moment (host clock)
//!   the acquire or renewal that the store granted was **sent**;
//! - every twelfth of a TTL the host looks for boards whose safe window
//!   (three quarters of a TTL) has closed: their sessions end
//!   ([`huddle_core::Engine::lease_lost`]) and their writes are refused by
//!   the host from then on (fenced, never reaching the store);
//! - every third of a TTL it renews all its leases in one store call; a
//!   board the store did not renew is lost the same way; a failed call
//!   (the host is cut off from the store) renews nothing and is tried again
//!   at the next tick;
//! - one addition to the driver's policy: a lease whose acquire was
//!   granted so late that its safe window would close before the next
//!   scheduled renewal is renewed at the next tick. The driver renews on
//!   its fixed schedule only, so an acquire answered more than 5/12 of a
//!   TTL after it was sent may lose its lease, and its session, to its own
//!   schedule (found by this simulation: seed 14 with two hosts, a load
//!   sent into a partition and answered after it healed).
//!
//! Lease time in the store is the store's clock (virtual time), never the
//! host's: the store grants and fences on its own.

use std::collections::BTreeMap;

use huddle_core::{BoardId, EffectId, Timestamp};
use huddle_store::Node;

/// One host's leases (see the module docs).
#[derive(Clone, Debug)]
pub struct Leases {
    /// The node the host is.
    pub node: Node,
    /// Boards held, with when (host clock) the last granted acquire or
    /// renewal was sent.
    held: BTreeMap<BoardId, Timestamp>,
    /// Loads in flight, with when (host clock) they were sent.
    loads: BTreeMap<EffectId, Timestamp>,
    /// The next tick (host clock).
    pub next_tick: Timestamp,
    /// When the last renewal was sent (host clock; `None`: retry at once).
    last_renewal: Option<Timestamp>,
}

impl Leases {
    /// A host that holds nothing yet; its first tick at `now` (host clock).
    pub fn new(node: Node, now: Timestamp) -> Self {
        Leases {
            node,
            held: BTreeMap::new(),
            loads: BTreeMap::new(),
            next_tick: now,
            last_renewal: None,
        }
    }

    /// How often the host ticks: a twelfth of the TTL (a quarter of the
    /// renewal period, as the driver's renewal task).
    pub fn tick_every(&self) -> std::time::Duration {
        (self.node.renew_every() / 4).max(std::time::Duration::from_millis(1))
    }

    /// A load was sent at `now` (host clock).
    pub fn load_sent(&mut self, id: EffectId, now: Timestamp) {
        self.loads.insert(id, now);
    }

    /// The store granted the load `id` of `board` (the host learns it at
    /// `now`): held from when it was sent (`now` if unknown). If the
    /// renewal schedule would let its safe window close first (the grant
    /// was slow: more than 5/12 of a TTL late in the worst case), the
    /// next tick renews.
    pub fn acquired(&mut self, id: EffectId, board: &BoardId, now: Timestamp) {
        let sent = self.loads.remove(&id).unwrap_or(now);
        self.held.insert(board.clone(), sent);
        let next = self
            .last_renewal
            .map_or(now, |r| r.saturating_add(self.node.renew_every()));
        let closes = sent.saturating_add(self.node.safe_window());
        if next.saturating_add(self.tick_every()) >= closes {
            self.last_renewal = None;
        }
    }

    /// A load finished without acquiring its board.
    pub fn load_done(&mut self, id: EffectId) {
        self.loads.remove(&id);
    }

    /// Whether the host may still write to `board` at `now` (host clock):
    /// it holds it and the safe window is open.
    pub fn writable(&self, board: &BoardId, now: Timestamp) -> bool {
        self.held
            .get(board)
            .is_some_and(|sent| now < sent.saturating_add(self.node.safe_window()))
    }

    /// The host forgets a board (released, or lost).
    pub fn forget(&mut self, board: &BoardId) {
        self.held.remove(board);
    }

    /// Every board held.
    pub fn boards(&self) -> Vec<BoardId> {
        self.held.keys().cloned().collect()
    }

    /// The boards whose safe window has closed at `now` without a
    /// renewal: forgotten here, their sessions are to end.
    pub fn overdue(&mut self, now: Timestamp) -> Vec<BoardId> {
        let window = self.node.safe_window();
        let late: Vec<BoardId> = self
            .held
            .iter()
            .filter(|(_, sent)| now >= sent.saturating_add(window))
            .map(|(b, _)| b.clone())
            .collect();
        for b in &late {
            self.held.remove(b);
        }
        late
    }

    /// Whether a renewal is due at `now`.
    pub fn renewal_due(&self, now: Timestamp) -> bool {
        self.last_renewal
            .is_none_or(|t| now >= t.saturating_add(self.node.renew_every()))
    }

    /// A renewal of `asked`, sent at `now`, answered with the boards the
    /// store renewed (`None`: the call failed). Returns the boards lost:
    /// asked, still held, and not renewed.
    pub fn renewed(
        &mut self,
        asked: &[BoardId],
        now: Timestamp,
        renewed: Option<&[BoardId]>,
    ) -> Vec<BoardId> {
        let Some(renewed) = renewed else {
            // Tried again at the next tick.
            self.last_renewal = None;
            return Vec::new();
        };
        self.last_renewal = Some(now);
        let mut lost = Vec::new();
        for board in asked {
            let Some(sent) = self.held.get_mut(board) else {
                continue;
            };
            if renewed.contains(board) {
                *sent = (*sent).max(now);
            } else {
                self.held.remove(board);
                lost.push(board.clone());
            }
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn the_safe_window_closes_at_three_quarters_of_the_ttl() {
        let node = Node::new("a", "sim://a").with_lease_ttl(Duration::from_millis(1200));
        let mut leases = Leases::new(node, at(0));
        let board = BoardId::from("b");
        leases.load_sent(EffectId(1), at(100));
        leases.acquired(EffectId(1), &board, at(0));
        assert!(leases.writable(&board, at(999)));
        assert!(!leases.writable(&board, at(1000)));
        assert!(leases.overdue(at(999)).is_empty());
        assert_eq!(leases.overdue(at(1000)), vec![board.clone()]);
        assert!(!leases.writable(&board, at(500)), "forgotten once overdue");
    }

    #[test]
    fn a_lease_granted_late_is_renewed_at_the_next_tick() {
        // TTL 12 s: renewals every 4 s, a safe window of 9 s, ticks of 1 s.
        let node = Node::new("a", "sim://a").with_lease_ttl(Duration::from_secs(12));
        let mut leases = Leases::new(node, at(0));
        let (early, late) = (BoardId::from("early"), BoardId::from("late"));
        let asked = vec![early.clone()];
        leases.acquired(EffectId(1), &early, at(0));
        assert!(leases.renewed(&asked, at(5_000), Some(&asked)).is_empty());
        // Sent at 1 s, granted at 6 s: the next scheduled renewal (9 s)
        // would come as its window closes (10 s), a tick too late.
        leases.load_sent(EffectId(2), at(1_000));
        leases.acquired(EffectId(2), &late, at(6_000));
        assert!(leases.renewal_due(at(6_000)));
        // Granted promptly: the schedule stands.
        let mut leases = Leases::new(leases.node.clone(), at(0));
        leases.acquired(EffectId(1), &early, at(0));
        assert!(leases.renewed(&asked, at(5_000), Some(&asked)).is_empty());
        leases.load_sent(EffectId(2), at(5_500));
        leases.acquired(EffectId(2), &late, at(5_600));
        assert!(!leases.renewal_due(at(5_600)));
        assert!(leases.renewal_due(at(9_000)));
    }

    #[test]
    fn a_renewal_confirms_from_when_it_was_sent_and_loses_what_it_missed() {
        let node = Node::new("a", "sim://a").with_lease_ttl(Duration::from_millis(1200));
        let mut leases = Leases::new(node, at(0));
        let (b1, b2) = (BoardId::from("b1"), BoardId::from("b2"));
        leases.acquired(EffectId(1), &b1, at(0));
        leases.acquired(EffectId(2), &b2, at(0));
        assert!(leases.renewal_due(at(0)));
        let asked = leases.boards();
        assert!(leases.renewed(&asked, at(400), None).is_empty());
        assert!(leases.renewal_due(at(401)), "a failed call is retried");
        let lost = leases.renewed(&asked, at(500), Some(std::slice::from_ref(&b1)));
        assert_eq!(lost, vec![b2.clone()]);
        assert!(leases.writable(&b1, at(1399)));
        assert!(!leases.writable(&b1, at(1400)));
        assert!(!leases.writable(&b2, at(0)));
        assert!(!leases.renewal_due(at(899)));
        assert!(leases.renewal_due(at(900)));
    }
}
