//! Round trips: `decode(encode(m)) == m` for every client and server
//! message, and `encode_notice` agreeing byte for byte with
//! `ServerMessage::from_notice(..).to_json()` for every engine notice.

mod common;

use common::*;
use huddle_core::*;
use huddle_testkit::*;
use huddle_wire::*;

#[test]
fn encode_notice_matches_golden_and_from_notice_for_every_notice() {
    let all = notices_and_frames();
    assert_eq!(all.len(), 24);
    for (notice, golden) in &all {
        let fast = encode_notice(notice).unwrap();
        let owned = ServerMessage::from_notice(notice);
        assert_eq!(
            String::from_utf8(fast.clone()).unwrap(),
            *golden,
            "encode_notice({notice:?})"
        );
        assert_eq!(
            fast,
            owned.to_json().unwrap().into_bytes(),
            "{notice:?}: encode_notice and from_notice disagree"
        );
        assert_eq!(
            serde_json::to_string(&notice_frame(notice)).unwrap(),
            *golden,
            "notice_frame({notice:?}) through serde_json"
        );
        assert_eq!(owned.kind(), {
            let v: serde_json::Value = serde_json::from_str(golden).unwrap();
            v["type"].as_str().unwrap().to_owned()
        });
        // The frame decodes back to the owned message.
        assert_eq!(
            ServerMessage::from_json(&fast),
            Ok(owned),
            "decoding {golden}"
        );
    }
}

#[test]
fn join_failed_and_snapshot_failed_are_errors_without_batch() {
    for (code, text) in ALL_CODES {
        let failed = Notice::JoinFailed {
            board: "b".into(),
            code,
            message: "why".into(),
        };
        let snap = Notice::SnapshotFailed {
            code,
            message: "why".into(),
        };
        let golden = format!(r#"{{"type":"error","code":"{text}","message":"why"}}"#);
        for notice in [failed, snap] {
            assert_eq!(
                ServerMessage::from_notice(&notice),
                ServerMessage::error(code, "why", None)
            );
            assert_eq!(encode_notice(&notice).unwrap(), golden.as_bytes());
        }
    }
}

#[test]
fn wire_events_drop_batch_and_time() {
    let e = event(5, "carol", upsert("p", "e", "1"));
    assert_eq!(
        WireEvent::from(&e),
        WireEvent {
            seq: 5,
            user: "carol".into(),
            mutation: upsert("p", "e", "1"),
        }
    );
    assert_eq!(
        serde_json::to_string(&WireEvent::from(&e)).unwrap(),
        r#"{"seq":5,"user":"carol","op":"upsert","page":"p","element":"e","data":1}"#
    );
    assert_eq!(
        serde_json::to_string(&WireEvent::from(&event(6, "carol", delete("p", "e")))).unwrap(),
        r#"{"seq":6,"user":"carol","op":"delete","page":"p","element":"e"}"#
    );
}

#[test]
fn every_client_message_round_trips() {
    let all = [
        ClientMessage::Join {
            board: "board-1".into(),
            last_sequence: None,
        },
        ClientMessage::Join {
            board: "board-1".into(),
            last_sequence: Some(u64::MAX),
        },
        ClientMessage::Mutate {
            batch: "b".into(),
            mutations: vec![
                upsert("p", "e", DATA),
                upsert("p", "f", "null"),
                upsert("p", "g", "[ ]"),
                delete("q", "e"),
            ],
        },
        ClientMessage::Cursor {
            x: f64::MAX,
            y: f64::MIN_POSITIVE,
        },
        ClientMessage::Cursor { x: -0.0, y: 5e-324 },
        ClientMessage::Snapshot,
        ClientMessage::Leave,
        ClientMessage::Ping,
    ];
    for msg in all {
        let json = msg.to_json().unwrap();
        assert_eq!(ClientMessage::from_json(json.as_bytes()), Ok(msg), "{json}");
    }
}

/// Found by `client_messages_round_trip` / `server_messages_round_trip`:
/// each encodes to its shortest text, which serde_json (without its
/// `float_roundtrip` feature) parses back one ULP off.
#[test]
fn cursor_coordinates_round_trip_exactly() {
    for v in [
        219388.54978397398,
        -13521.309999423935,
        8.64228264973474e-309,
    ] {
        let msg = ClientMessage::Cursor { x: v, y: 0.0 };
        let json = msg.to_json().unwrap();
        assert_eq!(ClientMessage::from_json(json.as_bytes()), Ok(msg), "{json}");
        let msg = ServerMessage::Cursor {
            user: "u".into(),
            x: 0.0,
            y: v,
        };
        let json = msg.to_json().unwrap();
        assert_eq!(ServerMessage::from_json(json.as_bytes()), Ok(msg), "{json}");
        let notice = Notice::Cursor {
            user: "u".into(),
            x: v,
            y: v,
        };
        assert_eq!(
            ServerMessage::from_json(&encode_notice(&notice).unwrap()),
            Ok(ServerMessage::from_notice(&notice))
        );
    }
}

#[test]
fn every_server_message_round_trips() {
    for (notice, _) in notices_and_frames() {
        let msg = ServerMessage::from_notice(&notice);
        let json = msg.to_json().unwrap();
        assert_eq!(ServerMessage::from_json(json.as_bytes()), Ok(msg), "{json}");
    }
}

#[test]
fn data_leading_whitespace_is_dropped_on_decode_but_not_inner_whitespace() {
    // A payload with surrounding whitespace is written as is; the decoder
    // takes the value's text without the whitespace around it.
    let msg = ClientMessage::Mutate {
        batch: "b".into(),
        mutations: vec![upsert("p", "e", "  { \"a\" : 1 }  ")],
    };
    let json = msg.to_json().unwrap();
    assert_eq!(
        json,
        r#"{"type":"mutate","batch":"b","mutations":[{"op":"upsert","page":"p","element":"e","data":  { "a" : 1 }  }]}"#
    );
    let back = ClientMessage::from_json(json.as_bytes()).unwrap();
    let ClientMessage::Mutate { mutations, .. } = back else {
        panic!()
    };
    assert_eq!(mutations[0].data().unwrap().as_bytes(), br#"{ "a" : 1 }"#);
}
