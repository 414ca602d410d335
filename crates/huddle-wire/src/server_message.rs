//! Server-to-client messages, built from the engine's [`Notice`]s.
//!
//! [`ServerMessage`] is the owned form a client decodes into. A host
//! encodes a notice without building one: [`encode_notice`] serializes
//! straight from the notice (events and pages are borrowed, payloads are
//! written verbatim). Both go through one serializer ([`Frame`]), so the
//! two can never disagree.

use std::borrow::Cow;

use indexmap::IndexMap;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::data::{payload_from_raw, PagesView};
use super::event::{EventsRef, MutationFields, WireEvent};
use super::object::Obj;
use super::{DecodeError, EncodeError};
use huddle_core::{
    BatchId, BoardId, CloseReason, Color, ElementId, ErrorCode, FullSyncReason, JoinSync, Joined,
    Notice, PageId, Pages, ParticipantInfo, SnapshotCause, SnapshotId, SnapshotInfo, Timestamp,
    UserId, UserSessionId,
};

/// One frame from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// The answer to `join`.
    Joined(Box<JoinedMessage>),
    /// A batch is applied (durable by default).
    Ack {
        /// The client's batch id.
        batch: BatchId,
        /// The sequence of its last mutation.
        sequence: u64,
    },
    /// Events other participants applied.
    Events {
        /// In sequence order.
        events: Vec<WireEvent>,
    },
    /// Someone joined.
    ParticipantJoined(ParticipantInfo),
    /// Someone left.
    ParticipantLeft(ParticipantInfo),
    /// Someone's cursor moved.
    Cursor {
        /// Whose.
        user: UserId,
        /// X.
        x: f64,
        /// Y.
        y: f64,
    },
    /// A snapshot was stored.
    Snapshot(SnapshotInfo),
    /// This user session timed out; the server closes with code 4002.
    SessionTimeout {
        /// The board.
        board: BoardId,
    },
    /// The board session was closed (an extension of the spec's list; the
    /// server then closes the connection). `reason` (`"closed"`,
    /// `"moved"`, `"failed"`; absent or unknown decodes as `"closed"`) says
    /// whether to reconnect now ([`CloseReason::reconnect`]).
    SessionClosed {
        /// The board.
        board: BoardId,
        /// Why.
        reason: CloseReason,
    },
    /// A request failed; nothing was applied.
    Error {
        /// The code.
        code: ErrorCode,
        /// A human-readable reason.
        message: String,
        /// The batch a `mutate` error is about.
        batch: Option<BatchId>,
    },
    /// Keep-alive answer.
    Pong,
}

/// The `joined` message.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinedMessage {
    /// The user session id.
    pub session_id: UserSessionId,
    /// The board.
    pub board: BoardId,
    /// The participant's colour.
    pub color: Color,
    /// Everyone present, the joiner included.
    pub participants: Vec<ParticipantInfo>,
    /// The board's current sequence.
    pub sequence: u64,
    /// The oldest `last_sequence` that still gets a delta.
    pub history_from: u64,
    /// Delta or full.
    pub sync: WireSync,
}

/// The `sync` of a `joined` message.
#[derive(Clone, Debug, PartialEq)]
pub enum WireSync {
    /// The missed events, in order.
    Delta {
        /// The events.
        events: Vec<WireEvent>,
    },
    /// The whole board.
    Full {
        /// Why.
        reason: FullSyncReason,
        /// All elements.
        pages: Pages,
    },
}

impl ServerMessage {
    /// The message's `type`.
    pub fn kind(&self) -> &'static str {
        self.frame().kind()
    }

    /// The owned message for an engine notice.
    pub fn from_notice(notice: &Notice) -> Self {
        match notice {
            Notice::Joined(j) => ServerMessage::Joined(Box::new(JoinedMessage {
                session_id: j.session_id,
                board: j.board.clone(),
                color: j.color,
                participants: j.participants.clone(),
                sequence: j.sequence,
                history_from: j.history_from,
                sync: match &j.sync {
                    JoinSync::Delta { events } => WireSync::Delta {
                        events: events.iter().map(WireEvent::from).collect(),
                    },
                    JoinSync::Full { reason, pages } => WireSync::Full {
                        reason: *reason,
                        pages: pages.clone(),
                    },
                },
            })),
            Notice::JoinFailed { code, message, .. } | Notice::SnapshotFailed { code, message } => {
                ServerMessage::Error {
                    code: *code,
                    message: message.clone(),
                    batch: None,
                }
            }
            Notice::Ack { batch, sequence } => ServerMessage::Ack {
                batch: batch.clone(),
                sequence: *sequence,
            },
            Notice::Events(events) => ServerMessage::Events {
                events: events.iter().map(WireEvent::from).collect(),
            },
            Notice::ParticipantJoined(p) => ServerMessage::ParticipantJoined(p.clone()),
            Notice::ParticipantLeft(p) => ServerMessage::ParticipantLeft(p.clone()),
            Notice::Cursor { user, x, y } => ServerMessage::Cursor {
                user: user.clone(),
                x: *x,
                y: *y,
            },
            Notice::Snapshot(info) => ServerMessage::Snapshot(info.clone()),
            Notice::SessionTimeout { board } => ServerMessage::SessionTimeout {
                board: board.clone(),
            },
            Notice::SessionClosed { board, reason } => ServerMessage::SessionClosed {
                board: board.clone(),
                reason: *reason,
            },
            Notice::Pong => ServerMessage::Pong,
        }
    }

    /// An `error` message.
    pub fn error(code: ErrorCode, message: impl Into<String>, batch: Option<BatchId>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
            batch,
        }
    }

    /// Encodes the message as one JSON text frame.
    pub fn to_json(&self) -> Result<String, EncodeError> {
        serde_json::to_string(self).map_err(EncodeError::from)
    }

    /// Decodes one JSON text frame.
    pub fn from_json(frame: &[u8]) -> Result<Self, DecodeError> {
        let Obj(env): Obj<Envelope<'_>> =
            serde_json::from_slice(frame).map_err(DecodeError::json)?;
        env.into_message()
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
pub fn encode_notice(notice: &Notice) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(128);
    serde_json::to_writer(&mut out, &notice_frame(notice)).map_err(EncodeError::from)?;
    Ok(out)
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
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Frame::Joined { .. } => "joined",
            Frame::Ack { .. } => "ack",
            Frame::Events(_) => "events",
            Frame::Participant(kind, _) | Frame::Board(kind, _) => kind,
            Frame::Closed(..) => "session_closed",
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
            } => {
                let mut st = s.serialize_struct("joined", 8)?;
                st.serialize_field("type", kind)?;
                st.serialize_field("session_id", &session_id.to_string())?;
                st.serialize_field("board", board.as_str())?;
                st.serialize_field("color", color.hex())?;
                st.serialize_field("participants", &ParticipantsView(participants))?;
                st.serialize_field("sequence", sequence)?;
                st.serialize_field("history_from", history_from)?;
                st.serialize_field("sync", sync)?;
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

impl Serialize for SyncRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SyncRef::Delta(events) => {
                let mut st = s.serialize_struct("delta", 2)?;
                st.serialize_field("kind", "delta")?;
                st.serialize_field("events", events)?;
                st.end()
            }
            SyncRef::Full(reason, pages) => {
                let mut st = s.serialize_struct("full", 3)?;
                st.serialize_field("kind", "full")?;
                st.serialize_field("reason", reason)?;
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

/// Every field any server message has; `type` says which are required.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    board: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    color: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    participants: Option<Vec<Obj<ParticipantFields<'a>>>>,
    #[serde(default)]
    sequence: Option<u64>,
    #[serde(default)]
    history_from: Option<u64>,
    #[serde(default, borrow)]
    sync: Option<Obj<SyncFields<'a>>>,
    #[serde(default, borrow)]
    batch: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    events: Option<Vec<Obj<MutationFields<'a>>>>,
    #[serde(default, borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    display_name: Option<Cow<'a, str>>,
    #[serde(default)]
    x: Option<f64>,
    #[serde(default)]
    y: Option<f64>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default, borrow)]
    created_at: Option<Cow<'a, str>>,
    #[serde(default)]
    created_by: Option<SnapshotCause>,
    #[serde(default)]
    code: Option<ErrorCode>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ParticipantFields<'a> {
    #[serde(default, borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    display_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    color: Option<Cow<'a, str>>,
}

/// `{page: {element: data}}` as decoded, data still raw JSON.
type RawPages<'a> = IndexMap<Cow<'a, str>, IndexMap<Cow<'a, str>, &'a RawValue>>;

#[derive(Deserialize)]
struct SyncFields<'a> {
    #[serde(default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    events: Option<Vec<Obj<MutationFields<'a>>>>,
    #[serde(default)]
    reason: Option<FullSyncReason>,
    #[serde(default, borrow)]
    pages: Option<RawPages<'a>>,
}

fn missing(kind: &'static str, field: &'static str) -> DecodeError {
    DecodeError::MissingField { kind, field }
}

fn color(kind: &'static str, hex: Option<&str>) -> Result<Color, DecodeError> {
    let hex = hex.ok_or(missing(kind, "color"))?;
    Color::from_hex(hex).ok_or(DecodeError::InvalidField {
        kind,
        field: "color",
    })
}

fn participant(
    kind: &'static str,
    p: &ParticipantFields<'_>,
) -> Result<ParticipantInfo, DecodeError> {
    Ok(ParticipantInfo {
        user: p.user_id.as_deref().ok_or(missing(kind, "user_id"))?.into(),
        display_name: p
            .display_name
            .as_deref()
            .ok_or(missing(kind, "display_name"))?
            .into(),
        color: color(kind, p.color.as_deref())?,
    })
}

fn events(
    kind: &'static str,
    fields: Option<Vec<Obj<MutationFields<'_>>>>,
) -> Result<Vec<WireEvent>, DecodeError> {
    fields
        .ok_or(missing(kind, "events"))?
        .iter()
        .map(|f| f.0.event(kind))
        .collect()
}

impl Envelope<'_> {
    fn into_message(self) -> Result<ServerMessage, DecodeError> {
        let kind = self.kind.as_deref().ok_or(DecodeError::MissingType)?;
        Ok(match kind {
            "joined" => self.joined()?,
            "ack" => ServerMessage::Ack {
                batch: self.batch.as_deref().ok_or(missing("ack", "batch"))?.into(),
                sequence: self.sequence.ok_or(missing("ack", "sequence"))?,
            },
            "events" => ServerMessage::Events {
                events: events("events", self.events)?,
            },
            "participant_joined" | "participant_left" => {
                let k = if kind == "participant_joined" {
                    "participant_joined"
                } else {
                    "participant_left"
                };
                let p = participant(
                    k,
                    &ParticipantFields {
                        user_id: self.user_id,
                        display_name: self.display_name,
                        color: self.color,
                    },
                )?;
                if k == "participant_joined" {
                    ServerMessage::ParticipantJoined(p)
                } else {
                    ServerMessage::ParticipantLeft(p)
                }
            }
            "cursor" => ServerMessage::Cursor {
                user: self
                    .user_id
                    .as_deref()
                    .ok_or(missing("cursor", "user_id"))?
                    .into(),
                x: self.x.ok_or(missing("cursor", "x"))?,
                y: self.y.ok_or(missing("cursor", "y"))?,
            },
            "snapshot" => {
                let at = self
                    .created_at
                    .as_deref()
                    .ok_or(missing("snapshot", "created_at"))?;
                ServerMessage::Snapshot(SnapshotInfo {
                    id: SnapshotId::from(self.id.as_deref().ok_or(missing("snapshot", "id"))?),
                    version: self.version.ok_or(missing("snapshot", "version"))?,
                    created_at: Timestamp::parse_rfc3339(at).ok_or(DecodeError::InvalidField {
                        kind: "snapshot",
                        field: "created_at",
                    })?,
                    created_by: self.created_by.ok_or(missing("snapshot", "created_by"))?,
                })
            }
            "session_timeout" => ServerMessage::SessionTimeout {
                board: self
                    .board
                    .as_deref()
                    .ok_or(missing("session_timeout", "board"))?
                    .into(),
            },
            "session_closed" => ServerMessage::SessionClosed {
                board: self
                    .board
                    .as_deref()
                    .ok_or(missing("session_closed", "board"))?
                    .into(),
                reason: match self.reason.as_deref() {
                    Some("moved") => CloseReason::Moved,
                    Some("failed") => CloseReason::Failed,
                    _ => CloseReason::Closed,
                },
            },
            "error" => ServerMessage::Error {
                code: self.code.ok_or(missing("error", "code"))?,
                message: self.message.map(Cow::into_owned).unwrap_or_default(),
                batch: self.batch.as_deref().map(BatchId::from),
            },
            "pong" => ServerMessage::Pong,
            other => return Err(DecodeError::UnknownType(other.to_owned())),
        })
    }

    fn joined(self) -> Result<ServerMessage, DecodeError> {
        const K: &str = "joined";
        let session = self.session_id.as_deref().ok_or(missing(K, "session_id"))?;
        let session_id = u64::from_str_radix(session, 16)
            .map(UserSessionId)
            .map_err(|_| DecodeError::InvalidField {
                kind: K,
                field: "session_id",
            })?;
        let participants = self
            .participants
            .ok_or(missing(K, "participants"))?
            .iter()
            .map(|p| participant(K, &p.0))
            .collect::<Result<Vec<_>, _>>()?;
        let Obj(sync) = self.sync.ok_or(missing(K, "sync"))?;
        let sync = match sync.kind.as_deref().ok_or(missing(K, "sync.kind"))? {
            "delta" => WireSync::Delta {
                events: events(K, sync.events)?,
            },
            "full" => WireSync::Full {
                reason: sync.reason.ok_or(missing(K, "sync.reason"))?,
                pages: Pages::from_elements(
                    sync.pages.ok_or(missing(K, "sync.pages"))?.iter().flat_map(
                        |(page, elements)| {
                            elements.iter().map(move |(element, data)| {
                                (
                                    PageId::from(&**page),
                                    ElementId::from(&**element),
                                    payload_from_raw(data),
                                )
                            })
                        },
                    ),
                ),
            },
            _ => {
                return Err(DecodeError::InvalidField {
                    kind: K,
                    field: "sync.kind",
                })
            }
        };
        Ok(ServerMessage::Joined(Box::new(JoinedMessage {
            session_id,
            board: self.board.as_deref().ok_or(missing(K, "board"))?.into(),
            color: color(K, self.color.as_deref())?,
            participants,
            sequence: self.sequence.ok_or(missing(K, "sequence"))?,
            history_from: self.history_from.ok_or(missing(K, "history_from"))?,
            sync,
        })))
    }
}
