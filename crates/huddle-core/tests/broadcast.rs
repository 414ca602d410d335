//! The shape of broadcasts: a notice that several connections get leaves
//! the engine as ONE `Output::Broadcast` carrying its recipients (join
//! order, the sender left out where the notice is about its own input),
//! never as one output per recipient; per-connection answers (`joined`,
//! `ack`, errors) stay `Output::Notify`. Each recipient's inbox holds its
//! notices in the order they were produced.

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const B: &str = "board";
const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);
const C3: ConnId = ConnId(3);
const C4: ConnId = ConnId(4);

fn req(user: &str) -> JoinRequest {
    JoinRequest::new(B, user, user)
}

/// Three participants on `B`, effects held; inboxes and broadcasts cleared.
fn three() -> Harness {
    let mut h = Harness::new(Config::default());
    h.mode = StoreMode::Hold;
    for (conn, user) in [(C1, "alice"), (C2, "bob"), (C3, "carol")] {
        h.join(conn, req(user)).unwrap();
        while matches!(h.held.front(), Some(Effect::LoadBoard { .. })) {
            h.complete_next();
        }
    }
    h.inbox.clear();
    h.broadcasts.clear();
    h
}

fn conns(r: &Recipients) -> Vec<ConnId> {
    r.to_vec()
}

#[test]
fn events_are_one_broadcast_to_everyone_but_the_author() {
    let mut h = three();
    let start = h.transcript.len();
    h.mutate(C1, "b1", vec![upsert("p", "e", "1")]).unwrap();
    h.complete_all();

    assert_eq!(h.broadcasts.len(), 1, "{:?}", h.broadcasts);
    let (to, notice) = h.broadcasts[0].clone();
    assert_eq!(conns(&to), [C2, C3]);
    let Notice::Events(events) = &notice else {
        panic!("not events: {notice:?}")
    };
    assert_eq!(events.len(), 1);
    // The author's ack is its own output, before the broadcast.
    let lines: Vec<_> = h.transcript[start..]
        .iter()
        .filter(|l| l.contains("Notify {") || l.contains("Broadcast {"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].contains("Notify { conn: ConnId(1), notice: Ack"));
    assert!(lines[1].contains("Broadcast { conns: [ConnId(2), ConnId(3)], notice: Events"));
    // Delivered to each recipient's inbox, once.
    assert_eq!(
        h.take(C1),
        [Notice::Ack {
            batch: "b1".into(),
            sequence: 1
        }]
    );
    assert_eq!(h.take(C2), std::slice::from_ref(&notice));
    assert_eq!(h.take(C3), [notice]);
}

#[test]
fn with_ack_on_apply_events_are_one_broadcast_too() {
    let config = Config::new().durability(Durability::AckOnApply);
    let mut h = Harness::new(config);
    for (conn, user) in [(C1, "alice"), (C2, "bob"), (C3, "carol")] {
        h.join(conn, req(user)).unwrap();
    }
    h.broadcasts.clear();
    h.mutate(C2, "b1", vec![upsert("p", "e", "1")]).unwrap();
    assert_eq!(h.broadcasts.len(), 1, "{:?}", h.broadcasts);
    assert_eq!(conns(&h.broadcasts[0].0), [C1, C3]);
    assert!(matches!(h.broadcasts[0].1, Notice::Events(_)));
}

#[test]
fn a_connection_that_resent_the_batch_in_flight_gets_the_ack_not_the_events() {
    let mut h = three();
    // A second connection of alice's re-sends the batch while it is in
    // flight: it waits for the same ack.
    h.join(C4, req("alice")).unwrap();
    h.inbox.clear();
    h.broadcasts.clear();
    h.mutate(C1, "b1", vec![upsert("p", "e", "1")]).unwrap();
    let dup = h.mutate(C4, "b1", vec![upsert("p", "e", "1")]).unwrap();
    assert!(dup.duplicate);
    h.complete_all();

    assert_eq!(h.broadcasts.len(), 1, "{:?}", h.broadcasts);
    assert_eq!(conns(&h.broadcasts[0].0), [C2, C3]);
    let ack = Notice::Ack {
        batch: "b1".into(),
        sequence: 1,
    };
    assert_eq!(h.take(C1), std::slice::from_ref(&ack));
    assert_eq!(h.take(C4), [ack]);
}

#[test]
fn a_sole_participant_makes_no_broadcast() {
    let mut h = Harness::new(Config::default());
    h.join(C1, req("alice")).unwrap();
    h.mutate(C1, "b1", vec![upsert("p", "e", "1")]).unwrap();
    h.cursor(C1, 1.0, 2.0).unwrap();
    assert!(h.broadcasts.is_empty(), "{:?}", h.broadcasts);
    assert!(!h.transcript.iter().any(|l| l.contains("Broadcast {")));
}

#[test]
fn participants_joining_and_leaving_are_one_broadcast_each() {
    let mut h = three();
    h.join(C4, req("dave")).unwrap();
    assert_eq!(h.broadcasts.len(), 1);
    let (to, notice) = h.broadcasts.remove(0);
    assert_eq!(conns(&to), [C1, C2, C3], "the joiner is not told of itself");
    assert!(matches!(notice, Notice::ParticipantJoined(ref p) if p.user.as_str() == "dave"));
    // The joiner's `joined` is its own.
    assert!(matches!(h.take(C4)[..], [Notice::Joined(_)]));

    h.leave(C2).unwrap();
    let left: Vec<_> = h
        .broadcasts
        .iter()
        .filter(|(_, n)| matches!(n, Notice::ParticipantLeft(_)))
        .collect();
    assert_eq!(left.len(), 1, "{:?}", h.broadcasts);
    assert_eq!(conns(&left[0].0), [C1, C3, C4]);
}

#[test]
fn a_second_connection_of_a_present_user_is_not_announced() {
    let mut h = three();
    h.join(C4, req("bob")).unwrap();
    assert!(h.broadcasts.is_empty(), "{:?}", h.broadcasts);
}

#[test]
fn cursors_are_one_broadcast_without_the_mover() {
    let mut h = three();
    h.cursor(C2, 3.0, 4.0).unwrap();
    assert_eq!(h.broadcasts.len(), 1);
    assert_eq!(conns(&h.broadcasts[0].0), [C1, C3]);
    assert_eq!(
        h.broadcasts[0].1,
        Notice::Cursor {
            user: "bob".into(),
            x: 3.0,
            y: 4.0
        }
    );
    // A throttled cursor, sent later by its timer, is one broadcast too.
    h.cursor(C2, 5.0, 6.0).unwrap();
    assert_eq!(h.broadcasts.len(), 1, "throttled");
    h.advance(Duration::from_millis(100));
    assert_eq!(h.broadcasts.len(), 2);
    assert_eq!(conns(&h.broadcasts[1].0), [C1, C3]);
}

#[test]
fn a_stored_snapshot_is_one_broadcast_to_everyone() {
    let mut h = three();
    // A manual snapshot needs a change since the newest one.
    h.mutate(C2, "b1", vec![upsert("p", "e", "1")]).unwrap();
    h.complete_all();
    h.broadcasts.clear();
    h.snapshot(C1).unwrap();
    h.complete_all();
    let snaps: Vec<_> = h
        .broadcasts
        .iter()
        .filter(|(_, n)| matches!(n, Notice::Snapshot(_)))
        .collect();
    assert_eq!(snaps.len(), 1, "{:?}", h.broadcasts);
    assert_eq!(conns(&snaps[0].0), [C1, C2, C3], "the requester too");
}

#[test]
fn closing_the_session_is_one_broadcast_to_everyone() {
    let mut h = three();
    let start = h.transcript.len();
    h.engine.close_session(h.now, B).unwrap();
    h.drain();
    h.complete_all();
    assert_eq!(h.broadcasts.len(), 1, "{:?}", h.broadcasts);
    assert_eq!(conns(&h.broadcasts[0].0), [C1, C2, C3]);
    assert_eq!(
        h.broadcasts[0].1,
        Notice::SessionClosed {
            board: B.into(),
            reason: CloseReason::Closed
        }
    );
    // Nothing else is sent to anyone: no `participant_left` while closing.
    let sent = h.transcript[start..]
        .iter()
        .filter(|l| l.contains("Notify {") || l.contains("Broadcast {"))
        .count();
    assert_eq!(sent, 1);
    for c in [C1, C2, C3] {
        assert_eq!(
            h.take(c),
            [Notice::SessionClosed {
                board: B.into(),
                reason: CloseReason::Closed
            }]
        );
    }
}

/// Every recipient sees its notices in the order they were produced, as
/// when each got its own output: a mixed run of acks, events, a cursor, a
/// join, a leave and a snapshot, connection by connection.
#[test]
fn each_inbox_holds_its_notices_in_order() {
    let mut h = three();
    h.mutate(C1, "b1", vec![upsert("p", "e", "1")]).unwrap();
    h.cursor(C2, 1.0, 1.0).unwrap();
    h.mutate(C3, "b2", vec![upsert("p", "f", "2")]).unwrap();
    h.complete_all();
    h.join(C4, req("dave")).unwrap();
    h.mutate(C4, "b3", vec![delete("p", "e")]).unwrap();
    h.complete_all();
    h.leave(C1).unwrap();
    h.complete_all();

    fn kind(n: &Notice) -> String {
        match n {
            Notice::Joined(_) => "joined".into(),
            Notice::Ack { sequence, .. } => format!("ack {sequence}"),
            Notice::Events(e) => format!("events {}", e[0].seq),
            Notice::ParticipantJoined(p) => format!("joined {}", p.user),
            Notice::ParticipantLeft(p) => format!("left {}", p.user),
            Notice::Cursor { user, .. } => format!("cursor {user}"),
            Notice::Snapshot(_) => "snapshot".into(),
            other => format!("{other:?}"),
        }
    }
    let expect: [(ConnId, &[&str]); 4] = [
        (
            C1,
            &["cursor bob", "ack 1", "events 2", "joined dave", "events 3"],
        ),
        (
            C2,
            &[
                "events 1",
                "events 2",
                "joined dave",
                "events 3",
                "left alice",
                "snapshot",
            ],
        ),
        (
            C3,
            &[
                "cursor bob",
                "events 1",
                "ack 2",
                "joined dave",
                "events 3",
                "left alice",
                "snapshot",
            ],
        ),
        (C4, &["joined", "ack 3", "left alice", "snapshot"]),
    ];
    for (conn, want) in expect {
        let got: Vec<String> = h.take(conn).iter().map(kind).collect();
        assert_eq!(got, want, "{conn:?}");
    }
    // Seven broadcasts made all that: the cursor, two events, the join,
    // the third events, the leave and the snapshot.
    assert_eq!(h.broadcasts.len(), 7, "{:?}", h.broadcasts);
}
