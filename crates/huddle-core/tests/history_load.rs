//! The delta history rebuilt from a load: events up to the flushed state
//! and the replayed ones after it, batches straddling the flushed sequence,
//! a history shorter than the loaded log, and the batch ids it gives the
//! idempotency window.

use huddle_core::*;

const NOW: Timestamp = Timestamp::from_millis(1_000_000);

/// Events 1..=10: batch `a` of u1 (1..=3), `b` of u2 (4..=8, across the
/// flushed sequence 6), `c` of u1 (9..=10); one delete.
fn log() -> Vec<Event> {
    let spans = [
        ("u1", "a", 1..=3u64, 10),
        ("u2", "b", 4..=8, 20),
        ("u1", "c", 9..=10, 30),
    ];
    spans
        .into_iter()
        .flat_map(|(user, batch, seqs, at)| {
            seqs.map(move |seq| {
                let (page, element) = (PageId::from("p"), ElementId::from(format!("e{}", seq % 4)));
                Event {
                    seq,
                    author: user.into(),
                    batch: batch.into(),
                    at: Timestamp::from_millis(at),
                    mutation: if seq == 5 {
                        Mutation::Delete { page, element }
                    } else {
                        Mutation::Upsert {
                            page,
                            element,
                            data: Payload::from(format!("{{\"v\":{seq}}}").as_str()),
                        }
                    },
                }
            })
        })
        .collect()
}

/// An engine with the board loaded: state as of 6, the whole log.
fn loaded(history_len: usize) -> Engine {
    let config = Config::new().history_len(history_len);
    let mut engine = Engine::new(config, 7);
    engine
        .join(NOW, ConnId(1), JoinRequest::new("board", "u1", "U1"))
        .unwrap();
    let load = std::iter::from_fn(|| engine.poll_output())
        .find_map(|o| match o {
            Output::Effect(e @ Effect::LoadBoard { .. }) => Some(e.id()),
            _ => None,
        })
        .unwrap();
    let mut pages = Pages::new();
    for e in &log()[..6] {
        pages.apply(&e.mutation);
    }
    let board = LoadedBoard {
        pages,
        pages_sequence: 6,
        events: log(),
        ..LoadedBoard::default()
    };
    engine
        .handle_storage(NOW, load, StorageOutcome::Loaded(Box::new(board)))
        .unwrap();
    drain(&mut engine);
    engine
}

/// Drains the outputs, confirming every storage effect.
fn drain(engine: &mut Engine) {
    while let Some(o) = engine.poll_output() {
        if let Output::Effect(e) = o {
            let outcome = match e {
                Effect::StoreSnapshot { .. } => StorageOutcome::SnapshotStored("s".into()),
                _ => StorageOutcome::Stored,
            };
            engine.handle_storage(NOW, e.id(), outcome).unwrap();
        }
    }
}

/// The `joined` answer of a join as `user` with `last`.
fn join(engine: &mut Engine, conn: u64, user: &str, last: u64) -> Joined {
    let request = JoinRequest::new("board", user, "U").last_sequence(last);
    engine.join(NOW, ConnId(conn), request).unwrap();
    let mut joined = None;
    while let Some(o) = engine.poll_output() {
        match o {
            Output::Notify {
                conn: c,
                notice: Notice::Joined(j),
            } if c == ConnId(conn) => joined = Some(*j),
            Output::Effect(e) => engine
                .handle_storage(NOW, e.id(), StorageOutcome::Stored)
                .unwrap(),
            _ => {}
        }
    }
    joined.unwrap()
}

#[test]
fn every_delta_after_a_load_is_the_loaded_log() {
    let mut engine = loaded(1000);
    let log = log();
    let mut pages = Pages::new();
    for e in &log {
        pages.apply(&e.mutation);
    }
    assert_eq!(engine.pages("board"), Some(&pages), "the replay reached 10");
    for last in 0..=10u64 {
        let j = join(&mut engine, 100 + last, "u3", last);
        assert_eq!((j.sequence, j.history_from), (10, 0));
        let JoinSync::Delta { events } = &j.sync else {
            panic!("a delta after {last}, got {:?}", j.sync);
        };
        assert_eq!(
            events.to_vec(),
            log[last as usize..].to_vec(),
            "after {last}"
        );
        assert_eq!(*events, DeltaEvents::from(log[last as usize..].to_vec()));
        engine.leave(NOW, ConnId(100 + last)).unwrap();
        drain(&mut engine);
    }
}

#[test]
fn loaded_batches_are_recognised_and_new_ones_continue_the_history() {
    let mut engine = loaded(1000);
    join(&mut engine, 2, "u2", 10);
    for (conn, batch, sequence) in [(1, "a", 3), (2, "b", 8), (1, "c", 10)] {
        let again = vec![Mutation::Delete {
            page: "p".into(),
            element: "x".into(),
        }];
        let a = engine
            .apply_mutations(NOW, ConnId(conn), batch.into(), again)
            .unwrap();
        assert!(a.duplicate, "batch {batch}");
        assert_eq!(a.sequence, sequence, "batch {batch}");
    }
    drain(&mut engine);
    let new = vec![Mutation::Upsert {
        page: "q".into(),
        element: "n".into(),
        data: "{}".into(),
    }];
    let a = engine
        .apply_mutations(NOW, ConnId(1), "d".into(), new)
        .unwrap();
    assert_eq!((a.sequence, a.duplicate), (11, false));
    drain(&mut engine);
    let j = join(&mut engine, 3, "u3", 0);
    let JoinSync::Delta { events } = &j.sync else {
        panic!("a delta, got {:?}", j.sync);
    };
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    assert_eq!(events.to_vec()[..10], log()[..]);
    let last = events.iter().last().map(EventRef::to_event).unwrap();
    assert_eq!((last.author.as_str(), last.batch.as_str()), ("u1", "d"));
}

#[test]
fn a_short_history_after_a_load_holds_the_newest_events() {
    let mut engine = loaded(4);
    let log = log();
    let j = join(&mut engine, 2, "u3", 6);
    assert_eq!(j.history_from, 6);
    let JoinSync::Delta { events } = &j.sync else {
        panic!("a delta, got {:?}", j.sync);
    };
    assert_eq!(events.to_vec(), log[6..].to_vec());
    let j = join(&mut engine, 3, "u4", 5);
    assert!(
        matches!(
            j.sync,
            JoinSync::Full {
                reason: FullSyncReason::NoHistory,
                ..
            }
        ),
        "{:?}",
        j.sync
    );
    // Batch b (4..=8) is still recognised from its held tail.
    let again = vec![Mutation::Delete {
        page: "p".into(),
        element: "x".into(),
    }];
    join(&mut engine, 4, "u2", 10);
    let a = engine
        .apply_mutations(NOW, ConnId(4), "b".into(), again)
        .unwrap();
    assert!(a.duplicate);
    assert_eq!(a.sequence, 8);
}
