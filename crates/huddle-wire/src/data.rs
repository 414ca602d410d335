//! Element `data` on the wire: the payload's bytes are JSON text, embedded
//! verbatim in JSON frames (never re-parsed or re-escaped on the way out),
//! and plain bytes in binary serde formats.

use serde::ser::{Error as _, SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use huddle_core::Pages;
use huddle_core::Payload;

/// serde_json's marker for "write this string verbatim" (what its own
/// `RawValue` serializes through). The golden-frame tests
/// (`tests/golden_server_frames.rs`, `tests/golden_client_frames.rs`) pin
/// the output, so a change of this detail in serde_json cannot go unnoticed.
const RAW_JSON_TOKEN: &str = "$serde_json::private::RawValue";

/// Serializes a payload as raw JSON (human-readable formats) or bytes.
pub(crate) struct RawData<'a>(pub(crate) &'a Payload);

impl Serialize for RawData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return s.serialize_bytes(self.0.as_bytes());
        }
        let text = core::str::from_utf8(self.0.as_bytes())
            .map_err(|_| S::Error::custom("element data is not UTF-8 JSON text"))?;
        if text.is_empty() {
            return Err(S::Error::custom("element data is empty, not JSON"));
        }
        let mut st = s.serialize_struct(RAW_JSON_TOKEN, 1)?;
        st.serialize_field(RAW_JSON_TOKEN, text)?;
        st.end()
    }
}

/// Serializes pages as `{page: {element: data}}`.
pub(crate) struct PagesView<'a>(pub(crate) &'a Pages);

impl Serialize for PagesView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut pages = s.serialize_map(Some(self.0.page_count()))?;
        for (page, elements) in self.0.iter() {
            pages.serialize_entry(page.as_str(), &ElementsView(elements))?;
        }
        pages.end()
    }
}

struct ElementsView<'a>(&'a huddle_core::Page);

impl Serialize for ElementsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (element, data) in self.0 {
            map.serialize_entry(element.as_str(), &RawData(data))?;
        }
        map.end()
    }
}

/// A payload from a decoded raw JSON value (copied once into the shared
/// allocation).
pub(crate) fn payload_from_raw(raw: &RawValue) -> Payload {
    Payload::from(raw.get())
}

/// Checks that a payload is one well-formed JSON value, as the JSON wire
/// requires of element data.
pub fn is_json(payload: &Payload) -> bool {
    serde_json::from_slice::<&RawValue>(payload.as_bytes()).is_ok()
}
