//! Encoding a sync answer for the wire.
//!
//! STAND-IN: `huddle_core::wire` (the protocol's encodings) is being
//! written alongside this crate and is not in this branch yet. Until it is,
//! the answer is encoded with `serde_json` over the events (delta) or the
//! pages (full) — the part of a `joined` frame that grows with what was
//! missed. There is no compact binary stand-in. Both the engine's answer
//! and the baseline's copy are encoded the same way.

use huddle_core::{Event, Notice, Pages, Sync};

/// How an answer is encoded in a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not encoded: the engine's part alone.
    None,
    /// JSON text (stand-in: `serde_json` of the events or pages).
    Json,
}

impl Encoding {
    /// Its name in case ids.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::None => "none",
            Encoding::Json => "json(stand-in)",
        }
    }

    /// The encodings measured.
    pub fn all() -> [Encoding; 2] {
        [Encoding::None, Encoding::Json]
    }
}

/// Encodes the sync part of a `joined` notice into `buf` (cleared first).
/// Other notices encode to nothing.
pub fn notice(notice: &Notice, encoding: Encoding, buf: &mut Vec<u8>) {
    buf.clear();
    if let Notice::Joined(joined) = notice {
        match &joined.sync {
            Sync::Delta { events: e } => events(e, encoding, buf),
            Sync::Full { pages: p, .. } => pages(p, encoding, buf),
        }
    }
}

/// Encodes events into `buf` (cleared first).
pub fn events(events: &[Event], encoding: Encoding, buf: &mut Vec<u8>) {
    buf.clear();
    if encoding == Encoding::Json {
        if let Err(e) = serde_json::to_writer(&mut *buf, events) {
            panic!("events encode: {e}");
        }
    }
}

/// Encodes pages into `buf` (cleared first).
pub fn pages(pages: &Pages, encoding: Encoding, buf: &mut Vec<u8>) {
    buf.clear();
    if encoding == Encoding::Json {
        if let Err(e) = serde_json::to_writer(&mut *buf, pages) {
            panic!("pages encode: {e}");
        }
    }
}
