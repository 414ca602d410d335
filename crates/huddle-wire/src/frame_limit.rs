//! The frame limit's invariant: what must fit into one frame undivided.
//!
//! A `joined` answer is split into frames of at most the limit
//! (`joined_parts`), but never inside an element or an event, and its
//! `joined` frame holds the participants list whole. So a limit works only
//! if the largest of these fits into one frame with its frame's envelope:
//!
//! - the `joined` frame without any element: `max_participants`
//!   participants with ids and display names of the longest length, every
//!   byte of which escapes to two (`"` or `\`; control characters are
//!   refused);
//! - a `joined_part` holding one element: its page and element ids and a
//!   `data` of `max_payload_bytes`;
//! - a `joined_part` holding one event of a delta: the same and its
//!   sequence and author.
//!
//! [`check_frame_limit`] computes these worst cases from the same literals
//! the encoder writes (a test encodes them and compares) and refuses a
//! limit below any of them; the server runs it at startup.

use thiserror::Error;

use super::joined_parts::{
    SyncContent, JOINED_END, PARTS_FIELD, PART_BOARD, PART_DIGITS, PART_INDEX, PART_NOT_LAST,
    PART_START,
};
use huddle_core::Limits;

/// Hex digits of a user session id.
const SESSION_DIGITS: usize = 16;
/// Decimal digits of the largest `u64`.
const U64_DIGITS: usize = 20;
/// `"#RRGGBB"`.
const COLOR: usize = 9;

/// Which frame's worst case does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramePart {
    /// The `joined` frame with the participants list and no element.
    JoinedHead,
    /// A `joined_part` with one element of a full sync.
    Element,
    /// A `joined_part` with one event of a delta sync.
    Event,
}

impl FramePart {
    fn describe(self) -> &'static str {
        match self {
            FramePart::JoinedHead => "a `joined` frame with the most participants",
            FramePart::Element => "a `joined_part` with one element of the largest payload",
            FramePart::Event => "a `joined_part` with one event of the largest payload",
        }
    }
}

/// The frame limit cannot hold what one frame must hold undivided: a
/// configuration error (lower the payload, id, display name or
/// participant limits, or raise the frame limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("the frame limit of {limit} bytes is too small: {} takes up to {needed} bytes", .part.describe())]
pub struct FrameLimitError {
    /// What does not fit.
    pub part: FramePart,
    /// The bytes it may take.
    pub needed: usize,
    /// The frame limit.
    pub limit: usize,
}

/// An id or name of `n` bytes as a JSON string, at worst.
fn quoted(n: usize) -> usize {
    n.saturating_mul(2).saturating_add(2)
}

fn sum(parts: &[usize]) -> usize {
    parts.iter().fold(0usize, |a, &b| a.saturating_add(b))
}

/// The largest `joined` frame without elements (full sync or delta).
fn joined_head(limits: &Limits) -> usize {
    let id = quoted(limits.max_id_bytes);
    let participant = sum(&[
        br#"{"user_id":"#.len(),
        id,
        br#","display_name":"#.len(),
        quoted(limits.max_display_name_bytes),
        br#","color":"#.len(),
        COLOR,
        1,
    ]);
    let participants = limits.max_participants;
    let list = participant
        .saturating_mul(participants)
        .saturating_add(participants.saturating_sub(1));
    let full = sum(&[
        br#","sync":{"kind":"full","reason":"no_history""#.len(),
        SyncContent::Pages.open().len(),
    ]);
    let delta = sum(&[
        br#","sync":{"kind":"delta""#.len(),
        SyncContent::Events.open().len(),
    ]);
    sum(&[
        br#"{"type":"joined","session_id":""#.len(),
        SESSION_DIGITS,
        br#"","board":"#.len(),
        id,
        br#","color":"#.len(),
        COLOR,
        br#","participants":["#.len(),
        list,
        br#"],"sequence":"#.len(),
        U64_DIGITS,
        br#","history_from":"#.len(),
        U64_DIGITS,
        full.max(delta),
        PARTS_FIELD.len(),
        PART_DIGITS,
        1,
        JOINED_END.len(),
    ])
}

/// A `joined_part` around `content` bytes of `kind`.
fn part_around(limits: &Limits, kind: SyncContent, content: usize) -> usize {
    sum(&[
        PART_START.len(),
        SESSION_DIGITS,
        PART_BOARD.len(),
        quoted(limits.max_id_bytes),
        PART_INDEX.len(),
        PART_DIGITS,
        kind.open().len(),
        content,
        1,
        PART_NOT_LAST.len(),
    ])
}

/// The largest `joined_part` holding one element.
fn one_element(limits: &Limits) -> usize {
    let id = quoted(limits.max_id_bytes);
    // "page":{"element":data}
    let entry = sum(&[id, 2, id, 1, limits.max_payload_bytes, 1]);
    part_around(limits, SyncContent::Pages, entry)
}

/// The largest `joined_part` holding one event.
fn one_event(limits: &Limits) -> usize {
    let id = quoted(limits.max_id_bytes);
    let event = sum(&[
        br#"{"seq":"#.len(),
        U64_DIGITS,
        br#","user":"#.len(),
        id,
        br#","op":"upsert","page":"#.len(),
        id,
        br#","element":"#.len(),
        id,
        br#","data":"#.len(),
        limits.max_payload_bytes,
        1,
    ]);
    part_around(limits, SyncContent::Events, event)
}

/// The most bytes each frame that must hold something undivided may take
/// under `limits`.
pub fn frame_needs(limits: &Limits) -> [(FramePart, usize); 3] {
    [
        (FramePart::JoinedHead, joined_head(limits)),
        (FramePart::Element, one_element(limits)),
        (FramePart::Event, one_event(limits)),
    ]
}

/// Checks that frames of `max_frame_bytes` can hold what must not be
/// split under `limits` (see the module docs): then every frame of a
/// `joined` answer encoded with that limit
/// ([`encode_notice_frames`](crate::encode_notice_frames)) is within it.
pub fn check_frame_limit(max_frame_bytes: usize, limits: &Limits) -> Result<(), FrameLimitError> {
    for (part, needed) in frame_needs(limits) {
        if needed > max_frame_bytes {
            return Err(FrameLimitError {
                part,
                needed,
                limit: max_frame_bytes,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_fit_a_mebibyte() {
        let limits = Limits::default();
        assert_eq!(check_frame_limit(1 << 20, &limits), Ok(()));
        let err = check_frame_limit(64 * 1024, &limits).unwrap_err();
        assert_eq!(err.part, FramePart::JoinedHead);
        assert!(err.to_string().contains("65536"), "{err}");
    }

    #[test]
    fn a_payload_over_the_frame_limit_is_refused() {
        let limits = Limits::new().max_participants(1).max_payload_bytes(100_000);
        let err = check_frame_limit(100_000, &limits).unwrap_err();
        assert_eq!(err.part, FramePart::Element);
        assert!(err.needed > 100_000 + 2 * 514);
        // An event carries its author and sequence too: it needs more.
        let err = check_frame_limit(err.needed, &limits).unwrap_err();
        assert_eq!(err.part, FramePart::Event);
        assert_eq!(check_frame_limit(err.needed, &limits), Ok(()));
    }
}
