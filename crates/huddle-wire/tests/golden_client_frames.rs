//! Golden frames from client to server (`docs/protocol.md`): the exact
//! JSON text of `join`, `mutate` (deletes without `data`), `cursor`,
//! `snapshot`, `leave` and `ping`, and how each decodes.

mod common;

use common::*;
use huddle_testkit::*;
use huddle_wire::*;

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
