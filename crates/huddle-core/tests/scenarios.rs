//! Scenario tests: each `#[test]` plays one story of the spec
//! (`docs/architecture.md`) on the virtual-time harness and checks the
//! exact notices, effects, sequences and store contents it must produce.

use std::sync::Arc;
use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const B: &str = "board";
const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);
const C3: ConnId = ConnId(3);
const C4: ConnId = ConnId(4);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn req(user: &str) -> JoinRequest {
    JoinRequest::new(B, user, user)
}

/// `T0 + d`.
fn at(d: Duration) -> Timestamp {
    T0.saturating_add(d)
}

/// A harness whose effects wait in `h.held` until the test completes them.
fn held_harness(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.mode = StoreMode::Hold;
    h
}

/// Joins every `(conn, user)` to `B`; in `Hold` mode completes the load.
/// Clears the inboxes.
fn join_all(h: &mut Harness, who: &[(ConnId, &str)]) {
    for (conn, user) in who {
        h.join(*conn, req(user)).expect("join accepted");
    }
    if h.mode == StoreMode::Hold {
        while matches!(h.held.front(), Some(Effect::LoadBoard { .. })) {
            h.complete_next();
        }
    }
    for (conn, _) in who {
        assert!(
            h.take(*conn).iter().any(|n| matches!(n, Notice::Joined(_))),
            "{conn:?} joined"
        );
    }
}

fn joined(notices: &[Notice]) -> Vec<Joined> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Joined(j) => Some((**j).clone()),
            _ => None,
        })
        .collect()
}

fn one_joined(notices: &[Notice]) -> Joined {
    let j = joined(notices);
    assert_eq!(j.len(), 1, "exactly one `joined` in {notices:?}");
    j.into_iter().next().unwrap()
}

fn ack(batch: &str, sequence: u64) -> Notice {
    Notice::Ack {
        batch: batch.into(),
        sequence,
    }
}

/// The sequences of every `events` notice, one vec per notice.
fn event_seqs(notices: &[Notice]) -> Vec<Vec<u64>> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Events(e) => Some(e.iter().map(|e| e.seq).collect()),
            _ => None,
        })
        .collect()
}

fn snapshots(notices: &[Notice]) -> Vec<SnapshotInfo> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Snapshot(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// The held effects, as short descriptions: `load`, `append [seqs]`,
/// `flush a..=b`, `snapshot cause@version`, `prune`.
fn held(h: &Harness) -> Vec<String> {
    h.held.iter().map(describe).collect()
}

fn describe(e: &Effect) -> String {
    match e {
        Effect::LoadBoard { .. } => "load".into(),
        Effect::AppendEvents { events, .. } => format!("append {:?}", seqs(events)),
        Effect::Flush { batch, .. } => format!("flush {}..={}", batch.first_seq, batch.through),
        Effect::StoreUserSession { record, .. } => format!("record {:?}", record.status),
        Effect::StoreSnapshot { snapshot, .. } => {
            format!(
                "snapshot {}@{}",
                snapshot.created_by.as_str(),
                snapshot.version
            )
        }
        Effect::PruneSnapshots { .. } => "prune".into(),
    }
}

fn stored(h: &Harness) -> &BoardRecord {
    h.store.boards().get(B).expect("board stored")
}

fn stored_seqs(h: &Harness) -> Vec<u64> {
    h.store
        .boards()
        .get(B)
        .map(|b| seqs(&b.events))
        .unwrap_or_default()
}

fn stored_snapshot_causes(h: &Harness) -> Vec<(SnapshotCause, u64)> {
    h.store
        .boards()
        .get(B)
        .map(|b| {
            b.snapshots
                .iter()
                .map(|(_, s)| (s.created_by, s.version))
                .collect()
        })
        .unwrap_or_default()
}

fn info(h: &Harness) -> SessionInfo {
    h.engine.session(B).expect("session in memory")
}

fn user_session_ends(h: &Harness) -> Vec<(ConnId, UserSessionStatus)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::UserSessionEnded(r) => Some((r.conn, r.status)),
            _ => None,
        })
        .collect()
}

fn session_ends(h: &Harness) -> Vec<SessionEnd> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Signal::SessionEnded { board, reason } if board.as_str() == B => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn pages(items: &[(&str, &str, &str)]) -> Pages {
    Pages::from_elements(
        items
            .iter()
            .map(|(p, e, d)| (PageId::from(*p), ElementId::from(*e), Payload::from(*d))),
    )
}

fn full_pages(j: &Joined) -> &Pages {
    match &j.sync {
        JoinSync::Full { pages, .. } => pages,
        JoinSync::Delta { events } => panic!("expected a full sync, got a delta of {events:?}"),
    }
}

fn participant_users(list: &[ParticipantInfo]) -> Vec<&str> {
    list.iter().map(|p| p.user.as_str()).collect()
}

// ---------------------------------------------------------------------------
// 1. Loading
// ---------------------------------------------------------------------------

/// Spec: "`created`: the session exists, waiting for its first participant
/// (and, in a host with storage, for the board's stored state to load)";
/// "`created -> active`: the first participant joins".
#[test]
fn first_join_opens_created_session_and_joins_wait_for_the_load() {
    let mut h = held_harness(Config::default());

    h.join(C1, req("alice")).unwrap();
    assert_eq!(held(&h), ["load"], "the first join asks the host to load");
    let s = info(&h);
    assert_eq!(s.state, SessionState::Created);
    assert!(s.loading);
    assert!(
        h.take(C1).is_empty(),
        "no `joined` before the load completes"
    );

    h.join(C2, req("bob")).unwrap();
    assert_eq!(held(&h), ["load"], "one load per board, however many joins");
    assert!(h.take(C2).is_empty(), "the second join waits too");
    assert_eq!(h.engine.stats().joins_waiting, 2);
    assert!(
        h.engine.pages(B).is_none(),
        "nothing to show before the load"
    );

    h.complete_next();

    // Both answered, in the order they joined.
    let pos = |conn: ConnId| {
        let needle = format!("Notify {{ conn: {conn:?}, notice: Joined(");
        h.transcript
            .iter()
            .position(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no joined for {conn:?}"))
    };
    assert!(pos(C1) < pos(C2), "joins are answered in order");

    let n1 = h.take(C1);
    let n2 = h.take(C2);
    let j1 = &n1[0];
    let Notice::Joined(j1) = j1 else {
        panic!("alice's first notice is `joined`: {n1:?}")
    };
    assert_eq!(participant_users(&j1.participants), ["alice"]);
    assert_eq!(j1.color, Color::from_index(0));
    assert_eq!(j1.sequence, 0);
    assert_eq!(
        j1.sync,
        JoinSync::Full {
            reason: FullSyncReason::Initial,
            pages: Pages::new()
        }
    );
    assert_eq!(j1.session_id, h.engine.user_session(C1).unwrap().id);
    let bob = ParticipantInfo {
        user: "bob".into(),
        display_name: "bob".into(),
        color: Color::from_index(1),
    };
    assert_eq!(n1[1..], [Notice::ParticipantJoined(bob.clone())]);

    let j2 = one_joined(&n2);
    assert_eq!(n2.len(), 1, "bob gets only his `joined`: {n2:?}");
    assert_eq!(participant_users(&j2.participants), ["alice", "bob"]);
    assert_eq!(j2.participants[1], bob);
    assert_eq!(j2.color, Color::from_index(1));
    assert_ne!(j1.session_id, j2.session_id);

    let s = info(&h);
    assert_eq!(s.state, SessionState::Active);
    assert!(!s.loading);
    let transitions: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Signal::StateChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        transitions,
        [(SessionState::Created, SessionState::Active)],
        "only created -> active"
    );
}

// ---------------------------------------------------------------------------
// 2. A failed load
// ---------------------------------------------------------------------------

/// Spec: "A board whose stored state fails to load is never treated as
/// empty: joins get a retryable error and nothing is written over the
/// stored board."
#[test]
fn failed_load_fails_joins_with_unavailable_and_touches_nothing() {
    let mut h = Harness::new(Config::default());
    // A board with history in the store: written, then archived.
    join_all(&mut h, &[(C1, "alice")]);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    h.mutate(C1, "b2", vec![upsert("p", "a", "3")]).unwrap();
    h.leave(C1).unwrap();
    h.advance(5 * MIN);
    assert!(h.engine.session(B).is_none(), "archived");
    let before = stored(&h).clone();
    assert_eq!(seqs(&before.events), [1, 2, 3]);
    assert_eq!(before.pages_sequence, 3);

    // The store is down while two clients join.
    h.mode = StoreMode::Hold;
    h.join(C2, req("bob")).unwrap();
    h.join(C3, req("carol")).unwrap();
    assert_eq!(held(&h), ["load"]);
    h.fail_next();

    for conn in [C2, C3] {
        let notices = h.take(conn);
        assert_eq!(notices.len(), 1, "{notices:?}");
        match &notices[0] {
            Notice::JoinFailed { board, code, .. } => {
                assert_eq!(board.as_str(), B);
                assert_eq!(*code, ErrorCode::Unavailable);
                assert!(code.is_retryable());
            }
            other => panic!("expected join_failed, got {other:?}"),
        }
        assert!(h.engine.user_session(conn).is_none());
    }
    assert!(h.engine.session(B).is_none(), "the session is gone");
    assert_eq!(h.engine.boards().count(), 0);
    assert!(
        h.held.is_empty(),
        "no flush, append or snapshot: {:?}",
        held(&h)
    );
    assert!(matches!(
        session_ends(&h).last(),
        Some(SessionEnd::LoadFailed(_))
    ));
    let after = stored(&h);
    assert_eq!(after.events, before.events);
    assert_eq!(after.pages, before.pages);
    assert_eq!(after.pages_sequence, before.pages_sequence);
    assert_eq!(after.snapshots.len(), before.snapshots.len());
    let stats = h.engine.stats();
    assert_eq!(stats.joins_waiting, 0);
    assert_eq!(stats.created_sessions, 0);

    // The connection may try again: a fresh load, and the stored data.
    h.join(C2, req("bob")).unwrap();
    assert_eq!(held(&h), ["load"]);
    h.complete_next();
    let j = one_joined(&h.take(C2));
    assert_eq!(j.sequence, 3);
    assert_eq!(*full_pages(&j), pages(&[("p", "a", "3"), ("p", "b", "2")]));
    assert_eq!(h.engine.pages(B), Some(&before.pages));
}

// ---------------------------------------------------------------------------
// 3. Durability
// ---------------------------------------------------------------------------

/// Spec: "The engine must let a host acknowledge a batch to its author only
/// once the batch is durable (the host confirms the events were stored),
/// and the reference server does that by default."
#[test]
fn ack_and_events_wait_for_the_append_to_be_stored() {
    let mut h = held_harness(Config::default());
    // alice on two tabs (C1, C3), bob on C2.
    join_all(&mut h, &[(C1, "alice"), (C2, "bob"), (C3, "alice")]);
    for c in [C1, C2, C3] {
        h.take(c);
    }

    let accepted = h
        .mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    assert_eq!(
        accepted,
        Accepted {
            sequence: 2,
            duplicate: false,
            acked: false
        }
    );
    assert_eq!(held(&h), ["append [1, 2]"]);
    for c in [C1, C2, C3] {
        assert!(h.take(c).is_empty(), "{c:?} hears nothing before the store");
    }
    let s = info(&h);
    assert_eq!((s.sequence, s.durable_sequence), (0, 0));
    assert!(h.engine.pages(B).unwrap().is_empty());

    h.complete_next();
    assert_eq!(h.take(C1), [ack("b1", 2)], "author: only the ack");
    assert_eq!(event_seqs(&h.take(C2)), [vec![1, 2]]);
    assert_eq!(
        event_seqs(&h.take(C3)),
        [vec![1, 2]],
        "the author's other tab gets the events"
    );
    let s = info(&h);
    assert_eq!((s.sequence, s.durable_sequence), (2, 2));
    assert_eq!(stored_seqs(&h), [1, 2]);
    assert_eq!(
        h.engine.pages(B).unwrap(),
        &pages(&[("p", "a", "1"), ("p", "b", "2")])
    );
}

/// Spec: "A failed store keeps the mutations pending: nothing is lost";
/// decisions: "A failed append is retried with backoff (500 ms doubling to
/// 30 s); the batch waits, nothing is dropped."
#[test]
fn failed_append_is_retried_after_backoff_and_then_acked() {
    let mut h = held_harness(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);
    h.take(C1);

    h.mutate(C1, "b1", vec![upsert("p", "a", "1")]).unwrap();
    let failed = h.fail_next().unwrap();
    let Effect::AppendEvents {
        events: failed_events,
        ..
    } = &failed
    else {
        panic!("expected an append, got {failed:?}")
    };
    assert!(h.take(C1).is_empty(), "no ack for a failed append");
    assert!(h.take(C2).is_empty());
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Signal::StorageFailed { attempt: 1, .. })));
    let retry_at = h
        .now
        .saturating_add(Config::default().storage_retry_initial);
    assert_eq!(h.engine.poll_timeout(), Some(retry_at));

    // A batch sent meanwhile waits behind the failed one.
    h.mutate(C1, "b2", vec![upsert("p", "b", "2")]).unwrap();
    assert!(h.held.is_empty(), "nothing is sent before the retry");

    h.advance(Config::default().storage_retry_initial - MS);
    assert!(h.held.is_empty(), "not before the backoff");
    h.advance(MS);
    assert_eq!(held(&h), ["append [1]"], "the same events, at the backoff");
    let Some(Effect::AppendEvents { events, .. }) = h.held.front() else {
        unreachable!()
    };
    assert_eq!(events, failed_events);
    assert!(h.take(C1).is_empty(), "still no ack");

    h.complete_next();
    assert_eq!(h.take(C1), [ack("b1", 1)]);
    assert_eq!(event_seqs(&h.take(C2)), [vec![1]]);
    assert_eq!(held(&h), ["append [2]"], "the waiting batch follows");
    h.complete_next();
    assert_eq!(h.take(C1), [ack("b2", 2)]);
    assert_eq!(event_seqs(&h.take(C2)), [vec![2]]);
    assert_eq!(stored_seqs(&h), [1, 2], "nothing lost");
}

/// Decisions: "Appends are issued one per board at a time; batches that
/// arrive while one is in flight go together in the next (group commit)."
#[test]
fn batches_queued_behind_an_append_go_out_together() {
    let mut h = held_harness(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);

    h.mutate(C1, "b1", vec![upsert("p", "a", "1")]).unwrap();
    h.mutate(C1, "b2", vec![upsert("p", "b", "2")]).unwrap();
    h.mutate(C1, "b3", vec![upsert("p", "c", "3"), delete("p", "a")])
        .unwrap();
    assert_eq!(held(&h), ["append [1]"], "one append in flight per board");

    h.complete_next();
    assert_eq!(h.take(C1), [ack("b1", 1)]);
    assert_eq!(held(&h), ["append [2, 3, 4]"], "b2 and b3 together");

    h.complete_next();
    assert_eq!(h.take(C1), [ack("b2", 2), ack("b3", 4)]);
    assert_eq!(event_seqs(&h.take(C2)), [vec![1], vec![2], vec![3, 4]]);
    assert_eq!(stored_seqs(&h), [1, 2, 3, 4]);
    assert!(h.held.is_empty());
}

// ---------------------------------------------------------------------------
// 4. Flush
// ---------------------------------------------------------------------------

/// Spec: "`flush_pending(board)` hands the host everything pending since the
/// last flush, upserts and deletes grouped by page, with only the last write
/// per element, and the sequence range it covers. ... A failed store keeps
/// the mutations pending: nothing is lost."
#[test]
fn flush_groups_by_page_last_write_wins_and_survives_failure() {
    let mut h = held_harness(Config::default());
    join_all(&mut h, &[(C1, "alice")]);
    h.mutate(
        C1,
        "b1",
        vec![
            upsert("p1", "a", "a1"),
            upsert("p1", "b", "b1"),
            upsert("p2", "c", "c1"),
        ],
    )
    .unwrap();
    h.mutate(C1, "b2", vec![delete("p1", "b"), upsert("p1", "a", "a2")])
        .unwrap();
    h.complete_all();
    assert_eq!(info(&h).pending_mutations, 5);

    h.engine.flush_pending(h.now, B).unwrap();
    h.drain();
    assert_eq!(held(&h), ["flush 1..=5"]);
    let flush = h.held.pop_front().unwrap();
    let Effect::Flush { id, batch, .. } = &flush else {
        unreachable!()
    };
    assert_eq!((batch.first_seq, batch.through), (1, 5));
    assert_eq!(batch.pages.len(), 2);
    assert_eq!(
        batch.pages["p1"],
        PageChanges {
            upserts: vec![("a".into(), "a2".into())],
            deletes: vec!["b".into()],
        },
        "two upserts keep the last; upsert then delete is only a delete"
    );
    assert_eq!(
        batch.pages["p2"],
        PageChanges {
            upserts: vec![("c".into(), "c1".into())],
            deletes: vec![],
        }
    );

    // Newer writes arrive while the flush is in flight...
    h.mutate(
        C1,
        "b3",
        vec![upsert("p1", "a", "a3"), upsert("p3", "d", "d1")],
    )
    .unwrap();
    h.complete_all();
    assert_eq!(info(&h).pending_mutations, 7);
    // ...and then the flush fails.
    h.engine
        .handle_storage(h.now, *id, StorageOutcome::transient("disk full"))
        .unwrap();
    h.drain();
    let s = info(&h);
    assert_eq!(s.pending_mutations, 7, "a failed flush keeps everything");
    assert_eq!(s.flushed_sequence, 0);
    assert_eq!(s.last_flush, None);
    assert_eq!(stored(&h).pages_sequence, 0);

    // The retry carries the old writes and the new ones; newer wins.
    h.advance(Config::default().storage_retry_initial);
    assert_eq!(held(&h), ["flush 1..=7"]);
    let Some(Effect::Flush { batch, .. }) = h.held.front() else {
        unreachable!()
    };
    assert_eq!(
        batch.pages["p1"],
        PageChanges {
            upserts: vec![("a".into(), "a3".into())],
            deletes: vec!["b".into()],
        }
    );
    assert_eq!(batch.pages["p2"].upserts, vec![("c".into(), "c1".into())]);
    assert_eq!(batch.pages["p3"].upserts, vec![("d".into(), "d1".into())]);
    assert_eq!(batch.pages.len(), 3);
    h.complete_next();

    let s = info(&h);
    assert_eq!(s.pending_mutations, 0);
    assert_eq!(s.flushed_sequence, 7);
    assert_eq!(s.last_flush, Some(h.now));
    let expected = pages(&[("p1", "a", "a3"), ("p2", "c", "c1"), ("p3", "d", "d1")]);
    assert_eq!(stored(&h).pages, expected);
    assert_eq!(stored(&h).pages_sequence, 7);
    assert_eq!(h.engine.pages(B), Some(&expected));
}

// ---------------------------------------------------------------------------
// 5. Auto-save
// ---------------------------------------------------------------------------

/// Spec: "Auto-save: every 30 s while the session has participants and
/// something changed since the last snapshot: flush, then snapshot
/// (`created_by = auto-save`). Stops when the room is empty."
#[test]
fn autosave_every_30s_while_present_and_changed() {
    let mut h = Harness::new(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);
    h.take(C1);

    // Nothing changed: no snapshot at 30 s.
    h.advance_to(at(30 * SEC));
    assert!(stored_snapshot_causes(&h).is_empty());
    assert!(snapshots(&h.take(C1)).is_empty());

    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    h.advance_to(at(60 * SEC - MS));
    assert!(stored_snapshot_causes(&h).is_empty(), "not before 60 s");
    assert_eq!(info(&h).pending_mutations, 2);

    let mark = h.transcript.len();
    h.advance_to(at(60 * SEC));
    assert_eq!(
        stored_snapshot_causes(&h),
        [(SnapshotCause::AutoSave, 2)],
        "auto-save at the interval"
    );
    let flush_pos = h.transcript[mark..]
        .iter()
        .position(|l| l.contains("Effect(Flush"));
    let snap_pos = h.transcript[mark..]
        .iter()
        .position(|l| l.contains("Effect(StoreSnapshot"));
    assert!(
        flush_pos.is_some() && flush_pos < snap_pos,
        "flush, then snapshot"
    );
    assert_eq!(info(&h).pending_mutations, 0);
    assert_eq!(stored(&h).pages_sequence, 2);
    for conn in [C1, C2] {
        let s = snapshots(&h.take(conn));
        assert_eq!(s.len(), 1, "{conn:?} told of the snapshot");
        assert_eq!(s[0].created_by, SnapshotCause::AutoSave);
        assert_eq!(s[0].version, 2);
        assert_eq!(s[0].created_at, at(60 * SEC));
    }

    // Nothing changed since: none at 90 s.
    h.advance_to(at(90 * SEC));
    assert_eq!(stored_snapshot_causes(&h).len(), 1);

    // A change between 90 s and 120 s: one at 120 s.
    h.mutate(C2, "x1", vec![upsert("p", "c", "3")]).unwrap();
    h.advance_to(at(120 * SEC));
    assert_eq!(
        stored_snapshot_causes(&h),
        [(SnapshotCause::AutoSave, 2), (SnapshotCause::AutoSave, 3)]
    );

    // The room empties while a batch is still being stored: it is committed
    // after everyone left. Auto-save must not fire for an empty room.
    h.mode = StoreMode::Hold;
    h.mutate(C1, "b2", vec![upsert("p", "d", "4")]).unwrap();
    h.leave(C1).unwrap();
    h.leave(C2).unwrap();
    h.mode = StoreMode::Immediate;
    h.complete_all();
    assert_eq!(info(&h).sequence, 4);
    assert_eq!(info(&h).state, SessionState::Idle);
    let causes_before = stored_snapshot_causes(&h);
    h.advance(4 * MIN);
    assert_eq!(
        stored_snapshot_causes(&h),
        causes_before,
        "no auto-save once the room is empty"
    );
    assert!(!h
        .transcript
        .iter()
        .any(|l| l.contains("AutoSave") && l.contains("version: 4")));
}

// ---------------------------------------------------------------------------
// 6. On-disconnect and manual snapshots
// ---------------------------------------------------------------------------

/// Spec: "On disconnect: when a participant leaves, a final snapshot
/// (`on-disconnect`)."
#[test]
fn participant_leaving_after_changes_triggers_on_disconnect_snapshot() {
    let mut h = Harness::new(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);
    h.mutate(C2, "b1", vec![upsert("p", "a", "1")]).unwrap();
    h.take(C1);

    h.leave(C2).unwrap();
    assert_eq!(
        stored_snapshot_causes(&h),
        [(SnapshotCause::OnDisconnect, 1)]
    );
    let n = h.take(C1);
    assert!(n
        .iter()
        .any(|n| matches!(n, Notice::ParticipantLeft(p) if p.user.as_str() == "bob")));
    let s = snapshots(&n);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].created_by, SnapshotCause::OnDisconnect);
    assert_eq!(s[0].version, 1);
    assert_eq!(s[0].created_at, h.now);
    let stored_snap = &stored(&h).snapshots[0];
    assert_eq!(s[0].id, stored_snap.0, "the store's id");
    assert_eq!(stored_snap.1.pages, pages(&[("p", "a", "1")]));
    assert_eq!(stored_snap.1.board.as_str(), B);
}

/// Spec: "Manual: on request (`manual`)"; decisions: "Every participant is
/// told of every stored snapshot ... A failed manual snapshot is reported to
/// its requester (`SnapshotFailed`)."
#[test]
fn manual_snapshot_is_announced_to_all_and_failure_to_the_requester() {
    let mut h = Harness::new(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob"), (C3, "alice")]);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    for c in [C1, C2, C3] {
        h.take(c);
    }

    h.advance(SEC);
    h.snapshot(C2).unwrap();
    assert_eq!(stored_snapshot_causes(&h), [(SnapshotCause::Manual, 2)]);
    assert_eq!(stored(&h).pages_sequence, 2, "flushed with the snapshot");
    assert_eq!(
        h.engine.user_session(C2).unwrap().last_activity,
        h.now,
        "a snapshot request is activity"
    );
    let id = stored(&h).snapshots[0].0.clone();
    let expected = Notice::Snapshot(SnapshotInfo {
        id,
        version: 2,
        created_at: h.now,
        created_by: SnapshotCause::Manual,
    });
    for c in [C1, C2, C3] {
        assert_eq!(h.take(c), std::slice::from_ref(&expected), "{c:?}");
    }

    // The store fails the next one (after a change and the minimum
    // interval of manual snapshots): only the requester is told.
    h.mutate(C1, "b2", vec![upsert("p", "a", "3")]).unwrap();
    h.engine.flush_pending(h.now, B).unwrap();
    h.advance(Config::default().manual_snapshot_interval);
    for c in [C1, C2, C3] {
        h.take(c);
    }
    h.store.fail_next = 1;
    h.snapshot(C2).unwrap();
    let n = h.take(C2);
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(matches!(
        &n[0],
        Notice::SnapshotFailed {
            code: ErrorCode::Unavailable,
            ..
        }
    ));
    assert!(h.take(C1).is_empty());
    assert!(h.take(C3).is_empty());
    assert_eq!(stored_snapshot_causes(&h).len(), 1);
}

// ---------------------------------------------------------------------------
// 7. Archive of a persistent board
// ---------------------------------------------------------------------------

/// A persistent board with three events; the store breaks before the third
/// is stored; alice leaves and the board has been idle 15 min + 2 min, so
/// archiving has started and keeps failing.
fn persistent_board_archiving_with_store_down() -> Harness {
    let mut h = Harness::new(Config::default());
    h.store.create_room(B, SessionType::Persistent);
    join_all(&mut h, &[(C1, "alice")]);
    assert_eq!(info(&h).kind, SessionType::Persistent);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    assert_eq!(h.take(C1), [ack("b1", 2)]);

    h.store.fail_all = true;
    let a = h.mutate(C1, "b2", vec![upsert("p", "a", "3")]).unwrap();
    assert!(!a.acked);
    h.leave(C1).unwrap();
    let left_at = h.now;
    assert_eq!(info(&h).state, SessionState::Idle);

    h.advance_to(left_at.saturating_add(15 * MIN + 2 * MIN));
    h
}

/// Spec: "On archive: flush pending mutations; for a persistent session also
/// take a snapshot (`created_by = archive`); then drop the session from
/// memory, but only after the host confirmed that the flush (and snapshot)
/// were stored; if storing fails the session stays, its data pending, and
/// archiving is retried."
#[test]
fn persistent_archive_waits_for_the_store_and_retries() {
    let mut h = persistent_board_archiving_with_store_down();

    let s = info(&h);
    assert_eq!(s.state, SessionState::Idle, "stays in memory, idle");
    assert_eq!(s.pending_mutations, 3, "its data pending");
    assert_eq!(s.durable_sequence, 2);
    assert_eq!(s.flushed_sequence, 0);
    assert!(session_ends(&h).is_empty());
    assert!(stored_snapshot_causes(&h).is_empty());

    let calls = h.store.calls;
    h.advance(2 * MIN);
    assert!(h.store.calls > calls, "archiving is retried");
    assert!(h.engine.session(B).is_some());
    assert!(h.engine.poll_timeout().is_some(), "a retry is scheduled");

    // The store recovers: within the longest backoff everything is stored.
    h.store.fail_all = false;
    h.advance(Config::default().storage_retry_max);
    assert!(h.engine.session(B).is_none(), "archived");
    assert_eq!(session_ends(&h), [SessionEnd::Archived]);
    let st = stored(&h);
    assert_eq!(seqs(&st.events), [1, 2, 3], "all events");
    assert_eq!(st.pages_sequence, 3);
    assert_eq!(st.pages, pages(&[("p", "a", "3"), ("p", "b", "2")]));
    let archive: Vec<_> = st
        .snapshots
        .iter()
        .filter(|(_, s)| s.created_by == SnapshotCause::Archive)
        .collect();
    assert_eq!(archive.len(), 1, "one archive snapshot");
    assert_eq!(archive[0].1.version, 3);
    assert_eq!(archive[0].1.pages, st.pages);
    assert_eq!(h.engine.poll_timeout(), None, "nothing left to do");
    let stats = h.engine.stats();
    assert_eq!((stats.idle_sessions, stats.pending_mutations), (0, 0));
}

/// Spec: "`idle -> active`: a participant joins before the idle timeout" —
/// and an idle session still being archived is still that session.
#[test]
fn join_during_archive_retry_reactivates_with_all_data() {
    let mut h = persistent_board_archiving_with_store_down();

    h.join(C2, req("bob")).unwrap();
    let j = one_joined(&h.take(C2));
    assert_eq!(info(&h).state, SessionState::Active);
    assert_eq!(j.sequence, 2, "everything committed so far");
    assert_eq!(*full_pages(&j), pages(&[("p", "a", "1"), ("p", "b", "2")]));
    let mut replica = Replica::default();
    replica.apply(&Notice::Joined(Box::new(j))).unwrap();

    // The store recovers: the batch that waited is committed and reaches bob.
    h.store.fail_all = false;
    h.advance(Config::default().storage_retry_max);
    let n = h.take(C2);
    assert_eq!(event_seqs(&n), [vec![3]]);
    for notice in &n {
        replica.apply(notice).unwrap();
    }
    assert_eq!(replica.sequence, Some(3));
    assert_eq!(Some(&replica.pages), h.engine.pages(B));
    assert_eq!(replica.pages, pages(&[("p", "a", "3"), ("p", "b", "2")]));

    // It stays active; nothing was archived.
    h.advance(MIN);
    let s = info(&h);
    assert_eq!(s.state, SessionState::Active);
    assert!(session_ends(&h).is_empty());
    assert!(!stored_snapshot_causes(&h)
        .iter()
        .any(|(c, _)| *c == SnapshotCause::Archive));
    assert_eq!(s.pending_mutations, 0, "auto-save flushed it meanwhile");
    assert_eq!(stored_seqs(&h), [1, 2, 3]);
}

/// Spec: "if storing fails the session stays, its data pending, and
/// archiving is retried" — for the flush and for the `archive` snapshot.
#[test]
fn persistent_archive_retries_a_failed_flush_and_a_failed_archive_snapshot() {
    let mut h = Harness::new(Config::default());
    h.store.create_room(B, SessionType::Persistent);
    join_all(&mut h, &[(C1, "alice")]);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    h.leave(C1).unwrap();
    assert_eq!(
        stored_snapshot_causes(&h),
        [(SnapshotCause::OnDisconnect, 2)]
    );
    let left_at = h.now;
    let retry = Config::default().storage_retry_initial;

    h.mode = StoreMode::Hold;
    h.advance_to(left_at.saturating_add(15 * MIN - MS));
    assert!(h.held.is_empty(), "not before 15 idle minutes");
    h.advance_to(left_at.saturating_add(15 * MIN));
    assert_eq!(held(&h), ["flush 1..=2"], "archive: flush first");

    h.fail_next();
    let s = info(&h);
    assert_eq!((s.state, s.pending_mutations), (SessionState::Idle, 2));
    h.advance(retry - MS);
    assert!(h.held.is_empty());
    h.advance(MS);
    assert_eq!(held(&h), ["flush 1..=2"], "the flush is retried");
    h.complete_next();
    assert_eq!(
        held(&h),
        ["snapshot archive@2"],
        "then the archive snapshot"
    );
    assert_eq!(info(&h).pending_mutations, 0);

    h.fail_next();
    assert_eq!(info(&h).state, SessionState::Idle, "still in memory");
    h.advance(retry);
    assert_eq!(held(&h), ["snapshot archive@2"], "the snapshot is retried");
    h.complete_next();
    assert!(h.engine.session(B).is_none(), "archived once stored");
    assert_eq!(session_ends(&h), [SessionEnd::Archived]);
    assert_eq!(
        stored_snapshot_causes(&h),
        [
            (SnapshotCause::OnDisconnect, 2),
            (SnapshotCause::Archive, 2)
        ]
    );
    assert_eq!(stored(&h).pages_sequence, 2);
    assert_eq!(h.engine.poll_timeout(), None);
}

// ---------------------------------------------------------------------------
// 8. close_session
// ---------------------------------------------------------------------------

/// Spec: "`close_session`: flush pending, then remove the session at once,
/// whatever its state; its participants are told." and "An archived session
/// is gone; a later join opens a new session that continues the board's
/// sequence from storage."
#[test]
fn close_session_tells_participants_flushes_and_a_waiting_join_reopens() {
    let mut h = Harness::new(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    h.mutate(C2, "x1", vec![upsert("p", "a", "3")]).unwrap();
    h.take(C1);
    h.take(C2);
    assert_eq!(info(&h).pending_mutations, 3);
    assert_eq!(stored(&h).pages_sequence, 0);

    h.mode = StoreMode::Hold;
    h.advance(SEC);
    h.engine.close_session(h.now, B).unwrap();
    h.drain();

    let closed = Notice::SessionClosed {
        board: B.into(),
        reason: CloseReason::Closed,
    };
    assert_eq!(h.take(C1), std::slice::from_ref(&closed));
    assert_eq!(h.take(C2), [closed]);
    assert!(h.engine.user_session(C1).is_none());
    assert!(h.engine.user_session(C2).is_none());
    assert_eq!(
        user_session_ends(&h),
        [
            (C1, UserSessionStatus::Ended),
            (C2, UserSessionStatus::Ended)
        ]
    );
    for e in &h.events {
        if let Signal::UserSessionEnded(r) = e {
            assert_eq!(r.ended_at, Some(h.now));
        }
    }
    assert!(h.engine.session(B).is_none(), "gone from session() at once");
    assert!(h.engine.pages(B).is_none());
    assert!(matches!(
        h.mutate(C1, "b2", vec![upsert("p", "z", "z")]),
        Err(MutateError::Session(SessionError::NotJoined))
    ));
    assert_eq!(held(&h), ["flush 1..=3"], "pending is flushed");
    let stats = h.engine.stats();
    assert_eq!(stats.closing_sessions, 1, "still in memory until stored");
    assert_eq!((stats.active_sessions, stats.total_participants), (0, 0));

    // A join while it closes waits.
    h.join(C3, req("carol")).unwrap();
    assert!(h.take(C3).is_empty());
    assert_eq!(held(&h), ["flush 1..=3"], "no load while closing");
    assert_eq!(h.engine.stats().joins_waiting, 1);

    h.complete_next();
    assert_eq!(
        stored(&h).pages_sequence,
        3,
        "flushed before leaving memory"
    );
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
    assert_eq!(held(&h), ["load"], "the waiting join opens a fresh session");
    h.complete_next();

    let j = one_joined(&h.take(C3));
    assert_eq!(j.sequence, 3, "continues the board's sequence");
    assert_eq!(participant_users(&j.participants), ["carol"]);
    assert_eq!(*full_pages(&j), pages(&[("p", "a", "3"), ("p", "b", "2")]));
    let a = h.mutate(C3, "c1", vec![upsert("p", "c", "4")]).unwrap();
    assert_eq!(a.sequence, 4);
    h.complete_all();
    assert_eq!(stored_seqs(&h), [1, 2, 3, 4]);
}

/// Spec: "`close_session`: flush pending, then remove the session at once,
/// whatever its state" — here an idle one.
#[test]
fn close_session_of_an_idle_board_flushes_then_removes_it() {
    let mut h = Harness::new(Config::default());
    join_all(&mut h, &[(C1, "alice")]);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1")]).unwrap();
    h.leave(C1).unwrap();
    h.take(C1);
    assert_eq!(info(&h).state, SessionState::Idle);
    assert_eq!(info(&h).pending_mutations, 1);

    h.mode = StoreMode::Hold;
    h.engine.close_session(h.now, B).unwrap();
    h.drain();
    assert!(h.engine.session(B).is_none(), "gone at once");
    assert_eq!(held(&h), ["flush 1..=1"]);
    assert!(h.take(C1).is_empty(), "no one to tell");
    h.complete_next();
    assert_eq!(session_ends(&h), [SessionEnd::Closed]);
    assert_eq!(h.engine.boards().count(), 0);
    assert_eq!(stored(&h).pages_sequence, 1);
    assert_eq!(stored(&h).pages, pages(&[("p", "a", "1")]));
    assert_eq!(h.engine.poll_timeout(), None, "its timers are gone");
}

// ---------------------------------------------------------------------------
// 9. Sequence never reused or reset
// ---------------------------------------------------------------------------

/// Spec: "sequence: per-board counter ... never reused, never reset, also
/// across restarts and archive/reload"; "Delta sync must also work for a
/// board that was just loaded from storage".
#[test]
fn sequence_continues_across_archive_and_crash_and_delta_after_crash() {
    let mut h = Harness::new(Config::default());
    join_all(&mut h, &[(C1, "alice")]);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    h.leave(C1).unwrap();
    h.advance(5 * MIN);
    assert!(h.engine.session(B).is_none(), "archived");

    // Rejoin after the archive: the sequence continues.
    h.join(C1, req("alice")).unwrap();
    let j = one_joined(&h.take(C1));
    assert_eq!(j.sequence, 2);
    let a = h.mutate(C1, "b2", vec![upsert("p", "c", "3")]).unwrap();
    assert_eq!(a.sequence, 3);

    // Bob follows the board with a replica, up to sequence 4.
    h.join(C2, req("bob")).unwrap();
    let mut replica = Replica::default();
    for n in h.take(C2) {
        replica.apply(&n).unwrap();
    }
    h.mutate(C1, "b3", vec![delete("p", "a")]).unwrap();
    for n in h.take(C2) {
        replica.apply(&n).unwrap();
    }
    assert_eq!(replica.sequence, Some(4));
    h.disconnect(C2);

    // Two more batches bob misses, then the host crashes (nothing flushed
    // since the reload: the store has these only in its log).
    h.mutate(C1, "b4", vec![upsert("p", "b", "5"), upsert("q", "d", "6")])
        .unwrap();
    h.mutate(C1, "b5", vec![upsert("p", "c", "7")]).unwrap();
    assert_eq!(stored(&h).pages_sequence, 2);
    assert_eq!(stored_seqs(&h), [1, 2, 3, 4, 5, 6, 7]);
    h.crash();
    assert!(h.engine.session(B).is_none());

    // Bob reconnects with his last sequence: a delta of exactly what he missed.
    h.join(C2, req("bob").last_sequence(4)).unwrap();
    let notices = h.take(C2);
    let j = one_joined(&notices);
    assert_eq!(j.sequence, 7);
    assert_eq!(j.history_from, 0, "the reload brought the history back");
    match &j.sync {
        JoinSync::Delta { events } => assert_eq!(seqs(&events.to_vec()), [5, 6, 7]),
        other => panic!("expected a delta, got {other:?}"),
    }
    for n in &notices {
        replica.apply(n).unwrap();
    }
    assert_eq!(replica.sequence, Some(7));
    assert_eq!(Some(&replica.pages), h.engine.pages(B));
    assert_eq!(
        replica.pages,
        pages(&[("p", "b", "5"), ("p", "c", "7"), ("q", "d", "6")])
    );

    // Alice, after the crash, continues from the store.
    h.join(C1, req("alice")).unwrap();
    h.take(C1);
    let a = h.mutate(C1, "b6", vec![upsert("p", "e", "8")]).unwrap();
    assert_eq!(a.sequence, 8);
    assert_eq!(stored_seqs(&h), [1, 2, 3, 4, 5, 6, 7, 8]);
}

// ---------------------------------------------------------------------------
// 10. Late close of an old connection
// ---------------------------------------------------------------------------

/// Spec: "A late close of an old connection ends only its own user session,
/// never a newer one of the same user."
#[test]
fn late_close_of_old_connection_ends_only_its_own_user_session() {
    let mut h = Harness::new(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C3, "bob"), (C2, "alice")]);
    let newer = h.engine.user_session(C2).unwrap().id;

    h.disconnect(C1);
    assert!(h.engine.user_session(C1).is_none());
    let live = h.engine.user_session(C2).expect("the newer session lives");
    assert_eq!(live.id, newer);
    assert_eq!(live.status, UserSessionStatus::Active);
    assert_eq!(user_session_ends(&h), [(C1, UserSessionStatus::Ended)]);
    assert_eq!(
        participant_users(&info(&h).participants),
        ["alice", "bob"],
        "alice is still present"
    );
    assert_eq!(info(&h).connections, 2);
    assert!(h.take(C3).is_empty(), "bob hears of no one leaving");
    assert!(
        stored_snapshot_causes(&h).is_empty(),
        "no participant left: no on-disconnect snapshot"
    );

    let a = h.mutate(C2, "b1", vec![upsert("p", "a", "1")]).unwrap();
    assert_eq!(a.sequence, 1);
    assert_eq!(h.take(C2), [ack("b1", 1)]);
    assert_eq!(event_seqs(&h.take(C3)), [vec![1]]);
    assert!(h.take(C1).is_empty(), "the closed connection gets nothing");
}

// ---------------------------------------------------------------------------
// 11. Presence
// ---------------------------------------------------------------------------

fn cursors(notices: &[Notice]) -> Vec<(String, f64, f64)> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Cursor { user, x, y } => Some((user.to_string(), *x, *y)),
            _ => None,
        })
        .collect()
}

/// Decisions: "Cursor updates are throttled per connection to one per 50
/// ms; updates in between are coalesced and the latest is sent when the
/// interval ends ... They count as activity." Spec: "Activity: every
/// mutation, cursor/presence update and snapshot request."
#[test]
fn cursor_updates_are_broadcast_throttled_and_count_as_activity() {
    let mut h = Harness::new(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);
    h.take(C1);
    let start = h.now;
    let t = |ms: u64| start.saturating_add(Duration::from_millis(ms));

    h.cursor(C1, 1.0, 1.0).unwrap();
    assert_eq!(cursors(&h.take(C2)), [("alice".into(), 1.0, 1.0)]);
    assert!(h.take(C1).is_empty(), "not echoed to the sender");

    h.advance_to(t(10));
    h.cursor(C1, 2.0, 2.0).unwrap();
    h.advance_to(t(20));
    h.cursor(C1, 3.0, 3.0).unwrap();
    assert!(h.take(C2).is_empty(), "throttled within the interval");
    h.advance_to(t(49));
    assert!(h.take(C2).is_empty());
    h.advance_to(t(50));
    assert_eq!(
        cursors(&h.take(C2)),
        [("alice".into(), 3.0, 3.0)],
        "the latest position at the end of the interval"
    );

    h.advance_to(t(60));
    h.cursor(C1, 4.0, 4.0).unwrap();
    assert!(h.take(C2).is_empty());
    h.advance_to(t(99));
    assert!(h.take(C2).is_empty());
    h.advance_to(t(100));
    assert_eq!(cursors(&h.take(C2)), [("alice".into(), 4.0, 4.0)]);

    h.advance_to(t(200));
    assert!(h.take(C2).is_empty(), "nothing pending, nothing sent");
    h.cursor(C1, 5.0, 5.0).unwrap();
    assert_eq!(
        cursors(&h.take(C2)),
        [("alice".into(), 5.0, 5.0)],
        "after a quiet interval, at once"
    );
    assert!(h.take(C1).is_empty());
    assert_eq!(h.engine.user_session(C1).unwrap().last_activity, t(200));

    // Activity keeps alice's session alive; bob, silent, times out at 30 min.
    h.advance_to(start.saturating_add(20 * MIN));
    h.cursor(C1, 6.0, 6.0).unwrap();
    h.advance_to(start.saturating_add(30 * MIN));
    assert!(h
        .take(C2)
        .iter()
        .any(|n| matches!(n, Notice::SessionTimeout { .. })));
    assert!(h.engine.user_session(C2).is_none());
    assert_eq!(
        h.engine.user_session(C1).map(|s| s.status),
        Some(UserSessionStatus::Active),
        "a cursor move is activity"
    );
    h.advance_to(start.saturating_add(50 * MIN - MS));
    assert!(h.engine.user_session(C1).is_some());
    h.advance_to(start.saturating_add(50 * MIN));
    assert!(h.engine.user_session(C1).is_none());
    assert!(h
        .take(C1)
        .iter()
        .any(|n| matches!(n, Notice::SessionTimeout { .. })));
}

// ---------------------------------------------------------------------------
// 12. AckOnApply
// ---------------------------------------------------------------------------

/// Spec: "A mode that acknowledges on apply (the seed behaviour: durable at
/// the next flush) may exist, named as such."
#[test]
fn ack_on_apply_acks_and_broadcasts_before_the_store_confirms() {
    let config = Config::new().durability(Durability::AckOnApply);
    let mut h = held_harness(config);
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);
    h.take(C1);

    let a = h
        .mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    assert_eq!(
        a,
        Accepted {
            sequence: 2,
            duplicate: false,
            acked: true
        }
    );
    assert_eq!(h.take(C1), [ack("b1", 2)], "ack at once");
    assert_eq!(event_seqs(&h.take(C2)), [vec![1, 2]], "events at once");
    assert_eq!(held(&h), ["append [1, 2]"], "not yet stored");
    let s = info(&h);
    assert_eq!((s.sequence, s.durable_sequence), (2, 0));
    assert_eq!(
        h.engine.pages(B),
        Some(&pages(&[("p", "a", "1"), ("p", "b", "2")]))
    );
    assert!(h.store.boards().get(B).is_none_or(|b| b.events.is_empty()));

    h.complete_next();
    assert_eq!(info(&h).durable_sequence, 2);
    assert!(h.take(C1).is_empty(), "no second ack");
    assert!(h.take(C2).is_empty(), "no second broadcast");
    assert_eq!(stored_seqs(&h), [1, 2]);
}

// ---------------------------------------------------------------------------
// 13. Determinism
// ---------------------------------------------------------------------------

fn scripted_run(seed: u64) -> Vec<String> {
    let mut h = Harness::with_seed(Config::default(), seed);
    h.mode = StoreMode::Hold;
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    h.complete_next();
    h.mutate(C1, "b1", vec![upsert("p", "a", "1")]).unwrap();
    h.mutate(C2, "x1", vec![upsert("p", "b", "2"), delete("p", "a")])
        .unwrap();
    h.fail_next();
    h.cursor(C1, 1.5, 2.5).unwrap();
    h.advance(10 * MS);
    h.cursor(C1, 3.0, 4.0).unwrap();
    h.advance(SEC);
    h.complete_all();
    h.join(C3, req("carol").last_sequence(1)).unwrap();
    h.mode = StoreMode::Immediate;
    h.snapshot(C3).unwrap();
    h.mutate(C3, "c1", vec![upsert("q", "c", "3")]).unwrap();
    h.advance(31 * SEC);
    h.disconnect(C1);
    h.leave(C2).unwrap();
    h.leave(C3).unwrap();
    h.advance(6 * MIN);
    assert!(h.engine.session(B).is_none());
    h.transcript
}

/// Spec (crate docs): "the same seed and the same inputs give the same
/// outputs."
#[test]
fn same_seed_same_script_same_transcript() {
    let a = scripted_run(42);
    let b = scripted_run(42);
    assert!(a.len() > 30, "the script does something: {}", a.len());
    assert_eq!(a, b);
    // The seed does reach the outputs (user session ids).
    assert_ne!(a, scripted_run(43));
}

// ---------------------------------------------------------------------------
// 14. Payload sharing
// ---------------------------------------------------------------------------

/// Docs (`Payload`): "Cloning shares the bytes: the event history, the
/// pending set, the board state and every output hold the same allocation."
#[test]
fn payload_is_one_allocation_across_broadcast_effect_and_state() {
    let mut h = held_harness(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);
    let data = Payload::from(r#"{"shape":"rect","w":10}"#);
    let m = Mutation::Upsert {
        page: "p".into(),
        element: "e".into(),
        data: data.clone(),
    };
    h.mutate(C1, "b1", vec![m]).unwrap();

    let Some(Effect::AppendEvents { events, .. }) = h.held.front().cloned() else {
        panic!("expected an append: {:?}", held(&h))
    };
    let in_effect = events[0].mutation.data().unwrap().clone();
    h.complete_next();

    let n = h.take(C2);
    let Some(Notice::Events(broadcast)) = n.iter().find(|n| matches!(n, Notice::Events(_))) else {
        panic!("bob got no events: {n:?}")
    };
    let in_broadcast = broadcast[0].mutation.data().unwrap();
    let in_state = h.engine.pages(B).unwrap().get("p", "e").unwrap();

    assert!(
        Payload::ptr_eq(&data, &in_effect),
        "effect shares the input"
    );
    assert!(
        Payload::ptr_eq(&in_effect, in_broadcast),
        "effect = broadcast"
    );
    assert!(Payload::ptr_eq(in_broadcast, in_state), "broadcast = state");
    // The events themselves are one allocation too.
    assert!(Arc::ptr_eq(&events, broadcast.events()));

    // And the flush and the snapshot carry the same bytes.
    h.engine.flush_pending(h.now, B).unwrap();
    h.drain();
    let Some(Effect::Flush { batch, .. }) = h.held.front() else {
        panic!("expected a flush: {:?}", held(&h))
    };
    assert!(Payload::ptr_eq(&batch.pages["p"].upserts[0].1, &data));
}

/// Docs (`CommittedEvents`, `DeltaEvents::runs`): a broadcast and the
/// delta syncs after it share one place for the batch's encoding, which
/// the stats count once it is made.
#[test]
fn broadcast_and_later_deltas_share_one_encoding_place() {
    let mut h = held_harness(Config::default());
    join_all(&mut h, &[(C1, "alice"), (C2, "bob")]);
    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    h.complete_next();
    let n = h.take(C2);
    let Some(Notice::Events(broadcast)) = n.iter().find(|n| matches!(n, Notice::Events(_))) else {
        panic!("bob got no events: {n:?}")
    };
    assert!(broadcast.encoded().get().is_none());
    assert_eq!(h.engine.stats().encoded_bytes_held, 0);
    // What an encoder does with the broadcast: fill the place.
    let made = EncodedChunk::new(b"one,two".to_vec(), vec![3, 7]).unwrap();
    broadcast.encoded().get_or_make(|| Some(made.clone()));
    assert_eq!(h.engine.stats().encoded_bytes_held, made.heap_bytes());

    h.join(C3, req("carol").last_sequence(1)).unwrap();
    let notices = h.take(C3);
    let JoinSync::Delta { events } = &one_joined(&notices).sync else {
        panic!("expected a delta: {notices:?}")
    };
    let runs: Vec<DeltaRun<'_>> = events.runs().collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0];
    assert_eq!((run.first_seq, run.start, run.len), (1, 1, 1));
    assert_eq!(run.author.as_str(), "alice");
    assert_eq!(run.mutations.len(), 2);
    let place = run.encoded.expect("a history chunk carries its place");
    assert!(std::ptr::eq(place, broadcast.encoded()));
    assert_eq!(
        place.get().and_then(|c| c.range(run.start, run.len)),
        Some(&b"two"[..])
    );
}

// ---------------------------------------------------------------------------
// 15. Stats
// ---------------------------------------------------------------------------

/// Spec: "`stats()` -> active sessions, idle sessions, total participants
/// (plus ... pending mutations ...)".
#[test]
fn stats_follow_the_scenario() {
    let mut h = held_harness(Config::default());
    let st = |h: &Harness| {
        let s = h.engine.stats();
        (
            s.created_sessions,
            s.active_sessions,
            s.idle_sessions,
            s.total_participants,
            s.pending_mutations,
        )
    };
    assert_eq!(st(&h), (0, 0, 0, 0, 0));

    h.join(C1, req("alice")).unwrap();
    assert_eq!(st(&h), (1, 0, 0, 0, 0), "created while loading");
    assert_eq!(h.engine.stats().joins_waiting, 1);
    h.complete_next();
    assert_eq!(st(&h), (0, 1, 0, 1, 0));
    assert_eq!(h.engine.stats().user_sessions, 1);

    h.join(C2, req("bob")).unwrap();
    h.join(C3, req("bob")).unwrap();
    assert_eq!(
        st(&h),
        (0, 1, 0, 2, 0),
        "bob's second tab is no participant"
    );
    assert_eq!(h.engine.stats().user_sessions, 3);

    h.mutate(C1, "b1", vec![upsert("p", "a", "1"), upsert("p", "b", "2")])
        .unwrap();
    assert_eq!(st(&h), (0, 1, 0, 2, 2), "pending counts accepted mutations");
    h.mutate(C2, "x1", vec![upsert("p", "c", "3")]).unwrap();
    h.complete_all();
    assert_eq!(st(&h), (0, 1, 0, 2, 3));

    // A second board.
    h.join(C4, JoinRequest::new("other", "carol", "carol"))
        .unwrap();
    assert_eq!(st(&h), (1, 1, 0, 2, 3));
    h.complete_next();
    assert_eq!(st(&h), (0, 2, 0, 3, 3));

    h.engine.flush_pending(h.now, B).unwrap();
    h.drain();
    assert_eq!(st(&h), (0, 2, 0, 3, 3), "pending until the flush is stored");
    h.complete_all();
    assert_eq!(st(&h), (0, 2, 0, 3, 0));

    h.mode = StoreMode::Immediate;
    h.leave(C1).unwrap();
    assert_eq!(st(&h), (0, 2, 0, 2, 0));
    h.disconnect(C2);
    assert_eq!(st(&h), (0, 2, 0, 2, 0), "bob still has a tab");
    h.disconnect(C3);
    assert_eq!(st(&h), (0, 1, 1, 1, 0), "board idle");
    h.advance(5 * MIN);
    assert_eq!(st(&h), (0, 1, 0, 1, 0), "board archived");
    h.leave(C4).unwrap();
    assert_eq!(st(&h), (0, 0, 1, 0, 0));
    h.advance(5 * MIN);
    assert_eq!(st(&h), (0, 0, 0, 0, 0));
    assert_eq!(h.engine.stats().user_sessions, 0);
}

/// Found by the client network simulation (seed 411): a client whose ack
/// was lost stayed away while others made more than the loaded tail of
/// events, the host restarted, and the re-sent batch was applied a second
/// time. The store's batch records now reach the engine's dedup window.
#[test]
fn a_retry_older_than_the_loaded_tail_is_recognised_after_a_restart() {
    let mut h = Harness::new(Config::default());
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    let first = h.mutate(C1, "a-1", vec![upsert("p", "e", "1")]).unwrap();
    assert_eq!(first.sequence, 1);
    for i in 0..1500 {
        h.mutate(C2, &format!("b-{i}"), vec![upsert("p", "f", "2")])
            .unwrap();
    }
    h.crash();
    h.join(C3, req("alice").last_sequence(0)).unwrap();
    let again = h.mutate(C3, "a-1", vec![upsert("p", "e", "1")]).unwrap();
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.sequence, 1);
    assert_eq!(h.store.boards()[B].events.len(), 1501);
    assert!(h
        .take(C3)
        .iter()
        .any(|n| matches!(n, Notice::Ack { sequence: 1, .. })));

    // Without batch records only the loaded tail is known: the same story
    // applies the batch again (what the records prevent).
    let mut h = Harness::new(Config::default());
    h.store.batch_window = 1;
    h.join(C1, req("alice")).unwrap();
    h.join(C2, req("bob")).unwrap();
    h.mutate(C1, "a-1", vec![upsert("p", "e", "1")]).unwrap();
    h.mutate(C1, "a-2", vec![upsert("p", "e", "1")]).unwrap();
    for i in 0..1500 {
        h.mutate(C2, &format!("b-{i}"), vec![upsert("p", "f", "2")])
            .unwrap();
    }
    h.crash();
    h.join(C3, req("alice").last_sequence(0)).unwrap();
    assert!(
        h.mutate(C3, "a-2", vec![upsert("p", "e", "1")])
            .unwrap()
            .duplicate
    );
    assert!(
        !h.mutate(C3, "a-1", vec![upsert("p", "e", "1")])
            .unwrap()
            .duplicate
    );
}

/// A batch record beyond the board's sequence is an inconsistent load:
/// joins get a retryable error and nothing is written.
#[test]
fn a_batch_record_beyond_the_sequence_fails_the_load() {
    let mut h = held_harness(Config::default());
    h.engine.join(h.now, C1, req("alice")).unwrap();
    h.drain();
    let load = h.held.pop_front().unwrap();
    let mut loaded = LoadedBoard::empty();
    loaded.batches.push(BatchRecord {
        user: "alice".into(),
        batch: "x".into(),
        last_seq: 5,
        digest: None,
        at: Timestamp::EPOCH,
    });
    h.engine
        .handle_storage(h.now, load.id(), StorageOutcome::Loaded(Box::new(loaded)))
        .unwrap();
    h.drain();
    let notices = h.take(C1);
    assert!(
        notices.iter().any(|n| matches!(
            n,
            Notice::JoinFailed {
                code: ErrorCode::Unavailable,
                ..
            }
        )),
        "{notices:?}"
    );
    assert!(h.held.is_empty());
}
