//! Flushes, loading, and many boards at once.

use std::sync::Arc;

use huddle_core::{
    BoardId, Config, ConnId, Effect, Engine, JoinRequest, Notice, Output, Pages, Timestamp,
};

use super::fixtures::{append_ok, events, flush, node, replay, seqs, whole_log};
use crate::load::check_loaded;
use crate::{Performer, Room, Store, StoreError, UnknownBoard};

/// A flush leaves the stored state exactly as of `through`; a flush the
/// state already reflects changes nothing; a flush that starts after the
/// watermark or reaches past the log is refused and changes nothing; a
/// retry that overlaps the watermark catches the state up.
pub async fn flush_as_of_through<S: Store + 'static>(store: S) {
    let board = BoardId::from("flushed");
    let epoch = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire")
        .epoch;
    let all = events(1, 60);
    append_ok(&store, &board, epoch, 1, 30).await;
    let (s, b, a) = (&store, &board, &all);
    let state = move |through: u64| async move {
        let loaded = s.load_board(b).await.expect("load").expect("known");
        assert_eq!(loaded.pages_sequence, through, "watermark");
        assert_eq!(loaded.pages, replay(a, through), "state as of {through}");
        loaded
    };

    store
        .flush(flush(&board, epoch, &all, 1, 10))
        .await
        .expect("flush");
    state(10).await;
    store
        .flush(flush(&board, epoch, &all, 11, 30))
        .await
        .expect("flush");
    let loaded = state(30).await;
    assert!(loaded.pages.page_count() >= 2, "{:?}", loaded.pages);
    // A repeated old flush does not move elements back in time.
    store
        .flush(flush(&board, epoch, &all, 1, 10))
        .await
        .expect("repeat");
    store
        .flush(flush(&board, epoch, &all, 11, 30))
        .await
        .expect("repeat");
    state(30).await;

    append_ok(&store, &board, epoch, 31, 45).await;
    assert!(matches!(
        store.flush(flush(&board, epoch, &all, 40, 45)).await,
        Err(StoreError::FlushGap {
            pages_sequence: 30,
            first_seq: 40,
            ..
        })
    ));
    assert!(matches!(
        store.flush(flush(&board, epoch, &all, 31, 50)).await,
        Err(StoreError::FlushAhead {
            through: 50,
            log_end: 45,
            ..
        })
    ));
    let mut backwards = flush(&board, epoch, &all, 31, 35);
    Arc::make_mut(&mut backwards.batch).first_seq = 36;
    assert!(matches!(
        store.flush(backwards).await,
        Err(StoreError::Invalid(_))
    ));
    state(30).await;

    // A retry covering an already-flushed range and more.
    store
        .flush(flush(&board, epoch, &all, 25, 45))
        .await
        .expect("overlap");
    state(45).await;
    // Deleting every element empties the pages.
    let wipe: Vec<_> = replay(&all, 45)
        .iter()
        .flat_map(|(p, els)| els.keys().map(move |e| (p.clone(), e.clone())))
        .collect();
    let mut batch = flush(&board, epoch, &all, 46, 46);
    let b = Arc::make_mut(&mut batch.batch);
    b.pages.clear();
    for (page, element) in wipe {
        b.pages.entry(page).or_default().deletes.push(element);
    }
    append_ok(&store, &board, epoch, 46, 46).await;
    store.flush(batch).await.expect("wipe");
    let loaded = store
        .load_board(&board)
        .await
        .expect("load")
        .expect("known");
    assert_eq!((loaded.pages, loaded.pages_sequence), (Pages::new(), 46));
}

/// Loading follows the `LoadedBoard` contract at every watermark, and a
/// real engine accepts what the store loads: same sequence, same board,
/// delta sync from the loaded history.
pub async fn load_contract<S: Store + 'static>(store: S) {
    let board = BoardId::from("loaded");
    let epoch = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire")
        .epoch;
    let all = events(1, 2500);
    for first in (1..=2500).step_by(250) {
        append_ok(&store, &board, epoch, first, first + 249).await;
    }
    let (s, b, a) = (&store, &board, &all);
    let check = move |pages_sequence: u64| async move {
        let loaded = s.load_board(b).await.expect("load").expect("known");
        check_loaded(&loaded, 2500).unwrap_or_else(|e| panic!("contract: {e}"));
        assert_eq!(loaded.pages_sequence, pages_sequence);
        assert_eq!(loaded.pages, replay(a, pages_sequence));
        let first = loaded.events[0].seq;
        assert!(
            first <= pages_sequence + 1 && first <= 1501,
            "starts at {first}"
        );
        assert_eq!(
            loaded.events,
            a[(first - 1) as usize..],
            "events as written"
        );
        loaded
    };
    assert_eq!(
        check(0).await.events.len(),
        2500,
        "unflushed events all come"
    );
    store
        .flush(flush(&board, epoch, &all, 1, 1200))
        .await
        .expect("flush");
    check(1200).await;
    store
        .flush(flush(&board, epoch, &all, 1201, 2400))
        .await
        .expect("flush");
    check(2400).await;
    store
        .flush(flush(&board, epoch, &all, 2401, 2500))
        .await
        .expect("flush");
    assert!(check(2500).await.events.len() >= 1000);

    // The engine accepts it: a client at 1600 gets a delta of 900 events,
    // and the board is the replay of the whole log.
    let room = Room {
        id: board.clone(),
        name: "loaded".into(),
        session_type: huddle_core::SessionType::Persistent,
        created_at: Timestamp::EPOCH,
    };
    store.create_room(room).await.expect("room");
    let performer = Performer::with_node(store, UnknownBoard::NotFound, node());
    let now = Timestamp::from_millis(1_767_225_600_000);
    let mut engine = Engine::new(Config::default(), 1);
    let request = JoinRequest::new(board.as_str(), "late", "Late").last_sequence(1600);
    engine.join(now, ConnId(1), request).expect("join");
    let mut notices = Vec::new();
    while let Some(output) = engine.poll_output() {
        match output {
            Output::Effect(effect @ Effect::LoadBoard { .. }) => {
                let outcome = performer.perform(&effect).await;
                engine
                    .handle_storage(now, effect.id(), outcome)
                    .expect("report");
            }
            Output::Notify { notice, .. } => notices.push(notice),
            _ => {}
        }
    }
    let joined = notices
        .iter()
        .find_map(|n| match n {
            Notice::Joined(j) => Some(j.as_ref().clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("not joined: {notices:?}"));
    assert_eq!(joined.sequence, 2500);
    match &joined.sync {
        huddle_core::JoinSync::Delta { events } => {
            assert_eq!(seqs(&events.to_vec()), (1601..=2500).collect::<Vec<_>>())
        }
        other => panic!("expected a delta, got {other:?}"),
    }
    assert_eq!(engine.pages(board.as_str()), Some(&replay(&all, 2500)));
    assert_eq!(
        engine.session(board.as_str()).map(|s| s.kind),
        Some(huddle_core::SessionType::Persistent)
    );
}

/// Many boards written by concurrent tasks: every log complete and in
/// order; concurrent creates of one room: exactly one wins.
pub async fn concurrent_boards<S: Store + 'static>(store: S) {
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let board = BoardId::from(format!("busy-{t}"));
            let epoch = store
                .acquire_board(&board, &node())
                .await
                .expect("acquire")
                .epoch;
            let mut next = 1;
            for i in 0..40u64 {
                let len = 1 + (i + t) % 5;
                append_ok(&*store, &board, epoch, next, next + len - 1).await;
                next += len;
                if i % 10 == 9 {
                    tokio::task::yield_now().await;
                }
            }
            next - 1
        }));
    }
    let mut creators = Vec::new();
    for i in 0..4 {
        let store = store.clone();
        creators.push(tokio::spawn(async move {
            store
                .create_room(Room {
                    id: "contended".into(),
                    name: format!("creator {i}"),
                    session_type: huddle_core::SessionType::Ephemeral,
                    created_at: Timestamp::EPOCH,
                })
                .await
        }));
    }
    let mut wins = 0;
    for c in creators {
        match c.await.expect("task") {
            Ok(()) => wins += 1,
            Err(StoreError::RoomExists(id)) => assert_eq!(id.as_str(), "contended"),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one create wins");
    for (t, task) in tasks.into_iter().enumerate() {
        let last = task.await.expect("task");
        let board = BoardId::from(format!("busy-{t}"));
        let log = whole_log(&*store, &board).await;
        assert_eq!(log, events(1, last), "board {board}");
        let loaded = store
            .load_board(&board)
            .await
            .expect("load")
            .expect("known");
        check_loaded(&loaded, last).unwrap_or_else(|e| panic!("contract: {e}"));
    }
}

/// `board_summary` agrees with `load_board` at every stage of a board's
/// life: unknown, a room only, events, flushed, snapshots, pruned.
pub async fn board_summary_matches_load<S: Store + 'static>(store: S) {
    use crate::BoardSummary;

    let board = BoardId::from("summarised");
    let check = |expected: Option<(u64, usize)>| {
        let (store, board) = (&store, &board);
        async move {
            let summary = store.board_summary(board).await.expect("summary");
            let loaded = store.load_board(board).await.expect("load");
            assert_eq!(
                summary,
                loaded.as_ref().map(BoardSummary::of),
                "as a load says"
            );
            assert_eq!(
                summary.map(|s| (s.sequence, s.snapshots)),
                expected,
                "(sequence, snapshots)"
            );
        }
    };
    check(None).await;
    store
        .create_room(Room {
            id: board.clone(),
            name: "Summarised".into(),
            session_type: huddle_core::SessionType::Persistent,
            created_at: Timestamp::from_millis(1),
        })
        .await
        .expect("create room");
    check(Some((0, 0))).await;
    let epoch = store
        .acquire_board(&board, &node())
        .await
        .expect("acquire")
        .epoch;
    append_ok(&store, &board, epoch, 1, 30).await;
    check(Some((30, 0))).await;
    store
        .flush(flush(&board, epoch, &events(1, 30), 1, 20))
        .await
        .expect("flush");
    check(Some((30, 0))).await;
    for version in [10, 30] {
        store
            .store_snapshot(epoch, Arc::new(super::records::snapshot(&board, version)))
            .await
            .expect("snapshot");
    }
    check(Some((30, 2))).await;
    store
        .prune_snapshots(&board, epoch, 1)
        .await
        .expect("prune");
    check(Some((30, 1))).await;

    // A board known only by its log (no room row).
    let bare = BoardId::from("summarised-bare");
    let epoch = store
        .acquire_board(&bare, &node())
        .await
        .expect("acquire")
        .epoch;
    append_ok(&store, &bare, epoch, 1, 5).await;
    let summary = store.board_summary(&bare).await.expect("summary");
    assert_eq!(
        summary,
        Some(BoardSummary {
            sequence: 5,
            snapshots: 0
        })
    );
}
