//! The notice encoding: how server messages and engine [`Notice`]s become
//! frames on the wire.
//!
//! There is one serializer of server messages, [`Frame`], over borrowed
//! data. [`encode_notice`] writes a notice as one JSON text frame without
//! building a [`ServerMessage`] (events and pages are borrowed, payloads are
//! written verbatim); [`notice_frame`] hands the same serializer to a binary
//! serde format; and an owned [`ServerMessage`] serializes through it too,
//! so a notice and its message can never be written differently.
//!
//! The hot JSON frames (`events`, `joined`, `ack`, `pong`) are written by
//! hand instead (`json_frames`: encode a batch once, splice it after);
//! the tests encode every notice both ways and compare the bytes.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::data::PagesView;
use super::event::EventsRef;
use super::json_frames;
use super::server_message::{PartContent, ServerMessage, WireSync};
use super::EncodeError;
use huddle_core::{
    BatchId, BoardId, BoardOwner, CloseReason, Color, ErrorCode, FullSyncReason, JoinSync, Joined,
    Notice, Pages, ParticipantInfo, SnapshotInfo, UserId, UserSessionId,
};

impl ServerMessage {
    /// The message's `type`.
    pub fn kind(&self) -> &'static str {
        self.frame().kind()
    }

    fn frame(&self) -> Frame<'_> {
        match self {
            ServerMessage::Joined(j) => Frame::Joined {
                session_id: j.session_id,
                board: &j.board,
                color: j.color,
                participants: &j.participants,
                sequence: j.sequence,
                history_from: j.history_from,
                sync: match &j.sync {
                    WireSync::Delta { events } => SyncRef::Delta(EventsRef::Wire(events)),
                    WireSync::Full { reason, pages } => SyncRef::Full(*reason, pages),
                },
                parts: j.parts,
            },
            ServerMessage::JoinedPart(p) => Frame::JoinedPart {
                session_id: p.session_id,
                board: &p.board,
                part: p.part,
                content: match &p.content {
                    PartContent::Pages(pages) => PartRef::Pages(pages),
                    PartContent::Events(events) => PartRef::Events(EventsRef::Wire(events)),
                },
                last: p.last,
            },
            ServerMessage::Ack { batch, sequence } => Frame::Ack {
                batch,
                sequence: *sequence,
            },
            ServerMessage::Events { events } => Frame::Events(EventsRef::Wire(events)),
            ServerMessage::ParticipantJoined(p) => Frame::Participant("participant_joined", p),
            ServerMessage::ParticipantLeft(p) => Frame::Participant("participant_left", p),
            ServerMessage::Cursor { user, x, y } => Frame::Cursor { user, x: *x, y: *y },
            ServerMessage::Snapshot(info) => Frame::Snapshot(info),
            ServerMessage::SessionTimeout { board } => Frame::Board("session_timeout", board),
            ServerMessage::SessionClosed { board, reason } => Frame::Closed(board, *reason),
            ServerMessage::Redirect { board, owner } => Frame::Redirect(board, owner),
            ServerMessage::Error {
                code,
                message,
                batch,
            } => Frame::Error {
                code: *code,
                message,
                batch: batch.as_ref(),
            },
            ServerMessage::Pong => Frame::Pong,
        }
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.frame().serialize(s)
    }
}

/// Encodes an engine notice as one JSON text frame, borrowing everything:
/// the one notice encoder every host uses (the tokio driver, the
/// simulation, the fuzz targets, the benches). A host encodes a broadcast
/// (`Output::Broadcast`) once and sends the bytes to each recipient.
///
/// The frames that carry events or a board (`events`, `joined`) and the
/// most frequent small ones (`ack`, `pong`) are written by hand
/// (`json_frames`): a batch's events are encoded once, into the place the
/// engine shares between its broadcast and the history, and spliced from
/// there into every later delta. The others go through the serializer.
///
/// A `joined` is one frame however large its sync; a host with a frame
/// limit uses [`encode_notice_frames`].
pub fn encode_notice(notice: &Notice) -> Result<Vec<u8>, EncodeError> {
    match notice {
        Notice::Joined(j) => {
            let frames = json_frames::joined(j, usize::MAX)?;
            return Ok(frames.into_iter().next().unwrap_or_default());
        }
        Notice::Events(events) => return json_frames::events(std::slice::from_ref(events)),
        Notice::Ack { batch, sequence } => return json_frames::ack(batch, *sequence),
        Notice::Pong => return Ok(json_frames::pong()),
        _ => {}
    }
    let mut out = Vec::with_capacity(128);
    serde_json::to_writer(&mut out, &notice_frame(notice)).map_err(EncodeError::from)?;
    Ok(out)
}

/// Encodes an engine notice as JSON text frames of at most
/// `max_frame_bytes` bytes each: one frame, but a `joined` whose sync does
/// not fit is the `joined` frame and its `joined_part`s, in order
/// (`docs/protocol.md`, "Large syncs in parts"). Elements and events are
/// never split: one larger than a frame can hold (which
/// [`check_frame_limit`](crate::check_frame_limit) rules out for the
/// configured limits) goes alone into a frame over the limit.
///
/// The encodings kept for encode-once are made and used as by
/// [`encode_notice`]: a frame's share of an element run or a batch is a
/// slice of the kept bytes.
pub fn encode_notice_frames(
    notice: &Notice,
    max_frame_bytes: usize,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    match notice {
        Notice::Joined(j) => json_frames::joined(j, max_frame_bytes),
        _ => Ok(vec![encode_notice(notice)?]),
    }
}

/// The notice as a serializable frame, the serializer behind
/// [`encode_notice`], for a binary serde format (which writes element data
/// as bytes).
pub fn notice_frame(notice: &Notice) -> impl Serialize + '_ {
    Frame::of(notice)
}

/// The one serializer of server messages, over borrowed data.
enum Frame<'a> {
    Joined {
        session_id: UserSessionId,
        board: &'a BoardId,
        color: Color,
        participants: &'a [ParticipantInfo],
        sequence: u64,
        history_from: u64,
        sync: SyncRef<'a>,
        parts: u32,
    },
    JoinedPart {
        session_id: UserSessionId,
        board: &'a BoardId,
        part: u32,
        content: PartRef<'a>,
        last: bool,
    },
    Ack {
        batch: &'a BatchId,
        sequence: u64,
    },
    Events(EventsRef<'a>),
    Participant(&'static str, &'a ParticipantInfo),
    Cursor {
        user: &'a UserId,
        x: f64,
        y: f64,
    },
    Snapshot(&'a SnapshotInfo),
    Board(&'static str, &'a BoardId),
    Closed(&'a BoardId, CloseReason),
    Redirect(&'a BoardId, &'a BoardOwner),
    Error {
        code: ErrorCode,
        message: &'a str,
        batch: Option<&'a BatchId>,
    },
    Pong,
}

enum SyncRef<'a> {
    Delta(EventsRef<'a>),
    Full(FullSyncReason, &'a Pages),
}

/// A sync with the count of the parts that follow it.
struct SyncWithParts<'a>(&'a SyncRef<'a>, u32);

enum PartRef<'a> {
    Pages(&'a Pages),
    Events(EventsRef<'a>),
}

impl<'a> Frame<'a> {
    fn of(notice: &'a Notice) -> Self {
        match notice {
            Notice::Joined(j) => Frame::joined(j),
            Notice::JoinFailed { code, message, .. } | Notice::SnapshotFailed { code, message } => {
                Frame::Error {
                    code: *code,
                    message,
                    batch: None,
                }
            }
            Notice::Ack { batch, sequence } => Frame::Ack {
                batch,
                sequence: *sequence,
            },
            Notice::Events(events) => Frame::Events(EventsRef::Engine(events)),
            Notice::ParticipantJoined(p) => Frame::Participant("participant_joined", p),
            Notice::ParticipantLeft(p) => Frame::Participant("participant_left", p),
            Notice::Cursor { user, x, y } => Frame::Cursor { user, x: *x, y: *y },
            Notice::Snapshot(info) => Frame::Snapshot(info),
            Notice::SessionTimeout { board } => Frame::Board("session_timeout", board),
            Notice::SessionClosed { board, reason } => Frame::Closed(board, *reason),
            Notice::Redirect { board, owner } => Frame::Redirect(board, owner),
            Notice::Pong => Frame::Pong,
        }
    }

    fn joined(j: &'a Joined) -> Self {
        Frame::Joined {
            session_id: j.session_id,
            board: &j.board,
            color: j.color,
            participants: &j.participants,
            sequence: j.sequence,
            history_from: j.history_from,
            sync: match &j.sync {
                JoinSync::Delta { events } => SyncRef::Delta(EventsRef::Delta(events)),
                JoinSync::Full { reason, pages } => SyncRef::Full(*reason, pages),
            },
            parts: 0,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Frame::Joined { .. } => "joined",
            Frame::JoinedPart { .. } => "joined_part",
            Frame::Ack { .. } => "ack",
            Frame::Events(_) => "events",
            Frame::Participant(kind, _) | Frame::Board(kind, _) => kind,
            Frame::Closed(..) => "session_closed",
            Frame::Redirect(..) => "redirect",
            Frame::Cursor { .. } => "cursor",
            Frame::Snapshot(_) => "snapshot",
            Frame::Error { .. } => "error",
            Frame::Pong => "pong",
        }
    }
}

impl Serialize for Frame<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.kind();
        match self {
            Frame::Joined {
                session_id,
                board,
                color,
                participants,
                sequence,
                history_from,
                sync,
                parts,
            } => {
                let mut st = s.serialize_struct("joined", 8)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("session_id", &session_id.to_string())?;
                st.serialize_field("board", board.as_str())?;
                st.serialize_field("color", color.hex())?;
                st.serialize_field("participants", &ParticipantsView(participants))?;
                st.serialize_field("sequence", sequence)?;
                st.serialize_field("history_from", history_from)?;
                st.serialize_field("sync", &SyncWithParts(sync, *parts))?;
                st.end()
            }
            Frame::JoinedPart {
                session_id,
                board,
                part,
                content,
                last,
            } => {
                let mut st = s.serialize_struct("joined_part", 6)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("session_id", &session_id.to_string())?;
                st.serialize_field("board", board.as_str())?;
                st.serialize_field("part", part)?;
                match content {
                    PartRef::Pages(pages) => st.serialize_field("pages", &PagesView(pages))?,
                    PartRef::Events(events) => st.serialize_field("events", events)?,
                }
                st.serialize_field("last", last)?;
                st.end()
            }
            Frame::Ack { batch, sequence } => {
                let mut st = s.serialize_struct("ack", 3)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("batch", batch.as_str())?;
                st.serialize_field("sequence", sequence)?;
                st.end()
            }
            Frame::Events(events) => {
                let mut st = s.serialize_struct("events", 2)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("events", events)?;
                st.end()
            }
            Frame::Participant(_, p) => {
                let mut st = s.serialize_struct("participant", 4)?;
                st.serialize_field("type", kind)?;
                participant_fields(&mut st, p)?;
                st.end()
            }
            Frame::Cursor { user, x, y } => {
                let mut st = s.serialize_struct("cursor", 4)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("user_id", user.as_str())?;
                st.serialize_field("x", x)?;
                st.serialize_field("y", y)?;
                st.end()
            }
            Frame::Snapshot(info) => {
                let mut st = s.serialize_struct("snapshot", 5)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("id", info.id.as_str())?;
                st.serialize_field("version", &info.version)?;
                st.serialize_field("created_at", &info.created_at.to_string())?;
                st.serialize_field("created_by", info.created_by.as_str())?;
                st.end()
            }
            Frame::Board(_, board) => {
                let mut st = s.serialize_struct("board", 2)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("board", board.as_str())?;
                st.end()
            }
            Frame::Closed(board, reason) => {
                let mut st = s.serialize_struct("session_closed", 3)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("board", board.as_str())?;
                st.serialize_field("reason", reason.as_str())?;
                st.end()
            }
            Frame::Redirect(board, owner) => {
                let mut st = s.serialize_struct("redirect", 4)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("board", board.as_str())?;
                st.serialize_field("node", &owner.node)?;
                st.serialize_field("url", &owner.url)?;
                st.end()
            }
            Frame::Error {
                code,
                message,
                batch,
            } => {
                let mut st = s.serialize_struct("error", 4)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("code", code.as_str())?;
                st.serialize_field("message", message)?;
                match batch {
                    Some(b) => st.serialize_field("batch", b.as_str())?,
                    None => st.skip_field("batch")?,
                }
                st.end()
            }
            Frame::Pong => {
                let mut st = s.serialize_struct("pong", 1)?;
                st.serialize_field("type", kind)?;
                st.end()
            }
        }
    }
}

impl Serialize for SyncWithParts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let SyncWithParts(sync, parts) = *self;
        let parts_field = |st: &mut S::SerializeStruct| match parts {
            0 => st.skip_field("parts"),
            n => st.serialize_field("parts", &n),
        };
        match sync {
            SyncRef::Delta(events) => {
                let mut st = s.serialize_struct("delta", 3)?;
                st.serialize_field("kind", "delta")?;
                parts_field(&mut st)?;
                st.serialize_field("events", events)?;
                st.end()
            }
            SyncRef::Full(reason, pages) => {
                let mut st = s.serialize_struct("full", 4)?;
                st.serialize_field("kind", "full")?;
                st.serialize_field("reason", reason)?;
                parts_field(&mut st)?;
                st.serialize_field("pages", &PagesView(pages))?;
                st.end()
            }
        }
    }
}

fn participant_fields<T: SerializeStruct>(st: &mut T, p: &ParticipantInfo) -> Result<(), T::Error> {
    st.serialize_field("user_id", p.user.as_str())?;
    st.serialize_field("display_name", &*p.display_name)?;
    st.serialize_field("color", p.color.hex())
}

struct ParticipantsView<'a>(&'a [ParticipantInfo]);

impl Serialize for ParticipantsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct One<'b>(&'b ParticipantInfo);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut st = s.serialize_struct("participant", 3)?;
                participant_fields(&mut st, self.0)?;
                st.end()
            }
        }
        s.collect_seq(self.0.iter().map(One))
    }
}
