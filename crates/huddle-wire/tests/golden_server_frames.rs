//! Golden frames from server to client (`docs/protocol.md`): the exact
//! JSON text of every server message — field names and order, `type` tags,
//! colours as palette hex, session ids as 16 hex digits, RFC 3339 times,
//! element `data` embedded verbatim. These strings are the public
//! contract: a change here is a protocol change.

mod common;

use common::*;
use huddle_core::*;
use huddle_wire::*;

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
            parts: 0,
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
fn golden_redirect() {
    let msg = ServerMessage::Redirect {
        board: "board-1".into(),
        owner: BoardOwner {
            node: "node-2".into(),
            url: "ws://10.0.0.2:8080/ws".into(),
        },
    };
    check_server(
        &msg,
        r#"{"type":"redirect","board":"board-1","node":"node-2","url":"ws://10.0.0.2:8080/ws"}"#,
    );
    // The one notice encoder writes the same bytes.
    let notice = Notice::Redirect {
        board: "board-1".into(),
        owner: BoardOwner {
            node: "node-2".into(),
            url: "ws://10.0.0.2:8080/ws".into(),
        },
    };
    assert_eq!(
        encode_notice(&notice).unwrap(),
        msg.to_json().unwrap().into_bytes()
    );
    assert_eq!(ServerMessage::from_notice(&notice), msg);
}

#[test]
fn redirect_close_code_is_a_deliberate_application_code() {
    assert_eq!(close::REDIRECT, 4003);
    assert!(close::is_deliberate(close::REDIRECT));
    let codes = [
        close::NORMAL,
        close::GOING_AWAY,
        close::SLOW_CONSUMER,
        close::MESSAGE_TOO_BIG,
        close::SERVICE_RESTART,
        close::AUTH_FAILED,
        close::SESSION_TIMEOUT,
    ];
    assert!(!codes.contains(&close::REDIRECT), "defined once");
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
        "redirect",
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
