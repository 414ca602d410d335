//! Board leases: which node owns a board, and until when.
//!
//! A board's sequence has exactly one author at a time. The store records
//! it as a lease next to the board's [`Epoch`]: the holder's [`Node`]
//! identity and an expiry, both in the store. Lease time is the **store's
//! clock** (the database's `now()`), never a node's: nodes only ever ask
//! for "the TTL from now".
//!
//! - [`crate::Store::acquire_board`] succeeds when the board is free, its
//!   lease has expired, or the asking node holds it already; every success
//!   raises the epoch (fencing every earlier one) and runs the lease for the
//!   node's TTL. While another node's lease runs it is refused with
//!   [`crate::StoreError::OwnedElsewhere`], naming the holder.
//! - [`crate::Store::renew_leases`] runs all of a node's live leases on for
//!   another TTL, in one statement, and says which the node still holds;
//!   an expired lease is not renewed (the node has lost it, even if nobody
//!   took the board yet).
//! - [`crate::Store::release_board`] frees a board at once (archive,
//!   shutdown), so that another node need not wait for the TTL.
//! - Every write to a board is fenced on both: the epoch must be the
//!   board's current one ([`crate::StoreError::Fenced`]) and its lease must
//!   still run ([`crate::StoreError::LeaseExpired`]), checked inside the
//!   write's transaction.

use std::time::Duration;

use huddle_core::BoardOwner;

use crate::epoch::Epoch;

/// The lease time a node asks for unless configured otherwise (see
/// `docs/decisions.md`).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// The shortest lease a store grants (a shorter TTL is raised to it).
pub const MIN_LEASE_TTL: Duration = Duration::from_millis(10);

/// The longest lease a store grants (a longer TTL is cut to it).
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(3600);

/// A node of the cluster as the store sees it: who it is, where clients
/// reach it, and how long its leases run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The node's id and advertised URL: what a refused acquire names.
    pub owner: BoardOwner,
    /// How long a lease runs after an acquire or renewal.
    pub lease_ttl: Duration,
}

impl Node {
    /// A node with this id and advertised URL, leasing for
    /// [`DEFAULT_LEASE_TTL`].
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> Self {
        Node {
            owner: BoardOwner {
                node: id.into(),
                url: url.into(),
            },
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }

    /// The same node with another lease time.
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// The node's id.
    pub fn id(&self) -> &str {
        &self.owner.node
    }

    /// The lease time in whole milliseconds, within
    /// [`MIN_LEASE_TTL`]..=[`MAX_LEASE_TTL`] (what stores grant).
    pub fn ttl_millis(&self) -> u64 {
        let ttl = self.lease_ttl.clamp(MIN_LEASE_TTL, MAX_LEASE_TTL);
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Node {
    /// How long after sending an acquire or renewal that the store granted
    /// the node may still write: three quarters of the TTL (see
    /// `docs/decisions.md`). The lease, counted by the store from the
    /// moment it served the request (no earlier than the moment it was
    /// sent), runs a quarter of the TTL longer: the margin for clock rates
    /// and for the writes in flight. With renewals every third of the TTL,
    /// one failed renewal is survived if the next answers within a twelfth
    /// of the TTL.
    pub fn safe_window(&self) -> Duration {
        Duration::from_millis(self.ttl_millis().saturating_mul(3) / 4)
    }

    /// How often a node renews its leases: a third of the TTL, so that
    /// after one failed renewal a second goes out before the safe window
    /// closes.
    pub fn renew_every(&self) -> Duration {
        Duration::from_millis((self.ttl_millis() / 3).max(1))
    }
}

/// A single node that never shares its store: id `local`, no URL, and
/// leases of [`MAX_LEASE_TTL`] (alone on its store, nobody waits for its
/// leases; a restart is the same node and acquires its boards at once, and
/// a host that never renews, such as a test harness, keeps them).
impl Default for Node {
    fn default() -> Self {
        Node::new("local", "").with_lease_ttl(MAX_LEASE_TTL)
    }
}

/// A granted acquire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acquired {
    /// The board's new epoch, which the node's writes carry.
    pub epoch: Epoch,
    /// Whether the board's lease was another node's (expired) until now:
    /// a takeover.
    pub took_over: bool,
}
