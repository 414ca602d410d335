//! Black-box tests of the WebSocket protocol (`docs/protocol.md`,
//! "WebSocket"): join and sync, acks and broadcasts, presence, snapshots,
//! keep-alive, leave, and the session lifecycle with short timings.

mod support;

use std::time::Duration;

use huddle_wire::{ClientMessage, ServerMessage};
use support::{delta_events, full_data, full_reason, upsert, Opts, Server};

fn kinds(msgs: &[ServerMessage]) -> Vec<&'static str> {
    msgs.iter().map(ServerMessage::kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_gives_full_sync_then_delta_on_reconnect() {
    let server = Server::start().await;
    server.room("r1", "persistent").await;
    let (mut alice, joined) = server.joined("alice", "r1").await;
    assert_eq!(full_reason(&joined).as_deref(), Some("initial"));
    assert_eq!(joined.sequence, 0);
    assert_eq!(joined.board.as_str(), "r1");
    assert_eq!(joined.color.hex(), "#FF6B6B");
    assert_eq!(joined.participants.len(), 1);

    assert_eq!(alice.mutate("a1", vec![upsert("p", "e1", "1")]).await, 1);
    assert_eq!(
        alice
            .mutate(
                "a2",
                vec![upsert("p", "e2", "2"), upsert("q", "e3", r#""three""#)]
            )
            .await,
        3
    );

    // A new client gets the whole board.
    let (bob, joined) = server.joined("bob", "r1").await;
    assert_eq!(full_reason(&joined).as_deref(), Some("initial"));
    assert_eq!(joined.sequence, 3);
    assert_eq!(joined.color.hex(), "#4ECDC4");
    assert_eq!(joined.participants.len(), 2);
    assert_eq!(full_data(&joined, "p", "e1").as_deref(), Some("1"));
    assert_eq!(full_data(&joined, "q", "e3").as_deref(), Some(r#""three""#));
    bob.close().await;

    assert_eq!(
        alice
            .mutate(
                "a3",
                vec![support::delete("p", "e1"), upsert("p", "e4", "4")]
            )
            .await,
        5
    );

    // Reconnect with last_sequence 3: the two missed events.
    let mut bob = server.connect("bob", "r1").await;
    let joined = bob.join("r1", Some(3)).await;
    assert_eq!(joined.sequence, 5);
    assert!(
        joined.history_from <= 3,
        "history_from {}",
        joined.history_from
    );
    assert_eq!(
        delta_events(&joined),
        vec![
            (4, "alice".into(), "e1".into()),
            (5, "alice".into(), "e4".into())
        ]
    );
    bob.close().await;

    // Up to date: an empty delta.
    let mut bob = server.connect("bob", "r1").await;
    let joined = bob.join("r1", Some(5)).await;
    assert_eq!(delta_events(&joined), vec![]);
    bob.close().await;

    // From 0: every event.
    let mut bob = server.connect("bob", "r1").await;
    let joined = bob.join("r1", Some(0)).await;
    assert_eq!(delta_events(&joined).len(), 5);
    bob.close().await;

    // Ahead of the server: a full sync saying so.
    let mut bob = server.connect("bob", "r1").await;
    let joined = bob.join("r1", Some(99)).await;
    assert_eq!(full_reason(&joined).as_deref(), Some("ahead"));
    assert_eq!(full_data(&joined, "p", "e1"), None);
    assert_eq!(full_data(&joined, "p", "e4").as_deref(), Some("4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_missed_events_give_a_full_sync_too_old() {
    let server = Server::start_with(Opts::default().flag("--delta-threshold", "5")).await;
    server.room("r1", "ephemeral").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    for i in 0..6 {
        alice
            .mutate(&format!("a{i}"), vec![upsert("p", &format!("e{i}"), "0")])
            .await;
    }
    // 4 missed (< 5): delta; 5 missed: full, too_old.
    let mut bob = server.connect("bob", "r1").await;
    let joined = bob.join("r1", Some(2)).await;
    assert_eq!(delta_events(&joined).len(), 4);
    bob.close().await;
    let mut bob = server.connect("bob", "r1").await;
    let joined = bob.join("r1", Some(1)).await;
    assert_eq!(full_reason(&joined).as_deref(), Some("too_old"));
    assert_eq!(joined.sequence, 6);
    assert_eq!(full_data(&joined, "p", "e5").as_deref(), Some("0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_goes_to_the_sender_and_events_to_the_others() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    let (mut bob, _) = server.joined("bob", "r1").await;
    let (mut carol, _) = server.joined("carol", "r1").await;

    let seq = alice
        .mutate(
            "b1",
            vec![
                upsert("p", "e1", r#"{"a":[1,2.5,"x"]}"#),
                support::delete("p", "e0"),
            ],
        )
        .await;
    assert_eq!(seq, 2);
    for other in [&mut bob, &mut carol] {
        let ServerMessage::Events { events } = other.recv_type("events").await else {
            unreachable!()
        };
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].seq, events[1].seq), (1, 2));
        assert_eq!(events[0].user.as_str(), "alice");
        assert_eq!(
            events[0].mutation.data().map(|d| d.as_bytes().to_vec()),
            Some(br#"{"a":[1,2.5,"x"]}"#.to_vec()),
            "data must pass through verbatim"
        );
        assert_eq!(events[1].mutation, support::delete("p", "e0"));
    }
    // The sender gets no `events` for its own batch, and no one gets an ack
    // for someone else's.
    let rest = alice.drain(Duration::from_millis(500)).await;
    assert!(!kinds(&rest).contains(&"events"), "{rest:?}");
    let rest = bob.drain(Duration::from_millis(200)).await;
    assert!(!kinds(&rest).contains(&"ack"), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_joined_and_left_go_to_the_others_only() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    let (mut bob, joined) = server.joined("bob", "r1").await;
    let users: Vec<_> = joined
        .participants
        .iter()
        .map(|p| p.user.as_str())
        .collect();
    assert_eq!(users, ["alice", "bob"]);

    let ServerMessage::ParticipantJoined(p) = alice.recv_type("participant_joined").await else {
        unreachable!()
    };
    assert_eq!(p.user.as_str(), "bob");
    assert_eq!(&*p.display_name, "User bob");
    assert_eq!(p.color.hex(), "#4ECDC4");
    let early = bob.drain(Duration::from_millis(300)).await;
    assert!(!kinds(&early).contains(&"participant_joined"), "{early:?}");

    bob.send(&ClientMessage::Leave).await;
    let ServerMessage::ParticipantLeft(p) = alice.recv_type("participant_left").await else {
        unreachable!()
    };
    assert_eq!(p.user.as_str(), "bob");
    let info = server.room_info("r1").await;
    assert_eq!(info["active_participants"], 1, "{info}");

    // A dropped connection is a leave too.
    let (carol, _) = server.joined("carol", "r1").await;
    let _ = alice.recv_type("participant_joined").await;
    drop(carol);
    let ServerMessage::ParticipantLeft(p) = alice.recv_type("participant_left").await else {
        unreachable!()
    };
    assert_eq!(p.user.as_str(), "carol");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_is_broadcast_to_the_others() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    let (mut bob, _) = server.joined("bob", "r1").await;
    alice
        .send(&ClientMessage::Cursor { x: 10.5, y: -3.0 })
        .await;
    let ServerMessage::Cursor { user, x, y } = bob.recv_type("cursor").await else {
        unreachable!()
    };
    assert_eq!((user.as_str(), x, y), ("alice", 10.5, -3.0));
    // Throttled, but the last position always arrives.
    for i in 0..20 {
        alice
            .send(&ClientMessage::Cursor {
                x: i as f64,
                y: 0.0,
            })
            .await;
    }
    loop {
        match bob.recv_type("cursor").await {
            ServerMessage::Cursor { x: 19.0, .. } => break,
            _ => continue,
        }
    }
    let own = alice.drain(Duration::from_millis(300)).await;
    assert!(!kinds(&own).contains(&"cursor"), "{own:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_snapshot_is_announced_to_every_participant() {
    let server = Server::start().await;
    server.room("r1", "persistent").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    let (mut bob, _) = server.joined("bob", "r1").await;
    alice.mutate("b1", vec![upsert("p", "e", "true")]).await;
    alice.send(&ClientMessage::Snapshot).await;
    let mut ids = Vec::new();
    for ws in [&mut alice, &mut bob] {
        let info = loop {
            let ServerMessage::Snapshot(info) = ws.recv_type("snapshot").await else {
                unreachable!()
            };
            if info.created_by.as_str() == "manual" {
                break info;
            }
        };
        assert_eq!(info.version, 1);
        ids.push(info.id);
    }
    assert_eq!(ids[0], ids[1]);
    let (status, snap) = server
        .get(&format!("/rooms/r1/snapshots/{}", ids[0].as_str()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(snap["pages"], serde_json::json!({"p": {"e": true}}));
}

/// Issue 17: manual snapshots are limited, and a batch id re-used with
/// other content is refused, each with a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_snapshot_limits_and_reused_batch_ids_get_typed_errors() {
    // No auto-save within the test (the default 30 s).
    let server = Server::start_with(Opts::new()).await;
    server.room("r1", "persistent").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    alice.send(&ClientMessage::Snapshot).await;
    assert_eq!(
        alice.recv_error().await,
        ("SNAPSHOT_UNCHANGED".into(), None)
    );

    alice.mutate("b1", vec![upsert("p", "e", "1")]).await;
    alice.send(&ClientMessage::Snapshot).await;
    alice.recv_type("snapshot").await;
    alice.mutate("b2", vec![upsert("p", "e", "2")]).await;
    // Within --manual-snapshot-interval (10 s) of the first.
    alice.send(&ClientMessage::Snapshot).await;
    assert_eq!(alice.recv_error().await, ("RATE_LIMITED".into(), None));

    alice.send_batch("b1", vec![upsert("p", "e", "3")]).await;
    assert_eq!(
        alice.recv_error().await,
        ("BATCH_ID_REUSED".into(), Some("b1".into()))
    );
    // The same content is the same batch: its original ack.
    assert_eq!(alice.mutate("b1", vec![upsert("p", "e", "1")]).await, 1);
    let info = server.room_info("r1").await;
    assert_eq!(info["sequence"], 2, "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_before_and_after_join() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let mut ws = server.connect("alice", "r1").await;
    ws.send(&ClientMessage::Ping).await;
    assert_eq!(ws.recv().await, ServerMessage::Pong);
    ws.join("r1", None).await;
    ws.send(&ClientMessage::Ping).await;
    assert_eq!(ws.recv_type("pong").await, ServerMessage::Pong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_join_is_invalid_and_changes_nothing() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    ws.send(&ClientMessage::Join {
        board: "r1".into(),
        last_sequence: None,
    })
    .await;
    let (code, _) = ws.recv_error().await;
    assert_eq!(code, "INVALID_MESSAGE");
    // Still joined, once.
    assert_eq!(ws.mutate("b1", vec![upsert("p", "e", "1")]).await, 1);
    let info = server.room_info("r1").await;
    assert_eq!(info["active_participants"], 1, "{info}");
    let rest = ws.drain(Duration::from_millis(300)).await;
    assert!(!kinds(&rest).contains(&"joined"), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_ephemeral_room_is_archived_and_continues_its_sequence() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    ws.mutate(
        "b1",
        vec![upsert("p", "e", r#"{"k":1}"#), upsert("p", "f", "2")],
    )
    .await;
    ws.send(&ClientMessage::Leave).await;
    let info = server.wait_state("r1", "archived").await;
    assert_eq!(info["sequence"], 2);
    assert_eq!(info["participants"], serde_json::json!([]));

    // A later join opens a new session from storage.
    let (mut ws, joined) = server.joined("bob", "r1").await;
    assert_eq!(joined.sequence, 2);
    assert_eq!(full_data(&joined, "p", "e").as_deref(), Some(r#"{"k":1}"#));
    assert_eq!(ws.mutate("b2", vec![upsert("p", "g", "3")]).await, 3);
    assert_eq!(server.room_info("r1").await["state"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_persistent_room_gets_an_archive_snapshot() {
    let server = Server::start().await;
    server.room("r1", "persistent").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    ws.mutate("b1", vec![upsert("p", "e", "[]")]).await;
    ws.close().await;
    server.wait_state("r1", "archived").await;
    let (status, list) = server.get("/rooms/r1/snapshots").await;
    assert_eq!(status, 200);
    let newest = &list[0];
    assert_eq!(newest["created_by"], "archive", "{list}");
    assert_eq!(newest["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactivity_timeout_sends_session_timeout_then_closes_4002() {
    let server = Server::start_with(Opts::default().flag("--inactivity-timeout", "2s")).await;
    server.room("r1", "ephemeral").await;
    let (mut idle, _) = server.joined("idle", "r1").await;
    let (mut busy, _) = server.joined("busy", "r1").await;
    let started = std::time::Instant::now();
    // `busy` keeps moving its cursor (activity); `idle` only pings (not
    // activity).
    let mut timed_out = None;
    while started.elapsed() < Duration::from_secs(12) {
        busy.send(&ClientMessage::Cursor { x: 1.0, y: 2.0 }).await;
        idle.send(&ClientMessage::Ping).await;
        let got = idle.drain(Duration::from_millis(400)).await;
        if let Some(m) = got.iter().find(|m| m.kind() == "session_timeout") {
            timed_out = Some((m.clone(), started.elapsed()));
            break;
        }
    }
    let (msg, after) = timed_out.expect("no session_timeout within 12 s");
    assert_eq!(msg, ServerMessage::SessionTimeout { board: "r1".into() });
    assert!(
        after >= Duration::from_millis(1500),
        "timed out too early: {after:?}"
    );
    assert_eq!(idle.closed().await, Some(4002));
    // The active one is still there and was told that `idle` left.
    let ServerMessage::ParticipantLeft(p) = busy.recv_type("participant_left").await else {
        unreachable!()
    };
    assert_eq!(p.user.as_str(), "idle");
    busy.assert_usable().await;
    assert_eq!(busy.mutate("b1", vec![upsert("p", "e", "1")]).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_no_longer_held_give_a_full_sync_no_history() {
    let server = Server::start_with(Opts::default().flag("--history-len", "3")).await;
    server.room("r1", "ephemeral").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    for i in 0..6 {
        alice
            .mutate(&format!("a{i}"), vec![upsert("p", &format!("e{i}"), "0")])
            .await;
    }
    // 5 missed, under the delta threshold, but only 3 events are held.
    let mut bob = server.connect("bob", "r1").await;
    let joined = bob.join("r1", Some(1)).await;
    assert_eq!(full_reason(&joined).as_deref(), Some("no_history"));
    assert_eq!(joined.sequence, 6);
    assert!(
        joined.history_from > 1,
        "history_from {}",
        joined.history_from
    );
    assert_eq!(full_data(&joined, "p", "e0").as_deref(), Some("0"));
    bob.close().await;
    // From `history_from` on, a delta.
    let from = joined.history_from;
    let mut bob = server.connect("bob", "r1").await;
    let joined = bob.join("r1", Some(from)).await;
    assert_eq!(delta_events(&joined).len() as u64, 6 - from);
}
