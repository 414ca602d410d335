//! Fewer frames per mutation: the batches of a board that one store
//! report makes durable reach each other participant in one `events`
//! frame (never with its own batch, never past the frame limit, in order
//! with its acks), and a connection whose queue cannot take a tick's
//! frames is still a slow consumer.
//!
//! The appends are held at the store (a delay on `append_events`, paused
//! clock): the first batch's group commit is in flight while the next
//! batches are applied, so that those go to the store in one call and come
//! back in one report.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use huddle_store::{Faulty, InMemoryStore, Op, Target};
use huddle_tokio::{close, Driver, DriverConfig, Outbound};
use huddle_wire::{ClientMessage, ServerMessage};

type Store = Arc<Faulty<InMemoryStore>>;

const HOLD: Duration = Duration::from_secs(1);

/// A driver on one shard whose appends each take [`HOLD`] at the store.
fn held_driver(config: DriverConfig) -> (Driver<Store>, Store) {
    let store = Arc::new(Faulty::new(InMemoryStore::new()));
    store
        .faults()
        .target(Target::Only(Op::AppendEvents))
        .set_delay(Some(HOLD));
    (Driver::start(config, store.clone()), store)
}

/// Lets the shard and the store run until nothing is left to do for
/// `millis` of virtual time.
async fn settle(millis: u64) {
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

fn upsert(batch: &str, data: &str) -> ClientMessage {
    msg(&format!(
        r#"{{"type":"mutate","batch":"{batch}","mutations":[{{"op":"upsert","page":"p","element":"{batch}","data":{data}}}]}}"#
    ))
}

/// What a frame says, briefly: `ack <batch> <sequence>`, `events <seqs>`,
/// `left <user>`, `close <code>`.
fn describe(f: &Frame) -> String {
    match f {
        Frame::Msg(ServerMessage::Ack { batch, sequence }) => {
            format!("ack {} {sequence}", batch.as_str())
        }
        Frame::Msg(ServerMessage::Events { events }) => {
            let seqs: Vec<String> = events.iter().map(|e| e.seq.to_string()).collect();
            format!("events {}", seqs.join(","))
        }
        Frame::Msg(ServerMessage::ParticipantLeft(p)) => format!("left {}", p.user.as_str()),
        Frame::Msg(ServerMessage::Error { code, .. }) => format!("error {}", code.as_str()),
        Frame::Close(code) => format!("close {code}"),
        other => format!("{other:?}"),
    }
}

fn described(frames: &[Frame]) -> Vec<String> {
    frames.iter().map(describe).collect()
}

/// Three participants of board `b`, every presence frame read.
async fn three(driver: &Driver<Store>) -> (Client, Client, Client) {
    let mut alice = Client::join(driver, "alice", "b").await;
    let mut bob = Client::join(driver, "bob", "b").await;
    let mut carol = Client::join(driver, "carol", "b").await;
    settle(10).await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.queued();
    }
    (alice, bob, carol)
}

/// `m0` goes to the store alone; `rest` is applied while it is held.
async fn after_a_held_append<'a>(
    first: &Client,
    rest: impl IntoIterator<Item = (&'a Client, ClientMessage)>,
) {
    first.send(upsert("m0", "0"));
    settle(100).await;
    for (c, m) in rest {
        c.send(m);
    }
}

#[tokio::test(start_paused = true)]
async fn batches_stored_together_reach_each_other_participant_in_one_frame() {
    let (driver, _store) = held_driver(config(1));
    let (mut alice, mut bob, mut carol) = three(&driver).await;
    let rest = [
        (&alice, upsert("m1", "1")),
        (&bob, upsert("m2", "2")),
        (&alice, upsert("m3", "3")),
        (&bob, upsert("m4", "4")),
    ];
    after_a_held_append(&alice, rest).await;
    // m0's report: one batch.
    assert_eq!(describe(&alice.next().await), "ack m0 1");
    assert_eq!(describe(&bob.next().await), "events 1");
    assert_eq!(describe(&carol.next().await), "events 1");
    let before = driver.metrics().frames_sent();
    // m1..m4's report: carol, who sent none of them, gets one frame;
    // alice and bob get each other's batches around their own acks.
    settle(2 * HOLD.as_millis() as u64).await;
    assert_eq!(
        described(&alice.queued()),
        ["ack m1 2", "events 3", "ack m3 4", "events 5"]
    );
    assert_eq!(
        described(&bob.queued()),
        ["events 2", "ack m2 3", "events 4", "ack m4 5"]
    );
    assert_eq!(described(&carol.queued()), ["events 2,3,4,5"]);
    // 9 frames instead of 12 (one per batch per recipient and the acks).
    assert_eq!(driver.metrics().frames_sent() - before, 9);
    assert_eq!(driver.metrics().batches_acked(), 5);
    driver.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_merged_frame_stays_within_the_frame_limit() {
    const LIMIT: usize = 2048;
    let (driver, _store) = held_driver(config(1).max_frame_bytes(LIMIT));
    let (alice, _bob, mut carol) = three(&driver).await;
    let data = |n: usize| format!(r#""{}""#, "d".repeat(n));
    // About 680 bytes each: two fit in a frame, three do not; m5 alone
    // is over the limit; m6 does not fit after it.
    let rest = [
        (&alice, upsert("m1", &data(600))),
        (&alice, upsert("m2", &data(600))),
        (&alice, upsert("m3", &data(600))),
        (&alice, upsert("m4", &data(600))),
        (&alice, upsert("m5", &data(3000))),
        (&alice, upsert("m6", "6")),
    ];
    after_a_held_append(&alice, rest).await;
    settle(3 * HOLD.as_millis() as u64).await;
    let mut texts = Vec::new();
    while let Ok(frame) = carol.conn.outbound.try_recv() {
        let Outbound::Text(text) = frame else {
            panic!("{frame:?}")
        };
        texts.push(text);
    }
    let frames: Vec<Frame> = texts
        .iter()
        .map(|t| decode(Outbound::Text(t.clone())))
        .collect();
    assert_eq!(
        described(&frames),
        [
            "events 1",
            "events 2,3",
            "events 4,5",
            "events 6",
            "events 7"
        ]
    );
    for (text, frame) in texts.iter().zip(&frames) {
        if describe(frame) == "events 6" {
            assert!(text.len() > LIMIT, "the batch alone goes whole");
        } else {
            assert!(
                text.len() <= LIMIT,
                "{} bytes: {}",
                text.len(),
                describe(frame)
            );
        }
    }
    driver.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_queue_that_cannot_take_a_ticks_frames_is_a_slow_consumer() {
    let (driver, _store) = held_driver(config(1).outbound_capacity(4));
    let (mut alice, mut bob, mut carol) = three(&driver).await;
    let rest = [
        (&bob, upsert("m1", "1")),
        (&alice, upsert("m2", "2")),
        (&bob, upsert("m3", "3")),
        (&alice, upsert("m4", "4")),
        (&bob, upsert("m5", "5")),
        (&alice, upsert("m6", "6")),
    ];
    after_a_held_append(&alice, rest).await;
    assert_eq!(describe(&alice.next().await), "ack m0 1");
    assert_eq!(describe(&bob.next().await), "events 1");
    assert_eq!(describe(&carol.next().await), "events 1");
    settle(2 * HOLD.as_millis() as u64).await;
    // Bob's and then Alice's fifth frame of the tick finds no room: the
    // four staged before it, the error and the close.
    let slow = format!("close {}", close::SLOW_CONSUMER);
    assert_eq!(
        described(&bob.queued()),
        [
            "ack m1 2",
            "events 3",
            "ack m3 4",
            "events 5",
            "error SLOW_CONSUMER",
            &slow
        ]
    );
    assert_eq!(
        described(&alice.queued()),
        [
            "events 2",
            "ack m2 3",
            "events 4",
            "ack m4 5",
            "error SLOW_CONSUMER",
            &slow
        ]
    );
    // Carol's one frame holds every batch; she is told both left (then
    // gets the snapshot their leaving took).
    let carol_frames = described(&carol.queued());
    assert_eq!(
        carol_frames[..3],
        ["events 2,3,4,5,6,7", "left bob", "left alice"]
    );
    assert!(
        carol_frames[3..].iter().all(|f| f.contains("Snapshot")),
        "{carol_frames:?}"
    );
    assert_eq!(driver.metrics().slow_consumers(), 2);
    assert_eq!(driver.metrics().errors_sent("SLOW_CONSUMER"), 2);
    // Every batch was stored, acknowledged or not.
    let info = driver.session(&"b".into()).await.unwrap();
    assert_eq!((info.sequence, info.durable_sequence), (7, 7));
    driver.shutdown().await;
}
