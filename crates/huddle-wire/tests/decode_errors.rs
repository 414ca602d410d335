//! Decoding client frames: each bad input gives a precise `DecodeError`
//! (not JSON, not an object, no or unknown `type`, a missing required
//! field, a field of the wrong JSON type, an unknown `op`), and the
//! leniency the protocol promises (unknown fields ignored, element `data`
//! kept byte-exact).

mod common;

use common::*;
use huddle_core::*;
use huddle_testkit::*;
use huddle_wire::*;

#[test]
fn not_json_is_a_json_error() {
    for frame in [
        &b""[..],
        b" ",
        b"not json",
        b"{",
        b"{\"type\":\"ping\"",
        b"{\"type\":\"ping\"} trailing",
        b"{\"type\":\"ping\"}{\"type\":\"ping\"}",
        b"{'type':'ping'}",
        b"{\"type\":\"ping\",}",
        b"{\"type\":\"join\",\"board\":\"\xff\"}",
        b"\xef\xbb\xbf{\"type\":\"ping\"}",
    ] {
        let r = ClientMessage::from_json(frame);
        assert!(
            matches!(r, Err(DecodeError::Json(_))),
            "{:?}: {r:?}",
            String::from_utf8_lossy(frame)
        );
        let r = ServerMessage::from_json(frame);
        assert!(matches!(r, Err(DecodeError::Json(_))), "{r:?}");
    }
}

#[test]
fn json_that_is_not_an_object_is_a_json_error() {
    for frame in [
        r#"[{"type":"ping"}]"#,
        r#""ping""#,
        r#""{\"type\":\"ping\"}""#,
        "42",
        "-1.5",
        "true",
        "null",
    ] {
        let r = decode_client(frame);
        assert!(matches!(r, Err(DecodeError::Json(_))), "{frame}: {r:?}");
        let r = ServerMessage::from_json(frame.as_bytes());
        assert!(matches!(r, Err(DecodeError::Json(_))), "{frame}: {r:?}");
    }
}

/// server.md: "One JSON object per text frame". An array is not an object,
/// whatever it holds.
#[test]
fn json_arrays_are_not_messages() {
    for frame in [
        "[]",
        r#"["ping"]"#,
        r#"["join","b",5]"#,
        r#"["mutate",null,null,"b",[[null,null,"delete","p","e"]]]"#,
        r#"["cursor",null,null,null,null,1,2]"#,
    ] {
        let r = decode_client(frame);
        assert!(matches!(r, Err(DecodeError::Json(_))), "{frame}: {r:?}");
    }
    for frame in ["[]", r#"["pong"]"#, r#"["session_timeout",null,"b"]"#] {
        let r = ServerMessage::from_json(frame.as_bytes());
        assert!(matches!(r, Err(DecodeError::Json(_))), "{frame}: {r:?}");
    }
    // Inside an object, a mutation given as an array is no mutation either.
    let r = decode_client(
        r#"{"type":"mutate","batch":"b","mutations":[[null,null,"delete","p","e"]]}"#,
    );
    assert!(matches!(r, Err(DecodeError::Json(_))), "{r:?}");
}

#[test]
fn missing_type() {
    for frame in [
        "{}",
        r#"{"board":"b"}"#,
        r#"{"Type":"ping"}"#,
        r#"{"type":null}"#,
    ] {
        assert_eq!(
            decode_client(frame),
            Err(DecodeError::MissingType),
            "{frame}"
        );
        assert_eq!(
            ServerMessage::from_json(frame.as_bytes()),
            Err(DecodeError::MissingType),
            "{frame}"
        );
    }
}

#[test]
fn type_of_the_wrong_json_type() {
    for frame in [r#"{"type":1}"#, r#"{"type":["ping"]}"#, r#"{"type":{}}"#] {
        assert!(
            matches!(decode_client(frame), Err(DecodeError::Json(_))),
            "{frame}"
        );
    }
}

#[test]
fn unknown_type() {
    for t in [
        "hello", "", "JOIN", "Ping", "join ", "joined", "pong", "ack",
    ] {
        let frame = format!(r#"{{"type":"{t}","board":"b"}}"#);
        assert_eq!(
            decode_client(&frame),
            Err(DecodeError::UnknownType(t.to_owned())),
            "{frame}"
        );
    }
    for t in ["join", "mutate", "ping", "leave", "hello", "Pong"] {
        let frame = format!(r#"{{"type":"{t}"}}"#);
        assert_eq!(
            ServerMessage::from_json(frame.as_bytes()),
            Err(DecodeError::UnknownType(t.to_owned())),
            "{frame}"
        );
    }
}

#[test]
fn unknown_type_keeps_escaped_text() {
    assert_eq!(
        decode_client(r#"{"type":"a\"b\u00e9"}"#),
        Err(DecodeError::UnknownType("a\"bé".to_owned()))
    );
}

#[test]
fn every_required_client_field_missing() {
    let cases = [
        (r#"{"type":"join"}"#, missing("join", "board")),
        (
            r#"{"type":"join","last_sequence":3}"#,
            missing("join", "board"),
        ),
        (r#"{"type":"join","board":null}"#, missing("join", "board")),
        (
            r#"{"type":"mutate","mutations":[]}"#,
            missing("mutate", "batch"),
        ),
        (
            r#"{"type":"mutate","batch":"b"}"#,
            missing("mutate", "mutations"),
        ),
        (r#"{"type":"mutate"}"#, missing("mutate", "batch")),
        (
            r#"{"type":"mutate","batch":"b","mutations":[{"page":"p","element":"e","data":1}]}"#,
            missing("mutate", "op"),
        ),
        (
            r#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","element":"e","data":1}]}"#,
            missing("mutate", "page"),
        ),
        (
            r#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","data":1}]}"#,
            missing("mutate", "element"),
        ),
        (
            r#"{"type":"mutate","batch":"b","mutations":[{"op":"delete","element":"e"}]}"#,
            missing("mutate", "page"),
        ),
        (
            r#"{"type":"mutate","batch":"b","mutations":[{"op":"delete","page":"p"}]}"#,
            missing("mutate", "element"),
        ),
        (
            r#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","element":"e"}]}"#,
            missing("mutate", "data"),
        ),
        (
            r#"{"type":"mutate","batch":"b","mutations":[{}]}"#,
            missing("mutate", "op"),
        ),
        // The second mutation is the bad one: the whole frame is refused.
        (
            r#"{"type":"mutate","batch":"b","mutations":[{"op":"delete","page":"p","element":"e"},{"op":"upsert","page":"p","element":"e"}]}"#,
            missing("mutate", "data"),
        ),
        // A null counts as absent.
        (
            r#"{"type":"mutate","batch":"b","mutations":[{"op":"delete","page":"p","element":null}]}"#,
            missing("mutate", "element"),
        ),
        (
            r#"{"type":"cursor","x":null,"y":1}"#,
            missing("cursor", "x"),
        ),
        (r#"{"type":"cursor","y":1}"#, missing("cursor", "x")),
        (r#"{"type":"cursor","x":1}"#, missing("cursor", "y")),
        (r#"{"type":"cursor"}"#, missing("cursor", "x")),
    ];
    for (frame, expected) in cases {
        let got = decode_client(frame);
        assert_eq!(got, Err(expected), "{frame}");
        let err = got.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidMessage);
    }
}

#[test]
fn wrong_json_types_are_json_errors() {
    for frame in [
        r#"{"type":"join","board":5}"#,
        r#"{"type":"join","board":["b"]}"#,
        r#"{"type":"join","board":"b","last_sequence":-1}"#,
        r#"{"type":"join","board":"b","last_sequence":"5"}"#,
        r#"{"type":"join","board":"b","last_sequence":1.5}"#,
        r#"{"type":"join","board":"b","last_sequence":18446744073709551616}"#,
        r#"{"type":"join","board":"b","last_sequence":true}"#,
        r#"{"type":"mutate","batch":7,"mutations":[]}"#,
        r#"{"type":"mutate","batch":"b","mutations":{}}"#,
        r#"{"type":"mutate","batch":"b","mutations":"x"}"#,
        r#"{"type":"mutate","batch":"b","mutations":[1]}"#,
        r#"{"type":"mutate","batch":"b","mutations":[{"op":1,"page":"p","element":"e"}]}"#,
        r#"{"type":"mutate","batch":"b","mutations":[{"op":"delete","page":2,"element":"e"}]}"#,
        r#"{"type":"cursor","x":"1","y":2}"#,
        r#"{"type":"cursor","x":1,"y":"2"}"#,
        r#"{"type":"cursor","x":1,"y":true}"#,
        r#"{"type":"cursor","x":[1],"y":2}"#,
        r#"{"type":"cursor","x":1e400,"y":2}"#,
    ] {
        let r = decode_client(frame);
        assert!(matches!(r, Err(DecodeError::Json(_))), "{frame}: {r:?}");
        assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidMessage);
    }
}

#[test]
fn unknown_op() {
    for op in ["move", "UPSERT", "Delete", ""] {
        let frame = format!(
            r#"{{"type":"mutate","batch":"b","mutations":[{{"op":"{op}","page":"p","element":"e","data":1}}]}}"#
        );
        assert_eq!(
            decode_client(&frame),
            Err(DecodeError::UnknownOp(op.to_owned())),
            "{frame}"
        );
    }
}

#[test]
fn decode_errors_name_what_is_wrong() {
    assert_eq!(
        missing("join", "board").to_string(),
        "`join` message is missing `board`"
    );
    assert_eq!(
        DecodeError::MissingType.to_string(),
        "message has no `type`"
    );
    assert_eq!(
        DecodeError::UnknownType("x".into()).to_string(),
        "unknown message type `x`"
    );
    assert_eq!(
        DecodeError::UnknownOp("move".into()).to_string(),
        "unknown mutation op `move`"
    );
    // Every decode error is INVALID_MESSAGE on the wire.
    let err = decode_client("42").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidMessage);
    let reply = ServerMessage::error(err.code(), err.to_string(), None);
    assert!(reply
        .to_json()
        .unwrap()
        .starts_with(r#"{"type":"error","code":"INVALID_MESSAGE","message":"malformed message: "#));
}

#[test]
fn unknown_extra_fields_are_ignored() {
    assert_eq!(
        decode_client(
            r#"{"token":"t","type":"join","extra":{"nested":[1,{"a":null}]},"board":"b","v":2}"#
        ),
        Ok(ClientMessage::Join {
            board: "b".into(),
            last_sequence: None
        })
    );
    assert_eq!(
        decode_client(
            r#"{"type":"mutate","batch":"b","id":9,"mutations":[{"op":"upsert","page":"p","element":"e","data":1,"prev":{"x":[]},"ts":"now"}]}"#
        ),
        Ok(ClientMessage::Mutate {
            batch: "b".into(),
            mutations: vec![upsert("p", "e", "1")],
        })
    );
    assert_eq!(
        decode_client(r#"{"type":"ping","nonce":"abc","at":12.5}"#),
        Ok(ClientMessage::Ping)
    );
    assert_eq!(
        decode_client(r#"{"type":"cursor","x":1,"y":2,"z":3}"#),
        Ok(ClientMessage::Cursor { x: 1.0, y: 2.0 })
    );
    // A delete's data is not part of it.
    assert_eq!(
        decode_client(
            r#"{"type":"mutate","batch":"b","mutations":[{"op":"delete","page":"p","element":"e","data":{"old":1}}]}"#
        ),
        Ok(ClientMessage::Mutate {
            batch: "b".into(),
            mutations: vec![delete("p", "e")],
        })
    );
    // Server frames too.
    assert_eq!(
        ServerMessage::from_json(br#"{"type":"ack","batch":"b","sequence":3,"server":"n1"}"#),
        Ok(ServerMessage::Ack {
            batch: "b".into(),
            sequence: 3
        })
    );
}

/// Fields that some *other* message type has are just as unknown to this
/// one; the module promises to ignore unknown fields so that later
/// versions can add some.
/// Documented (docs/decisions.md): a field that a message type does not use
/// must still have the JSON type the protocol gives it elsewhere.
#[test]
fn fields_of_other_message_types_must_keep_their_protocol_json_type() {
    for frame in [
        r#"{"type":"ping","x":"far"}"#,
        r#"{"type":"join","board":"b","batch":{"id":1}}"#,
        r#"{"type":"leave","mutations":"all"}"#,
    ] {
        assert!(
            matches!(decode_client(frame), Err(DecodeError::Json(_))),
            "{frame}"
        );
    }
}

#[test]
fn fields_of_other_message_types_with_matching_json_types_are_ignored() {
    assert_eq!(
        decode_client(r#"{"type":"ping","board":"b","x":1,"batch":"z","mutations":[]}"#),
        Ok(ClientMessage::Ping)
    );
    assert_eq!(
        decode_client(r#"{"type":"join","board":"b","x":1,"y":2}"#),
        Ok(ClientMessage::Join {
            board: "b".into(),
            last_sequence: None
        })
    );
}

#[test]
fn null_last_sequence_is_no_last_sequence() {
    assert_eq!(
        decode_client(r#"{"type":"join","board":"b","last_sequence":null}"#),
        Ok(ClientMessage::Join {
            board: "b".into(),
            last_sequence: None
        })
    );
}

#[test]
fn null_data_on_an_upsert_is_present_json_null() {
    let msg = decode_client(
        r#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","element":"e","data":null}]}"#,
    )
    .unwrap();
    assert_eq!(
        msg,
        ClientMessage::Mutate {
            batch: "b".into(),
            mutations: vec![upsert("p", "e", "null")],
        }
    );
    assert_eq!(
        msg.to_json().unwrap(),
        r#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","element":"e","data":null}]}"#
    );
}

#[test]
fn data_is_kept_byte_exact() {
    let samples = [
        DATA,
        r#"{"a": [1, {"b": "\u00e9\n\ud83d\ude00"}], "c" : null }"#,
        r#"[ ]"#,
        r#"{}"#,
        r#""plain""#,
        r#""esc \" \\ \/ \b\f\n\r\t \u0000""#,
        "\"raw unicode é 😀\"",
        "123456789012345678901234567890",
        "-0.000000000000000000001e-5",
        "1E+2",
        "true",
        "false",
        "null",
        "{\n  \"pretty\": [\n    1,\n    2\n  ]\n}",
        "{\"dup\":1,\"dup\":2}",
    ];
    for data in samples {
        let frame = format!(
            r#"{{"type":"mutate","batch":"b","mutations":[{{"op":"upsert","page":"p","element":"e","data":{data}}}]}}"#
        );
        let msg = decode_client(&frame).unwrap();
        let ClientMessage::Mutate { mutations, .. } = &msg else {
            panic!("{msg:?}")
        };
        assert_eq!(mutations[0].data().unwrap().as_bytes(), data.as_bytes());
        assert!(is_json(mutations[0].data().unwrap()));
        // Encoding writes it back verbatim: the frame comes back unchanged.
        assert_eq!(msg.to_json().unwrap(), frame);

        // The same through an engine event and a server frame.
        let notice = Notice::Events(vec![event(1, "u", upsert("p", "e", data))].into());
        let out = String::from_utf8(encode_notice(&notice).unwrap()).unwrap();
        assert_eq!(
            out,
            format!(
                r#"{{"type":"events","events":[{{"seq":1,"user":"u","op":"upsert","page":"p","element":"e","data":{data}}}]}}"#
            )
        );
        let back = ServerMessage::from_json(out.as_bytes()).unwrap();
        let ServerMessage::Events { events } = back else {
            panic!()
        };
        assert_eq!(
            events[0].mutation.data().unwrap().as_bytes(),
            data.as_bytes()
        );
    }
}

#[test]
fn data_that_is_not_json_is_refused_on_decode() {
    for data in ["", "abc", "{", "[1,]", "'x'", "\"\\x\"", "01", "NaN"] {
        let frame = format!(
            r#"{{"type":"mutate","batch":"b","mutations":[{{"op":"upsert","page":"p","element":"e","data":{data}}}]}}"#
        );
        assert!(
            matches!(decode_client(&frame), Err(DecodeError::Json(_))),
            "{frame}"
        );
    }
}

#[test]
fn ids_with_escapes_decode_to_their_text() {
    assert_eq!(
        decode_client(r#"{"type":"join","board":"a\"b\\c\u00e9\ud83d\ude00\n"}"#),
        Ok(ClientMessage::Join {
            board: "a\"b\\cé😀\n".into(),
            last_sequence: None,
        })
    );
    assert_eq!(
        decode_client(
            r#"{"type":"mutate","batch":"\t","mutations":[{"op":"delete","page":"\u0070","element":"\/"}]}"#
        ),
        Ok(ClientMessage::Mutate {
            batch: "\t".into(),
            mutations: vec![delete("p", "/")],
        })
    );
}

fn deep_mutate(batch: &str, data: &str) -> String {
    format!(
        r#"{{"type":"mutate","batch":"{batch}","mutations":[{{"op":"delete","page":"p","element":"x"}},{{"op":"upsert","page":"p","element":"e","data":{data}}}]}}"#
    )
}

#[test]
fn data_nested_deeper_than_the_limit_is_data_too_deep() {
    let nested = |n: usize| format!("{}0{}", "[".repeat(n), "]".repeat(n));
    // 100 000 levels: serde_json keeps `data` raw, so only the depth check
    // stops it.
    let frame = deep_mutate("b1", &nested(100_000));
    let err = ClientMessage::from_json(frame.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::DataTooDeep {
            batch: "b1".into(),
            index: 1,
            max: DEFAULT_MAX_DATA_DEPTH
        }
    );
    assert_eq!(err.code(), ErrorCode::DataTooDeep);
    assert_eq!(err.code().as_str(), "DATA_TOO_DEEP");
    assert_eq!(err.batch(), Some("b1"));
    // At the limit it decodes, byte-exact.
    let at = nested(DEFAULT_MAX_DATA_DEPTH);
    let msg = ClientMessage::from_json(deep_mutate("b2", &at).as_bytes()).unwrap();
    let ClientMessage::Mutate { mutations, .. } = msg else {
        panic!("not a mutate")
    };
    assert_eq!(mutations[1].data().unwrap().as_bytes(), at.as_bytes());
    // Brackets inside strings do not count; the limit is the caller's.
    let limits = DecodeLimits { max_data_depth: 2 };
    let ok = deep_mutate("b3", r#"{"a":["[[[[{{{{"]}"#);
    assert!(ClientMessage::from_json_with(ok.as_bytes(), &limits).is_ok());
    let deep = deep_mutate("b4", r#"{"a":[{}]}"#);
    assert!(matches!(
        ClientMessage::from_json_with(deep.as_bytes(), &limits),
        Err(DecodeError::DataTooDeep {
            index: 1,
            max: 2,
            ..
        })
    ));
    // Other decode errors stay INVALID_MESSAGE, without a batch.
    let bad = ClientMessage::from_json(b"{}").unwrap_err();
    assert_eq!((bad.code(), bad.batch()), (ErrorCode::InvalidMessage, None));
}
