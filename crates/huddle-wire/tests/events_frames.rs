//! `events` frames of several consecutive batches: spliced from each
//! batch's kept encoding, byte for byte the serializer's frame of the same
//! events, their size known before they are written, and kept within a
//! limit except for a batch alone.

mod common;

use common::batches::*;
use huddle_core::*;
use huddle_wire::*;

/// Bob's `events` of three batches of 1, 3 and 2 events.
fn batches() -> Vec<CommittedEvents> {
    three_batches()
        .1
        .into_iter()
        .map(|n| match n {
            Notice::Events(e) => e,
            other => panic!("{other:?}"),
        })
        .collect()
}

/// The serializer's `events` frame of all the batches' events.
fn serialized(batches: &[CommittedEvents]) -> Vec<u8> {
    let all: Vec<Event> = batches.iter().flat_map(|b| b.iter().cloned()).collect();
    serde_json::to_vec(&notice_frame(&Notice::Events(all.into()))).unwrap()
}

fn frame_of(batches: &[CommittedEvents], limit: usize) -> (EventsFrame, Vec<CommittedEvents>) {
    let mut frame = EventsFrame::new(batches[0].clone()).unwrap();
    let mut refused = Vec::new();
    for b in &batches[1..] {
        if let Err(back) = frame.push_within(b.clone(), limit) {
            refused.push(back);
        }
    }
    (frame, refused)
}

#[test]
fn a_frame_of_several_batches_is_the_serializers_frame_of_their_events() {
    let batches = batches();
    assert!(batches.iter().all(|b| b.encoded().get().is_none()));
    let (frame, refused) = frame_of(&batches, usize::MAX);
    assert!(refused.is_empty());
    assert_eq!(frame.batches().len(), 3);
    // Sizing made every batch's kept encoding.
    assert!(batches.iter().all(|b| b.encoded().get().is_some()));
    let bytes = frame.encode().unwrap();
    assert_eq!(bytes, serialized(&batches));
    assert_eq!(frame.frame_bytes(), bytes.len());
    let ServerMessage::Events { events } = ServerMessage::from_json(&bytes).unwrap() else {
        panic!()
    };
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    // One batch: what encode_notice writes for its broadcast.
    let one = EventsFrame::new(batches[1].clone()).unwrap();
    let notice = Notice::Events(batches[1].clone());
    assert_eq!(one.encode().unwrap(), encode_notice(&notice).unwrap());
    assert_eq!(one.frame_bytes(), one.encode().unwrap().len());
}

#[test]
fn a_batch_that_would_pass_the_limit_is_given_back() {
    let batches = batches();
    let (all, _) = frame_of(&batches, usize::MAX);
    let (two, _) = frame_of(&batches[..2], usize::MAX);
    // Exactly the size of the first two: the third does not fit.
    let (frame, refused) = frame_of(&batches, two.frame_bytes());
    assert_eq!(frame.batches().len(), 2);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0], batches[2]);
    assert_eq!(frame.frame_bytes(), two.frame_bytes());
    // One byte less than all three: the third is refused again.
    let (frame, refused) = frame_of(&batches, all.frame_bytes() - 1);
    assert_eq!((frame.batches().len(), refused.len()), (2, 1));
    // A batch alone goes whole, whatever the limit.
    let (alone, refused) = frame_of(&batches, 1);
    assert_eq!((alone.batches().len(), refused.len()), (1, 2));
    assert!(alone.frame_bytes() > 1);
    assert_eq!(alone.encode().unwrap(), serialized(&batches[..1]));
}

#[test]
fn a_batch_whose_place_holds_other_bytes_is_written_not_spliced() {
    let batches = batches();
    let wrong = EncodedChunk::new(b"x".to_vec(), vec![1]).unwrap();
    batches[1].encoded().get_or_make(|| Some(wrong));
    let (frame, _) = frame_of(&batches, usize::MAX);
    let bytes = frame.encode().unwrap();
    assert_eq!(bytes, serialized(&batches));
    assert_eq!(frame.frame_bytes(), bytes.len());
}

#[test]
fn empty_batches_add_no_separator() {
    let batches = batches();
    let empty = CommittedEvents::from(Vec::new());
    let mixed = [
        empty.clone(),
        batches[0].clone(),
        empty.clone(),
        batches[2].clone(),
        empty,
    ];
    let (frame, refused) = frame_of(&mixed, usize::MAX);
    assert!(refused.is_empty());
    let bytes = frame.encode().unwrap();
    assert_eq!(bytes, serialized(&mixed));
    assert_eq!(frame.frame_bytes(), bytes.len());
}

#[test]
fn a_batch_that_cannot_be_encoded_is_refused() {
    let bad = CommittedEvents::from(vec![Event {
        seq: 7,
        author: "u".into(),
        batch: "b".into(),
        at: Timestamp::EPOCH,
        mutation: Mutation::Upsert {
            page: "p".into(),
            element: "e".into(),
            data: Payload::from(vec![0xff]),
        },
    }]);
    assert!(EventsFrame::new(bad.clone()).is_err());
    let mut frame = EventsFrame::new(batches()[0].clone()).unwrap();
    let before = frame.frame_bytes();
    assert_eq!(frame.push_within(bad.clone(), usize::MAX), Err(bad));
    assert_eq!(frame.frame_bytes(), before);
    assert_eq!(frame.batches().len(), 1);
}
