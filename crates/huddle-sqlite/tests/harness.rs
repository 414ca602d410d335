//! huddle-core's virtual-time harness, running on the SQLite backend:
//! the engine's scenarios with every effect performed against a real file,
//! crashes of the host, and a restart of the whole process (a new store on
//! the same file).

use std::path::Path;
use std::time::Duration;

use huddle_core::*;
use huddle_sqlite::{SqliteOptions, SqliteStore};
use huddle_store::{Room, SessionIndex, Store, UnknownBoard};
use huddle_testkit::BlockingEffectStore;
use huddle_testkit::{delete, upsert, Harness, Replica};

const B: &str = "board";
const MIN: Duration = Duration::from_secs(60);
const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);

type SqlHarness = Harness<BlockingEffectStore<SqliteStore>>;

fn harness(path: &Path, seed: u64) -> SqlHarness {
    let store = SqliteStore::open_blocking(path, SqliteOptions::default()).expect("open");
    let store = BlockingEffectStore::new(store, UnknownBoard::CreateEmpty).expect("runtime");
    Harness::with_store(Config::default(), seed, store)
}

fn req(user: &str) -> JoinRequest {
    JoinRequest::new(B, user, user)
}

fn one_joined(notices: &[Notice]) -> Joined {
    let joined: Vec<Joined> = notices
        .iter()
        .filter_map(|n| match n {
            Notice::Joined(j) => Some(j.as_ref().clone()),
            _ => None,
        })
        .collect();
    assert_eq!(joined.len(), 1, "exactly one `joined` in {notices:?}");
    joined.into_iter().next().expect("one")
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn stored_seqs(h: &SqlHarness) -> Vec<u64> {
    let store = h.store.store();
    seqs(
        &h.store
            .block_on(store.read_events(&B.into(), 0, 10_000))
            .expect("read"),
    )
}

fn pages(items: &[(&str, &str, &str)]) -> Pages {
    Pages::from_elements(
        items
            .iter()
            .map(|(p, e, d)| (PageId::from(*p), ElementId::from(*e), Payload::from(*d))),
    )
}

/// The spec's sequence story (as in huddle-core's scenarios), on SQLite:
/// the sequence continues across an archive and a host crash, and a client
/// that missed events gets exactly them as a delta after the crash.
#[test]
fn sequence_continues_across_archive_and_crash_with_delta_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = harness(&dir.path().join("huddle.db"), 1);
    h.join(C1, req("alice")).expect("join");
    h.take(C1);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .expect("mutate");
    h.leave(C1).expect("leave");
    h.advance(5 * MIN);
    assert!(h.engine.session(B).is_none(), "archived");
    assert_eq!(stored_seqs(&h), [1, 2]);

    h.join(C1, req("alice")).expect("join");
    assert_eq!(
        one_joined(&h.take(C1)).sequence,
        2,
        "continues from storage"
    );
    assert_eq!(
        h.engine.pages(B),
        Some(&pages(&[("p", "a", "1"), ("p", "b", "2")]))
    );
    h.mutate(C1, "b2", vec![upsert("p", "c", "3")])
        .expect("mutate");

    h.join(C2, req("bob")).expect("join");
    let mut replica = Replica::default();
    for n in h.take(C2) {
        replica.apply(&n).expect("replica");
    }
    h.mutate(C1, "b3", vec![delete("p", "a")]).expect("mutate");
    for n in h.take(C2) {
        replica.apply(&n).expect("replica");
    }
    assert_eq!(replica.sequence, Some(4));
    h.disconnect(C2);

    h.mutate(C1, "b4", vec![upsert("p", "b", "5"), upsert("q", "d", "6")])
        .expect("mutate");
    h.mutate(C1, "b5", vec![upsert("p", "c", "7")])
        .expect("mutate");
    assert_eq!(stored_seqs(&h), [1, 2, 3, 4, 5, 6, 7]);
    h.crash();
    assert!(h.engine.session(B).is_none());

    h.join(C2, req("bob").last_sequence(4)).expect("join");
    let notices = h.take(C2);
    let j = one_joined(&notices);
    assert_eq!(j.sequence, 7);
    match &j.sync {
        JoinSync::Delta { events } => assert_eq!(seqs(&events.to_vec()), [5, 6, 7]),
        other => panic!("expected a delta, got {other:?}"),
    }
    for n in &notices {
        replica.apply(n).expect("replica");
    }
    let expected = pages(&[("p", "b", "5"), ("p", "c", "7"), ("q", "d", "6")]);
    assert_eq!(replica.pages, expected);
    assert_eq!(h.engine.pages(B), Some(&expected));

    h.join(C1, req("alice")).expect("join");
    h.take(C1);
    let a = h
        .mutate(C1, "b6", vec![upsert("p", "e", "8")])
        .expect("mutate");
    assert_eq!(a.sequence, 8);
    assert_eq!(stored_seqs(&h), [1, 2, 3, 4, 5, 6, 7, 8]);
}

/// A persistent room created through the store: its type wins, archiving
/// stores a snapshot and the flushed state; user session records are kept
/// by the host; after the whole process restarts (a new store on the same
/// file) the board, its snapshots and a retried batch are all recognised.
#[test]
fn persistent_room_survives_a_restart_of_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let mut h = harness(&path, 1);
    let room = Room {
        id: B.into(),
        name: "Design review".into(),
        session_type: SessionType::Persistent,
        created_at: huddle_testkit::T0,
    };
    h.store
        .block_on(h.store.store().create_room(room))
        .expect("room");

    h.join(C1, req("alice")).expect("join");
    h.take(C1);
    assert_eq!(
        h.engine.session(B).map(|s| s.kind),
        Some(SessionType::Persistent)
    );
    h.mutate(C1, "m1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .expect("mutate");
    h.mutate(C1, "m2", vec![delete("p", "b"), upsert("q", "c", "3")])
        .expect("mutate");
    // The host stores the user session records it is given.
    let records: Vec<UserSessionRecord> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Signal::UserSessionStarted(r) | Signal::UserSessionEnded(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), 1);
    let epoch = h.store.performer().epoch(&B.into()).expect("owned");
    for r in records {
        h.store
            .block_on(h.store.store().put_user_session(epoch, r))
            .expect("put");
    }
    h.leave(C1).expect("leave");
    h.advance(15 * MIN);
    assert!(
        h.engine.session(B).is_none(),
        "archived after 15 idle minutes"
    );

    let store = h.store.store().clone();
    let snapshots = h
        .store
        .block_on(store.list_snapshots(&B.into()))
        .expect("list");
    let causes: Vec<(SnapshotCause, u64)> = snapshots
        .iter()
        .map(|s| (s.created_by, s.version))
        .collect();
    assert!(causes.contains(&(SnapshotCause::Archive, 4)), "{causes:?}");
    assert!(
        causes.contains(&(SnapshotCause::OnDisconnect, 4)),
        "{causes:?}"
    );
    let sessions = h
        .store
        .block_on(store.user_sessions(SessionIndex::User("alice".into())))
        .expect("sessions");
    assert_eq!(sessions.len(), 1);
    drop(store);
    drop(h);

    // A new process: a new store on the same file.
    let mut h = harness(&path, 2);
    let store = h.store.store().clone();
    let loaded = h
        .store
        .block_on(store.load_board(&B.into()))
        .expect("load")
        .expect("known");
    assert_eq!(loaded.pages_sequence, 4, "the archive flushed everything");
    assert_eq!(loaded.pages, pages(&[("p", "a", "1"), ("q", "c", "3")]));
    assert_eq!(loaded.snapshot_count, snapshots.len());

    h.join(C1, req("alice").last_sequence(2)).expect("join");
    let j = one_joined(&h.take(C1));
    assert_eq!(j.sequence, 4);
    assert!(matches!(&j.sync, JoinSync::Delta { events } if seqs(&events.to_vec()) == [3, 4]));
    // The client retries batch m2 (its ack was lost): recognised from the
    // stored log, answered with the original sequence, nothing appended.
    let again = h
        .mutate(C1, "m2", vec![delete("p", "b"), upsert("q", "c", "3")])
        .expect("retry");
    assert_eq!(again.sequence, 4);
    assert_eq!(stored_seqs(&h), [1, 2, 3, 4]);
}

/// Two hosts on one file: the one that loads the board later fences the
/// earlier one off; the stale host's engine ends the board's session at
/// once (its client is told to reconnect) instead of believing the batch
/// stored or retrying it.
#[test]
fn a_second_host_fences_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huddle.db");
    let mut first = harness(&path, 1);
    let mut second = harness(&path, 2);
    first.join(C1, req("alice")).expect("join");
    first
        .mutate(C1, "a1", vec![upsert("p", "a", "1")])
        .expect("mutate");
    assert_eq!(first.engine.session(B).map(|s| s.durable_sequence), Some(1));

    second.join(C2, req("bob")).expect("join");
    assert_eq!(one_joined(&second.take(C2)).sequence, 1);

    first.take(C1);
    first
        .mutate(C1, "a2", vec![upsert("p", "b", "2")])
        .expect("accepted");
    let failures = first
        .events
        .iter()
        .filter(|e| matches!(e, Signal::StorageFailed { message, kind: FailureKind::Fenced, .. } if message.contains("fenced")))
        .count();
    assert_eq!(failures, 1, "{:?}", first.events);
    assert!(first.events.iter().any(|e| matches!(
        e,
        Signal::SessionEnded {
            reason: SessionEnd::Fenced,
            ..
        }
    )));
    assert!(first.engine.session(B).is_none(), "the session ended");
    assert_eq!(
        first.take(C1),
        vec![Notice::SessionClosed {
            board: B.into(),
            reason: CloseReason::Moved,
        }],
        "no ack, told to reconnect"
    );
    assert_eq!(first.released, vec![BoardId::from(B)]);
    assert!(first.held.is_empty());
    let b = second
        .mutate(C2, "b1", vec![upsert("p", "c", "3")])
        .expect("mutate");
    assert_eq!(b.sequence, 2);
    assert_eq!(stored_seqs(&second), [1, 2]);
}
