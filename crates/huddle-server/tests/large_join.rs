//! A large board's `joined` in frames within the frame limit
//! (`docs/protocol.md`, "Large syncs in parts"), black box: a server with
//! a 64 KiB `--max-frame-bytes` and a board of about 2 MiB; clients that
//! take no frame over 64 KiB join it with a full sync and with a delta,
//! get every element and event, and see nothing between the parts; the
//! Rust client (`huddle_client::net`) with that limit syncs too. A limit
//! that cannot hold one element is refused at startup.

mod support;

use std::process::Command;

use huddle_wire::WireSync;
use support::{net_client_with_limit, poll, upsert, Opts, Server, TempDir, Ws};

const LIMIT: usize = 64 * 1024;
const ELEMENTS: usize = 512;
const PER_BATCH: usize = 8;

fn small_frames() -> Opts {
    Opts::default()
        .flag("--max-frame-bytes", &LIMIT.to_string())
        .flag("--max-payload-bytes", "16384")
        .flag("--max-participants", "16")
}

/// About 4 KiB of data for element `n`.
fn data(n: usize) -> String {
    format!(r#"{{"n":{n},"fill":"{}"}}"#, "z".repeat(4000 + n % 97))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_mebibyte_board_joins_in_frames_of_64_kib() {
    let server = Server::start_with(small_frames()).await;
    server.room("big", "persistent").await;
    let (mut writer, _) = server.joined("writer", "big").await;
    let mut sequence = 0;
    for b in 0..ELEMENTS / PER_BATCH {
        let mutations = (0..PER_BATCH)
            .map(|i| {
                let n = b * PER_BATCH + i;
                upsert(&format!("page-{}", n % 3), &format!("e{n}"), &data(n))
            })
            .collect();
        sequence = writer.mutate(&format!("w{b}"), mutations).await;
    }
    assert_eq!(sequence, ELEMENTS as u64);

    // A full sync, while the writer keeps writing: its events come after
    // the last part (the support's join panics on anything between).
    let token = server.token("reader", "big").await;
    let mut reader = Ws::connect_with_limit(&server.ws_url(&token), LIMIT).await;
    let late = tokio::spawn(async move {
        writer
            .mutate("late", vec![upsert("page-0", "late", "\"late\"")])
            .await;
        writer
    });
    let joined = reader.join("big", None).await;
    assert!(reader.largest_frame <= LIMIT, "{}", reader.largest_frame);
    assert!(
        joined.parts >= 30,
        "2 MiB in 64 KiB parts: {}",
        joined.parts
    );
    let WireSync::Full { pages, .. } = &joined.sync else {
        panic!("not a full sync")
    };
    let mut seen = 0;
    for (page, elements) in pages.iter() {
        for (element, payload) in elements.iter() {
            seen += 1;
            if let Some(n) = element.as_str().strip_prefix('e') {
                let n: usize = n.parse().unwrap();
                assert_eq!(page.as_str(), format!("page-{}", n % 3));
                assert_eq!(payload.as_bytes(), data(n).as_bytes());
            }
        }
    }
    let with_late = joined.sequence == ELEMENTS as u64 + 1;
    assert_eq!(seen, ELEMENTS + usize::from(with_late));
    let mut writer = late.await.unwrap();
    if !with_late {
        // Committed after the join: an `events` right after the parts.
        match reader.recv_type("events").await {
            huddle_wire::ServerMessage::Events { events } => {
                assert_eq!(events[0].seq, joined.sequence + 1)
            }
            other => panic!("{other:?}"),
        }
    }
    let total = ELEMENTS as u64 + 1;

    // A delta of every event (under the delta threshold), in parts too.
    let token = server.token("delta", "big").await;
    let mut delta = Ws::connect_with_limit(&server.ws_url(&token), LIMIT).await;
    let joined = delta.join("big", Some(0)).await;
    assert!(delta.largest_frame <= LIMIT, "{}", delta.largest_frame);
    let WireSync::Delta { events } = &joined.sync else {
        panic!("not a delta")
    };
    assert!(joined.parts >= 30, "{}", joined.parts);
    assert_eq!(events.len() as u64, total);
    assert!(events.iter().zip(1..).all(|(e, s)| e.seq == s));

    // The Rust client with the same frame limit.
    let client = net_client_with_limit(&server, "rust", "big", LIMIT).await;
    poll("the Rust client synced", || async {
        let seen = client.observe().await.expect("client running");
        (seen.state == huddle_client::ConnectionState::Connected
            && seen.replica.sequence() == Some(total))
        .then_some(seen)
    })
    .await;
    let seen = client.observe().await.unwrap();
    assert_eq!(seen.replica.pages().element_count(), ELEMENTS + 1);
    client.close().await;
    writer.assert_usable().await;
}

#[test]
fn a_frame_limit_that_cannot_hold_an_element_is_refused_at_startup() {
    let dir = TempDir::new("frame-limit");
    let output = Command::new(env!("CARGO_BIN_EXE_huddle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-key", "k"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--max-frame-bytes", "65536"])
        .output()
        .expect("run huddle serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--max-frame-bytes") && stderr.contains("too small"),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");
}
