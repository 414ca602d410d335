//! Events and mutations on the wire:
//! `{"seq", "user", "op", "page", "element", "data"?}` for an event and
//! `{"op":"upsert","page","element","data"}` / `{"op":"delete","page","element"}`
//! for a mutation.

use std::borrow::Cow;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::data::{payload_from_raw, RawData};
use super::DecodeError;
use huddle_core::UserId;
use huddle_core::{DeltaEvents, EventRef};
use huddle_core::{Event, Mutation};

/// An event as a client receives it: sequence, author and the mutation.
/// (The engine's [`Event`] also has the batch id and time, which stay on
/// the server.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireEvent {
    /// The board sequence.
    pub seq: u64,
    /// The author.
    pub user: UserId,
    /// What changed.
    pub mutation: Mutation,
}

impl From<&Event> for WireEvent {
    fn from(e: &Event) -> Self {
        WireEvent {
            seq: e.seq,
            user: e.author.clone(),
            mutation: e.mutation.clone(),
        }
    }
}

impl From<EventRef<'_>> for WireEvent {
    fn from(e: EventRef<'_>) -> Self {
        WireEvent {
            seq: e.seq,
            user: e.author.clone(),
            mutation: e.mutation.clone(),
        }
    }
}

impl Serialize for WireEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_event(s, self.seq, &self.user, &self.mutation)
    }
}

/// Events to serialize, borrowed from the engine's notices (a broadcast's
/// events, or a delta's chunks) or from an owned message.
#[derive(Clone, Copy, Debug)]
pub(crate) enum EventsRef<'a> {
    Engine(&'a [Event]),
    Delta(&'a DeltaEvents),
    Wire(&'a [WireEvent]),
}

impl Serialize for EventsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct One<'b>(&'b Event);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_event(s, self.0.seq, &self.0.author, &self.0.mutation)
            }
        }
        struct Viewed<'b>(EventRef<'b>);
        impl Serialize for Viewed<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_event(s, self.0.seq, self.0.author, self.0.mutation)
            }
        }
        match self {
            EventsRef::Engine(events) => s.collect_seq(events.iter().map(One)),
            // The iterator's exact length lets a binary encoder write the
            // count first.
            EventsRef::Delta(events) => s.collect_seq(events.iter().map(Viewed)),
            EventsRef::Wire(events) => s.collect_seq(events.iter()),
        }
    }
}

fn serialize_event<S: Serializer>(
    s: S,
    seq: u64,
    user: &UserId,
    mutation: &Mutation,
) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct("Event", 6)?;
    st.serialize_field("seq", &seq)?;
    st.serialize_field("user", user.as_str())?;
    mutation_fields(&mut st, mutation)?;
    st.end()
}

/// Writes `op`, `page`, `element` and (for an upsert) `data`.
fn mutation_fields<T: SerializeStruct>(st: &mut T, mutation: &Mutation) -> Result<(), T::Error> {
    match mutation {
        Mutation::Upsert {
            page,
            element,
            data,
        } => {
            st.serialize_field("op", "upsert")?;
            st.serialize_field("page", page.as_str())?;
            st.serialize_field("element", element.as_str())?;
            st.serialize_field("data", &RawData(data))
        }
        Mutation::Delete { page, element } => {
            st.serialize_field("op", "delete")?;
            st.serialize_field("page", page.as_str())?;
            st.serialize_field("element", element.as_str())?;
            st.skip_field("data")
        }
    }
}

/// Serializes one mutation in its wire form.
pub(crate) struct MutationView<'a>(pub(crate) &'a Mutation);

impl Serialize for MutationView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Mutation", 4)?;
        mutation_fields(&mut st, self.0)?;
        st.end()
    }
}

/// Serializes a list of mutations in their wire form.
pub struct MutationsView<'a>(pub &'a [Mutation]);

impl Serialize for MutationsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(MutationView))
    }
}

/// A mutation or event object as decoded, every field optional so that a
/// missing one gets a precise error (and `data` stays raw JSON).
#[derive(Deserialize)]
pub(crate) struct MutationFields<'a> {
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    op: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    page: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    element: Option<Cow<'a, str>>,
    /// `Some` whenever the field is present, `null` included.
    #[serde(default, borrow, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

impl MutationFields<'_> {
    /// The mutation these fields describe (`kind` names the enclosing
    /// message for errors).
    pub(crate) fn mutation(&self, kind: &'static str) -> Result<Mutation, DecodeError> {
        let field = |f: &'static str| DecodeError::MissingField { kind, field: f };
        let op = self.op.as_deref().ok_or(field("op"))?;
        let page = self.page.as_deref().ok_or(field("page"))?;
        let element = self.element.as_deref().ok_or(field("element"))?;
        match op {
            "upsert" => {
                let data = self.data.ok_or(field("data"))?;
                Ok(Mutation::Upsert {
                    page: page.into(),
                    element: element.into(),
                    data: payload_from_raw(data),
                })
            }
            "delete" => Ok(Mutation::Delete {
                page: page.into(),
                element: element.into(),
            }),
            other => Err(DecodeError::UnknownOp(other.to_owned())),
        }
    }

    /// The event these fields describe.
    pub(crate) fn event(&self, kind: &'static str) -> Result<WireEvent, DecodeError> {
        let field = |f: &'static str| DecodeError::MissingField { kind, field: f };
        Ok(WireEvent {
            seq: self.seq.ok_or(field("seq"))?,
            user: self.user.as_deref().ok_or(field("user"))?.into(),
            mutation: self.mutation(kind)?,
        })
    }
}
