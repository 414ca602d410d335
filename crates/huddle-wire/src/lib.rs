//! # huddle-wire
//!
//! Huddle's wire protocol (`docs/protocol.md` is the contract) as shared
//! types: what the reference server, the Rust client (`huddle-client`) and
//! tests exchange, one JSON object per WebSocket text frame, tagged by
//! `type`.
//!
//! - [`ClientMessage`]: `join`, `mutate`, `cursor`, `snapshot`, `leave`,
//!   `ping`.
//! - [`ServerMessage`]: `joined` (and its `joined_part`s: a sync larger
//!   than the frame limit comes in parts, [`encode_notice_frames`],
//!   assembled by a client with [`JoinAssembly`]), `ack`, `events`, `participant_joined`,
//!   `participant_left`, `cursor`, `snapshot`, `session_timeout`,
//!   `session_closed` (an extension), `error`, `pong`.
//!
//! Element `data` is opaque to the engine; on the JSON wire it is any JSON
//! value, kept as its exact text: decoding copies the text into the
//! payload, encoding writes it back verbatim. Decoding never builds a JSON
//! tree of `data`, and encoding an engine [`Notice`](huddle_core::Notice) borrows
//! its events ([`encode_notice`]).
//!
//! Decoding is strict about what is required and lenient about the rest:
//! a missing `type` or required field is an error naming it, an unknown
//! `type` or `op` is an error, and unknown extra fields are ignored so
//! that later protocol versions can add fields. Every decode error maps to
//! `INVALID_MESSAGE`.
//!
//! The same `Serialize` impls work with binary serde formats, where `data`
//! is written as bytes ([`notice_frame`]); decoding is JSON only.
//!
//! A host turns decoded client messages into engine calls with
//! [`dispatch`], which also produces the immediate `error` replies.
//!
//! ```
//! use huddle_wire::{ClientMessage, ServerMessage};
//!
//! let frame = br#"{"type":"mutate","batch":"b1","mutations":[
//!     {"op":"upsert","page":"p","element":"e","data":{"x":1, "tags":["a"]}}]}"#;
//! let msg = ClientMessage::from_json(frame).unwrap();
//! let ClientMessage::Mutate { mutations, .. } = &msg else { unreachable!() };
//! assert_eq!(mutations[0].data().unwrap().as_bytes(), br#"{"x":1, "tags":["a"]}"#);
//!
//! let ack = ServerMessage::Ack { batch: "b1".into(), sequence: 7 };
//! assert_eq!(ack.to_json().unwrap(), r#"{"type":"ack","batch":"b1","sequence":7}"#);
//! ```

mod client_message;
mod client_reader;
#[cfg(test)]
mod client_reference;
pub mod close;
mod data;
mod depth;
mod dispatch;
mod event;
mod events_frame;
mod frame_limit;
mod join_assembly;
mod joined_parts;
mod json_frames;
mod json_text;
mod notice_encoding;
mod object;
mod server_decoding;
mod server_message;

pub use client_message::ClientMessage;
pub use data::is_json;
pub use depth::{DecodeLimits, DEFAULT_MAX_DATA_DEPTH};
pub use dispatch::{dispatch, Identity};
pub use event::MutationsView;
pub use event::WireEvent;
pub use events_frame::EventsFrame;
pub use frame_limit::{check_frame_limit, frame_needs, FrameLimitError, FramePart};
pub use join_assembly::{JoinAssembly, PartError};
pub use notice_encoding::{encode_notice, encode_notice_frames, notice_frame};
pub use server_message::{JoinedMessage, JoinedPartMessage, PartContent, ServerMessage, WireSync};

use thiserror::Error;

use huddle_core::ErrorCode;

/// Why a frame could not be decoded: `INVALID_MESSAGE` on the wire, but
/// `DATA_TOO_DEEP` for [`DecodeError::DataTooDeep`] ([`DecodeError::code`]).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON, not an object, or a field of the wrong JSON type.
    #[error("malformed message: {0}")]
    Json(String),
    /// The object has no `type`.
    #[error("message has no `type`")]
    MissingType,
    /// `type` names no message.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// A mutation's `op` is neither `upsert` nor `delete`.
    #[error("unknown mutation op `{0}`")]
    UnknownOp(String),
    /// A required field is absent.
    #[error("`{kind}` message is missing `{field}`")]
    MissingField {
        /// The message type.
        kind: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field is present but its value is not allowed.
    #[error("`{kind}` message has an invalid `{field}`")]
    InvalidField {
        /// The message type.
        kind: &'static str,
        /// The field.
        field: &'static str,
    },
    /// An upsert's `data` nests arrays and objects deeper than
    /// [`DecodeLimits::max_data_depth`]; nothing of the batch is applied.
    #[error("mutation {index} of batch `{batch}`: `data` nested deeper than {max} levels")]
    DataTooDeep {
        /// The batch id (the `error` reply names it).
        batch: String,
        /// Index of the offending mutation.
        index: usize,
        /// The limit.
        max: usize,
    },
}

impl DecodeError {
    /// The wire code: `DATA_TOO_DEEP` or `INVALID_MESSAGE`.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::DataTooDeep { .. } => ErrorCode::DataTooDeep,
            _ => ErrorCode::InvalidMessage,
        }
    }

    /// The batch id the `error` reply names, if the frame was a `mutate`
    /// whose batch id could be read.
    pub fn batch(&self) -> Option<&str> {
        match self {
            DecodeError::DataTooDeep { batch, .. } => Some(batch),
            _ => None,
        }
    }

    fn json(e: serde_json::Error) -> Self {
        DecodeError::Json(e.to_string())
    }
}

/// Why a message could not be encoded: element data that is empty or not
/// UTF-8.
///
/// Element data is written verbatim and is *not* parsed again on the way
/// out (that would cost as much as the encoding itself): payloads must be
/// JSON text. Everything decoded from the wire is (the decoders guarantee
/// it); a host that puts payloads into the engine from elsewhere (a store,
/// its own API) checks them with [`is_json`] where they enter.
#[derive(Debug, Error)]
#[error("cannot encode message: {0}")]
pub struct EncodeError(#[from] serde_json::Error);
