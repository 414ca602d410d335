//! Client-to-server messages (`join`, `mutate`, `cursor`, `snapshot`,
//! `leave`, `ping`).

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::depth::DecodeLimits;
use super::event::MutationsView;
use super::DecodeError;
use huddle_core::Mutation;
use huddle_core::{BatchId, BoardId};

/// One frame from a client.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    /// Join a board; with `last_sequence` for a delta sync.
    Join {
        /// The board.
        board: BoardId,
        /// The last sequence the client has applied, if any.
        last_sequence: Option<u64>,
    },
    /// Apply a batch of mutations.
    Mutate {
        /// The client's batch id (a retry reuses it).
        batch: BatchId,
        /// The mutations, applied whole or not at all.
        mutations: Vec<Mutation>,
    },
    /// A cursor position (presence; not sequenced).
    Cursor {
        /// X.
        x: f64,
        /// Y.
        y: f64,
    },
    /// Ask for a manual snapshot.
    Snapshot,
    /// Leave the board.
    Leave,
    /// Keep-alive.
    Ping,
}

impl ClientMessage {
    /// The message's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Mutate { .. } => "mutate",
            ClientMessage::Cursor { .. } => "cursor",
            ClientMessage::Snapshot => "snapshot",
            ClientMessage::Leave => "leave",
            ClientMessage::Ping => "ping",
        }
    }

    /// Decodes one JSON text frame with the default [`DecodeLimits`].
    pub fn from_json(frame: &[u8]) -> Result<Self, DecodeError> {
        Self::from_json_with(frame, &DecodeLimits::default())
    }

    /// Decodes one JSON text frame; an upsert whose `data` nests deeper
    /// than `limits.max_data_depth` is [`DecodeError::DataTooDeep`]. One
    /// pass by hand over the frame (`client_reader`).
    pub fn from_json_with(frame: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        let text = std::str::from_utf8(frame).ok();
        super::client_reader::read_client(frame, text, limits)
    }

    /// [`ClientMessage::from_json_with`] for a frame known to be text (a
    /// WebSocket text frame, which the WebSocket layer checked already).
    pub fn from_text_with(frame: &str, limits: &DecodeLimits) -> Result<Self, DecodeError> {
        super::client_reader::read_client(frame.as_bytes(), Some(frame), limits)
    }

    /// Encodes the message as one JSON text frame.
    pub fn to_json(&self) -> Result<String, super::EncodeError> {
        serde_json::to_string(self).map_err(super::EncodeError::from)
    }
}

impl Serialize for ClientMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ClientMessage::Join {
                board,
                last_sequence,
            } => {
                let mut st = s.serialize_struct("ClientMessage", 3)?;
                st.serialize_field("type", "join")?;
                st.serialize_field("board", board.as_str())?;
                match last_sequence {
                    Some(seq) => st.serialize_field("last_sequence", seq)?,
                    None => st.skip_field("last_sequence")?,
                }
                st.end()
            }
            ClientMessage::Mutate { batch, mutations } => {
                let mut st = s.serialize_struct("ClientMessage", 3)?;
                st.serialize_field("type", "mutate")?;
                st.serialize_field("batch", batch.as_str())?;
                st.serialize_field("mutations", &MutationsView(mutations))?;
                st.end()
            }
            ClientMessage::Cursor { x, y } => {
                let mut st = s.serialize_struct("ClientMessage", 3)?;
                st.serialize_field("type", "cursor")?;
                st.serialize_field("x", x)?;
                st.serialize_field("y", y)?;
                st.end()
            }
            ClientMessage::Snapshot | ClientMessage::Leave | ClientMessage::Ping => {
                let mut st = s.serialize_struct("ClientMessage", 1)?;
                st.serialize_field("type", self.kind())?;
                st.end()
            }
        }
    }
}
