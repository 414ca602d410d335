//! Server-to-client messages: the frames a server sends and a client
//! decodes, and how an engine [`Notice`] becomes one.
//!
//! [`ServerMessage`] is the owned form a client decodes into. A host
//! encodes a notice without building one: [`encode_notice`](crate::encode_notice)
//! serializes straight from the notice (events and pages are borrowed,
//! payloads are written verbatim). Both go through one serializer (the
//! notice encoding's `Frame`), so the two can never disagree. Decoding a
//! frame is in the server decoding (`server_decoding.rs`).

use super::event::WireEvent;
use super::object::Obj;
use super::server_decoding::Envelope;
use super::{DecodeError, EncodeError};
use huddle_core::{
    BatchId, BoardId, BoardOwner, CloseReason, Color, ErrorCode, FullSyncReason, JoinSync, Notice,
    Pages, ParticipantInfo, SnapshotInfo, UserId, UserSessionId,
};

/// One frame from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// The answer to `join`: the whole sync, or (`parts > 0`) its first
    /// part.
    Joined(Box<JoinedMessage>),
    /// One more part of a `joined` answer's sync (`docs/protocol.md`,
    /// "Large syncs in parts").
    JoinedPart(Box<JoinedPartMessage>),
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
    /// The join was not served here: another node holds the board's
    /// lease. Join again at `owner.url` with the same token and the same
    /// `join`; the server closes the connection with
    /// [`close::REDIRECT`](crate::close::REDIRECT).
    Redirect {
        /// The board.
        board: BoardId,
        /// The owner: its node id and its WebSocket URL.
        owner: BoardOwner,
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
    /// Delta or full: all of it, or its first part when `parts > 0`.
    pub sync: WireSync,
    /// How many `joined_part` frames follow with the rest of the sync (0:
    /// the sync is complete; the field is then absent on the wire).
    pub parts: u32,
}

/// A `joined_part` message: more of a `joined` answer's sync.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinedPartMessage {
    /// The user session id of the `joined` it continues.
    pub session_id: UserSessionId,
    /// The board.
    pub board: BoardId,
    /// Its index, 1 for the first part after `joined`.
    pub part: u32,
    /// Whether it is the last part (its index is the `joined`'s `parts`).
    pub last: bool,
    /// More elements or more events, as the sync is full or a delta.
    pub content: PartContent,
}

/// What a `joined_part` carries.
#[derive(Clone, Debug, PartialEq)]
pub enum PartContent {
    /// More elements of a full sync (a page may continue from the
    /// previous part).
    Pages(Pages),
    /// More events of a delta, in order after the previous part's.
    Events(Vec<WireEvent>),
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
                parts: 0,
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
            Notice::Redirect { board, owner } => ServerMessage::Redirect {
                board: board.clone(),
                owner: owner.clone(),
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
}
