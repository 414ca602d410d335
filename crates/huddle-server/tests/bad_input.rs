//! Black-box tests of bad input (`docs/protocol.md`, "Rules"): bad tokens,
//! requests out of order, malformed frames, limits and replays. Each
//! checks the error code, that the connection stays usable where the spec
//! says so, and that nothing was applied (the sequence via `GET /rooms`).

mod support;

use std::time::Duration;

use huddle_wire::{ClientMessage, ServerMessage};
use serde_json::json;
use support::{upsert, Opts, Server, Ws};

/// The upgrade is refused with 401, or the socket is closed at once with
/// 4001 after an `UNAUTHORIZED` error.
async fn assert_unauthorized(url: &str) {
    match Ws::try_connect(url).await {
        Err(status) => assert_eq!(status, 401, "{url}"),
        Ok(mut ws) => {
            let (code, _) = ws.recv_error().await;
            assert_eq!(code, "UNAUTHORIZED", "{url}");
            assert_eq!(ws.closed().await, Some(4001), "{url}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_and_badly_signed_tokens_are_refused() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let good = server.token("alice", "r1").await;
    let base = format!("ws://{}/ws", server.addr);
    assert_unauthorized(&base).await;
    assert_unauthorized(&format!("{base}?token=")).await;
    assert_unauthorized(&format!("{base}?token=not-a-jwt")).await;
    // Flip one character in the middle of the signature.
    let mut bytes = good.clone().into_bytes();
    let at = good.rfind('.').unwrap() + 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_unauthorized(&server.ws_url(&tampered)).await;
    // Claims changed (other room) with the old signature.
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    assert_unauthorized(&server.ws_url(&forged)).await;
    // The room is untouched and the good token still works.
    assert_eq!(server.room_info("r1").await["state"], "created");
    let mut ws = Ws::connect(&server.ws_url(&good)).await;
    ws.join("r1", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refused() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (status, body) = server
        .post(
            "/users",
            json!({"user_id": "alice", "display_name": "A", "room_id": "r1", "ttl_seconds": 1}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    // JWT `exp` has a resolution of seconds: wait past it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_unauthorized(&server.ws_url(&token)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_for_another_room_is_refused_at_join() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    server.room("r2", "ephemeral").await;
    let mut ws = server.connect("alice", "r2").await;
    ws.send(&ClientMessage::Join {
        board: "r1".into(),
        last_sequence: None,
    })
    .await;
    let (code, _) = ws.recv_error().await;
    assert_eq!(code, "UNAUTHORIZED");
    let info = server.room_info("r1").await;
    assert_eq!(info["active_participants"], 0, "{info}");
    assert_eq!(info["state"], "created", "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_before_join_is_not_joined() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let mut ws = server.connect("alice", "r1").await;
    ws.send_batch("b1", vec![upsert("p", "e", "1")]).await;
    let (code, _) = ws.recv_error().await;
    assert_eq!(code, "NOT_JOINED");
    ws.assert_usable().await;
    assert_eq!(server.sequence("r1").await, 0);
    // Joining afterwards works and the batch id is still free.
    ws.join("r1", None).await;
    assert_eq!(ws.mutate("b1", vec![upsert("p", "e", "1")]).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_invalid_message_and_harmless() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    let (mut bob, _) = server.joined("bob", "r1").await;
    assert_eq!(ws.mutate("b0", vec![upsert("p", "e", "0")]).await, 1);
    let frames = [
        r#"{not json"#,
        r#"[1,2,3]"#,
        r#""mutate""#,
        r#"{"batch":"b1","mutations":[]}"#,
        r#"{"type":"dance"}"#,
        r#"{"type":"mutate","batch":"b1"}"#,
        r#"{"type":"mutate","mutations":[{"op":"upsert","page":"p","element":"e","data":1}]}"#,
        r#"{"type":"mutate","batch":"b1","mutations":[{"op":"upsert","page":"p","element":"e"}]}"#,
        r#"{"type":"mutate","batch":"b1","mutations":[{"op":"upsert","page":"p","data":1}]}"#,
        r#"{"type":"mutate","batch":"b1","mutations":[{"op":"move","page":"p","element":"e"}]}"#,
        r#"{"type":"mutate","batch":"b1","mutations":[]}"#,
        r#"{"type":"mutate","batch":"b1","mutations":{"op":"delete"}}"#,
        r#"{"type":"mutate","batch":7,"mutations":[{"op":"delete","page":"p","element":"e"}]}"#,
        r#"{"type":"cursor","x":1}"#,
        r#"{"type":"join"}"#,
    ];
    for frame in frames {
        ws.send_text(frame).await;
        let (code, _) = ws.recv_error().await;
        assert_eq!(code, "INVALID_MESSAGE", "for {frame}");
        ws.assert_usable().await;
    }
    assert_eq!(server.sequence("r1").await, 1);
    // Nothing reached the other participant (only its own pong traffic
    // and nothing sequenced).
    let seen = bob.drain(Duration::from_millis(300)).await;
    let events: Vec<_> = seen.iter().filter(|m| m.kind() == "events").collect();
    assert_eq!(events.len(), 1, "only b0's events: {seen:?}");
    // b1 was never applied, so it is a new batch now.
    assert_eq!(ws.mutate("b1", vec![upsert("p", "e", "1")]).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frame_is_payload_too_large_and_the_connection_stays() {
    // A frame limit must hold one element and the participants list
    // (checked at startup): smaller payloads and fewer participants.
    let opts = Opts::default()
        .flag("--max-frame-bytes", "65536")
        .flag("--max-payload-bytes", "16384")
        .flag("--max-participants", "16");
    let server = Server::start_with(opts).await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    // About 3 times the limit (the spec keeps the connection up to 4x).
    let big = format!("\"{}\"", "x".repeat(200_000));
    ws.send_batch("big", vec![upsert("p", "e", &big)]).await;
    let (code, _) = ws.recv_error().await;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");
    ws.assert_usable().await;
    assert_eq!(server.sequence("r1").await, 0);
    assert_eq!(ws.mutate("small", vec![upsert("p", "e", "1")]).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_over_max_batch_is_payload_too_large() {
    let server = Server::start_with(Opts::default().flag("--max-batch", "5")).await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    let six: Vec<_> = (0..6).map(|i| upsert("p", &format!("e{i}"), "1")).collect();
    ws.send_batch("six", six).await;
    let (code, batch) = ws.recv_error().await;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");
    assert!(matches!(batch.as_deref(), None | Some("six")), "{batch:?}");
    ws.assert_usable().await;
    assert_eq!(server.sequence("r1").await, 0);
    let five: Vec<_> = (0..5).map(|i| upsert("p", &format!("e{i}"), "1")).collect();
    assert_eq!(ws.mutate("five", five).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_batch_gets_the_original_ack_and_is_applied_once() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    let (mut bob, _) = server.joined("bob", "r1").await;
    let batch = vec![upsert("p", "e1", "1"), upsert("p", "e2", "2")];
    assert_eq!(alice.mutate("b1", batch.clone()).await, 2);
    assert_eq!(alice.mutate("b2", vec![upsert("p", "e3", "3")]).await, 3);
    // The same batch again: the original ack. The same id with other
    // content: refused (issue 17), nothing applied.
    assert_eq!(alice.mutate("b1", batch.clone()).await, 2);
    alice.send_batch("b1", vec![upsert("p", "zz", "9")]).await;
    let (code, refused) = alice.recv_error().await;
    assert_eq!(code, "BATCH_ID_REUSED");
    assert_eq!(refused.as_deref(), Some("b1"));
    assert_eq!(server.sequence("r1").await, 3);
    // From a new connection of the same user too.
    alice.close().await;
    let mut again = server.connect("alice", "r1").await;
    again.join("r1", Some(3)).await;
    assert_eq!(again.mutate("b1", batch).await, 2);
    assert_eq!(server.sequence("r1").await, 3);
    // Bob saw each event once.
    let seen = bob.drain(Duration::from_millis(500)).await;
    let seqs: Vec<u64> = seen
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Events { events } => Some(events.iter().map(|e| e.seq)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_beyond_four_times_the_limit_is_refused_or_closed_1009() {
    let opts = Opts::default()
        .flag("--max-frame-bytes", "16384")
        .flag("--max-payload-bytes", "8192")
        .flag("--max-participants", "8");
    let server = Server::start_with(opts).await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    let huge = format!("\"{}\"", "x".repeat(5 * 16384));
    ws.send_batch("huge", vec![upsert("p", "e", &huge)]).await;
    match ws.next_answer().await {
        Some((_, Err(code))) => {
            assert_eq!(code, "PAYLOAD_TOO_LARGE");
        }
        Some((batch, Ok(seq))) => panic!("applied {batch} at {seq}"),
        None => {
            // An error without a batch id, or the 1009 close.
            let rest = ws.drain(std::time::Duration::from_millis(500)).await;
            let refused = rest.iter().any(|m| {
                matches!(m, ServerMessage::Error { code, .. } if code.as_str() == "PAYLOAD_TOO_LARGE")
            });
            assert!(refused || ws.is_closed(), "{rest:?}");
            if ws.is_closed() && !refused {
                assert_eq!(ws.closed().await, Some(1009));
            }
        }
    }
    assert_eq!(server.sequence("r1").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_over_max_payload_bytes_is_payload_too_large() {
    let server = Server::start_with(Opts::default().flag("--max-payload-bytes", "1000")).await;
    server.room("r1", "ephemeral").await;
    let (mut ws, _) = server.joined("alice", "r1").await;
    let big = format!("\"{}\"", "y".repeat(1200));
    ws.send_batch("big", vec![upsert("p", "ok", "1"), upsert("p", "e", &big)])
        .await;
    let (code, _) = ws.recv_error().await;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");
    ws.assert_usable().await;
    // The batch is refused whole.
    assert_eq!(server.sequence("r1").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_beyond_max_participants_is_room_full() {
    let server = Server::start_with(Opts::default().flag("--max-participants", "2")).await;
    server.room("r1", "ephemeral").await;
    let (_a, _) = server.joined("alice", "r1").await;
    let (_b, _) = server.joined("bob", "r1").await;
    let mut carol = server.connect("carol", "r1").await;
    carol
        .send(&ClientMessage::Join {
            board: "r1".into(),
            last_sequence: None,
        })
        .await;
    let (code, _) = carol.recv_error().await;
    assert_eq!(code, "ROOM_FULL");
    assert_eq!(server.room_info("r1").await["active_participants"], 2);
    // A second tab of a present user is admitted.
    let (_a2, joined) = server.joined("alice", "r1").await;
    assert_eq!(joined.participants.len(), 2);
}
