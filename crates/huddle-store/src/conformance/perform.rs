//! The engine's effects through a `Performer`.

use std::sync::Arc;

use huddle_core::{
    BoardId, Effect, EffectId, FailureKind, Pages, SessionType, Snapshot, SnapshotCause,
    StorageOutcome, UserSessionRecord, UserSessionStatus,
};

use super::fixtures::{events, flush_batch, node, replay, seqs, whole_log, T0};
use crate::{Performer, Room, Store, UnknownBoard};

fn append(id: u64, board: &str, first: u64, last: u64) -> Effect {
    Effect::AppendEvents {
        id: EffectId(id),
        board: board.into(),
        events: events(first, last).into(),
    }
}

/// Each effect gets the outcome the engine expects; group commit answers
/// each append; a second host that loads the board fences the first.
pub async fn perform_effects<S: Store + 'static>(store: S) {
    let store = Arc::new(store);
    let host = Performer::with_node(store.clone(), UnknownBoard::CreateEmpty, node());
    let load = |board: &str| Effect::LoadBoard {
        id: EffectId(0),
        board: board.into(),
    };
    assert_eq!(
        host.perform(&load("fx")).await,
        StorageOutcome::Loaded(Box::default()),
        "created on first use"
    );
    // Writing a board this host never loaded fails.
    assert!(matches!(
        host.perform(&append(1, "unloaded", 1, 1)).await,
        StorageOutcome::Failed(f) if f.message.contains("not acquired") && f.kind == FailureKind::Fenced
    ));

    assert_eq!(
        host.perform(&append(1, "fx", 1, 4)).await,
        StorageOutcome::Stored
    );
    assert_eq!(
        host.perform(&append(2, "fx", 1, 4)).await,
        StorageOutcome::Stored,
        "again"
    );
    assert!(
        matches!(host.perform(&append(3, "fx", 9, 9)).await, StorageOutcome::Failed(f) if f.message.contains("9") && f.kind == FailureKind::Transient),
        "a gap is transient: the earlier append is re-sent first"
    );
    let all = events(1, 4);
    let fl = Effect::Flush {
        id: EffectId(4),
        board: "fx".into(),
        batch: Arc::new(flush_batch(&all, 1, 4)),
    };
    assert_eq!(host.perform(&fl).await, StorageOutcome::Stored);
    let snapshot = Arc::new(Snapshot {
        board: "fx".into(),
        version: 4,
        pages: replay(&all, 4),
        created_at: T0,
        created_by: SnapshotCause::Manual,
    });
    let snap = Effect::StoreSnapshot {
        id: EffectId(5),
        snapshot: snapshot.clone(),
    };
    let StorageOutcome::SnapshotStored(id) = host.perform(&snap).await else {
        panic!("snapshot not stored");
    };
    assert_eq!(
        store.get_snapshot(&"fx".into(), &id).await,
        Ok(Some((*snapshot).clone()))
    );
    for _ in 0..3 {
        assert!(matches!(
            host.perform(&snap).await,
            StorageOutcome::SnapshotStored(_)
        ));
    }
    let prune = Effect::PruneSnapshots {
        id: EffectId(6),
        board: "fx".into(),
        keep_last: 2,
    };
    assert_eq!(host.perform(&prune).await, StorageOutcome::Stored);
    assert_eq!(
        store
            .list_snapshots(&"fx".into())
            .await
            .expect("list")
            .len(),
        2
    );

    // Group commit: appends of many boards in one call, others one by one.
    for b in ["g1", "g2", "g3"] {
        assert!(matches!(
            host.perform(&load(b)).await,
            StorageOutcome::Loaded(_)
        ));
    }
    let batch = [
        append(10, "g1", 1, 3),
        append(11, "g2", 1, 1),
        prune.clone(),
        append(12, "g3", 2, 2),
        append(13, "fx", 5, 6),
        append(14, "never-loaded", 1, 1),
    ];
    let outcomes = host.perform_appends(&batch).await;
    assert_eq!(outcomes.len(), 6);
    assert_eq!(
        outcomes[..3],
        [
            StorageOutcome::Stored,
            StorageOutcome::Stored,
            StorageOutcome::Stored
        ]
    );
    assert!(
        matches!(&outcomes[3], StorageOutcome::Failed(f) if f.kind == FailureKind::Transient),
        "gap"
    );
    assert_eq!(outcomes[4], StorageOutcome::Stored);
    assert!(
        matches!(&outcomes[5], StorageOutcome::Failed(f) if f.kind == FailureKind::Fenced),
        "not owned"
    );
    assert_eq!(seqs(&whole_log(&*store, &"g1".into()).await), [1, 2, 3]);
    assert_eq!(
        seqs(&whole_log(&*store, &"fx".into()).await),
        [1, 2, 3, 4, 5, 6]
    );

    // Another host takes the board over: the first is fenced off.
    let other = Performer::with_node(store.clone(), UnknownBoard::CreateEmpty, node());
    let StorageOutcome::Loaded(loaded) = other.perform(&load("fx")).await else {
        panic!("load");
    };
    assert_eq!(loaded.events.last().map(|e| e.seq), Some(6));
    assert_eq!(loaded.pages, replay(&events(1, 6), 4));
    let stale = host.perform(&append(20, "fx", 7, 7)).await;
    assert!(
        matches!(&stale, StorageOutcome::Failed(f) if f.message.contains("fenced") && f.kind == FailureKind::Fenced),
        "{stale:?}"
    );
    assert!(matches!(
        host.perform(&snap).await,
        StorageOutcome::Failed(f) if f.kind == FailureKind::Fenced
    ));
    let record = UserSessionRecord {
        id: huddle_core::UserSessionId(7),
        board_id: "fx".into(),
        user_id: "u".into(),
        conn: huddle_core::ConnId(1),
        started_at: T0,
        last_activity: T0,
        ended_at: None,
        status: UserSessionStatus::Active,
        client_info: None,
    };
    let put = |id| Effect::StoreUserSession {
        id: EffectId(id),
        record: Arc::new(record.clone()),
    };
    assert!(
        matches!(host.perform(&put(22)).await, StorageOutcome::Failed(f) if f.kind == FailureKind::Fenced),
        "a record is written under the board's epoch"
    );
    assert_eq!(other.perform(&put(23)).await, StorageOutcome::Stored);
    assert_eq!(
        other.perform(&append(21, "fx", 7, 7)).await,
        StorageOutcome::Stored
    );

    // A host that only serves created rooms.
    let strict = Performer::with_node(store.clone(), UnknownBoard::NotFound, node());
    assert_eq!(
        strict.perform(&load("no-room")).await,
        StorageOutcome::NotFound
    );
    let room = Room {
        id: "made".into(),
        name: "Made".into(),
        session_type: SessionType::Persistent,
        created_at: T0,
    };
    store.create_room(room).await.expect("room");
    let StorageOutcome::Loaded(made) = strict.perform(&load("made")).await else {
        panic!("a created room loads");
    };
    assert_eq!(made.session_type, Some(SessionType::Persistent));
    assert_eq!(made.pages, Pages::new());
    let _ = BoardId::from("unused");
}
