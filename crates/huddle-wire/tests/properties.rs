//! Property tests over generated messages and notices: round trips,
//! `encode_notice` against `from_notice`, decoding arbitrary bytes or JSON
//! without panicking, any finite coordinate and any element data kept
//! exactly.

mod common;

use common::*;
use huddle_core::*;
use huddle_wire::*;
use proptest::prelude::*;

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
        prop::collection::vec(engine_event(), 0..5).prop_map(|e| Notice::Events(e.into())),
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
        (id(), id(), id()).prop_map(|(b, node, url)| Notice::Redirect {
            board: b.into(),
            owner: BoardOwner { node, url },
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
        "redirect", "error", "pong",
    ])) {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), t.into());
        for key in ["board", "last_sequence", "batch", "mutations", "x", "y", "sync", "events",
                    "participants", "session_id", "color", "created_at", "code", "node", "url"] {
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
