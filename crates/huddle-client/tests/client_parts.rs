//! The client machine and a `joined` in parts (`docs/protocol.md`, "Large
//! syncs in parts"): nothing is reported or applied before the last part;
//! then the assembled sync replaces the replica (full) or extends it
//! (delta) at once; each part restarts the attempt's timeout; a part that
//! does not continue the sync is a `ProtocolError` and the client drops
//! the connection and reconnects, its replica untouched.

use std::time::Duration;

use huddle_client::{
    Client, ClientConfig, ClientOutput, ClientSignal, ConnectionState, Credentials,
    DisconnectReason, TransportId,
};
use huddle_core::Timestamp;
use huddle_wire::{ClientMessage, PartError, ServerMessage};

const BOARD: &str = "board-1";
const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const SESSION: &str = "00000000000000a1";

fn at(ms: u64) -> Timestamp {
    T0.saturating_add(Duration::from_millis(ms))
}

fn frame(text: &str) -> ServerMessage {
    ServerMessage::from_json(text.as_bytes()).unwrap()
}

fn joined_full(sequence: u64, parts: u32, pages: &str) -> ServerMessage {
    frame(&format!(
        r##"{{"type":"joined","session_id":"{SESSION}","board":"{BOARD}","color":"#FF6B6B","participants":[{{"user_id":"u","display_name":"U","color":"#FF6B6B"}}],"sequence":{sequence},"history_from":0,"sync":{{"kind":"full","reason":"initial","parts":{parts},"pages":{pages}}}}}"##
    ))
}

fn joined_delta(sequence: u64, parts: u32, events: &str) -> ServerMessage {
    frame(&format!(
        r##"{{"type":"joined","session_id":"{SESSION}","board":"{BOARD}","color":"#FF6B6B","participants":[],"sequence":{sequence},"history_from":0,"sync":{{"kind":"delta","parts":{parts},"events":{events}}}}}"##
    ))
}

fn part(index: u32, last: bool, content: &str) -> ServerMessage {
    frame(&format!(
        r#"{{"type":"joined_part","session_id":"{SESSION}","board":"{BOARD}","part":{index},{content},"last":{last}}}"#
    ))
}

fn event(seq: u64, element: &str) -> String {
    format!(
        r#"{{"seq":{seq},"user":"u","op":"upsert","page":"p","element":"{element}","data":{seq}}}"#
    )
}

fn drain(client: &mut Client) -> Vec<ClientOutput> {
    std::iter::from_fn(|| client.poll_output()).collect()
}

fn signals(outputs: &[ClientOutput]) -> Vec<ClientSignal> {
    outputs
        .iter()
        .filter_map(|o| match o {
            ClientOutput::Signal(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// A client that has sent its join on transport 1 (with a replica at
/// `replica` if given, by an earlier full sync on a transport before).
fn joining() -> (Client, TransportId) {
    let mut client = Client::new(ClientConfig::default(), BOARD, 7);
    client.connect(T0, Credentials::new("t")).unwrap();
    let out = drain(&mut client);
    let Some(ClientOutput::Connect { transport, .. }) = out.first() else {
        panic!("{out:?}")
    };
    client.transport_open(T0, *transport);
    let out = drain(&mut client);
    assert!(matches!(
        out.as_slice(),
        [ClientOutput::Send {
            message: ClientMessage::Join { .. },
            ..
        }]
    ));
    (client, *transport)
}

fn elements(client: &Client) -> Vec<(String, String, String)> {
    client
        .replica()
        .pages()
        .iter()
        .flat_map(|(p, els)| {
            els.iter().map(move |(e, d)| {
                (
                    p.as_str().to_owned(),
                    e.as_str().to_owned(),
                    String::from_utf8(d.as_bytes().to_vec()).unwrap(),
                )
            })
        })
        .collect()
}

#[test]
fn a_full_sync_in_parts_counts_once_the_last_part_arrived() {
    let (mut client, t) = joining();
    client.handle_message(at(10), t, joined_full(3, 2, r#"{"p":{"a":1}}"#));
    assert!(
        drain(&mut client).is_empty(),
        "nothing before the last part"
    );
    assert_eq!(client.state(), ConnectionState::Connecting);
    assert_eq!(client.replica().sequence(), None);
    // Each part restarts the attempt's timeout (10 s by default).
    assert_eq!(client.poll_timeout(), Some(at(10_010)));
    client.handle_message(
        at(9_000),
        t,
        part(1, false, r#""pages":{"p":{"b":2},"q":{"c":3}}"#),
    );
    assert!(drain(&mut client).is_empty());
    assert_eq!(client.poll_timeout(), Some(at(19_000)));
    client.handle_timeout(at(15_000));
    assert!(drain(&mut client).is_empty(), "not timed out: a part came");
    client.handle_message(at(16_000), t, part(2, true, r#""pages":{"q":{"d":4}}"#));
    let out = signals(&drain(&mut client));
    assert_eq!(
        out,
        vec![
            ClientSignal::Synced {
                sequence: 3,
                full: Some(huddle_core::FullSyncReason::Initial)
            },
            ClientSignal::Connected
        ]
    );
    assert_eq!(client.state(), ConnectionState::Connected);
    assert_eq!(client.replica().sequence(), Some(3));
    assert_eq!(client.replica().participants().len(), 1);
    let want: Vec<_> = [
        ("p", "a", "1"),
        ("p", "b", "2"),
        ("q", "c", "3"),
        ("q", "d", "4"),
    ]
    .iter()
    .map(|(p, e, d)| (p.to_string(), e.to_string(), d.to_string()))
    .collect();
    assert_eq!(elements(&client), want);
}

#[test]
fn a_delta_in_parts_extends_the_replica() {
    let (mut client, t) = joining();
    client.handle_message(at(1), t, joined_full(1, 0, r#"{"p":{"x":0}}"#));
    drain(&mut client);
    // The connection drops; the reconnect asks for a delta from 1.
    client.transport_closed(at(2), t, None);
    drain(&mut client);
    client.handle_timeout(at(2_000));
    let out = drain(&mut client);
    assert!(
        matches!(out.as_slice(), [ClientOutput::NeedCredentials { .. }]),
        "{out:?}"
    );
    client
        .provide_credentials(at(2_000), Credentials::new("t"))
        .unwrap();
    let out = drain(&mut client);
    let Some(ClientOutput::Connect { transport: t2, .. }) = out.first() else {
        panic!("{out:?}")
    };
    let t2 = *t2;
    client.transport_open(at(2_001), t2);
    let out = drain(&mut client);
    assert!(matches!(
        out.as_slice(),
        [ClientOutput::Send {
            message: ClientMessage::Join {
                last_sequence: Some(1),
                ..
            },
            ..
        }]
    ));
    let first = format!("[{},{}]", event(2, "a"), event(3, "b"));
    client.handle_message(at(2_002), t2, joined_delta(5, 1, &first));
    assert!(drain(&mut client).is_empty());
    assert_eq!(
        client.replica().sequence(),
        Some(1),
        "untouched until the end"
    );
    let rest = format!(r#""events":[{},{}]"#, event(4, "c"), event(5, "d"));
    client.handle_message(at(2_003), t2, part(1, true, &rest));
    let out = signals(&drain(&mut client));
    assert_eq!(
        out,
        vec![
            ClientSignal::Synced {
                sequence: 5,
                full: None
            },
            ClientSignal::Reconnected
        ]
    );
    assert_eq!(client.replica().sequence(), Some(5));
    assert_eq!(elements(&client).len(), 5);
}

/// Feeds `joined` (announcing two parts) and then `bad`: a protocol error,
/// the transport is closed and a reconnect scheduled, nothing applied.
fn refused(bad: ServerMessage, error: PartError) {
    let (mut client, t) = joining();
    client.handle_message(at(1), t, joined_full(9, 2, r#"{"p":{"a":1}}"#));
    assert!(drain(&mut client).is_empty());
    client.handle_message(at(2), t, bad);
    let out = drain(&mut client);
    assert_eq!(
        out.first(),
        Some(&ClientOutput::Signal(ClientSignal::ProtocolError { error })),
        "{out:?}"
    );
    assert!(
        out.contains(&ClientOutput::Close { transport: t }),
        "{out:?}"
    );
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
    assert_eq!(client.replica().sequence(), None);
    assert!(client.replica().pages().iter().next().is_none());
}

#[test]
fn parts_that_do_not_continue_the_sync_reconnect() {
    refused(
        part(2, false, r#""pages":{}"#),
        PartError::OutOfOrder {
            expected: 1,
            got: 2,
        },
    );
    refused(
        part(1, true, r#""pages":{}"#),
        PartError::WrongLast {
            part: 1,
            last: true,
            parts: 2,
        },
    );
    refused(
        part(1, false, r#""events":[]"#),
        PartError::WrongContent {
            expected: "pages",
            got: "events",
        },
    );
    let other = frame(&format!(
        r#"{{"type":"joined_part","session_id":"b2","board":"{BOARD}","part":1,"pages":{{}},"last":false}}"#
    ));
    let (session, got_session) = match (joined_full(0, 0, "{}"), &other) {
        (ServerMessage::Joined(j), ServerMessage::JoinedPart(p)) => (j.session_id, p.session_id),
        _ => unreachable!(),
    };
    refused(
        other,
        PartError::OtherSession {
            session,
            board: BOARD.into(),
            got_session,
            got_board: BOARD.into(),
        },
    );
    refused(joined_full(9, 0, "{}"), PartError::Unexpected);
}

#[test]
fn a_part_without_a_joined_reconnects() {
    // While joining: no `joined` yet.
    let (mut client, t) = joining();
    client.handle_message(at(1), t, part(1, true, r#""pages":{}"#));
    let out = drain(&mut client);
    assert_eq!(
        out.first(),
        Some(&ClientOutput::Signal(ClientSignal::ProtocolError {
            error: PartError::Unexpected
        }))
    );
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
    // Once live: a part after the sync is complete.
    let (mut client, t) = joining();
    client.handle_message(at(1), t, joined_full(1, 0, r#"{"p":{"a":1}}"#));
    drain(&mut client);
    client.handle_message(at(2), t, part(1, true, r#""pages":{}"#));
    let out = signals(&drain(&mut client));
    assert_eq!(
        &out[..2],
        &[
            ClientSignal::ProtocolError {
                error: PartError::Unexpected
            },
            ClientSignal::Disconnected {
                reason: DisconnectReason::Unexpected
            }
        ]
    );
    assert_eq!(client.replica().sequence(), Some(1), "the replica is kept");
}

#[test]
fn a_drop_mid_sync_forgets_the_parts() {
    let (mut client, t) = joining();
    client.handle_message(at(1), t, joined_full(9, 2, r#"{"p":{"a":1}}"#));
    client.handle_message(at(2), t, part(1, false, r#""pages":{"p":{"b":2}}"#));
    client.transport_closed(at(3), t, None);
    drain(&mut client);
    assert_eq!(client.replica().sequence(), None);
    // The last part of the old connection is ignored (another transport).
    client.handle_message(at(4), t, part(2, true, r#""pages":{}"#));
    assert!(drain(&mut client).is_empty());
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
}
