//! The server decoding: how a client reads one JSON text frame from the
//! server back into a [`ServerMessage`].
//!
//! A frame is read into an [`Envelope`] that has every field any server
//! message has; its `type` then says which fields are required. A missing
//! field is an error naming it; element data stays raw JSON text and is
//! copied into the payload verbatim.

use std::borrow::Cow;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::data::payload_from_raw;
use super::event::{MutationFields, WireEvent};
use super::object::Obj;
use super::server_message::{
    JoinedMessage, JoinedPartMessage, PartContent, ServerMessage, WireSync,
};
use super::DecodeError;
use huddle_core::{
    BatchId, BoardOwner, CloseReason, Color, ElementId, ErrorCode, FullSyncReason, PageId, Pages,
    ParticipantInfo, SnapshotCause, SnapshotId, SnapshotInfo, Timestamp, UserSessionId,
};

/// Every field any server message has; `type` says which are required.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
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
    #[serde(default, borrow)]
    node: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(default)]
    part: Option<u32>,
    #[serde(default)]
    last: Option<bool>,
    #[serde(default, borrow)]
    pages: Option<RawPages<'a>>,
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
    #[serde(default)]
    parts: Option<u32>,
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
    pub(crate) fn into_message(self) -> Result<ServerMessage, DecodeError> {
        let kind = self.kind.as_deref().ok_or(DecodeError::MissingType)?;
        Ok(match kind {
            "joined" => self.joined()?,
            "joined_part" => self.joined_part()?,
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
            "redirect" => ServerMessage::Redirect {
                board: self
                    .board
                    .as_deref()
                    .ok_or(missing("redirect", "board"))?
                    .into(),
                owner: BoardOwner {
                    node: self
                        .node
                        .map(Cow::into_owned)
                        .ok_or(missing("redirect", "node"))?,
                    url: self
                        .url
                        .map(Cow::into_owned)
                        .ok_or(missing("redirect", "url"))?,
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
        let session_id = session_id(K, self.session_id.as_deref())?;
        let participants = self
            .participants
            .ok_or(missing(K, "participants"))?
            .iter()
            .map(|p| participant(K, &p.0))
            .collect::<Result<Vec<_>, _>>()?;
        let Obj(sync) = self.sync.ok_or(missing(K, "sync"))?;
        let sync_parts = sync.parts.unwrap_or(0);
        let sync = match sync.kind.as_deref().ok_or(missing(K, "sync.kind"))? {
            "delta" => WireSync::Delta {
                events: events(K, sync.events)?,
            },
            "full" => WireSync::Full {
                reason: sync.reason.ok_or(missing(K, "sync.reason"))?,
                pages: pages(sync.pages.ok_or(missing(K, "sync.pages"))?),
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
            parts: sync_parts,
        })))
    }

    fn joined_part(self) -> Result<ServerMessage, DecodeError> {
        const K: &str = "joined_part";
        let content = match (self.pages, self.events) {
            (Some(p), None) => PartContent::Pages(pages(p)),
            (None, Some(e)) => PartContent::Events(events(K, Some(e))?),
            (None, None) => return Err(missing(K, "pages")),
            (Some(_), Some(_)) => {
                return Err(DecodeError::InvalidField {
                    kind: K,
                    field: "events",
                })
            }
        };
        Ok(ServerMessage::JoinedPart(Box::new(JoinedPartMessage {
            session_id: session_id(K, self.session_id.as_deref())?,
            board: self.board.as_deref().ok_or(missing(K, "board"))?.into(),
            part: self.part.ok_or(missing(K, "part"))?,
            last: self.last.ok_or(missing(K, "last"))?,
            content,
        })))
    }
}

/// A user session id: 1 to 16 hex digits.
fn session_id(kind: &'static str, text: Option<&str>) -> Result<UserSessionId, DecodeError> {
    let text = text.ok_or(missing(kind, "session_id"))?;
    u64::from_str_radix(text, 16)
        .map(UserSessionId)
        .map_err(|_| DecodeError::InvalidField {
            kind,
            field: "session_id",
        })
}

/// The decoded pages, data kept as its raw JSON text.
fn pages(raw: RawPages<'_>) -> Pages {
    Pages::from_elements(raw.iter().flat_map(|(page, elements)| {
        elements.iter().map(move |(element, data)| {
            (
                PageId::from(&**page),
                ElementId::from(&**element),
                payload_from_raw(data),
            )
        })
    }))
}
