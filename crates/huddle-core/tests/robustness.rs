//! The engine never panics on anything a client or the host controls:
//! arbitrary client requests, storage reports that are duplicated, stale,
//! of the wrong kind or for effects never issued, loaded boards with
//! inconsistent logs or sequences at the end of `u64`, and a clock that
//! jumps both ways, fenced and invalid failures, a shutdown at any point.
//! After every `handle_timeout(now)` the next deadline is later than `now`;
//! every ended session is released exactly once, after its effects, and
//! before a new session of its board loads.

use std::sync::Arc;

use huddle_core::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Report {
    Loaded {
        pages_sequence: u64,
        first: u64,
        len: usize,
        gap: bool,
        snapshots: usize,
    },
    NotFound,
    Stored,
    SnapshotStored,
    Failed,
    Fenced,
    Invalid,
}

#[derive(Clone, Debug)]
enum Step {
    Join {
        conn: u64,
        board: u8,
        user: u8,
        last: Option<u64>,
    },
    Mutate {
        conn: u64,
        batch: u8,
        muts: Vec<(u8, u8, bool, usize)>,
        long_id: bool,
    },
    Cursor {
        conn: u64,
        x: f64,
        y: f64,
    },
    Snapshot {
        conn: u64,
    },
    Leave {
        conn: u64,
    },
    Disconnect {
        conn: u64,
    },
    Ping {
        conn: u64,
    },
    Flush {
        board: u8,
    },
    /// `close_session`, or `archive_session` with `archive`.
    Close {
        board: u8,
        archive: bool,
    },
    /// Report on the outstanding effect at this index (or a made-up id).
    Report {
        pick: usize,
        made_up: bool,
        report: Report,
    },
    /// Report the same effect twice.
    Duplicate {
        pick: usize,
    },
    /// Start the engine's shutdown (when `now`).
    Shutdown {
        now: bool,
    },
    Clock {
        delta_ms: i64,
    },
}

fn interesting_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..20u64,
        Just(999u64),
        Just(u64::MAX - 3),
        Just(u64::MAX),
        any::<u64>()
    ]
}

fn report() -> impl Strategy<Value = Report> {
    prop_oneof![
        (
            interesting_seq(),
            interesting_seq(),
            0..6usize,
            any::<bool>(),
            0..60usize
        )
            .prop_map(
                |(pages_sequence, first, len, gap, snapshots)| Report::Loaded {
                    pages_sequence,
                    first,
                    len,
                    gap,
                    snapshots
                }
            ),
        Just(Report::NotFound),
        Just(Report::Stored),
        Just(Report::SnapshotStored),
        Just(Report::Failed),
        Just(Report::Fenced),
        Just(Report::Invalid),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let conn = 0..5u64;
    prop_oneof![
        (
            conn.clone(),
            0..3u8,
            0..3u8,
            proptest::option::of(interesting_seq())
        )
            .prop_map(|(conn, board, user, last)| Step::Join {
                conn,
                board,
                user,
                last
            }),
        (
            conn.clone(),
            0..4u8,
            proptest::collection::vec((0..2u8, 0..4u8, any::<bool>(), 0..300usize), 0..4),
            any::<bool>()
        )
            .prop_map(|(conn, batch, muts, long_id)| Step::Mutate {
                conn,
                batch,
                muts,
                long_id
            }),
        (conn.clone(), any::<f64>(), any::<f64>()).prop_map(|(conn, x, y)| Step::Cursor {
            conn,
            x,
            y
        }),
        conn.clone().prop_map(|conn| Step::Snapshot { conn }),
        conn.clone().prop_map(|conn| Step::Leave { conn }),
        conn.clone().prop_map(|conn| Step::Disconnect { conn }),
        conn.prop_map(|conn| Step::Ping { conn }),
        (0..3u8).prop_map(|board| Step::Flush { board }),
        (0..3u8, any::<bool>()).prop_map(|(board, archive)| Step::Close { board, archive }),
        (any::<usize>(), proptest::bool::weighted(0.1), report()).prop_map(
            |(pick, made_up, report)| Step::Report {
                pick,
                made_up,
                report
            }
        ),
        any::<usize>().prop_map(|pick| Step::Duplicate { pick }),
        proptest::bool::weighted(0.05).prop_map(|now| Step::Shutdown { now }),
        prop_oneof![
            -120_000i64..120_000,
            Just(-3_600_000i64),
            Just(40 * 60_000i64),
            Just(i64::MIN / 2)
        ]
        .prop_map(|delta_ms| Step::Clock { delta_ms }),
    ]
}

fn loaded(pages_sequence: u64, first: u64, len: usize, gap: bool, snapshots: usize) -> LoadedBoard {
    let mut events = Vec::new();
    let mut seq = first;
    for i in 0..len {
        let mutation = Mutation::Upsert {
            page: "p".into(),
            element: format!("e{i}").into(),
            data: "{}".into(),
        };
        events.push(Event {
            seq,
            author: "u0".into(),
            batch: format!("b{i}").into(),
            at: Timestamp::EPOCH,
            mutation,
        });
        seq = seq.wrapping_add(if gap && i == 1 { 2 } else { 1 });
    }
    let pages = Pages::from_elements([("p".into(), "stored".into(), Payload::from("{}"))]);
    LoadedBoard {
        session_type: None,
        pages,
        pages_sequence,
        events,
        snapshot_count: snapshots,
        last_snapshot_version: Some(pages_sequence),
        // Hostile batch records too: one at the loaded sequence, one past
        // it (which must fail the load, not the engine), one at u64::MAX.
        batches: [seq.wrapping_sub(1), seq.wrapping_add(len as u64), u64::MAX]
            .into_iter()
            .take(snapshots % 4)
            .map(|last_seq| BatchRecord {
                user: "u0".into(),
                batch: format!("old-{last_seq}").into(),
                last_seq,
                digest: Some(BatchDigest::from_bits(last_seq)),
                at: Timestamp::from_millis(last_seq),
            })
            .collect(),
    }
}

fn run(steps: Vec<Step>) {
    let mut config = Config::default();
    config.limits.max_payload_bytes = 200;
    config.limits.max_pending_per_board = 20;
    config.flush_threshold = 4;
    config.snapshot_retention = 2;
    let mut engine = Engine::new(config, 3);
    let mut now = Timestamp::from_millis(1_000_000_000);
    let mut outstanding: Vec<EffectId> = Vec::new();
    let mut reported: Vec<EffectId> = Vec::new();
    let (mut ended, mut released, mut drained) = (0usize, 0usize, 0usize);
    let mut awaiting: Vec<BoardId> = Vec::new();

    for step in steps {
        match step {
            Step::Join {
                conn,
                board,
                user,
                last,
            } => {
                let mut r = JoinRequest::new(
                    format!("b{board}").as_str(),
                    format!("u{user}").as_str(),
                    "User",
                );
                r.last_sequence = last;
                let _ = engine.join(now, ConnId(conn), r);
            }
            Step::Mutate {
                conn,
                batch,
                muts,
                long_id,
            } => {
                let muts = muts
                    .into_iter()
                    .map(|(page, element, del, size)| {
                        let page = PageId::from(format!("p{page}"));
                        let element = if long_id {
                            ElementId::from("x".repeat(300))
                        } else {
                            ElementId::from(format!("e{element}"))
                        };
                        if del {
                            Mutation::Delete { page, element }
                        } else {
                            Mutation::Upsert {
                                page,
                                element,
                                data: Payload::from(vec![b'x'; size]),
                            }
                        }
                    })
                    .collect();
                let _ =
                    engine.apply_mutations(now, ConnId(conn), format!("batch{batch}").into(), muts);
            }
            Step::Cursor { conn, x, y } => {
                let _ = engine.update_presence(now, ConnId(conn), x, y);
            }
            Step::Snapshot { conn } => {
                let _ = engine.request_snapshot(now, ConnId(conn));
            }
            Step::Leave { conn } => {
                let _ = engine.leave(now, ConnId(conn));
            }
            Step::Disconnect { conn } => engine.disconnect(now, ConnId(conn)),
            Step::Ping { conn } => engine.ping(now, ConnId(conn)),
            Step::Flush { board } => {
                let _ = engine.flush_pending(now, &format!("b{board}"));
            }
            Step::Close { board, archive } => {
                let board = format!("b{board}");
                let _ = if archive {
                    engine.archive_session(now, &board)
                } else {
                    engine.close_session(now, &board)
                };
            }
            Step::Report {
                pick,
                made_up,
                report,
            } => {
                let real = !made_up && !outstanding.is_empty();
                let id = if real {
                    outstanding.remove(pick % outstanding.len())
                } else {
                    EffectId(pick as u64)
                };
                let outcome = match report {
                    Report::Loaded {
                        pages_sequence,
                        first,
                        len,
                        gap,
                        snapshots,
                    } => StorageOutcome::Loaded(Box::new(loaded(
                        pages_sequence,
                        first,
                        len,
                        gap,
                        snapshots,
                    ))),
                    Report::NotFound => StorageOutcome::NotFound,
                    Report::Stored => StorageOutcome::Stored,
                    Report::SnapshotStored => StorageOutcome::SnapshotStored("s".into()),
                    Report::Failed => StorageOutcome::transient("boom"),
                    Report::Fenced => StorageOutcome::fenced("elsewhere"),
                    Report::Invalid => StorageOutcome::invalid("corrupt"),
                };
                let refused = engine.handle_storage(now, id, outcome).is_err();
                if refused && real {
                    // Refused (wrong kind): the effect is still outstanding.
                    outstanding.push(id);
                } else if real {
                    reported.push(id);
                }
            }
            Step::Duplicate { pick } => {
                if !reported.is_empty() {
                    let id = reported[pick % reported.len()];
                    assert!(
                        engine
                            .handle_storage(now, id, StorageOutcome::Stored)
                            .is_err(),
                        "a second report is refused"
                    );
                }
            }
            Step::Shutdown { now: really } => {
                if really {
                    engine.shutdown(now);
                }
            }
            Step::Clock { delta_ms } => {
                now = Timestamp::from_millis(now.as_millis().saturating_add_signed(delta_ms));
                engine.handle_timeout(now);
                let clock = now.max(Timestamp::from_millis(1_000_000_000));
                if let Some(next) = engine.poll_timeout() {
                    assert!(
                        next > clock || next > now,
                        "deadline {next:?} left at or before now {now:?}"
                    );
                }
            }
        }
        while let Some(output) = engine.poll_output() {
            match output {
                Output::Effect(e) => {
                    if let Effect::LoadBoard { board, .. } = &e {
                        assert!(
                            !awaiting.contains(board),
                            "a new session of {board} loads before the old one is released"
                        );
                    }
                    outstanding.push(e.id());
                }
                Output::Signal(Signal::SessionEnded { board, .. }) => {
                    ended += 1;
                    awaiting.push(board);
                }
                Output::Released { board } => {
                    released += 1;
                    let pos = awaiting.iter().position(|b| *b == board);
                    assert!(pos.is_some(), "{board} released without an ended session");
                    awaiting.remove(pos.unwrap());
                }
                Output::Drained => {
                    assert!(engine.is_drained());
                    drained += 1;
                }
                _ => {}
            }
        }
        outstanding.retain(|id| !reported.contains(id));
        assert!(released <= ended);
        if outstanding.is_empty() {
            assert_eq!(released, ended, "every ended session is released");
        }
        assert!(drained <= 1, "drained is said once");
        let stats = engine.stats();
        assert_eq!(
            stats.effects_outstanding,
            outstanding.len(),
            "engine and host agree on what is outstanding"
        );
    }
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=N runs a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_panics_on_hostile_inputs(steps in proptest::collection::vec(step(), 1..80)) {
        run(steps);
    }
}

#[test]
fn board_at_the_end_of_the_sequence_space_refuses_more_mutations() {
    let mut engine = Engine::new(Config::default(), 1);
    let now = Timestamp::from_millis(1);
    engine
        .join(now, ConnId(1), JoinRequest::new("b", "u", "U"))
        .unwrap();
    let Some(Output::Effect(load)) = engine.poll_output() else {
        panic!("expected a load")
    };
    let board = loaded(u64::MAX - 1, 0, 0, false, 0);
    engine
        .handle_storage(now, load.id(), StorageOutcome::Loaded(Box::new(board)))
        .unwrap();
    while engine.poll_output().is_some() {}
    let up = |e: &str| Mutation::Upsert {
        page: "p".into(),
        element: e.into(),
        data: Payload::new(Arc::<[u8]>::from(&b"1"[..])),
    };
    // One more fits exactly (sequence u64::MAX); then the space is exhausted.
    assert_eq!(
        engine
            .apply_mutations(now, ConnId(1), "a".into(), vec![up("x")])
            .unwrap()
            .sequence,
        u64::MAX
    );
    let err = engine
        .apply_mutations(now, ConnId(1), "b".into(), vec![up("y")])
        .unwrap_err();
    assert_eq!(err, MutateError::SequenceExhausted);
    assert_eq!(err.code(), ErrorCode::Unavailable);
}
