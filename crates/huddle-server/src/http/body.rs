//! Request bodies (JSON objects, with our own 400 errors instead of
//! axum's plain-text rejections) and response helpers.

use huddle_core::Pages;
use serde::de::DeserializeOwned;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::ApiError;

/// Parses a request body that must be one JSON object of type `T`.
/// Unknown fields are ignored.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("the body must be a JSON object: {e}")))?;
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ApiError::invalid(format!("invalid body: {e}")))
}

/// Checks an id or name with the rule of every door
/// ([`huddle_core::check_text`]: `min..=max` bytes, no control characters).
pub fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    huddle_core::check_text(value, min, max)
        .map_err(|problem| ApiError::invalid(format!("`{field}` {problem}")))
}

/// Serializes board pages as `{page: {element: data}}`, with each
/// element's data as its stored JSON text (`null` if the stored bytes are
/// not JSON, which a healthy store never holds).
pub struct PagesJson<'a>(pub &'a Pages);

impl Serialize for PagesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut pages = s.serialize_map(Some(self.0.page_count()))?;
        for (page, elements) in self.0.iter() {
            pages.serialize_entry(page.as_str(), &ElementsJson(elements))?;
        }
        pages.end()
    }
}

struct ElementsJson<'a>(&'a huddle_core::Page);

impl Serialize for ElementsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (element, data) in self.0 {
            let raw = std::str::from_utf8(data.as_bytes())
                .ok()
                .and_then(|text| serde_json::from_str::<&RawValue>(text).ok());
            map.serialize_entry(element.as_str(), &raw)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_core::{ElementId, PageId, Payload};

    #[derive(serde::Deserialize, Debug)]
    struct T {
        a: String,
    }

    #[test]
    fn objects_only() {
        assert_eq!(parse_object::<T>(br#"{"a":"x","extra":1}"#).unwrap().a, "x");
        for bad in [&br#"["x"]"#[..], b"", b"nope", br#"{"b":1}"#, br#"{"a":1}"#] {
            let e = parse_object::<T>(bad).unwrap_err();
            assert_eq!(e.code, "INVALID_MESSAGE");
        }
    }

    #[test]
    fn text_limits() {
        assert!(check_text("id", "a", 1, 3).is_ok());
        assert!(check_text("id", "", 1, 3).is_err());
        assert!(check_text("id", "abcd", 1, 3).is_err());
        assert!(check_text("id", "a\nb", 1, 3).is_err());
    }

    #[test]
    fn pages_keep_data_verbatim() {
        let pages = Pages::from_elements([
            (
                PageId::from("p"),
                ElementId::from("e1"),
                Payload::from(r#"{"x": 1.50}"#),
            ),
            (
                PageId::from("p"),
                ElementId::from("e2"),
                Payload::from("not json"),
            ),
        ]);
        let text = serde_json::to_string(&PagesJson(&pages)).unwrap();
        assert_eq!(text, r#"{"p":{"e1":{"x": 1.50},"e2":null}}"#);
    }
}
