//! Decoding server frames, as a client does: the errors for missing or
//! invalid fields of each server message, and what is accepted leniently
//! (colours in any case, an optional error message, times with offsets,
//! full-sync pages with their raw data).

mod common;

use common::*;
use huddle_core::*;
use huddle_wire::*;

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
        (
            r#"{"type":"redirect","node":"n","url":"u"}"#.into(),
            missing("redirect", "board"),
        ),
        (
            r#"{"type":"redirect","board":"b","url":"u"}"#.into(),
            missing("redirect", "node"),
        ),
        (
            r#"{"type":"redirect","board":"b","node":"n"}"#.into(),
            missing("redirect", "url"),
        ),
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
