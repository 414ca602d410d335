//! Element data that is not JSON text cannot be encoded: empty or non-UTF-8
//! payloads are an `EncodeError`, notices without data encode whatever the
//! payloads elsewhere, and data that is not JSON never comes from the
//! wire.

mod common;

use huddle_wire as wire;

use common::*;
use huddle_core::*;
use huddle_testkit::*;
use huddle_wire::*;

#[test]
fn data_that_is_not_utf8_or_empty_is_an_encode_error() {
    for data in [
        Payload::from(vec![0xff, 0xfe, 0x00]),
        Payload::from(b"\"caf\xe9\"".to_vec()),
        Payload::from(""),
        Payload::default(),
    ] {
        for notice in notices_with_data(data.clone()) {
            let err = encode_notice(&notice).expect_err("encode_notice must refuse");
            assert!(
                err.to_string().starts_with("cannot encode message: "),
                "{err}"
            );
            assert!(ServerMessage::from_notice(&notice).to_json().is_err());
            assert!(serde_json::to_string(&notice_frame(&notice)).is_err());
        }
        let client = ClientMessage::Mutate {
            batch: "b".into(),
            mutations: vec![Mutation::Upsert {
                page: "p".into(),
                element: "e".into(),
                data: data.clone(),
            }],
        };
        assert!(client.to_json().is_err(), "{data:?}");
    }
}

#[test]
fn data_free_notices_encode_whatever_the_payloads_elsewhere() {
    // A delete carries no data, so no payload check can fail it.
    let notice = Notice::Events(vec![event(1, "u", delete("p", "e"))].into());
    assert_eq!(
        encode_notice(&notice).unwrap(),
        br#"{"type":"events","events":[{"seq":1,"user":"u","op":"delete","page":"p","element":"e"}]}"#
    );
}

/// UTF-8 text that is not one JSON value must not reach the wire: written
/// verbatim it makes a frame that is not JSON, or a well-formed one with
/// fields the payload injected.
/// Element data is written verbatim, not parsed again (docs/decisions.md):
/// payloads must be JSON text, which every decoder guarantees. Data that is
/// not JSON can therefore never come from the wire, and `is_json` is what a
/// host checks payloads from elsewhere with.
#[test]
fn data_that_is_not_json_never_comes_from_the_wire() {
    for data in ["abc", "{", "1 2", "1,\"type\":\"x\"", "} ,{", " "] {
        assert!(!wire::is_json(&Payload::from(data)), "{data:?}");
        let frame = format!(
            r#"{{"type":"mutate","batch":"b","mutations":[{{"op":"upsert","page":"p","element":"e","data":{data}}}]}}"#
        );
        // Either the frame is refused, or (the frame being JSON after all,
        // as with `1,"type":"x"`) what it carries as data is JSON.
        if let Ok(ClientMessage::Mutate { mutations, .. }) =
            ClientMessage::from_json(frame.as_bytes())
        {
            assert!(
                mutations.iter().all(|m| wire::is_json(m.data().unwrap())),
                "{frame}"
            );
        }
        let frame = format!(
            r#"{{"type":"events","events":[{{"seq":1,"user":"u","op":"upsert","page":"p","element":"e","data":{data}}}]}}"#
        );
        if let Ok(ServerMessage::Events { events }) = ServerMessage::from_json(frame.as_bytes()) {
            assert!(
                events
                    .iter()
                    .all(|e| wire::is_json(e.mutation.data().unwrap())),
                "{frame}"
            );
        }
    }
}
