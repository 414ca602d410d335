//! Black-box tests of the per-board byte budgets (`docs/protocol.md`,
//! "Rules"; `docs/operations.md`, the size flags): the board cap's
//! `BOARD_TOO_LARGE` over the wire with nothing applied, the snapshot cap's
//! `SNAPSHOT_TOO_LARGE`, and the bytes held on `/stats`, `/rooms/{id}` and
//! `/metrics`.

mod support;

use huddle_wire::ClientMessage;
use support::{upsert, Opts, Server};

/// Upsert data of exactly `n` payload bytes (a JSON string, quotes
/// included).
fn data(n: usize) -> String {
    format!("\"{}\"", "x".repeat(n - 2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_cap_refuses_over_the_wire_and_the_bytes_are_reported() {
    let server = Server::start_with(
        Opts::default()
            .flag("--max-board-bytes", "100")
            .flag("--max-snapshot-bytes", "50"),
    )
    .await;
    server.room("r1", "ephemeral").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    let (mut bob, _) = server.joined("bob", "r1").await;

    // Filled to the edge: 60 + 40 bytes.
    assert_eq!(
        alice
            .mutate(
                "a1",
                vec![upsert("p", "e1", &data(60)), upsert("p", "e2", &data(40))]
            )
            .await,
        2
    );
    // One byte more is refused with its code, for that batch, and nothing
    // is applied; the connection stays usable.
    alice
        .send_batch(
            "a2",
            vec![upsert("p", "e3", &data(2)), upsert("p", "e2", &data(39))],
        )
        .await;
    let (code, batch) = alice.recv_error().await;
    assert_eq!(
        (code.as_str(), batch.as_deref()),
        ("BOARD_TOO_LARGE", Some("a2"))
    );
    assert_eq!(server.sequence("r1").await, 2);
    alice.assert_usable().await;
    // A write that does not grow the board still goes.
    assert_eq!(
        alice.mutate("a3", vec![upsert("p", "e1", &data(60))]).await,
        3
    );

    // Bob's manual snapshot: 100 bytes are over the snapshot cap of 50.
    bob.send(&ClientMessage::Snapshot).await;
    let (code, _) = bob.recv_error().await;
    assert_eq!(code, "SNAPSHOT_TOO_LARGE");

    let (status, stats) = server.get("/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["payload_bytes_held"], 100, "{stats}");
    assert_eq!(stats["history_bytes_held"], 160, "{stats}");
    assert_eq!(stats["reserved_bytes"], 0, "{stats}");
    // Not flushed yet (the auto-save is 30 s away, no threshold reached).
    assert_eq!(stats["pending_bytes"], 160, "{stats}");
    assert_eq!(stats["events_held"], 3, "{stats}");
    assert_eq!(
        stats["encoded_bytes_held"],
        stats["encoded_event_bytes_held"].as_u64().unwrap()
            + stats["encoded_element_bytes_held"].as_u64().unwrap()
    );

    let room = server.room_info("r1").await;
    assert_eq!(room["bytes"]["elements"], 100, "{room}");
    assert_eq!(room["bytes"]["history"], 160, "{room}");

    let (status, metrics) = server.get_text("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "huddle_bytes_held{kind=\"elements\"} 100",
        "huddle_bytes_held{kind=\"history\"} 160",
        "huddle_errors_sent_total{code=\"BOARD_TOO_LARGE\"} 1",
        "huddle_errors_sent_total{code=\"SNAPSHOT_TOO_LARGE\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in\n{metrics}"
        );
    }
}
