//! A `joined` larger than `max_frame_bytes` is queued as the `joined`
//! frame and its `joined_part`s, each within the limit, one after the
//! other: a batch committed right after the join follows the last part;
//! a join with more parts than the outbound queue takes makes the
//! connection a slow consumer.

mod common;

use common::*;
use huddle_store::InMemoryStore;
use huddle_tokio::{Driver, Outbound};
use huddle_wire::{JoinAssembly, ServerMessage, WireSync};

const LIMIT: usize = 2048;

fn small_frames(outbound_capacity: usize) -> huddle_tokio::DriverConfig {
    config(1)
        .max_frame_bytes(LIMIT)
        .outbound_capacity(outbound_capacity)
}

/// A board of 60 elements of about 200 bytes, written by `writer`.
async fn board(driver: &Driver<InMemoryStore>) -> Client {
    let mut writer = Client::join(driver, "writer", "b").await;
    for i in 0..60 {
        let data = format!(r#""{}""#, "d".repeat(200));
        writer.send(msg(&format!(
            r#"{{"type":"mutate","batch":"w{i}","mutations":[{{"op":"upsert","page":"p","element":"e{i}","data":{data}}}]}}"#
        )));
        writer.until(is_ack).await;
    }
    writer
}

#[tokio::test]
async fn a_joined_in_parts_is_queued_whole_before_later_events() {
    let driver = Driver::start(small_frames(1024), InMemoryStore::new());
    let writer = board(&driver).await;
    let mut reader = Client::connect(&driver, "reader", "b");
    reader.send(msg(r#"{"type":"join","board":"b"}"#));
    writer.send(mutate("late", "late", 1));
    let mut frames = Vec::new();
    let mut assembly: Option<JoinAssembly> = None;
    loop {
        let Some(Outbound::Text(bytes)) = reader.conn.outbound.recv().await else {
            panic!("closed")
        };
        assert!(bytes.len() <= LIMIT, "{}", bytes.len());
        frames.push(bytes.len());
        match ServerMessage::from_json(&bytes).unwrap() {
            ServerMessage::Joined(j) => assembly = Some(JoinAssembly::new(*j)),
            ServerMessage::JoinedPart(p) => {
                assembly.as_mut().expect("joined first").add(*p).unwrap()
            }
            other => panic!("{} amid the parts", other.kind()),
        }
        if assembly.as_ref().is_some_and(JoinAssembly::is_complete) {
            break;
        }
    }
    assert!(frames.len() > 6, "{frames:?}");
    let joined = assembly.unwrap().into_joined();
    let WireSync::Full { pages, .. } = &joined.sync else {
        panic!()
    };
    let count = pages.element_count();
    // The late batch is in the sync, or its events follow the last part.
    if joined.sequence == 60 {
        assert_eq!(count, 60);
        match reader.next().await {
            Frame::Msg(ServerMessage::Events { events }) => assert_eq!(events[0].seq, 61),
            other => panic!("{other:?}"),
        }
    } else {
        assert_eq!((joined.sequence, count), (61, 61));
    }
    driver.shutdown().await;
}

#[tokio::test]
async fn more_parts_than_the_queue_takes_is_a_slow_consumer() {
    let driver = Driver::start(small_frames(4), InMemoryStore::new());
    let _writer = board(&driver).await;
    let mut reader = Client::connect(&driver, "reader", "b");
    reader.send(msg(r#"{"type":"join","board":"b"}"#));
    let mut seen = Vec::new();
    loop {
        match reader.next().await {
            Frame::Close(code) => {
                assert_eq!(code, 1008);
                break;
            }
            Frame::Msg(m) => seen.push(m.kind()),
        }
    }
    assert_eq!(seen.last(), Some(&"error"), "{seen:?}");
    assert!(seen.contains(&"joined"), "{seen:?}");
    driver.shutdown().await;
}
