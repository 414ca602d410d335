//! Mutations, payloads and events: what clients send and what the board's
//! log records.

use core::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, ElementId, PageId, UserId};
use crate::time::Timestamp;

/// An element's `data`: opaque bytes (the reference server keeps raw JSON
/// text). Cloning shares the bytes: the event history, the pending set, the
/// board state and every output hold the same allocation.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Payload(Arc<[u8]>);

impl Payload {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        Payload(bytes.into())
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if both share one allocation (used by tests of sharing).
    pub fn ptr_eq(a: &Payload, b: &Payload) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(&self.0) {
            Ok(s) if s.len() <= 64 => write!(f, "Payload({s:?})"),
            _ => write!(f, "Payload({} bytes)", self.0.len()),
        }
    }
}

impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Payload(Arc::from(s.as_bytes()))
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload(v.into())
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde::Deserialize::deserialize(d)?;
        Ok(Payload(bytes.into()))
    }
}

/// One change to one element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Mutation {
    /// Create or replace an element.
    Upsert {
        /// The page.
        page: PageId,
        /// The element.
        element: ElementId,
        /// Its new data.
        data: Payload,
    },
    /// Remove an element. Deleting an element that does not exist is
    /// accepted (two clients may delete the same element concurrently).
    Delete {
        /// The page.
        page: PageId,
        /// The element.
        element: ElementId,
    },
}

impl Mutation {
    /// The page this mutation touches.
    pub fn page(&self) -> &PageId {
        match self {
            Mutation::Upsert { page, .. } | Mutation::Delete { page, .. } => page,
        }
    }

    /// The element this mutation touches.
    pub fn element(&self) -> &ElementId {
        match self {
            Mutation::Upsert { element, .. } | Mutation::Delete { element, .. } => element,
        }
    }

    /// The new data, for an upsert.
    pub fn data(&self) -> Option<&Payload> {
        match self {
            Mutation::Upsert { data, .. } => Some(data),
            Mutation::Delete { .. } => None,
        }
    }
}

/// An applied mutation: its sequence number, author, time and batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The board sequence this mutation got.
    pub seq: u64,
    /// The user who sent it.
    pub author: UserId,
    /// The client batch it came in, for idempotent retries after a restart.
    pub batch: BatchId,
    /// When the engine applied it.
    pub at: Timestamp,
    /// What changed.
    pub mutation: Mutation,
}
