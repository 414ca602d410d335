//! Rooms, snapshots and user session records.

use std::sync::Arc;

use huddle_core::{
    BoardId, ConnId, Pages, Payload, SessionType, Snapshot, SnapshotCause, SnapshotId, Timestamp,
    UserId, UserSessionId, UserSessionRecord, UserSessionStatus,
};

use super::fixtures::{events, node, replay, T0};
use crate::{Room, SessionIndex, Store, StoreError};

/// Rooms: create, get, a conflicting create changes nothing, a room with
/// no data loads as an empty board of its type, an unknown board loads as
/// `None`.
pub async fn rooms<S: Store + 'static>(store: S) {
    let room = Room {
        id: "room-1".into(),
        name: "Planning ✏️".into(),
        session_type: SessionType::Persistent,
        created_at: T0,
    };
    assert_eq!(store.room(&room.id).await, Ok(None));
    store.create_room(room.clone()).await.expect("create");
    assert_eq!(store.room(&room.id).await, Ok(Some(room.clone())));

    let other = Room {
        name: "Someone else's".into(),
        session_type: SessionType::Ephemeral,
        created_at: Timestamp::from_millis(1),
        ..room.clone()
    };
    assert_eq!(
        store.create_room(other).await,
        Err(StoreError::RoomExists(room.id.clone()))
    );
    assert_eq!(
        store.room(&room.id).await,
        Ok(Some(room.clone())),
        "unchanged"
    );

    let second = Room {
        id: "room-2".into(),
        name: String::new(),
        session_type: SessionType::Ephemeral,
        created_at: Timestamp::MAX,
    };
    store.create_room(second.clone()).await.expect("create 2");
    assert_eq!(store.room(&second.id).await, Ok(Some(second)));

    let loaded = store
        .load_board(&room.id)
        .await
        .expect("load")
        .expect("a room is known");
    assert_eq!(loaded.session_type, Some(SessionType::Persistent));
    assert!(loaded.pages.is_empty() && loaded.events.is_empty());
    assert_eq!((loaded.pages_sequence, loaded.snapshot_count), (0, 0));
    assert_eq!(loaded.last_snapshot_version, None);

    assert_eq!(store.load_board(&"nowhere".into()).await, Ok(None));
}

pub(super) fn snapshot(board: &BoardId, version: u64) -> Snapshot {
    let created_by = match version % 4 {
        0 => SnapshotCause::AutoSave,
        1 => SnapshotCause::OnDisconnect,
        2 => SnapshotCause::Manual,
        _ => SnapshotCause::Archive,
    };
    Snapshot {
        board: board.clone(),
        version,
        pages: replay(&events(1, version), version),
        created_at: Timestamp::from_millis(T0.as_millis() + version * 1000),
        created_by,
    }
}

/// Snapshots: listed newest first, fetched whole (binary payloads
/// included), pruned to the newest 50 per board without touching other
/// boards; loads report the count and the newest version.
pub async fn snapshots_newest_first_pruned_to_50<S: Store + 'static>(store: S) {
    let (a, b) = (BoardId::from("snap-a"), BoardId::from("snap-b"));
    let ea = store
        .acquire_board(&a, &node())
        .await
        .expect("acquire")
        .epoch;
    let eb = store
        .acquire_board(&b, &node())
        .await
        .expect("acquire")
        .epoch;

    let mut ids: Vec<SnapshotId> = Vec::new();
    for version in 1..=60 {
        let id = store
            .store_snapshot(ea, Arc::new(snapshot(&a, version)))
            .await
            .expect("store snapshot");
        assert!(!ids.contains(&id), "snapshot ids are unique");
        ids.push(id);
    }
    let mut b_ids = Vec::new();
    for version in [3, 1, 2] {
        b_ids.push(
            store
                .store_snapshot(eb, Arc::new(snapshot(&b, version)))
                .await
                .expect("store snapshot"),
        );
    }

    let listed = store.list_snapshots(&a).await.expect("list");
    let versions: Vec<u64> = listed.iter().map(|m| m.version).collect();
    assert_eq!(versions, (1..=60).rev().collect::<Vec<_>>(), "newest first");
    let listed_ids: Vec<SnapshotId> = listed.iter().map(|m| m.id.clone()).collect();
    assert_eq!(listed_ids, ids.iter().rev().cloned().collect::<Vec<_>>());
    let m = &listed[60 - 37];
    let original = snapshot(&a, 37);
    assert_eq!(
        (m.board.clone(), m.created_at, m.created_by, m.elements),
        (
            a.clone(),
            original.created_at,
            original.created_by,
            original.pages.element_count()
        )
    );
    // Newest means most recently stored, not the highest version.
    let listed_b: Vec<u64> = store
        .list_snapshots(&b)
        .await
        .expect("list")
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(listed_b, [2, 1, 3]);

    assert_eq!(store.get_snapshot(&a, &ids[36]).await, Ok(Some(original)));
    assert_eq!(
        store.get_snapshot(&a, &b_ids[0]).await,
        Ok(None),
        "another board's id"
    );
    assert_eq!(store.get_snapshot(&a, &"no-such-id".into()).await, Ok(None));

    let loaded = store.load_board(&a).await.expect("load").expect("known");
    assert_eq!(
        (loaded.snapshot_count, loaded.last_snapshot_version),
        (60, Some(60))
    );

    assert_eq!(store.prune_snapshots(&a, ea, 50).await, Ok(10));
    let versions: Vec<u64> = store
        .list_snapshots(&a)
        .await
        .expect("list")
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(
        versions,
        (11..=60).rev().collect::<Vec<_>>(),
        "the newest 50 kept"
    );
    assert_eq!(store.get_snapshot(&a, &ids[9]).await, Ok(None), "pruned");
    assert_eq!(
        store.get_snapshot(&a, &ids[10]).await,
        Ok(Some(snapshot(&a, 11)))
    );
    assert_eq!(store.prune_snapshots(&a, ea, 50).await, Ok(0));
    assert_eq!(
        store.list_snapshots(&b).await.expect("list").len(),
        3,
        "other board untouched"
    );
    let loaded = store.load_board(&a).await.expect("load").expect("known");
    assert_eq!(
        (loaded.snapshot_count, loaded.last_snapshot_version),
        (50, Some(60))
    );

    // An empty board's snapshot round-trips too; keep 0 removes all.
    let empty = Snapshot {
        pages: Pages::new(),
        version: 0,
        ..snapshot(&b, 0)
    };
    let id = store
        .store_snapshot(eb, Arc::new(empty.clone()))
        .await
        .expect("store");
    assert_eq!(store.get_snapshot(&b, &id).await, Ok(Some(empty)));
    assert_eq!(store.prune_snapshots(&b, eb, 0).await, Ok(4));
    assert_eq!(store.list_snapshots(&b).await, Ok(vec![]));

    // A snapshot of a large payload.
    let big = Snapshot {
        pages: Pages::from_elements([(
            "p".into(),
            "big".into(),
            Payload::from(vec![7u8; 256 * 1024]),
        )]),
        ..snapshot(&b, 99)
    };
    let id = store
        .store_snapshot(eb, Arc::new(big.clone()))
        .await
        .expect("store");
    assert_eq!(store.get_snapshot(&b, &id).await, Ok(Some(big)));
}

fn record(
    id: u64,
    board: &str,
    user: &str,
    status: UserSessionStatus,
    started: u64,
) -> UserSessionRecord {
    UserSessionRecord {
        id: UserSessionId(id),
        board_id: board.into(),
        user_id: user.into(),
        conn: ConnId(id ^ u64::MAX),
        started_at: Timestamp::from_millis(T0.as_millis() + started),
        last_activity: Timestamp::from_millis(T0.as_millis() + started + 5),
        ended_at: (status != UserSessionStatus::Active)
            .then(|| Timestamp::from_millis(T0.as_millis() + started + 10)),
        status,
        client_info: (id % 2 == 0).then(|| Arc::from("agent/1.0 ü")),
    }
}

/// User session records: inserted, replaced by id, and listed by board,
/// user and status in start order; ids use all 64 bits.
pub async fn user_sessions_by_index<S: Store + 'static>(store: S) {
    use UserSessionStatus::{Active, Ended, Timeout};
    let ex = store
        .acquire_board(&"x".into(), &node())
        .await
        .expect("acquire")
        .epoch;
    let ey = store
        .acquire_board(&"y".into(), &node())
        .await
        .expect("acquire")
        .epoch;
    let records = [
        record(u64::MAX, "x", "u1", Active, 30),
        record(2, "x", "u2", Ended, 10),
        record(3, "y", "u1", Timeout, 20),
        record(4, "y", "u2", Active, 20),
        record(5, "x", "u1", Active, 40),
    ];
    for r in &records {
        let epoch = if r.board_id.as_str() == "x" { ex } else { ey };
        store.put_user_session(epoch, r.clone()).await.expect("put");
    }
    // The first session ends: the record is replaced, not duplicated.
    let mut ended = records[0].clone();
    ended.status = Ended;
    ended.ended_at = Some(Timestamp::from_millis(T0.as_millis() + 99));
    ended.last_activity = Timestamp::from_millis(T0.as_millis() + 98);
    store
        .put_user_session(ex, ended.clone())
        .await
        .expect("put");

    let ids = |v: Vec<UserSessionRecord>| v.into_iter().map(|r| r.id.0).collect::<Vec<_>>();
    let by = |index| store.user_sessions(index);
    assert_eq!(
        ids(by(SessionIndex::Board("x".into())).await.expect("q")),
        [2, u64::MAX, 5]
    );
    assert_eq!(
        ids(by(SessionIndex::Board("y".into())).await.expect("q")),
        [3, 4]
    );
    assert_eq!(
        ids(by(SessionIndex::User(UserId::from("u1"))).await.expect("q")),
        [3, u64::MAX, 5]
    );
    assert_eq!(
        ids(by(SessionIndex::User(UserId::from("u2"))).await.expect("q")),
        [2, 4]
    );
    assert_eq!(
        ids(by(SessionIndex::Status(Active)).await.expect("q")),
        [4, 5]
    );
    assert_eq!(
        ids(by(SessionIndex::Status(Ended)).await.expect("q")),
        [2, u64::MAX]
    );
    assert_eq!(
        ids(by(SessionIndex::Status(Timeout)).await.expect("q")),
        [3]
    );
    assert_eq!(
        ids(by(SessionIndex::Board("z".into())).await.expect("q")),
        Vec::<u64>::new()
    );

    // Records come back exactly as written.
    let x = by(SessionIndex::Board("x".into())).await.expect("q");
    assert_eq!(x, vec![records[1].clone(), ended, records[4].clone()]);
}
