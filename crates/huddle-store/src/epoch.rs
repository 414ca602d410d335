//! Ownership epochs: the fencing tokens of board writes.
//!
//! Every board has a current epoch in the store, starting at none (0).
//! [`crate::Store::acquire_board`] makes the caller the board's owner by
//! raising it by one and returning the new value; every later write to the
//! board carries that epoch and is refused with
//! [`crate::StoreError::Fenced`] (writing nothing) unless it is still the
//! current one. The check happens inside the write's transaction, so a
//! stale owner can never write after a newer one acquired the board, however
//! late its requests arrive.

use core::fmt;

/// A board ownership epoch. `Epoch::NONE` (0) is never current once a
/// board was acquired; fresh epochs start at 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(u64);

impl Epoch {
    /// No epoch: a board nobody acquired yet.
    pub const NONE: Epoch = Epoch(0);

    /// An epoch with this number (stores build them; hosts get them from
    /// [`crate::Store::acquire_board`]).
    pub const fn new(n: u64) -> Self {
        Epoch(n)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The epoch after this one (saturating).
    pub const fn next(self) -> Self {
        Epoch(self.0.saturating_add(1))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
