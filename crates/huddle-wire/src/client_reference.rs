//! The reference decoder of client frames, for tests only: serde_json's
//! derived decoding of the frame's shape, which the hand-written reader
//! (`client_reader`) must agree with on every input: the same message, or
//! the same kind of [`DecodeError`] (the same error, but for the text of
//! a [`DecodeError::Json`]). The differential tests are below.

use std::borrow::Cow;

use serde::Deserialize;

use super::client_message::ClientMessage;
use super::depth::{deeper_than, DecodeLimits};
use super::event::MutationFields;
use super::object::Obj;
use super::DecodeError;

/// Every field any client message has; which are required depends on
/// `type`. Unknown fields are ignored (forward compatibility).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    board: Option<Cow<'a, str>>,
    #[serde(default)]
    last_sequence: Option<u64>,
    #[serde(default, borrow)]
    batch: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    mutations: Option<Vec<Obj<MutationFields<'a>>>>,
    #[serde(default)]
    x: Option<f64>,
    #[serde(default)]
    y: Option<f64>,
}

/// Decodes one client frame through serde.
pub(crate) fn reference_decode(
    frame: &[u8],
    limits: &DecodeLimits,
) -> Result<ClientMessage, DecodeError> {
    let Obj(env): Obj<Envelope<'_>> = serde_json::from_slice(frame).map_err(DecodeError::json)?;
    let kind = env.kind.as_deref().ok_or(DecodeError::MissingType)?;
    let missing =
        |kind: &'static str, field: &'static str| DecodeError::MissingField { kind, field };
    Ok(match kind {
        "join" => ClientMessage::Join {
            board: env.board.as_deref().ok_or(missing("join", "board"))?.into(),
            last_sequence: env.last_sequence,
        },
        "mutate" => {
            let batch = env.batch.as_deref().ok_or(missing("mutate", "batch"))?;
            let fields = env.mutations.ok_or(missing("mutate", "mutations"))?;
            let mutations = fields
                .iter()
                .map(|m| m.0.mutation("mutate"))
                .collect::<Result<Vec<_>, _>>()?;
            let max = limits.max_data_depth;
            let deep = mutations.iter().position(|m| {
                m.data().is_some_and(|data| {
                    std::str::from_utf8(data.as_bytes()).map_or(true, |text| deeper_than(text, max))
                })
            });
            if let Some(index) = deep {
                return Err(DecodeError::DataTooDeep {
                    batch: batch.to_owned(),
                    index,
                    max,
                });
            }
            ClientMessage::Mutate {
                batch: batch.into(),
                mutations,
            }
        }
        "cursor" => ClientMessage::Cursor {
            x: env.x.ok_or(missing("cursor", "x"))?,
            y: env.y.ok_or(missing("cursor", "y"))?,
        },
        "snapshot" => ClientMessage::Snapshot,
        "leave" => ClientMessage::Leave,
        "ping" => ClientMessage::Ping,
        other => return Err(DecodeError::UnknownType(other.to_owned())),
    })
}

#[cfg(test)]
mod differential;
