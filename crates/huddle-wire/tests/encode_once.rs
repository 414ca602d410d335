//! Encode once: a batch's events are encoded into the place the engine
//! shares between the broadcast and the history, and later deltas splice
//! them. The frames must be byte for byte what the serializer writes,
//! whether the places are empty, filled by the broadcast or by an earlier
//! delta, and whatever the first missed event.

mod common;

use common::batches::*;
use huddle_core::*;
use huddle_testkit::Harness;
use huddle_wire::*;

/// The serializer's frame, the reference.
fn serialized(notice: &Notice) -> Vec<u8> {
    serde_json::to_vec(&notice_frame(notice)).unwrap()
}

fn delta_after(h: &mut Harness, conn: u64, last: u64) -> Notice {
    h.join(
        ConnId(conn),
        JoinRequest::new("b", "carol", "Carol").last_sequence(last),
    )
    .unwrap();
    let mut notices = h.take(ConnId(conn));
    let joined = notices.remove(0);
    let Notice::Joined(j) = &joined else {
        panic!("{joined:?}")
    };
    assert!(matches!(j.sync, JoinSync::Delta { .. }), "{joined:?}");
    joined
}

#[test]
fn broadcasts_fill_the_places_and_deltas_splice_them() {
    let (mut h, events) = three_batches();
    for n in &events {
        let Notice::Events(e) = n else {
            panic!("{n:?}")
        };
        assert!(e.encoded().get().is_none());
        assert_eq!(encode_notice(n).unwrap(), serialized(n));
        assert!(e.encoded().get().is_some(), "the broadcast fills its place");
        // Encoding again gives the same bytes, from the place.
        assert_eq!(encode_notice(n).unwrap(), serialized(n));
    }
    let held = h.engine.stats().encoded_bytes_held;
    assert!(held > 0);
    for last in 0..=6 {
        let joined = delta_after(&mut h, 10 + last, last);
        assert_eq!(
            encode_notice(&joined).unwrap(),
            serialized(&joined),
            "after {last}"
        );
    }
    assert_eq!(
        h.engine.stats().encoded_bytes_held,
        held,
        "nothing encoded twice"
    );
}

#[test]
fn a_delta_fills_the_places_no_broadcast_filled() {
    let (mut h, _) = three_batches();
    assert_eq!(h.engine.stats().encoded_bytes_held, 0);
    // From inside the second batch: its place is filled with all of it.
    let joined = delta_after(&mut h, 10, 2);
    assert_eq!(encode_notice(&joined).unwrap(), serialized(&joined));
    let held = h.engine.stats().encoded_bytes_held;
    assert!(held > 0);
    for last in 0..=6 {
        let joined = delta_after(&mut h, 20 + last, last);
        assert_eq!(
            encode_notice(&joined).unwrap(),
            serialized(&joined),
            "after {last}"
        );
    }
}

#[test]
fn a_place_filled_for_other_events_is_not_spliced() {
    let (_, events) = three_batches();
    let Notice::Events(e) = &events[1] else {
        panic!()
    };
    let wrong = EncodedChunk::new(b"x".to_vec(), vec![1]).unwrap();
    e.encoded().get_or_make(|| Some(wrong));
    assert_eq!(encode_notice(&events[1]).unwrap(), serialized(&events[1]));
}

#[test]
fn bad_data_is_refused_and_leaves_the_place_empty() {
    let bad = Event {
        seq: 1,
        author: "u".into(),
        batch: "b".into(),
        at: Timestamp::EPOCH,
        mutation: Mutation::Upsert {
            page: "p".into(),
            element: "e".into(),
            data: Payload::from(vec![0xff]),
        },
    };
    let events = CommittedEvents::from(vec![bad]);
    let notice = Notice::Events(events.clone());
    assert!(encode_notice(&notice).is_err());
    assert!(events.encoded().get().is_none());
}

fn full_sync(h: &mut Harness, conn: u64) -> Notice {
    h.join(ConnId(conn), JoinRequest::new("b", "dave", "Dave"))
        .unwrap();
    let mut notices = h.take(ConnId(conn));
    let joined = notices.remove(0);
    let Notice::Joined(j) = &joined else {
        panic!("{joined:?}")
    };
    assert!(matches!(j.sync, JoinSync::Full { .. }), "{joined:?}");
    joined
}

#[test]
fn full_syncs_copy_the_runs_no_write_changed() {
    let mut h = Harness::new(Config::default());
    h.join(ALICE, JoinRequest::new("b", "alice", "Alice"))
        .unwrap();
    // 150 elements on one page (three runs of up to 64), 3 on another.
    let many: Vec<Mutation> = (0..150)
        .map(|n| upsert(&format!("el-{n}"), &format!("{{\"n\":{n}}}")))
        .collect();
    h.mutate(ALICE, "b1", many).unwrap();
    let other = Mutation::Upsert {
        page: "other".into(),
        // Needs escaping (ids carry no control characters).
        element: "x\"\\".into(),
        data: "\"é\"".into(),
    };
    h.mutate(ALICE, "b2", vec![other]).unwrap();
    assert_eq!(h.engine.stats().encoded_bytes_held, 0);

    let mut conn = 100;
    let mut check = |h: &mut Harness, what: &str| {
        conn += 1;
        let joined = full_sync(h, conn);
        assert_eq!(
            encode_notice(&joined).unwrap(),
            serialized(&joined),
            "{what}"
        );
        // Again, now from the kept runs.
        assert_eq!(
            encode_notice(&joined).unwrap(),
            serialized(&joined),
            "{what}"
        );
        h.leave(ConnId(conn)).unwrap();
        h.engine.stats().encoded_bytes_held
    };
    let held = check(&mut h, "first full sync");
    assert!(held > 150 * 10, "{held}");
    // An update in the second run, a delete in the first (the last
    // element moves into its place: the third run changes too), an insert.
    h.mutate(ALICE, "b3", vec![upsert("el-70", "[70]")])
        .unwrap();
    assert!(
        h.engine.stats().encoded_bytes_held < held,
        "the run was emptied"
    );
    check(&mut h, "after an update");
    h.mutate(
        ALICE,
        "b4",
        vec![Mutation::Delete {
            page: "p\"q".into(),
            element: "el-3".into(),
        }],
    )
    .unwrap();
    check(&mut h, "after a delete");
    h.mutate(ALICE, "b5", vec![upsert("el-new", "1")]).unwrap();
    check(&mut h, "after an insert");
}
