//! `dispatch` against a real engine (the testkit harness): how decoded
//! client messages become engine calls, the immediate `error` replies
//! (unauthorized, not joined, invalid message, payload too large), and
//! that a refused message changes nothing.

mod common;

use common::*;
use huddle_core::*;
use huddle_testkit::*;
use huddle_wire::*;

const BOARD: &str = "board-1";
const ALICE: ConnId = ConnId(1);
const BOB: ConnId = ConnId(2);

fn identity(user: &str, board: Option<&str>) -> Identity {
    let mut identity = Identity::new(user, user.to_uppercase());
    identity.board = board.map(BoardId::from);
    identity
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

    // The same batch id with other mutations is refused, with the batch.
    let other = r#"{"type":"mutate","batch":"b-1","mutations":[{"op":"delete","page":"p1","element":"e1"}]}"#;
    let reply = send(&mut h, ALICE, &alice_id, other);
    let json = reply.as_ref().unwrap().to_json().unwrap();
    assert!(
        json.starts_with(r#"{"type":"error","code":"BATCH_ID_REUSED","message":"#)
            && json.ends_with(r#","batch":"b-1"}"#),
        "{json}"
    );
    h.complete_all();
    assert!(h.take(ALICE).is_empty());
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
