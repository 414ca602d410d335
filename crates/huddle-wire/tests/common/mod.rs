//! Fixtures shared by the wire protocol tests: the golden texts of the
//! participants, events, pages and notices a board produces, every error
//! code, snapshot cause and full-sync reason with its wire spelling, and
//! the checks that encode a message, compare it with its golden frame and
//! decode the frame back.
//!
//! Each test file uses some of these, so the ones a file does not use are
//! allowed to be unused there.

#![allow(dead_code)]

pub mod batches;

use huddle_core::*;
use huddle_testkit::*;
use huddle_wire::*;

/// 2026-01-01T00:00:00.123Z.
pub const AT: Timestamp = Timestamp::from_millis(1_767_225_600_123);
pub const AT_TEXT: &str = "2026-01-01T00:00:00.123Z";

/// Data with whitespace, nesting, a unicode escape and a number no f64 can
/// hold: must travel byte for byte.
pub const DATA: &str = r#"{"x": 1, "tags": ["a", {"b": null}], "s": "caf\u00e9 \"q\"", "n": 123456789012345678901234567890}"#;

pub const ALL_CODES: [(ErrorCode, &str); 15] = [
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
    (ErrorCode::DataTooDeep, "DATA_TOO_DEEP"),
    (ErrorCode::BatchIdReused, "BATCH_ID_REUSED"),
    (ErrorCode::SnapshotUnchanged, "SNAPSHOT_UNCHANGED"),
    (ErrorCode::BoardTooLarge, "BOARD_TOO_LARGE"),
    (ErrorCode::SnapshotTooLarge, "SNAPSHOT_TOO_LARGE"),
];

pub const ALL_CAUSES: [(SnapshotCause, &str); 4] = [
    (SnapshotCause::AutoSave, "auto-save"),
    (SnapshotCause::OnDisconnect, "on-disconnect"),
    (SnapshotCause::Manual, "manual"),
    (SnapshotCause::Archive, "archive"),
];

pub const ALL_REASONS: [(FullSyncReason, &str); 4] = [
    (FullSyncReason::Initial, "initial"),
    (FullSyncReason::TooOld, "too_old"),
    (FullSyncReason::Ahead, "ahead"),
    (FullSyncReason::NoHistory, "no_history"),
];

pub fn participant(user: &str, name: &str, color: usize) -> ParticipantInfo {
    ParticipantInfo {
        user: user.into(),
        display_name: name.into(),
        color: Color::from_index(color),
    }
}

pub fn alice() -> ParticipantInfo {
    participant("alice", "Alice", 0)
}

pub fn bob() -> ParticipantInfo {
    participant("bob", "Bob", 1)
}

pub const ALICE_JSON: &str = r##"{"user_id":"alice","display_name":"Alice","color":"#FF6B6B"}"##;
pub const BOB_JSON: &str = r##"{"user_id":"bob","display_name":"Bob","color":"#4ECDC4"}"##;

/// An engine event (with the batch and time that stay on the server).
pub fn event(seq: u64, user: &str, mutation: Mutation) -> Event {
    Event {
        seq,
        author: user.into(),
        batch: format!("batch-{seq}").into(),
        at: AT,
        mutation,
    }
}

/// Two events: an upsert carrying [`DATA`] and a delete.
pub fn engine_events() -> Vec<Event> {
    vec![
        event(11, "alice", upsert("p1", "e1", DATA)),
        event(12, "bob", delete("p1", "e0")),
    ]
}

pub fn wire_events() -> Vec<WireEvent> {
    engine_events().iter().map(WireEvent::from).collect()
}

pub fn events_json() -> String {
    format!(
        r#"[{{"seq":11,"user":"alice","op":"upsert","page":"p1","element":"e1","data":{DATA}}},{{"seq":12,"user":"bob","op":"delete","page":"p1","element":"e0"}}]"#
    )
}

/// Two pages, three elements, each data a different kind of JSON value.
pub fn pages() -> Pages {
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

pub fn pages_json() -> String {
    format!(r#"{{"page-1":{{"e1":{DATA},"e2":"text"}},"page-2":{{"e3":[1, 2.5, true]}}}}"#)
}

pub const SESSION: UserSessionId = UserSessionId(0xDEAD_BEEF);
pub const SESSION_TEXT: &str = "00000000deadbeef";

pub fn joined_notice(sync: JoinSync) -> Notice {
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

pub fn joined_json(sync: &str) -> String {
    format!(
        r##"{{"type":"joined","session_id":"{SESSION_TEXT}","board":"board-1","color":"#4ECDC4","participants":[{ALICE_JSON},{BOB_JSON}],"sequence":12,"history_from":3,"sync":{sync}}}"##
    )
}

/// Every notice the engine can send, with its exact frame.
pub fn notices_and_frames() -> Vec<(Notice, String)> {
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
            Notice::Events(engine_events().into()),
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
        (
            Notice::Redirect {
                board: "board-1".into(),
                owner: BoardOwner {
                    node: "node-2".into(),
                    url: "wss://b.example/ws".into(),
                },
            },
            r#"{"type":"redirect","board":"board-1","node":"node-2","url":"wss://b.example/ws"}"#
                .to_owned(),
        ),
        (Notice::Pong, r#"{"type":"pong"}"#.to_owned()),
    ]);
    all
}

/// Encodes, checks the golden text, decodes the golden text back.
#[track_caller]
pub fn check_server(msg: &ServerMessage, golden: &str) {
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
pub fn check_client(msg: &ClientMessage, golden: &str) {
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
pub fn assert_golden_is_json(golden: &str) {
    let value: serde_json::Value = serde_json::from_str(golden).expect("golden is JSON");
    assert!(value.is_object());
    assert!(golden.starts_with(r#"{"type":""#), "{golden}");
}

pub fn decode_client(frame: &str) -> Result<ClientMessage, DecodeError> {
    ClientMessage::from_json(frame.as_bytes())
}

pub fn missing(kind: &'static str, field: &'static str) -> DecodeError {
    DecodeError::MissingField { kind, field }
}

pub fn notices_with_data(data: Payload) -> Vec<Notice> {
    let m = Mutation::Upsert {
        page: "p".into(),
        element: "e".into(),
        data,
    };
    vec![
        Notice::Events(vec![event(1, "u", delete("p", "x")), event(2, "u", m.clone())].into()),
        joined_notice(JoinSync::Delta {
            events: vec![event(2, "u", m.clone())].into(),
        }),
        joined_notice(JoinSync::Full {
            reason: FullSyncReason::Initial,
            pages: Pages::from_elements([("p".into(), "e".into(), m.data().unwrap().clone())]),
        }),
    ]
}
