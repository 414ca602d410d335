//! Routing in the client machine: a join answered with `redirect` is sent
//! at once to the owner's URL (same credentials, no backoff, not a failed
//! attempt), at most `max_redirects` times in a row; the owner's URL
//! serves one connection only, so an unrelated reconnect later goes back
//! to the configured URL.

use std::time::Duration;

use huddle_client::{
    Client, ClientConfig, ClientOutput, ClientSignal, ConnectFailure, ConnectionState, Credentials,
    DisconnectReason, TransportId,
};
use huddle_core::{BoardOwner, Color, FullSyncReason, Pages, Timestamp, UserSessionId};
use huddle_wire::{close, ClientMessage, JoinedMessage, ServerMessage, WireSync};

const BOARD: &str = "board-1";
const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const B_URL: &str = "ws://10.0.0.2:8080/ws";

fn client(max_redirects: u32) -> Client {
    let config = ClientConfig {
        ping_interval: None,
        max_redirects,
        ..ClientConfig::default()
    };
    Client::new(config, BOARD, 7)
}

fn drain(c: &mut Client) -> Vec<ClientOutput> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

fn redirect(node: &str, url: &str) -> ServerMessage {
    ServerMessage::Redirect {
        board: BOARD.into(),
        owner: BoardOwner {
            node: node.into(),
            url: url.into(),
        },
    }
}

fn joined(sequence: u64) -> ServerMessage {
    ServerMessage::Joined(Box::new(JoinedMessage {
        session_id: UserSessionId(1),
        board: BOARD.into(),
        color: Color::from_index(0),
        participants: vec![],
        sequence,
        history_from: 0,
        sync: WireSync::Full {
            reason: FullSyncReason::Initial,
            pages: Pages::new(),
        },
        parts: 0,
    }))
}

/// The one `Connect` in `out`: its transport and URL.
fn connect_of(out: &[ClientOutput]) -> (TransportId, Option<String>) {
    let connects: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            ClientOutput::Connect {
                transport,
                credentials,
                url,
            } => {
                assert_eq!(credentials, &Credentials::new("tok"), "the same token");
                Some((*transport, url.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(connects.len(), 1, "{out:?}");
    connects[0].clone()
}

/// Connects and opens the first transport (the join is sent).
fn joining(c: &mut Client) -> TransportId {
    c.connect(T0, Credentials::new("tok")).unwrap();
    let (t, url) = connect_of(&drain(c));
    assert_eq!(url, None, "the first connection goes to the configured URL");
    c.transport_open(T0, t);
    drain(c);
    t
}

#[test]
fn a_redirect_connects_to_the_owner_at_once() {
    let mut c = client(3);
    let t1 = joining(&mut c);
    let a = c
        .mutate(
            T0,
            vec![huddle_core::Mutation::Delete {
                page: "p".into(),
                element: "e".into(),
            }],
        )
        .unwrap();
    c.handle_message(T0, t1, redirect("node-b", B_URL));
    let out = drain(&mut c);
    assert_eq!(out[0], ClientOutput::Close { transport: t1 });
    assert_eq!(
        out[1],
        ClientOutput::Signal(ClientSignal::Redirected {
            node: "node-b".into(),
            url: B_URL.into(),
            hop: 1,
        })
    );
    let (t2, url) = connect_of(&out);
    assert_eq!(url.as_deref(), Some(B_URL));
    assert_eq!(out.len(), 3, "no NeedCredentials, no backoff: {out:?}");
    assert_eq!(
        c.state(),
        ConnectionState::Connecting,
        "not a failed attempt"
    );
    // The old socket's 4003 close is about a transport already left.
    c.transport_closed(T0, t1, Some(close::REDIRECT));
    assert!(drain(&mut c).is_empty());
    // Joined at the owner: the queued batch goes out with its id.
    c.transport_open(T0, t2);
    assert_eq!(
        drain(&mut c),
        vec![ClientOutput::Send {
            transport: t2,
            message: ClientMessage::Join {
                board: BOARD.into(),
                last_sequence: None
            }
        }]
    );
    c.handle_message(T0, t2, joined(0));
    let out = drain(&mut c);
    assert!(out.iter().any(|o| matches!(o,
        ClientOutput::Send { message: ClientMessage::Mutate { batch, .. }, .. } if *batch == a)));
    assert_eq!(c.state(), ConnectionState::Connected);
}

#[test]
fn after_joining_the_owner_a_later_drop_goes_to_the_configured_url() {
    let mut c = client(3);
    let t1 = joining(&mut c);
    c.handle_message(T0, t1, redirect("node-b", B_URL));
    let (t2, _) = connect_of(&drain(&mut c));
    c.transport_open(T0, t2);
    c.handle_message(T0, t2, joined(0));
    drain(&mut c);
    c.transport_closed(T0, t2, None);
    drain(&mut c);
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    assert_eq!(
        drain(&mut c),
        vec![ClientOutput::NeedCredentials { attempt: 1 }]
    );
    c.provide_credentials(t, Credentials::new("tok")).unwrap();
    assert_eq!(connect_of(&drain(&mut c)).1, None);
}

#[test]
fn a_failed_connection_to_the_owner_retries_through_the_configured_url() {
    let mut c = client(3);
    let t1 = joining(&mut c);
    c.handle_message(T0, t1, redirect("node-b", B_URL));
    let (t2, _) = connect_of(&drain(&mut c));
    c.transport_failed(T0, t2, ConnectFailure::Network("refused".into()));
    assert_eq!(
        drain(&mut c),
        vec![ClientOutput::Signal(ClientSignal::Reconnecting {
            attempt: 1
        })]
    );
    assert_eq!(
        c.poll_timeout(),
        Some(T0.saturating_add(Duration::from_secs(1))),
        "the usual backoff"
    );
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    drain(&mut c);
    c.provide_credentials(t, Credentials::new("tok")).unwrap();
    assert_eq!(connect_of(&drain(&mut c)).1, None);
}

#[test]
fn more_redirects_in_a_row_than_allowed_stop_with_a_typed_reason() {
    let mut c = client(2);
    let mut t = joining(&mut c);
    for (hop, node) in [(1, "node-b"), (2, "node-c")] {
        c.handle_message(T0, t, redirect(node, &format!("ws://{node}/ws")));
        let out = drain(&mut c);
        assert!(
            out.contains(&ClientOutput::Signal(ClientSignal::Redirected {
                node: node.into(),
                url: format!("ws://{node}/ws"),
                hop,
            }))
        );
        t = connect_of(&out).0;
        c.transport_open(T0, t);
        drain(&mut c);
    }
    c.handle_message(T0, t, redirect("node-b", "ws://node-b/ws"));
    assert_eq!(
        drain(&mut c),
        vec![
            ClientOutput::Close { transport: t },
            ClientOutput::Signal(ClientSignal::Disconnected {
                reason: DisconnectReason::TooManyRedirects { hops: 2 }
            })
        ]
    );
    assert_eq!(c.state(), ConnectionState::Disconnected);
    assert_eq!(c.poll_timeout(), None, "not retried");
    // `connect` starts over at the configured URL.
    c.connect(T0, Credentials::new("tok")).unwrap();
    assert_eq!(connect_of(&drain(&mut c)).1, None);
}

#[test]
fn zero_redirects_allowed_stops_at_the_first() {
    let mut c = client(0);
    let t = joining(&mut c);
    c.handle_message(T0, t, redirect("node-b", B_URL));
    assert_eq!(
        drain(&mut c).last(),
        Some(&ClientOutput::Signal(ClientSignal::Disconnected {
            reason: DisconnectReason::TooManyRedirects { hops: 0 }
        }))
    );
}

#[test]
fn a_redirect_close_without_a_redirect_frame_is_retried_like_a_drop() {
    let mut c = client(3);
    let t = joining(&mut c);
    c.transport_closed(T0, t, Some(close::REDIRECT));
    assert_eq!(
        drain(&mut c),
        vec![ClientOutput::Signal(ClientSignal::Reconnecting {
            attempt: 1
        })]
    );
}

#[test]
fn a_redirect_to_a_live_connection_is_ignored() {
    let mut c = client(3);
    let t = joining(&mut c);
    c.handle_message(T0, t, joined(0));
    drain(&mut c);
    c.handle_message(T0, t, redirect("node-b", B_URL));
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.state(), ConnectionState::Connected);
}

#[test]
fn the_default_follows_three_redirects() {
    assert_eq!(ClientConfig::default().max_redirects, 3);
}
