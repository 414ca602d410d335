//! Identifiers. String ids (boards, users, pages, elements, batches) are
//! reference-counted so that events, the pending set and outputs share them
//! instead of copying; numeric ids (connections, user sessions, effects) are
//! plain integers.

use core::fmt;
use std::borrow::Borrow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a string. Ids are validated where they enter the engine
            /// (non-empty, at most `Config::limits.max_id_bytes`), not here.
            pub fn new(id: impl Into<Arc<str>>) -> Self {
                $name(id.into())
            }

            /// The id as a string slice.
            #[inline]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.into())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s.into())
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A board: the thing people edit together.
    BoardId
);
string_id!(
    /// A user, as the host authenticated it. One participant per user id.
    UserId
);
string_id!(
    /// A page of a board.
    PageId
);
string_id!(
    /// An element on a page.
    ElementId
);
string_id!(
    /// A client-chosen batch id; `(user, batch)` identifies a batch for
    /// idempotent retries.
    BatchId
);
string_id!(
    /// A stored snapshot, named by the host's store when it confirms it.
    SnapshotId
);

/// A connection, named by the host. Every engine output for a client is
/// addressed to one. A connection holds at most one user session at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

/// A user session: one join of one user to one board. Assigned by the engine
/// from the instance seed given to [`crate::Engine::new`], so ids from two
/// engine instances with different seeds do not collide.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserSessionId(pub u64);

impl fmt::Debug for UserSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserSessionId({self})")
    }
}

impl fmt::Display for UserSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A storage effect handed to the host; the host reports its outcome with
/// the same id to [`crate::Engine::handle_storage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EffectId(pub u64);
