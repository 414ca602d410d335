//! The JSON wire protocol of the reference server (`docs/protocol.md`), as
//! implemented by `huddle_wire`.
//!
//! - Golden frames: the exact JSON text of every server and client message
//!   (field names and order, `type` tags, colours as palette hex, session
//!   ids as 16 hex digits, RFC 3339 times, element `data` embedded verbatim,
//!   deletes without `data`). These strings are the public contract: a
//!   change here is a protocol change.
//! - Round trips: `decode(encode(m)) == m`, and `encode_notice` agrees byte
//!   for byte with `ServerMessage::from_notice(..).to_json()`.
//! - Decoding errors, each a precise `DecodeError`, and leniency (unknown
//!   fields ignored, `data` kept byte-exact).
//! - Encoding errors for element data that is not JSON text.
//! - A property test over generated messages.
//! - `dispatch` against a real engine (the testkit harness).

use huddle_wire as wire;
use std::sync::Arc;

use huddle_core::*;
use huddle_testkit::*;
use huddle_wire::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// 2026-01-01T00:00:00.123Z.
const AT: Timestamp = Timestamp::from_millis(1_767_225_600_123);
const AT_TEXT: &str = "2026-01-01T00:00:00.123Z";

/// Data with whitespace, nesting, a unicode escape and a number no f64 can
/// hold: must travel byte for byte.
const DATA: &str = r#"{"x": 1, "tags": ["a", {"b": null}], "s": "caf\u00e9 \"q\"", "n": 123456789012345678901234567890}"#;

const ALL_CODES: [(ErrorCode, &str); 10] = [
    (ErrorCode::BoardNotFound, "BOARD_NOT_FOUND"),
    (ErrorCode::NotJoined, "NOT_JOINED"),
    (ErrorCode::SessionExpired, "SESSION_EXPIRED"),
    (ErrorCode::InvalidMessage, "INVALID_MESSAGE"),
    (ErrorCode::PayloadTooLarge, "PAYLOAD_TOO_LARGE"),
    (ErrorCode::RateLimited, "RATE_LIMITED"),
    (ErrorCode::RoomFull, "ROOM_FULL"),
    (ErrorCode::Unauthorized, "UNAUTHORIZED"),
    (ErrorCode::Unavailable, "UNAVAILABLE"),
    (ErrorCode::SlowConsumer, "SLOW_CONSUMER"),
];

const ALL_CAUSES: [(SnapshotCause, &str); 4] = [
    (SnapshotCause::AutoSave, "auto-save"),
    (SnapshotCause::OnDisconnect, "on-disconnect"),
    (SnapshotCause::Manual, "manual"),
    (SnapshotCause::Archive, "archive"),
];

const ALL_REASONS: [(FullSyncReason, &str); 4] = [
    (FullSyncReason::Initial, "initial"),
    (FullSyncReason::TooOld, "too_old"),
    (FullSyncReason::Ahead, "ahead"),
    (FullSyncReason::NoHistory, "no_history"),
];

fn participant(user: &str, name: &str, color: usize) -> ParticipantInfo {
    ParticipantInfo {
        user: user.into(),
        display_name: name.into(),
        color: Color::from_index(color),
    }
}

fn alice() -> ParticipantInfo {
    participant("alice", "Alice", 0)
}

fn bob() -> ParticipantInfo {
    participant("bob", "Bob", 1)
}

const ALICE_JSON: &str = r##"{"user_id":"alice","display_name":"Alice","color":"#FF6B6B"}"##;
const BOB_JSON: &str = r##"{"user_id":"bob","display_name":"Bob","color":"#4ECDC4"}"##;

/// An engine event (with the batch and time that stay on the server).
fn event(seq: u64, user: &str, mutation: Mutation) -> Event {
    Event {
        seq,
        author: user.into(),
        batch: format!("batch-{seq}").into(),
        at: AT,
        mutation,
    }
}

/// Two events: an upsert carrying [`DATA`] and a delete.
fn engine_events() -> Vec<Event> {
    vec![
        event(11, "alice", upsert("p1", "e1", DATA)),
        event(12, "bob", delete("p1", "e0")),
    ]
}

fn wire_events() -> Vec<WireEvent> {
    engine_events().iter().map(WireEvent::from).collect()
}

fn events_json() -> String {
    format!(
        r#"[{{"seq":11,"user":"alice","op":"upsert","page":"p1","element":"e1","data":{DATA}}},{{"seq":12,"user":"bob","op":"delete","page":"p1","element":"e0"}}]"#
    )
}

/// Two pages, three elements, each data a different kind of JSON value.
fn pages() -> Pages {
    Pages::from_elements([
        ("page-1".into(), "e1".into(), Payload::from(DATA)),
        ("page-1".into(), "e2".into(), Payload::from(r#""text""#)),
        (
            "page-2".into(),
            "e3".into(),
            Payload::from("[1, 2.5, true]"),
        ),
    ])
}

fn pages_json() -> String {
    format!(r#"{{"page-1":{{"e1":{DATA},"e2":"text"}},"page-2":{{"e3":[1, 2.5, true]}}}}"#)
}

const SESSION: UserSessionId = UserSessionId(0xDEAD_BEEF);
const SESSION_TEXT: &str = "00000000deadbeef";

fn joined_notice(sync: JoinSync) -> Notice {
    Notice::Joined(Box::new(Joined {
        session_id: SESSION,
        board: "board-1".into(),
        color: Color::from_index(1),
        participants: vec![alice(), bob()],
        sequence: 12,
        history_from: 3,
        sync,
    }))
}

fn joined_json(sync: &str) -> String {
    format!(
        r##"{{"type":"joined","session_id":"{SESSION_TEXT}","board":"board-1","color":"#4ECDC4","participants":[{ALICE_JSON},{BOB_JSON}],"sequence":12,"history_from":3,"sync":{sync}}}"##
    )
}

/// Every notice the engine can send, with its exact frame.
fn notices_and_frames() -> Vec<(Notice, String)> {
    let mut all = vec![
        (
            joined_notice(JoinSync::Delta {
                events: engine_events().into(),
            }),
            joined_json(&format!(r#"{{"kind":"delta","events":{}}}"#, events_json())),
        ),
        (
            joined_notice(JoinSync::Delta {
                events: DeltaEvents::new(),
            }),
            joined_json(r#"{"kind":"delta","events":[]}"#),
        ),
    ];
    for (reason, text) in ALL_REASONS {
        all.push((
            joined_notice(JoinSync::Full {
                reason,
                pages: pages(),
            }),
            joined_json(&format!(
                r#"{{"kind":"full","reason":"{text}","pages":{}}}"#,
                pages_json()
            )),
        ));
    }
    all.push((
        joined_notice(JoinSync::Full {
            reason: FullSyncReason::Initial,
            pages: Pages::new(),
        }),
        joined_json(r#"{"kind":"full","reason":"initial","pages":{}}"#),
    ));
    all.extend([
        (
            Notice::JoinFailed {
                board: "board-1".into(),
                code: ErrorCode::BoardNotFound,
                message: "board board-1 not found".into(),
            },
            r#"{"type":"error","code":"BOARD_NOT_FOUND","message":"board board-1 not found"}"#
                .to_owned(),
        ),
        (
            Notice::Ack {
                batch: "b-1".into(),
                sequence: 7,
            },
            r#"{"type":"ack","batch":"b-1","sequence":7}"#.to_owned(),
        ),
        (
            Notice::Events(Arc::from(engine_events())),
            format!(r#"{{"type":"events","events":{}}}"#, events_json()),
        ),
        (
            Notice::ParticipantJoined(bob()),
            r##"{"type":"participant_joined","user_id":"bob","display_name":"Bob","color":"#4ECDC4"}"##
                .to_owned(),
        ),
        (
            Notice::ParticipantLeft(alice()),
            r##"{"type":"participant_left","user_id":"alice","display_name":"Alice","color":"#FF6B6B"}"##
                .to_owned(),
        ),
        (
            Notice::Cursor {
                user: "bob".into(),
                x: 10.5,
                y: -3.0,
            },
            r#"{"type":"cursor","user_id":"bob","x":10.5,"y":-3.0}"#.to_owned(),
        ),
    ]);
    for (cause, text) in ALL_CAUSES {
        all.push((
            Notice::Snapshot(SnapshotInfo {
                id: "snap-1".into(),
                version: 42,
                created_at: AT,
                created_by: cause,
            }),
            format!(
                r#"{{"type":"snapshot","id":"snap-1","version":42,"created_at":"{AT_TEXT}","created_by":"{text}"}}"#
            ),
        ));
    }
    all.extend([
        (
            Notice::SnapshotFailed {
                code: ErrorCode::Unavailable,
                message: "store down".into(),
            },
            r#"{"type":"error","code":"UNAVAILABLE","message":"store down"}"#.to_owned(),
        ),
        (
            Notice::SessionTimeout {
                board: "board-1".into(),
            },
            r#"{"type":"session_timeout","board":"board-1"}"#.to_owned(),
        ),
        (
            Notice::SessionClosed {
                board: "board-1".into(),
                reason: CloseReason::Closed,
            },
            r#"{"type":"session_closed","board":"board-1","reason":"closed"}"#.to_owned(),
        ),
        (
            Notice::SessionClosed {
                board: "board-1".into(),
                reason: CloseReason::Moved,
            },
            r#"{"type":"session_closed","board":"board-1","reason":"moved"}"#.to_owned(),
        ),
        (
            Notice::SessionClosed {
                board: "board-1".into(),
                reason: CloseReason::Failed,
            },
            r#"{"type":"session_closed","board":"board-1","reason":"failed"}"#.to_owned(),
        ),
        (Notice::Pong, r#"{"type":"pong"}"#.to_owned()),
    ]);
    all
}

/// Encodes, checks the golden text, decodes the golden text back.
#[track_caller]
fn check_server(msg: &ServerMessage, golden: &str) {
    assert_eq!(msg.to_json().unwrap(), golden, "encoding of {msg:?}");
    assert_eq!(
        serde_json::to_string(msg).unwrap(),
        golden,
        "Serialize of {msg:?}"
    );
    assert_eq!(
        ServerMessage::from_json(golden.as_bytes()).as_ref(),
        Ok(msg),
        "decoding of {golden}"
    );
    assert_golden_is_json(golden);
}

#[track_caller]
fn check_client(msg: &ClientMessage, golden: &str) {
    assert_eq!(msg.to_json().unwrap(), golden, "encoding of {msg:?}");
    assert_eq!(
        serde_json::to_string(msg).unwrap(),
        golden,
        "Serialize of {msg:?}"
    );
    assert_eq!(
        ClientMessage::from_json(golden.as_bytes()).as_ref(),
        Ok(msg),
        "decoding of {golden}"
    );
    assert_golden_is_json(golden);
}

/// A golden frame must be one well-formed JSON object with `type` first.
#[track_caller]
fn assert_golden_is_json(golden: &str) {
    let value: serde_json::Value = serde_json::from_str(golden).expect("golden is JSON");
    assert!(value.is_object());
    assert!(golden.starts_with(r#"{"type":""#), "{golden}");
}

fn decode_client(frame: &str) -> Result<ClientMessage, DecodeError> {
    ClientMessage::from_json(frame.as_bytes())
}

fn missing(kind: &'static str, field: &'static str) -> DecodeError {
    DecodeError::MissingField { kind, field }
}

// ---------------------------------------------------------------------------
// 1. Golden frames: server to client
// ---------------------------------------------------------------------------

#[test]
fn golden_joined_with_delta_sync() {
    let msg = ServerMessage::from_notice(&joined_notice(JoinSync::Delta {
        events: engine_events().into(),
    }));
    let golden = r##"{"type":"joined","session_id":"00000000deadbeef","board":"board-1","color":"#4ECDC4","participants":[{"user_id":"alice","display_name":"Alice","color":"#FF6B6B"},{"user_id":"bob","display_name":"Bob","color":"#4ECDC4"}],"sequence":12,"history_from":3,"sync":{"kind":"delta","events":[{"seq":11,"user":"alice","op":"upsert","page":"p1","element":"e1","data":{"x": 1, "tags": ["a", {"b": null}], "s": "caf\u00e9 \"q\"", "n": 123456789012345678901234567890}},{"seq":12,"user":"bob","op":"delete","page":"p1","element":"e0"}]}}"##;
    check_server(&msg, golden);
    let ServerMessage::Joined(j) = &msg else {
        panic!("{msg:?}")
    };
    assert_eq!(
        **j,
        JoinedMessage {
            session_id: SESSION,
            board: "board-1".into(),
            color: Color::from_index(1),
            participants: vec![alice(), bob()],
            sequence: 12,
            history_from: 3,
            sync: WireSync::Delta {
                events: wire_events()
            },
        }
    );
}

#[test]
fn golden_joined_with_empty_delta() {
    let msg = ServerMessage::from_notice(&joined_notice(JoinSync::Delta {
        events: DeltaEvents::new(),
    }));
    check_server(
        &msg,
        r##"{"type":"joined","session_id":"00000000deadbeef","board":"board-1","color":"#4ECDC4","participants":[{"user_id":"alice","display_name":"Alice","color":"#FF6B6B"},{"user_id":"bob","display_name":"Bob","color":"#4ECDC4"}],"sequence":12,"history_from":3,"sync":{"kind":"delta","events":[]}}"##,
    );
}

#[test]
fn golden_joined_with_full_sync_for_each_reason() {
    for (reason, text) in ALL_REASONS {
        let msg = ServerMessage::from_notice(&joined_notice(JoinSync::Full {
            reason,
            pages: pages(),
        }));
        let golden = format!(
            r##"{{"type":"joined","session_id":"00000000deadbeef","board":"board-1","color":"#4ECDC4","participants":[{{"user_id":"alice","display_name":"Alice","color":"#FF6B6B"}},{{"user_id":"bob","display_name":"Bob","color":"#4ECDC4"}}],"sequence":12,"history_from":3,"sync":{{"kind":"full","reason":"{text}","pages":{{"page-1":{{"e1":{{"x": 1, "tags": ["a", {{"b": null}}], "s": "caf\u00e9 \"q\"", "n": 123456789012345678901234567890}},"e2":"text"}},"page-2":{{"e3":[1, 2.5, true]}}}}}}}}"##
        );
        check_server(&msg, &golden);
    }
}

#[test]
fn golden_joined_with_full_sync_of_empty_board() {
    let msg = ServerMessage::from_notice(&joined_notice(JoinSync::Full {
        reason: FullSyncReason::Initial,
        pages: Pages::new(),
    }));
    check_server(
        &msg,
        r##"{"type":"joined","session_id":"00000000deadbeef","board":"board-1","color":"#4ECDC4","participants":[{"user_id":"alice","display_name":"Alice","color":"#FF6B6B"},{"user_id":"bob","display_name":"Bob","color":"#4ECDC4"}],"sequence":12,"history_from":3,"sync":{"kind":"full","reason":"initial","pages":{}}}"##,
    );
}

#[test]
fn joined_session_id_is_always_16_lowercase_hex_digits() {
    for (id, text) in [
        (0, "0000000000000000"),
        (1, "0000000000000001"),
        (0xABCD_EF01_2345_6789, "abcdef0123456789"),
        (u64::MAX, "ffffffffffffffff"),
    ] {
        let Notice::Joined(mut j) = joined_notice(JoinSync::Delta {
            events: DeltaEvents::new(),
        }) else {
            unreachable!()
        };
        j.session_id = UserSessionId(id);
        let msg = ServerMessage::from_notice(&Notice::Joined(j));
        let json = msg.to_json().unwrap();
        assert!(
            json.starts_with(&format!(
                r#"{{"type":"joined","session_id":"{text}","board""#
            )),
            "{json}"
        );
        assert_eq!(ServerMessage::from_json(json.as_bytes()), Ok(msg));
    }
}

#[test]
fn every_palette_colour_is_written_as_its_hex() {
    for (i, hex) in PALETTE.iter().enumerate() {
        let msg = ServerMessage::ParticipantJoined(participant("u", "U", i));
        let golden = format!(
            r#"{{"type":"participant_joined","user_id":"u","display_name":"U","color":"{hex}"}}"#
        );
        check_server(&msg, &golden);
    }
    assert_eq!(
        PALETTE,
        ["#FF6B6B", "#4ECDC4", "#45B7D1", "#96CEB4", "#FFEAA7", "#DDA0DD", "#98D8C8", "#F7DC6F"]
    );
}

#[test]
fn golden_ack() {
    check_server(
        &ServerMessage::Ack {
            batch: "b-1".into(),
            sequence: 7,
        },
        r#"{"type":"ack","batch":"b-1","sequence":7}"#,
    );
    check_server(
        &ServerMessage::Ack {
            batch: "b-max".into(),
            sequence: u64::MAX,
        },
        r#"{"type":"ack","batch":"b-max","sequence":18446744073709551615}"#,
    );
}

#[test]
fn golden_events_with_upsert_and_delete() {
    check_server(
        &ServerMessage::Events {
            events: wire_events(),
        },
        r#"{"type":"events","events":[{"seq":11,"user":"alice","op":"upsert","page":"p1","element":"e1","data":{"x": 1, "tags": ["a", {"b": null}], "s": "caf\u00e9 \"q\"", "n": 123456789012345678901234567890}},{"seq":12,"user":"bob","op":"delete","page":"p1","element":"e0"}]}"#,
    );
    check_server(
        &ServerMessage::Events { events: vec![] },
        r#"{"type":"events","events":[]}"#,
    );
}

#[test]
fn golden_participant_joined_and_left() {
    check_server(
        &ServerMessage::ParticipantJoined(bob()),
        r##"{"type":"participant_joined","user_id":"bob","display_name":"Bob","color":"#4ECDC4"}"##,
    );
    check_server(
        &ServerMessage::ParticipantLeft(alice()),
        r##"{"type":"participant_left","user_id":"alice","display_name":"Alice","color":"#FF6B6B"}"##,
    );
}

#[test]
fn golden_cursor() {
    check_server(
        &ServerMessage::Cursor {
            user: "bob".into(),
            x: 10.5,
            y: -3.0,
        },
        r#"{"type":"cursor","user_id":"bob","x":10.5,"y":-3.0}"#,
    );
    check_server(
        &ServerMessage::Cursor {
            user: "bob".into(),
            x: 0.0,
            y: 1e300,
        },
        r#"{"type":"cursor","user_id":"bob","x":0.0,"y":1e+300}"#,
    );
}

#[test]
fn golden_snapshot_for_each_created_by() {
    for (cause, text) in ALL_CAUSES {
        let msg = ServerMessage::Snapshot(SnapshotInfo {
            id: "snap-1".into(),
            version: 42,
            created_at: AT,
            created_by: cause,
        });
        let golden = format!(
            r#"{{"type":"snapshot","id":"snap-1","version":42,"created_at":"2026-01-01T00:00:00.123Z","created_by":"{text}"}}"#
        );
        check_server(&msg, &golden);
    }
}

#[test]
fn snapshot_times_are_rfc3339_utc_with_millis() {
    for (ms, text) in [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_827_696_789, "2000-02-29T12:34:56.789Z"),
        (1_767_225_600_000, "2026-01-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ] {
        let msg = ServerMessage::Snapshot(SnapshotInfo {
            id: "s".into(),
            version: 0,
            created_at: Timestamp::from_millis(ms),
            created_by: SnapshotCause::Manual,
        });
        check_server(
            &msg,
            &format!(
                r#"{{"type":"snapshot","id":"s","version":0,"created_at":"{text}","created_by":"manual"}}"#
            ),
        );
    }
}

#[test]
fn golden_session_timeout_and_session_closed() {
    check_server(
        &ServerMessage::SessionTimeout {
            board: "board-1".into(),
        },
        r#"{"type":"session_timeout","board":"board-1"}"#,
    );
    check_server(
        &ServerMessage::SessionClosed {
            board: "board-1".into(),
            reason: CloseReason::Closed,
        },
        r#"{"type":"session_closed","board":"board-1","reason":"closed"}"#,
    );
    check_server(
        &ServerMessage::SessionClosed {
            board: "board-1".into(),
            reason: CloseReason::Moved,
        },
        r#"{"type":"session_closed","board":"board-1","reason":"moved"}"#,
    );
}

#[test]
fn session_closed_without_or_with_an_unknown_reason_decodes_as_closed() {
    for frame in [
        r#"{"type":"session_closed","board":"b"}"#,
        r#"{"type":"session_closed","board":"b","reason":"later-extension"}"#,
    ] {
        assert_eq!(
            ServerMessage::from_json(frame.as_bytes()).unwrap(),
            ServerMessage::SessionClosed {
                board: "b".into(),
                reason: CloseReason::Closed,
            }
        );
    }
}

#[test]
fn golden_error_with_and_without_batch() {
    check_server(
        &ServerMessage::error(
            ErrorCode::NotJoined,
            "not joined to a board",
            Some("b-1".into()),
        ),
        r#"{"type":"error","code":"NOT_JOINED","message":"not joined to a board","batch":"b-1"}"#,
    );
    check_server(
        &ServerMessage::error(ErrorCode::InvalidMessage, "bad frame", None),
        r#"{"type":"error","code":"INVALID_MESSAGE","message":"bad frame"}"#,
    );
}

#[test]
fn golden_error_for_every_code() {
    for (code, text) in ALL_CODES {
        assert_eq!(code.as_str(), text);
        check_server(
            &ServerMessage::error(code, "m", None),
            &format!(r#"{{"type":"error","code":"{text}","message":"m"}}"#),
        );
        check_server(
            &ServerMessage::error(code, "m", Some("b".into())),
            &format!(r#"{{"type":"error","code":"{text}","message":"m","batch":"b"}}"#),
        );
    }
}

#[test]
fn golden_pong() {
    check_server(&ServerMessage::Pong, r#"{"type":"pong"}"#);
}

#[test]
fn server_message_kinds() {
    let kinds: Vec<&str> = notices_and_frames()
        .iter()
        .map(|(n, _)| ServerMessage::from_notice(n).kind())
        .collect();
    let mut expected = vec!["joined"; 7];
    expected.extend([
        "error",
        "ack",
        "events",
        "participant_joined",
        "participant_left",
        "cursor",
        "snapshot",
        "snapshot",
        "snapshot",
        "snapshot",
        "error",
        "session_timeout",
        "session_closed",
        "session_closed",
        "session_closed",
        "pong",
    ]);
    assert_eq!(kinds, expected);
}

#[test]
fn strings_are_escaped_and_unicode_is_kept() {
    check_server(
        &ServerMessage::ParticipantJoined(ParticipantInfo {
            user: "a\"b\\c\n\u{1}".into(),
            display_name: "Zoë 😀 €".into(),
            color: Color::from_index(7),
        }),
        r##"{"type":"participant_joined","user_id":"a\"b\\c\n\u0001","display_name":"Zoë 😀 €","color":"#F7DC6F"}"##,
    );
    check_client(
        &ClientMessage::Join {
            board: "b\"/\t".into(),
            last_sequence: None,
        },
        r#"{"type":"join","board":"b\"/\t"}"#,
    );
}

// ---------------------------------------------------------------------------
// 1. Golden frames: client to server
// ---------------------------------------------------------------------------

#[test]
fn golden_join_without_and_with_last_sequence() {
    check_client(
        &ClientMessage::Join {
            board: "board-1".into(),
            last_sequence: None,
        },
        r#"{"type":"join","board":"board-1"}"#,
    );
    check_client(
        &ClientMessage::Join {
            board: "board-1".into(),
            last_sequence: Some(41),
        },
        r#"{"type":"join","board":"board-1","last_sequence":41}"#,
    );
    check_client(
        &ClientMessage::Join {
            board: "board-1".into(),
            last_sequence: Some(0),
        },
        r#"{"type":"join","board":"board-1","last_sequence":0}"#,
    );
    check_client(
        &ClientMessage::Join {
            board: "board-1".into(),
            last_sequence: Some(u64::MAX),
        },
        r#"{"type":"join","board":"board-1","last_sequence":18446744073709551615}"#,
    );
}

#[test]
fn golden_mutate_with_upsert_and_delete() {
    let msg = ClientMessage::Mutate {
        batch: "b-1".into(),
        mutations: vec![upsert("p1", "e1", DATA), delete("p1", "e2")],
    };
    check_client(
        &msg,
        r#"{"type":"mutate","batch":"b-1","mutations":[{"op":"upsert","page":"p1","element":"e1","data":{"x": 1, "tags": ["a", {"b": null}], "s": "caf\u00e9 \"q\"", "n": 123456789012345678901234567890}},{"op":"delete","page":"p1","element":"e2"}]}"#,
    );
    check_client(
        &ClientMessage::Mutate {
            batch: "b-2".into(),
            mutations: vec![],
        },
        r#"{"type":"mutate","batch":"b-2","mutations":[]}"#,
    );
}

#[test]
fn golden_cursor_snapshot_leave_ping() {
    check_client(
        &ClientMessage::Cursor { x: 1.5, y: 2.0 },
        r#"{"type":"cursor","x":1.5,"y":2.0}"#,
    );
    check_client(
        &ClientMessage::Cursor { x: -0.25, y: 1e-7 },
        r#"{"type":"cursor","x":-0.25,"y":1e-7}"#,
    );
    check_client(&ClientMessage::Snapshot, r#"{"type":"snapshot"}"#);
    check_client(&ClientMessage::Leave, r#"{"type":"leave"}"#);
    check_client(&ClientMessage::Ping, r#"{"type":"ping"}"#);
}

#[test]
fn client_message_kinds() {
    let kinds: Vec<&str> = [
        ClientMessage::Join {
            board: "b".into(),
            last_sequence: None,
        },
        ClientMessage::Mutate {
            batch: "b".into(),
            mutations: vec![],
        },
        ClientMessage::Cursor { x: 0.0, y: 0.0 },
        ClientMessage::Snapshot,
        ClientMessage::Leave,
        ClientMessage::Ping,
    ]
    .iter()
    .map(ClientMessage::kind)
    .collect();
    assert_eq!(
        kinds,
        ["join", "mutate", "cursor", "snapshot", "leave", "ping"]
    );
}

#[test]
fn integer_cursor_coordinates_decode_as_floats() {
    assert_eq!(
        decode_client(r#"{"type":"cursor","x":3,"y":-4}"#),
        Ok(ClientMessage::Cursor { x: 3.0, y: -4.0 })
    );
    assert_eq!(
        decode_client(r#"{"type":"cursor","x":1.5e2,"y":0}"#),
        Ok(ClientMessage::Cursor { x: 150.0, y: 0.0 })
    );
}

// ---------------------------------------------------------------------------
// 2. Round trips, and encode_notice against from_notice
// ---------------------------------------------------------------------------

#[test]
fn encode_notice_matches_golden_and_from_notice_for_every_notice() {
    let all = notices_and_frames();
    assert_eq!(all.len(), 23);
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

// ---------------------------------------------------------------------------
// 3. Decoding: errors and leniency
// ---------------------------------------------------------------------------

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
        let notice = Notice::Events(Arc::from(vec![event(1, "u", upsert("p", "e", data))]));
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

#[test]
fn server_frame_decoding_errors() {
    let cases: Vec<(String, DecodeError)> = vec![
        (r#"{"type":"ack","sequence":1}"#.into(), missing("ack", "batch")),
        (r#"{"type":"ack","batch":"b"}"#.into(), missing("ack", "sequence")),
        (r#"{"type":"events"}"#.into(), missing("events", "events")),
        (
            r#"{"type":"events","events":[{"user":"u","op":"delete","page":"p","element":"e"}]}"#
                .into(),
            missing("events", "seq"),
        ),
        (
            r#"{"type":"events","events":[{"seq":1,"op":"delete","page":"p","element":"e"}]}"#
                .into(),
            missing("events", "user"),
        ),
        (
            r#"{"type":"events","events":[{"seq":1,"user":"u","op":"upsert","page":"p","element":"e"}]}"#
                .into(),
            missing("events", "data"),
        ),
        (
            r#"{"type":"events","events":[{"seq":1,"user":"u","op":"mv","page":"p","element":"e"}]}"#
                .into(),
            DecodeError::UnknownOp("mv".into()),
        ),
        (
            r##"{"type":"participant_joined","display_name":"B","color":"#FF6B6B"}"##.into(),
            missing("participant_joined", "user_id"),
        ),
        (
            r##"{"type":"participant_left","user_id":"b","color":"#FF6B6B"}"##.into(),
            missing("participant_left", "display_name"),
        ),
        (
            r#"{"type":"participant_left","user_id":"b","display_name":"B"}"#.into(),
            missing("participant_left", "color"),
        ),
        (
            r##"{"type":"participant_joined","user_id":"b","display_name":"B","color":"#000000"}"##
                .into(),
            DecodeError::InvalidField {
                kind: "participant_joined",
                field: "color",
            },
        ),
        (r#"{"type":"cursor","x":1,"y":2}"#.into(), missing("cursor", "user_id")),
        (r#"{"type":"cursor","user_id":"u","y":2}"#.into(), missing("cursor", "x")),
        (r#"{"type":"cursor","user_id":"u","x":2}"#.into(), missing("cursor", "y")),
        (
            format!(r#"{{"type":"snapshot","version":1,"created_at":"{AT_TEXT}","created_by":"manual"}}"#),
            missing("snapshot", "id"),
        ),
        (
            format!(r#"{{"type":"snapshot","id":"s","created_at":"{AT_TEXT}","created_by":"manual"}}"#),
            missing("snapshot", "version"),
        ),
        (
            r#"{"type":"snapshot","id":"s","version":1,"created_by":"manual"}"#.into(),
            missing("snapshot", "created_at"),
        ),
        (
            format!(r#"{{"type":"snapshot","id":"s","version":1,"created_at":"{AT_TEXT}"}}"#),
            missing("snapshot", "created_by"),
        ),
        (
            r#"{"type":"snapshot","id":"s","version":1,"created_at":"yesterday","created_by":"manual"}"#
                .into(),
            DecodeError::InvalidField {
                kind: "snapshot",
                field: "created_at",
            },
        ),
        (r#"{"type":"session_timeout"}"#.into(), missing("session_timeout", "board")),
        (r#"{"type":"session_closed"}"#.into(), missing("session_closed", "board")),
        (r#"{"type":"error","message":"m"}"#.into(), missing("error", "code")),
    ];
    for (frame, expected) in cases {
        assert_eq!(
            ServerMessage::from_json(frame.as_bytes()),
            Err(expected),
            "{frame}"
        );
    }
    for frame in [
        r#"{"type":"snapshot","id":"s","version":1,"created_at":"2026-01-01T00:00:00Z","created_by":"cron"}"#,
        r#"{"type":"error","code":"TEAPOT","message":"m"}"#,
        r#"{"type":"ack","batch":"b","sequence":-1}"#,
    ] {
        assert!(
            matches!(
                ServerMessage::from_json(frame.as_bytes()),
                Err(DecodeError::Json(_))
            ),
            "{frame}"
        );
    }
}

#[test]
fn joined_frame_decoding_errors() {
    let good: serde_json::Value = serde_json::from_str(&joined_json(&format!(
        r#"{{"kind":"full","reason":"initial","pages":{}}}"#,
        pages_json()
    )))
    .unwrap();
    let decode = |v: &serde_json::Value| ServerMessage::from_json(v.to_string().as_bytes());
    assert!(decode(&good).is_ok());
    for field in [
        "session_id",
        "board",
        "color",
        "participants",
        "sequence",
        "history_from",
        "sync",
    ] {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(field);
        assert_eq!(decode(&v), Err(missing("joined", field)), "without {field}");
    }
    for (field, expected) in [
        ("kind", "sync.kind"),
        ("reason", "sync.reason"),
        ("pages", "sync.pages"),
    ] {
        let mut v = good.clone();
        v["sync"].as_object_mut().unwrap().remove(field);
        assert_eq!(
            decode(&v),
            Err(missing("joined", expected)),
            "without {field}"
        );
    }
    let mut v = good.clone();
    v["sync"] = serde_json::json!({"kind": "delta"});
    assert_eq!(decode(&v), Err(missing("joined", "events")));
    let invalid = |field| DecodeError::InvalidField {
        kind: "joined",
        field,
    };
    let mut v = good.clone();
    v["sync"]["kind"] = "partial".into();
    assert_eq!(decode(&v), Err(invalid("sync.kind")));
    for bad in ["xyz", "", "-1", "1ffffffffffffffff", "0x1"] {
        let mut v = good.clone();
        v["session_id"] = bad.into();
        assert_eq!(decode(&v), Err(invalid("session_id")), "{bad}");
    }
    let mut v = good.clone();
    v["color"] = "red".into();
    assert_eq!(decode(&v), Err(invalid("color")));
    let mut v = good.clone();
    v["participants"][0]
        .as_object_mut()
        .unwrap()
        .remove("user_id");
    assert_eq!(decode(&v), Err(missing("joined", "user_id")));
    let mut v = good.clone();
    v["sync"]["reason"] = "bored".into();
    assert!(matches!(decode(&v), Err(DecodeError::Json(_))));
}

#[test]
fn colours_decode_case_insensitively() {
    assert_eq!(
        ServerMessage::from_json(
            br##"{"type":"participant_joined","user_id":"b","display_name":"B","color":"#ff6b6b"}"##
        ),
        Ok(ServerMessage::ParticipantJoined(participant("b", "B", 0)))
    );
}

#[test]
fn error_message_is_optional_when_decoding() {
    assert_eq!(
        ServerMessage::from_json(br#"{"type":"error","code":"RATE_LIMITED","batch":"b"}"#),
        Ok(ServerMessage::error(
            ErrorCode::RateLimited,
            "",
            Some("b".into())
        ))
    );
}

#[test]
fn snapshot_times_with_offsets_decode_to_utc() {
    let msg = ServerMessage::from_json(
        br#"{"type":"snapshot","id":"s","version":1,"created_at":"2026-01-01T01:00:00.123+01:00","created_by":"archive"}"#,
    )
    .unwrap();
    assert_eq!(
        msg,
        ServerMessage::Snapshot(SnapshotInfo {
            id: "s".into(),
            version: 1,
            created_at: AT,
            created_by: SnapshotCause::Archive,
        })
    );
    assert!(msg.to_json().unwrap().contains(AT_TEXT));
}

#[test]
fn full_sync_pages_decode_with_raw_data() {
    let json = joined_json(&format!(
        r#"{{"kind":"full","reason":"too_old","pages":{}}}"#,
        pages_json()
    ));
    let ServerMessage::Joined(j) = ServerMessage::from_json(json.as_bytes()).unwrap() else {
        panic!()
    };
    let WireSync::Full { reason, pages } = &j.sync else {
        panic!()
    };
    assert_eq!(*reason, FullSyncReason::TooOld);
    assert_eq!(pages.element_count(), 3);
    assert_eq!(
        pages.get("page-1", "e1").unwrap().as_bytes(),
        DATA.as_bytes()
    );
    assert_eq!(pages.get("page-1", "e2").unwrap().as_bytes(), br#""text""#);
    assert_eq!(
        pages.get("page-2", "e3").unwrap().as_bytes(),
        b"[1, 2.5, true]"
    );
}

#[test]
fn is_json_checks_one_value() {
    for good in [
        "{}",
        "null",
        " 1 ",
        "[1, {\"a\": \"\\u00e9\"}]",
        "\"s\"",
        DATA,
    ] {
        assert!(is_json(&Payload::from(good)), "{good}");
    }
    for bad in ["", " ", "abc", "{", "1 2", "{} {}", "{\"a\":1,}", "'s'"] {
        assert!(!is_json(&Payload::from(bad)), "{bad:?}");
    }
    assert!(!is_json(&Payload::from(vec![0xff, 0xfe])));
    assert!(!is_json(&Payload::from(b"\"\xff\"".to_vec())));
}

// ---------------------------------------------------------------------------
// 4. Data that is not JSON text cannot be encoded
// ---------------------------------------------------------------------------

fn notices_with_data(data: Payload) -> Vec<Notice> {
    let m = Mutation::Upsert {
        page: "p".into(),
        element: "e".into(),
        data,
    };
    vec![
        Notice::Events(Arc::from(vec![
            event(1, "u", delete("p", "x")),
            event(2, "u", m.clone()),
        ])),
        joined_notice(JoinSync::Delta {
            events: vec![event(2, "u", m.clone())].into(),
        }),
        joined_notice(JoinSync::Full {
            reason: FullSyncReason::Initial,
            pages: Pages::from_elements([("p".into(), "e".into(), m.data().unwrap().clone())]),
        }),
    ]
}

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
    let notice = Notice::Events(Arc::from(vec![event(1, "u", delete("p", "e"))]));
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

// ---------------------------------------------------------------------------
// Binary serde formats: `notice_frame` writes element data as bytes
// ---------------------------------------------------------------------------

/// What a non-human-readable serializer is handed, as a flat token list.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Struct,
    Field(&'static str),
    Skip(&'static str),
    End,
    Seq,
    Map,
    Str(String),
    Bytes(Vec<u8>),
    U64(u64),
    F64(f64),
    Other(String),
}

/// A minimal binary-style serializer (`is_human_readable() == false`)
/// that records the calls it gets.
struct Recorder<'a>(&'a mut Vec<Tok>);

#[derive(Debug)]
struct RecErr(String);

impl std::fmt::Display for RecErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecErr {}

impl serde::ser::Error for RecErr {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        RecErr(msg.to_string())
    }
}

fn record<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<Tok>, RecErr> {
    let mut toks = Vec::new();
    value.serialize(Recorder(&mut toks))?;
    Ok(toks)
}

macro_rules! other {
    ($($name:ident($ty:ty)),*) => {$(
        fn $name(self, v: $ty) -> Result<(), RecErr> {
            self.0.push(Tok::Other(format!("{v:?}")));
            Ok(())
        }
    )*};
}

impl<'a> serde::Serializer for Recorder<'a> {
    type Ok = ();
    type Error = RecErr;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }
    other!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_f32(f32),
        serialize_char(char)
    );
    fn serialize_u64(self, v: u64) -> Result<(), RecErr> {
        self.0.push(Tok::U64(v));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), RecErr> {
        self.0.push(Tok::F64(v));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), RecErr> {
        self.0.push(Tok::Str(v.to_owned()));
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), RecErr> {
        self.0.push(Tok::Bytes(v.to_vec()));
        Ok(())
    }
    fn serialize_none(self) -> Result<(), RecErr> {
        self.0.push(Tok::Other("none".into()));
        Ok(())
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(self, v: &T) -> Result<(), RecErr> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), RecErr> {
        self.0.push(Tok::Other("unit".into()));
        Ok(())
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), RecErr> {
        self.0.push(Tok::Other(name.into()));
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<(), RecErr> {
        self.0.push(Tok::Str(v.into()));
        Ok(())
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), RecErr> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), RecErr> {
        self.0.push(Tok::Other(variant.into()));
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, RecErr> {
        self.0.push(Tok::Seq);
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, RecErr> {
        self.0.push(Tok::Seq);
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, RecErr> {
        self.0.push(Tok::Seq);
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, RecErr> {
        self.0.push(Tok::Seq);
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, RecErr> {
        self.0.push(Tok::Map);
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, RecErr> {
        self.0.push(Tok::Struct);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, RecErr> {
        self.0.push(Tok::Struct);
        Ok(self)
    }
}

impl<'a> Recorder<'a> {
    fn element<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), RecErr> {
        v.serialize(Recorder(&mut *self.0))
    }
    fn end_(self) -> Result<(), RecErr> {
        self.0.push(Tok::End);
        Ok(())
    }
}

macro_rules! compound {
    ($($tr:ident :: $method:ident),*) => {$(
        impl<'a> serde::ser::$tr for Recorder<'a> {
            type Ok = ();
            type Error = RecErr;
            fn $method<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), RecErr> {
                self.element(v)
            }
            fn end(self) -> Result<(), RecErr> {
                self.end_()
            }
        }
    )*};
}

compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<'a> serde::ser::SerializeMap for Recorder<'a> {
    type Ok = ();
    type Error = RecErr;
    fn serialize_key<T: serde::Serialize + ?Sized>(&mut self, k: &T) -> Result<(), RecErr> {
        self.element(k)
    }
    fn serialize_value<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), RecErr> {
        self.element(v)
    }
    fn end(self) -> Result<(), RecErr> {
        self.end_()
    }
}

macro_rules! structs {
    ($($tr:ident),*) => {$(
        impl<'a> serde::ser::$tr for Recorder<'a> {
            type Ok = ();
            type Error = RecErr;
            fn serialize_field<T: serde::Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), RecErr> {
                self.0.push(Tok::Field(key));
                self.element(v)
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), RecErr> {
                self.0.push(Tok::Skip(key));
                Ok(())
            }
            fn end(self) -> Result<(), RecErr> {
                self.end_()
            }
        }
    )*};
}

structs!(SerializeStruct, SerializeStructVariant);

fn s(text: &str) -> Tok {
    Tok::Str(text.to_owned())
}

#[test]
fn binary_frames_carry_data_as_bytes() {
    use Tok::*;
    let notice = Notice::Events(Arc::from(engine_events()));
    assert_eq!(
        record(&notice_frame(&notice)).unwrap(),
        [
            Struct,
            Field("type"),
            s("events"),
            Field("events"),
            Seq,
            Struct,
            Field("seq"),
            U64(11),
            Field("user"),
            s("alice"),
            Field("op"),
            s("upsert"),
            Field("page"),
            s("p1"),
            Field("element"),
            s("e1"),
            Field("data"),
            Bytes(DATA.as_bytes().to_vec()),
            End,
            Struct,
            Field("seq"),
            U64(12),
            Field("user"),
            s("bob"),
            Field("op"),
            s("delete"),
            Field("page"),
            s("p1"),
            Field("element"),
            s("e0"),
            Skip("data"),
            End,
            End,
            End,
        ]
    );
    // The owned message serializes to the same tokens.
    assert_eq!(
        record(&ServerMessage::from_notice(&notice)).unwrap(),
        record(&notice_frame(&notice)).unwrap()
    );
}

#[test]
fn binary_frames_accept_data_that_is_not_json() {
    use Tok::*;
    // Bytes that no JSON frame can hold are fine in a binary one.
    let raw = vec![0xff, 0x00, 0xfe];
    for notice in notices_with_data(Payload::from(raw.clone())) {
        assert!(encode_notice(&notice).is_err());
        let toks = record(&notice_frame(&notice)).unwrap();
        assert!(toks.contains(&Bytes(raw.clone())), "{toks:?}");
        assert_eq!(toks, record(&ServerMessage::from_notice(&notice)).unwrap());
    }
    let toks = record(&ClientMessage::Mutate {
        batch: "b".into(),
        mutations: vec![Mutation::Upsert {
            page: "p".into(),
            element: "e".into(),
            data: Payload::from(raw.clone()),
        }],
    })
    .unwrap();
    assert!(toks.contains(&Bytes(raw)), "{toks:?}");
}

#[test]
fn binary_frames_of_every_notice_match_the_owned_message() {
    for (notice, _) in notices_and_frames() {
        let toks = record(&notice_frame(&notice)).unwrap();
        let kind = ServerMessage::from_notice(&notice).kind();
        assert_eq!(toks[..3], [Tok::Struct, Tok::Field("type"), s(kind)]);
        assert_eq!(toks, record(&ServerMessage::from_notice(&notice)).unwrap());
        // Full-sync pages: element data as bytes too.
        if let Notice::Joined(j) = &notice {
            if let JoinSync::Full { pages, .. } = &j.sync {
                for (_, elements) in pages.iter() {
                    for data in elements.values() {
                        assert!(toks.contains(&Tok::Bytes(data.as_bytes().to_vec())));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 5. Property tests
// ---------------------------------------------------------------------------

/// Ids: plain, full of characters JSON must escape, or anything at all.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{1,10}",
        "[\"\\\\/\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}é€😀 ]{0,8}",
        any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        id().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((id(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// JSON text of a value, compact or pretty (whitespace inside data).
fn json_text() -> impl Strategy<Value = String> {
    (json_value(), any::<bool>()).prop_map(|(v, pretty)| {
        if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            v.to_string()
        }
    })
}

fn seq() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
}

/// Finite coordinates a client really sends: decimals of up to 13
/// significant digits (see `any_finite_f64_round_trips` for the rest).
fn coordinate() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(0.1),
        Just(1e300),
        Just(-1e-300),
        (-1_000_000_000i64..1_000_000_000, 0..5i32).prop_map(|(m, d)| m as f64 / 10f64.powi(d)),
    ]
}

/// Any finite f64.
fn any_finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (id(), id(), json_text()).prop_map(|(p, e, d)| Mutation::Upsert {
            page: p.into(),
            element: e.into(),
            data: Payload::from(d.as_str()),
        }),
        (id(), id()).prop_map(|(p, e)| Mutation::Delete {
            page: p.into(),
            element: e.into(),
        }),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (id(), prop::option::of(seq())).prop_map(|(b, s)| ClientMessage::Join {
            board: b.into(),
            last_sequence: s,
        }),
        (id(), prop::collection::vec(mutation(), 0..5)).prop_map(|(b, m)| {
            ClientMessage::Mutate {
                batch: b.into(),
                mutations: m,
            }
        }),
        (coordinate(), coordinate()).prop_map(|(x, y)| ClientMessage::Cursor { x, y }),
        Just(ClientMessage::Snapshot),
        Just(ClientMessage::Leave),
        Just(ClientMessage::Ping),
    ]
}

fn engine_event() -> impl Strategy<Value = Event> {
    (seq(), id(), id(), any::<u64>(), mutation()).prop_map(|(seq, user, batch, at, mutation)| {
        Event {
            seq,
            author: user.into(),
            batch: batch.into(),
            at: Timestamp::from_millis(at),
            mutation,
        }
    })
}

fn participant_info() -> impl Strategy<Value = ParticipantInfo> {
    (id(), id(), 0..8usize).prop_map(|(u, n, c)| ParticipantInfo {
        user: u.into(),
        display_name: n.into(),
        color: Color::from_index(c),
    })
}

fn pages_strategy() -> impl Strategy<Value = Pages> {
    prop::collection::vec((id(), id(), json_text()), 0..6).prop_map(|items| {
        Pages::from_elements(
            items
                .into_iter()
                .map(|(p, e, d)| (p.into(), e.into(), Payload::from(d.as_str()))),
        )
    })
}

fn sync_strategy() -> impl Strategy<Value = JoinSync> {
    prop_oneof![
        prop::collection::vec(engine_event(), 0..4).prop_map(|events| JoinSync::Delta {
            events: events.into()
        }),
        (0..4usize, pages_strategy()).prop_map(|(r, pages)| JoinSync::Full {
            reason: ALL_REASONS[r].0,
            pages,
        }),
    ]
}

/// RFC 3339 has four-digit years: up to 9999-12-31T23:59:59.999Z.
const LAST_RFC3339_MILLIS: u64 = 253_402_300_799_999;

fn notice() -> impl Strategy<Value = Notice> {
    prop_oneof![
        (
            any::<u64>(),
            id(),
            0..8usize,
            prop::collection::vec(participant_info(), 0..4),
            seq(),
            seq(),
            sync_strategy()
        )
            .prop_map(
                |(s, board, c, participants, sequence, history_from, sync)| {
                    Notice::Joined(Box::new(Joined {
                        session_id: UserSessionId(s),
                        board: board.into(),
                        color: Color::from_index(c),
                        participants,
                        sequence,
                        history_from,
                        sync,
                    }))
                }
            ),
        (id(), 0..ALL_CODES.len(), id()).prop_map(|(b, c, m)| Notice::JoinFailed {
            board: b.into(),
            code: ALL_CODES[c].0,
            message: m,
        }),
        (id(), seq()).prop_map(|(b, s)| Notice::Ack {
            batch: b.into(),
            sequence: s
        }),
        prop::collection::vec(engine_event(), 0..5).prop_map(|e| Notice::Events(Arc::from(e))),
        participant_info().prop_map(Notice::ParticipantJoined),
        participant_info().prop_map(Notice::ParticipantLeft),
        (id(), coordinate(), coordinate()).prop_map(|(u, x, y)| Notice::Cursor {
            user: u.into(),
            x,
            y
        }),
        (id(), seq(), 0..=LAST_RFC3339_MILLIS, 0..4usize).prop_map(|(i, v, at, c)| {
            Notice::Snapshot(SnapshotInfo {
                id: i.into(),
                version: v,
                created_at: Timestamp::from_millis(at),
                created_by: ALL_CAUSES[c].0,
            })
        }),
        (0..ALL_CODES.len(), id()).prop_map(|(c, m)| Notice::SnapshotFailed {
            code: ALL_CODES[c].0,
            message: m,
        }),
        id().prop_map(|b| Notice::SessionTimeout { board: b.into() }),
        (id(), 0..3usize).prop_map(|(b, r)| Notice::SessionClosed {
            board: b.into(),
            reason: [CloseReason::Closed, CloseReason::Moved, CloseReason::Failed][r],
        }),
        Just(Notice::Pong),
    ]
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        notice().prop_map(|n| ServerMessage::from_notice(&n)),
        (0..ALL_CODES.len(), id(), prop::option::of(id()))
            .prop_map(|(c, m, b)| ServerMessage::error(ALL_CODES[c].0, m, b.map(BatchId::from))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        let json = msg.to_json().unwrap();
        prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{}", json);
        prop_assert_eq!(ClientMessage::from_json(json.as_bytes()), Ok(msg));
    }

    #[test]
    fn server_messages_round_trip(msg in server_message()) {
        let json = msg.to_json().unwrap();
        prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{}", json);
        prop_assert_eq!(ServerMessage::from_json(json.as_bytes()), Ok(msg));
    }

    #[test]
    fn encode_notice_equals_from_notice(n in notice()) {
        let fast = encode_notice(&n).unwrap();
        let owned = ServerMessage::from_notice(&n);
        prop_assert_eq!(&fast, &owned.to_json().unwrap().into_bytes());
        prop_assert_eq!(ServerMessage::from_json(&fast), Ok(owned));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = ClientMessage::from_json(&bytes);
        let _ = ServerMessage::from_json(&bytes);
    }

    #[test]
    fn decoding_arbitrary_json_never_panics(v in json_value(), t in prop::sample::select(vec![
        "join", "mutate", "cursor", "snapshot", "leave", "ping", "joined", "ack", "events",
        "participant_joined", "participant_left", "session_timeout", "session_closed",
        "error", "pong",
    ])) {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), t.into());
        for key in ["board", "last_sequence", "batch", "mutations", "x", "y", "sync", "events",
                    "participants", "session_id", "color", "created_at", "code"] {
            obj.insert(key.into(), v.clone());
        }
        let frame = serde_json::Value::Object(obj).to_string();
        let _ = ClientMessage::from_json(frame.as_bytes());
        let _ = ServerMessage::from_json(frame.as_bytes());
    }

    #[test]
    fn any_finite_f64_round_trips(x in any_finite(), y in any_finite()) {
        let msg = ClientMessage::Cursor { x, y };
        prop_assert_eq!(ClientMessage::from_json(msg.to_json().unwrap().as_bytes()), Ok(msg));
        let msg = ServerMessage::Cursor { user: "u".into(), x, y };
        prop_assert_eq!(ServerMessage::from_json(msg.to_json().unwrap().as_bytes()), Ok(msg));
    }

    #[test]
    fn generated_data_is_kept_byte_exact(data in json_text()) {
        let frame = format!(
            r#"{{"type":"mutate","batch":"b","mutations":[{{"op":"upsert","page":"p","element":"e","data":{data}}}]}}"#
        );
        let msg = ClientMessage::from_json(frame.as_bytes()).unwrap();
        prop_assert_eq!(msg.to_json().unwrap(), frame);
    }
}

// ---------------------------------------------------------------------------
// 6. dispatch against a real engine
// ---------------------------------------------------------------------------

const BOARD: &str = "board-1";
const ALICE: ConnId = ConnId(1);
const BOB: ConnId = ConnId(2);

fn identity(user: &str, board: Option<&str>) -> Identity {
    Identity {
        user: user.into(),
        display_name: user.to_uppercase(),
        board: board.map(BoardId::from),
        session_type: None,
    }
}

fn send(h: &mut Harness, conn: ConnId, who: &Identity, frame: &str) -> Option<ServerMessage> {
    let msg = ClientMessage::from_json(frame.as_bytes()).unwrap();
    let reply = dispatch(&mut h.engine, h.now, conn, who, msg);
    h.drain();
    reply
}

/// The frames a connection was sent, as JSON text.
fn frames(h: &mut Harness, conn: ConnId) -> Vec<String> {
    h.take(conn)
        .iter()
        .map(|n| String::from_utf8(encode_notice(n).unwrap()).unwrap())
        .collect()
}

#[track_caller]
fn assert_error(reply: Option<ServerMessage>, code: ErrorCode, batch: Option<&str>) {
    match reply {
        Some(ServerMessage::Error {
            code: c,
            message,
            batch: b,
        }) => {
            assert_eq!(c, code);
            assert!(!message.is_empty());
            assert_eq!(b, batch.map(BatchId::from));
        }
        other => panic!("expected error {code}, got {other:?}"),
    }
}

/// What a refused message must leave unchanged.
#[derive(Debug, PartialEq)]
struct Observed {
    stats: Stats,
    session: Option<SessionInfo>,
    boards: Vec<BoardId>,
    alice: Option<UserSessionRecord>,
    bob: Option<UserSessionRecord>,
    deadline: Option<Timestamp>,
    pages: Option<Pages>,
}

fn observe(h: &Harness) -> Observed {
    Observed {
        stats: h.engine.stats(),
        session: h.engine.session(BOARD),
        boards: h.engine.boards().cloned().collect(),
        alice: h.engine.user_session(ALICE).cloned(),
        bob: h.engine.user_session(BOB).cloned(),
        deadline: h.engine.poll_timeout(),
        pages: h.engine.pages(BOARD).cloned(),
    }
}

/// Alice joined `BOARD` and applied one batch; inboxes are empty.
fn room() -> Harness {
    let mut h = Harness::new(Config::default());
    let me = identity("alice", Some(BOARD));
    assert_eq!(
        send(&mut h, ALICE, &me, r#"{"type":"join","board":"board-1"}"#),
        None
    );
    assert_eq!(
        send(
            &mut h,
            ALICE,
            &me,
            r#"{"type":"mutate","batch":"first","mutations":[{"op":"upsert","page":"p","element":"e","data":1}]}"#
        ),
        None
    );
    h.inbox.clear();
    h.transcript.clear();
    h
}

#[test]
fn dispatch_join_of_another_board_is_unauthorized_and_changes_nothing() {
    // On a fresh engine.
    let mut h = Harness::new(Config::default());
    let me = identity("alice", Some(BOARD));
    let before = observe(&h);
    let reply = send(&mut h, ALICE, &me, r#"{"type":"join","board":"other"}"#);
    let json = reply.as_ref().unwrap().to_json().unwrap();
    assert!(
        json.starts_with(r#"{"type":"error","code":"UNAUTHORIZED","message":"#),
        "{json}"
    );
    assert!(!json.contains(r#""batch""#));
    assert_error(reply, ErrorCode::Unauthorized, None);
    assert!(h.transcript.is_empty(), "{:?}", h.transcript);
    assert!(h.engine.session("other").is_none());
    assert_eq!(observe(&h), before);
    // The connection is still usable for its own board.
    assert_eq!(
        send(&mut h, ALICE, &me, r#"{"type":"join","board":"board-1"}"#),
        None
    );
    assert!(matches!(h.take(ALICE)[..], [Notice::Joined(_)]));

    // On a board already in session, by a connection already joined.
    let mut h = room();
    let before = observe(&h);
    let reply = send(
        &mut h,
        ALICE,
        &me,
        r#"{"type":"join","board":"other","last_sequence":1}"#,
    );
    assert_error(reply, ErrorCode::Unauthorized, None);
    // And by a fresh connection.
    let bob = identity("bob", Some(BOARD));
    let reply = send(&mut h, BOB, &bob, r#"{"type":"join","board":"other"}"#);
    assert_error(reply, ErrorCode::Unauthorized, None);
    assert!(h.transcript.is_empty(), "{:?}", h.transcript);
    assert!(h.engine.session("other").is_none());
    assert_eq!(observe(&h), before);
}

#[test]
fn dispatch_identity_without_board_may_join_any_board() {
    let mut h = Harness::new(Config::default());
    let anyone = identity("alice", None);
    assert_eq!(
        send(
            &mut h,
            ALICE,
            &anyone,
            r#"{"type":"join","board":"elsewhere"}"#
        ),
        None
    );
    assert!(h.engine.session("elsewhere").is_some());
    assert!(matches!(h.take(ALICE)[..], [Notice::Joined(_)]));
}

#[test]
fn dispatch_second_join_is_invalid_message_and_changes_nothing() {
    let mut h = room();
    let me = identity("alice", Some(BOARD));
    let before = observe(&h);
    for frame in [
        r#"{"type":"join","board":"board-1"}"#,
        r#"{"type":"join","board":"board-1","last_sequence":0}"#,
    ] {
        let reply = send(&mut h, ALICE, &me, frame);
        assert_error(reply, ErrorCode::InvalidMessage, None);
    }
    assert!(h.transcript.is_empty(), "{:?}", h.transcript);
    assert_eq!(observe(&h), before);
}

#[test]
fn dispatch_second_join_while_the_board_loads_is_invalid_message() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    let me = identity("alice", Some(BOARD));
    assert_eq!(
        send(&mut h, ALICE, &me, r#"{"type":"join","board":"board-1"}"#),
        None
    );
    assert_eq!(h.held.len(), 1, "the board load");
    let before = observe(&h);
    let transcript = h.transcript.len();
    let reply = send(&mut h, ALICE, &me, r#"{"type":"join","board":"board-1"}"#);
    assert_error(reply, ErrorCode::InvalidMessage, None);
    assert_eq!(h.transcript.len(), transcript);
    assert_eq!(observe(&h), before);
    h.complete_all();
    let joined: Vec<_> = h
        .take(ALICE)
        .into_iter()
        .filter(|n| matches!(n, Notice::Joined(_)))
        .collect();
    assert_eq!(joined.len(), 1, "one joined, not two");
}

#[test]
fn dispatch_mutate_before_join_is_not_joined_with_the_batch() {
    let mut h = Harness::new(Config::default());
    let me = identity("alice", Some(BOARD));
    let before = observe(&h);
    let reply = send(
        &mut h,
        ALICE,
        &me,
        r#"{"type":"mutate","batch":"b-1","mutations":[{"op":"upsert","page":"p","element":"e","data":{}}]}"#,
    );
    let json = reply.as_ref().unwrap().to_json().unwrap();
    assert!(
        json.starts_with(r#"{"type":"error","code":"NOT_JOINED","message":"#)
            && json.ends_with(r#","batch":"b-1"}"#),
        "{json}"
    );
    assert_error(reply, ErrorCode::NotJoined, Some("b-1"));
    assert!(h.transcript.is_empty(), "{:?}", h.transcript);
    assert_eq!(observe(&h), before);

    // Also for a connection next to a live session: nothing applied there.
    let mut h = room();
    let before = observe(&h);
    let bob = identity("bob", Some(BOARD));
    let reply = send(
        &mut h,
        BOB,
        &bob,
        r#"{"type":"mutate","batch":"b-2","mutations":[{"op":"delete","page":"p","element":"e"}]}"#,
    );
    assert_error(reply, ErrorCode::NotJoined, Some("b-2"));
    assert!(h.transcript.is_empty(), "{:?}", h.transcript);
    assert_eq!(observe(&h), before);
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 1);
}

#[test]
fn dispatch_other_requests_before_join_are_not_joined() {
    let mut h = Harness::new(Config::default());
    let me = identity("alice", Some(BOARD));
    let before = observe(&h);
    for frame in [
        r#"{"type":"cursor","x":1,"y":2}"#,
        r#"{"type":"snapshot"}"#,
        r#"{"type":"leave"}"#,
    ] {
        assert_error(send(&mut h, ALICE, &me, frame), ErrorCode::NotJoined, None);
    }
    assert!(h.transcript.is_empty(), "{:?}", h.transcript);
    assert_eq!(observe(&h), before);
}

#[test]
fn dispatch_oversize_batch_is_payload_too_large() {
    let mut config = Config::default();
    config.limits.max_batch_len = 2;
    config.limits.max_payload_bytes = 8;
    let mut h = Harness::new(config);
    let me = identity("alice", Some(BOARD));
    assert_eq!(
        send(&mut h, ALICE, &me, r#"{"type":"join","board":"board-1"}"#),
        None
    );
    h.inbox.clear();
    h.transcript.clear();
    let before = observe(&h);

    let three = r#"{"type":"mutate","batch":"big","mutations":[{"op":"delete","page":"p","element":"a"},{"op":"delete","page":"p","element":"b"},{"op":"delete","page":"p","element":"c"}]}"#;
    let reply = send(&mut h, ALICE, &me, three);
    let json = reply.as_ref().unwrap().to_json().unwrap();
    assert!(
        json.starts_with(r#"{"type":"error","code":"PAYLOAD_TOO_LARGE","message":"#)
            && json.ends_with(r#","batch":"big"}"#),
        "{json}"
    );
    assert_error(reply, ErrorCode::PayloadTooLarge, Some("big"));

    // One payload over the byte limit (9 bytes of JSON text).
    let fat = r#"{"type":"mutate","batch":"fat","mutations":[{"op":"upsert","page":"p","element":"a","data":"1234567"}]}"#;
    assert_error(
        send(&mut h, ALICE, &me, fat),
        ErrorCode::PayloadTooLarge,
        Some("fat"),
    );
    assert!(h.transcript.is_empty(), "{:?}", h.transcript);
    assert_eq!(observe(&h), before);
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 0);

    // At the limits it goes through.
    let two = r#"{"type":"mutate","batch":"ok","mutations":[{"op":"upsert","page":"p","element":"a","data":"123456"},{"op":"delete","page":"p","element":"b"}]}"#;
    assert_eq!(send(&mut h, ALICE, &me, two), None);
    assert_eq!(
        frames(&mut h, ALICE),
        [r#"{"type":"ack","batch":"ok","sequence":2}"#]
    );
}

#[test]
fn dispatch_empty_batch_is_invalid_message() {
    let mut h = room();
    let me = identity("alice", Some(BOARD));
    let before = observe(&h);
    assert_error(
        send(
            &mut h,
            ALICE,
            &me,
            r#"{"type":"mutate","batch":"e","mutations":[]}"#,
        ),
        ErrorCode::InvalidMessage,
        Some("e"),
    );
    assert_eq!(observe(&h), before);
}

#[test]
fn dispatch_cursor_with_a_coordinate_that_is_not_finite_is_invalid_message() {
    let mut h = room();
    let me = identity("alice", Some(BOARD));
    for (x, y) in [(f64::NAN, 0.0), (0.0, f64::INFINITY)] {
        let reply = dispatch(
            &mut h.engine,
            h.now,
            ALICE,
            &me,
            ClientMessage::Cursor { x, y },
        );
        assert_error(reply, ErrorCode::InvalidMessage, None);
    }
}

#[test]
fn dispatch_ping_gives_pong() {
    // Before any join...
    let mut h = Harness::new(Config::default());
    let me = identity("alice", Some(BOARD));
    assert_eq!(send(&mut h, ALICE, &me, r#"{"type":"ping"}"#), None);
    let inbox = h.take(ALICE);
    assert_eq!(inbox, [Notice::Pong]);
    assert_eq!(encode_notice(&inbox[0]).unwrap(), br#"{"type":"pong"}"#);
    // ...and after one.
    let mut h = room();
    let before = observe(&h);
    assert_eq!(send(&mut h, ALICE, &me, r#"{"type":"ping"}"#), None);
    assert_eq!(frames(&mut h, ALICE), [r#"{"type":"pong"}"#]);
    assert_eq!(observe(&h), before, "a ping is not activity");
}

#[test]
fn dispatch_join_and_mutate_give_joined_then_ack_once_stored() {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    let alice_id = identity("alice", Some(BOARD));
    let bob_id = identity("bob", Some(BOARD));

    // Join: nothing until the board is loaded.
    assert_eq!(
        send(
            &mut h,
            ALICE,
            &alice_id,
            r#"{"type":"join","board":"board-1"}"#
        ),
        None
    );
    assert!(h.take(ALICE).is_empty());
    h.complete_all();
    let inbox = h.take(ALICE);
    let [Notice::Joined(j)] = &inbox[..] else {
        panic!("{inbox:?}")
    };
    let frame = String::from_utf8(encode_notice(&inbox[0]).unwrap()).unwrap();
    let session = j.session_id.to_string();
    assert_eq!(session.len(), 16);
    assert!(session
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(
        frame,
        format!(
            r##"{{"type":"joined","session_id":"{session}","board":"board-1","color":"#FF6B6B","participants":[{{"user_id":"alice","display_name":"ALICE","color":"#FF6B6B"}}],"sequence":0,"history_from":0,"sync":{{"kind":"full","reason":"initial","pages":{{}}}}}}"##
        )
    );

    // Bob joins too; alice hears of it.
    assert_eq!(
        send(&mut h, BOB, &bob_id, r#"{"type":"join","board":"board-1"}"#),
        None
    );
    h.complete_all();
    assert_eq!(
        frames(&mut h, ALICE),
        [
            r##"{"type":"participant_joined","user_id":"bob","display_name":"BOB","color":"#4ECDC4"}"##
        ]
    );
    let bob_joined = frames(&mut h, BOB);
    assert_eq!(bob_joined.len(), 1);
    assert!(bob_joined[0].contains(r##""participants":[{"user_id":"alice","display_name":"ALICE","color":"#FF6B6B"},{"user_id":"bob","display_name":"BOB","color":"#4ECDC4"}]"##));

    // Mutate: no ack until the append is confirmed.
    let mutate = format!(
        r#"{{"type":"mutate","batch":"b-1","mutations":[{{"op":"upsert","page":"p1","element":"e1","data":{DATA}}},{{"op":"delete","page":"p1","element":"e0"}}]}}"#
    );
    assert_eq!(send(&mut h, ALICE, &alice_id, &mutate), None);
    assert!(h.take(ALICE).is_empty(), "no ack before the store confirms");
    assert!(
        h.take(BOB).is_empty(),
        "no events before the store confirms"
    );
    assert!(!h.held.is_empty());
    h.complete_all();
    assert_eq!(
        frames(&mut h, ALICE),
        [r#"{"type":"ack","batch":"b-1","sequence":2}"#]
    );
    assert_eq!(
        frames(&mut h, BOB),
        [format!(
            r#"{{"type":"events","events":[{{"seq":1,"user":"alice","op":"upsert","page":"p1","element":"e1","data":{DATA}}},{{"seq":2,"user":"alice","op":"delete","page":"p1","element":"e0"}}]}}"#
        )]
    );

    // A retry of the same batch gets the original ack and applies nothing.
    assert_eq!(send(&mut h, ALICE, &alice_id, &mutate), None);
    h.complete_all();
    assert_eq!(
        frames(&mut h, ALICE),
        [r#"{"type":"ack","batch":"b-1","sequence":2}"#]
    );
    assert!(h.take(BOB).is_empty());
    assert_eq!(h.engine.session(BOARD).unwrap().sequence, 2);

    // A reconnect with last_sequence gets a delta.
    let carol_id = identity("carol", Some(BOARD));
    assert_eq!(
        send(
            &mut h,
            ConnId(3),
            &carol_id,
            r#"{"type":"join","board":"board-1","last_sequence":1}"#
        ),
        None
    );
    h.complete_all();
    let carol = h.take(ConnId(3));
    let msg = ServerMessage::from_json(&encode_notice(&carol[0]).unwrap()).unwrap();
    let ServerMessage::Joined(j) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(j.sequence, 2);
    assert_eq!(
        j.sync,
        WireSync::Delta {
            events: vec![WireEvent {
                seq: 2,
                user: "alice".into(),
                mutation: delete("p1", "e0"),
            }]
        }
    );
}

#[test]
fn dispatch_snapshot_cursor_and_leave_reach_the_engine() {
    let mut h = room();
    let alice_id = identity("alice", Some(BOARD));
    let bob_id = identity("bob", Some(BOARD));
    assert_eq!(
        send(&mut h, BOB, &bob_id, r#"{"type":"join","board":"board-1"}"#),
        None
    );
    h.inbox.clear();

    assert_eq!(
        send(
            &mut h,
            ALICE,
            &alice_id,
            r#"{"type":"cursor","x":1.5,"y":-2}"#
        ),
        None
    );
    h.advance(std::time::Duration::from_millis(100));
    assert_eq!(
        frames(&mut h, BOB),
        [r#"{"type":"cursor","user_id":"alice","x":1.5,"y":-2.0}"#]
    );

    assert_eq!(
        send(&mut h, ALICE, &alice_id, r#"{"type":"snapshot"}"#),
        None
    );
    for conn in [ALICE, BOB] {
        let f = frames(&mut h, conn);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].starts_with(r#"{"type":"snapshot","id":"#)
                && f[0].ends_with(r#","created_by":"manual"}"#),
            "{f:?}"
        );
        let ServerMessage::Snapshot(info) = ServerMessage::from_json(f[0].as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(info.version, 1);
        assert_eq!(info.created_by, SnapshotCause::Manual);
    }

    assert_eq!(send(&mut h, BOB, &bob_id, r#"{"type":"leave"}"#), None);
    assert_eq!(
        frames(&mut h, ALICE),
        [r##"{"type":"participant_left","user_id":"bob","display_name":"BOB","color":"#4ECDC4"}"##]
    );
    assert!(h.engine.user_session(BOB).is_none());
}

#[test]
fn dispatch_identity_session_type_opens_the_board_with_it() {
    let mut h = Harness::new(Config::default());
    let mut me = identity("alice", Some(BOARD));
    me.session_type = Some(SessionType::Persistent);
    assert_eq!(
        send(&mut h, ALICE, &me, r#"{"type":"join","board":"board-1"}"#),
        None
    );
    assert_eq!(
        h.engine.session(BOARD).unwrap().kind,
        SessionType::Persistent
    );
}

#[test]
fn dispatch_invalid_ids_are_invalid_message() {
    let mut h = Harness::new(Config::default());
    let anyone = identity("alice", None);
    assert_error(
        send(&mut h, ALICE, &anyone, r#"{"type":"join","board":""}"#),
        ErrorCode::InvalidMessage,
        None,
    );
    assert!(h.transcript.is_empty());
    let mut h = room();
    let me = identity("alice", Some(BOARD));
    assert_error(
        send(
            &mut h,
            ALICE,
            &me,
            r#"{"type":"mutate","batch":"","mutations":[{"op":"delete","page":"p","element":"e"}]}"#,
        ),
        ErrorCode::InvalidMessage,
        Some(""),
    );
}
