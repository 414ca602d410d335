//! Encoding notices for the wire, as a host does before sending them:
//! with `huddle_wire`, to the protocol's JSON frame
//! ([`wire::encode_notice`]: element data written verbatim) or to a compact
//! binary form (the same frame, [`wire::notice_frame`], through `postcard`:
//! varint integers, length-prefixed strings, data as raw bytes).
//!
//! Baselines build the same `joined` notice around what they copied out, so
//! that both sides go through the same encoder. The engine's notices carry
//! the places where the encoder keeps its work (a batch's events, a run of
//! 64 unchanged elements; see `docs/decisions.md`, "Encode once"): its
//! first join in a case fills them, later ones copy them, which is the
//! steady state of a server whose broadcasts fill them. A baseline's
//! notice, built from owned events and pages, is written in full every
//! time (by the same hand-written JSON writer).

use huddle_core::{
    BoardId, Color, Event, FullSyncReason, JoinSync, Joined, Notice, Pages, UserSessionId,
};
use huddle_wire as wire;

/// How notices are encoded in a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not encoded: the engine's part alone.
    None,
    /// The protocol's JSON frame.
    Json,
    /// The same frame in postcard's compact binary form.
    Binary,
}

impl Encoding {
    /// Its name in case ids.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::None => "none",
            Encoding::Json => "json",
            Encoding::Binary => "binary",
        }
    }

    /// The encodings measured.
    pub fn all() -> [Encoding; 3] {
        [Encoding::None, Encoding::Json, Encoding::Binary]
    }
}

/// Encodes `notice` into `buf` (cleared first; nothing for `None`).
pub fn notice(notice: &Notice, encoding: Encoding, buf: &mut Vec<u8>) {
    buf.clear();
    match encoding {
        Encoding::None => {}
        Encoding::Json => match wire::encode_notice(notice) {
            Ok(frame) => *buf = frame,
            Err(e) => panic!("JSON encoding failed: {e}"),
        },
        Encoding::Binary => {
            let out = std::mem::take(buf);
            match postcard::to_extend(&wire::notice_frame(notice), out) {
                Ok(out) => *buf = out,
                Err(e) => panic!("binary encoding failed: {e}"),
            }
        }
    }
}

/// A `joined` notice around a sync, as a baseline's answer.
pub fn joined(board: &BoardId, sequence: u64, sync: JoinSync) -> Notice {
    Notice::Joined(Box::new(Joined {
        session_id: UserSessionId(1),
        board: board.clone(),
        color: Color::from_index(1),
        participants: Vec::new(),
        sequence,
        history_from: sequence.saturating_sub(999),
        sync,
    }))
}

/// A baseline's delta answer: the copied events, moved into the
/// [`huddle_core::DeltaEvents`] that `JoinSync::Delta` carries (grouped by
/// batch, the mutations moved, not cloned).
pub fn delta(board: &BoardId, sequence: u64, events: Vec<Event>) -> Notice {
    joined(
        board,
        sequence,
        JoinSync::Delta {
            events: events.into(),
        },
    )
}

/// A baseline's full answer.
pub fn full(board: &BoardId, sequence: u64, pages: Pages) -> Notice {
    let reason = FullSyncReason::Initial;
    joined(board, sequence, JoinSync::Full { reason, pages })
}

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_core::{Mutation, Timestamp};

    #[test]
    fn json_is_the_protocol_frame_and_binary_is_smaller() {
        let event = Event {
            seq: 7,
            author: "u".into(),
            batch: "b".into(),
            at: Timestamp::EPOCH,
            mutation: Mutation::Upsert {
                page: "p".into(),
                element: "e".into(),
                data: r#"{"x":1}"#.into(),
            },
        };
        let n = delta(&"board".into(), 7, vec![event]);
        let (mut json, mut bin) = (Vec::new(), Vec::new());
        notice(&n, Encoding::Json, &mut json);
        notice(&n, Encoding::Binary, &mut bin);
        let text = String::from_utf8(json).unwrap();
        assert!(text.starts_with(r#"{"type":"joined""#), "{text}");
        assert!(text.contains(r#""data":{"x":1}"#), "{text}");
        assert!(!bin.is_empty() && bin.len() < text.len());
        let mut none = vec![1];
        notice(&n, Encoding::None, &mut none);
        assert!(none.is_empty());
    }
}
