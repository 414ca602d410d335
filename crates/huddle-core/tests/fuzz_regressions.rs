//! Regression tests for what the fuzz targets (`fuzz/`) found: each test is
//! the minimized input of one finding, as a plain test.

use huddle_core::*;

/// fuzz `stored`: a snapshot whose stored pages held an empty page
/// (`{"p1": {}}`) deserialized into `Pages` with an empty page, which no
/// mutation can make: `is_empty` was false for a board without elements
/// and `huddle_store::codec::encode_pages` wrote a page that
/// `decode_pages` refuses ("page has no elements").
#[test]
fn deserialized_pages_drop_empty_pages() {
    let pages: Pages = serde_json::from_str(r#"{"p1": {}}"#).unwrap();
    assert!(pages.is_empty());
    assert_eq!(pages, Pages::new());
    assert_eq!(pages.page_count(), 0);

    let pages: Pages = serde_json::from_str(r#"{"p0": {"e0": [49]}, "p1": {}}"#).unwrap();
    assert_eq!(pages.page_count(), 1);
    assert_eq!(
        pages.get("p0", "e0").map(Payload::as_bytes),
        Some(&b"1"[..])
    );

    let snapshot: Snapshot = serde_json::from_str(
        r#"{"board":"b","version":7,"pages":{"p1":{}},"created_at":0,"created_by":"archive"}"#,
    )
    .unwrap();
    assert!(snapshot.pages.is_empty());
}

fn event(seq: u64, element: &str) -> Event {
    Event {
        seq,
        author: "u1".into(),
        batch: "b0".into(),
        at: Timestamp::from_millis(1000),
        mutation: Mutation::Upsert {
            page: "p0".into(),
            element: element.into(),
            data: Payload::from("1"),
        },
    }
}

/// Joins `b` and answers the load with `loaded`; returns the join answer.
fn load(loaded: LoadedBoard) -> Notice {
    let now = Timestamp::from_millis(1_767_225_600_000);
    let mut engine = Engine::new(Config::default(), 1);
    engine
        .join(now, ConnId(1), JoinRequest::new("b", "u0", "U"))
        .unwrap();
    let mut load = None;
    while let Some(out) = engine.poll_output() {
        if let Output::Effect(effect @ Effect::LoadBoard { .. }) = out {
            load = Some(effect.id());
        }
    }
    engine
        .handle_storage(now, load.unwrap(), StorageOutcome::Loaded(Box::new(loaded)))
        .unwrap();
    let mut answer = None;
    while let Some(out) = engine.poll_output() {
        if let Output::Notify { notice, .. } = out {
            answer.get_or_insert(notice);
        }
    }
    answer.unwrap()
}

/// fuzz `stored`: a stored log that wraps around (`u64::MAX`, 0, 1) passed
/// the contiguity check (`wrapping_add`) and was installed: the events were
/// not sorted, so the engine replayed some of them and dropped others,
/// silently. It is now refused as a failed load, like any other hole.
#[test]
fn a_stored_log_that_wraps_around_is_refused() {
    let mut loaded = LoadedBoard::empty();
    loaded.pages_sequence = i64::MAX as u64 - 1;
    loaded.events = vec![event(u64::MAX, "e0"), event(0, "e4"), event(1, "e0")];
    assert!(
        matches!(
            load(loaded),
            Notice::JoinFailed {
                code: ErrorCode::Unavailable,
                ..
            }
        ),
        "a wrapped log must not load"
    );
}

/// Same target: a stored event with sequence 0 (sequences start at 1).
#[test]
fn a_stored_event_with_sequence_zero_is_refused() {
    let mut loaded = LoadedBoard::empty();
    loaded.events = vec![event(0, "e0"), event(1, "e1")];
    assert!(matches!(
        load(loaded),
        Notice::JoinFailed {
            code: ErrorCode::Unavailable,
            ..
        }
    ));
}

/// Answers every effect as stored (a load with `loaded`) until none is left.
fn settle(engine: &mut Engine, now: Timestamp, loaded: &LoadedBoard) -> Vec<(ConnId, Notice)> {
    let mut notices = Vec::new();
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Effect(effect) => {
                let outcome = match &effect {
                    Effect::LoadBoard { .. } => StorageOutcome::Loaded(Box::new(loaded.clone())),
                    Effect::StoreSnapshot { .. } => StorageOutcome::SnapshotStored("s".into()),
                    _ => StorageOutcome::Stored,
                };
                engine.handle_storage(now, effect.id(), outcome).unwrap();
            }
            Output::Notify { conn, notice } => notices.push((conn, notice)),
            Output::Broadcast { conns, notice } => {
                notices.extend(conns.into_iter().map(|c| (c, notice.clone())));
            }
            Output::Signal(_) | Output::Released { .. } | Output::Drained => {}
        }
    }
    notices
}

/// fuzz `engine`: on a board whose sequence reached `u64::MAX`, a join
/// from `MAX - 1` got an empty delta at board sequence `MAX`: the history
/// marked the end of a run by the sequence after it, which saturated, so
/// the client silently missed event `MAX`. (The same saturation made the
/// batch record of a batch ending at `MAX` say `MAX - 1`.) The history now
/// keeps the inclusive last sequence.
#[test]
fn delta_sync_reaches_sequence_u64_max() {
    let now = Timestamp::from_millis(1_767_225_600_000);
    let mut engine = Engine::new(Config::default(), 1);
    let mut loaded = LoadedBoard::empty();
    loaded.pages_sequence = u64::MAX - 2;
    engine
        .join(now, ConnId(1), JoinRequest::new("b", "u0", "U"))
        .unwrap();
    settle(&mut engine, now, &loaded);
    let del = |e: &str| Mutation::Delete {
        page: "p".into(),
        element: e.into(),
    };
    let accepted = engine
        .apply_mutations(now, ConnId(1), "x".into(), vec![del("a"), del("b")])
        .unwrap();
    assert_eq!(accepted.sequence, u64::MAX);
    settle(&mut engine, now, &loaded);

    for (from, expected) in [
        (u64::MAX - 1, vec![u64::MAX]),
        (u64::MAX - 2, vec![u64::MAX - 1, u64::MAX]),
    ] {
        let conn = ConnId(from % 100);
        engine
            .join(
                now,
                conn,
                JoinRequest::new("b", "u1", "V").last_sequence(from),
            )
            .unwrap();
        let notices = settle(&mut engine, now, &loaded);
        let Some((_, Notice::Joined(joined))) = notices.iter().find(|(c, _)| *c == conn) else {
            panic!("no joined: {notices:?}");
        };
        assert_eq!(joined.sequence, u64::MAX);
        let JoinSync::Delta { events } = &joined.sync else {
            panic!("expected a delta: {joined:?}");
        };
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, expected, "delta from {from}");
    }
    // A retry of the batch is answered with its sequence, MAX.
    let retry = engine
        .apply_mutations(now, ConnId(1), "x".into(), vec![del("a"), del("b")])
        .unwrap();
    assert_eq!((retry.sequence, retry.duplicate), (u64::MAX, true));
    assert_eq!(
        engine.apply_mutations(now, ConnId(1), "y".into(), vec![del("c")]),
        Err(MutateError::SequenceExhausted)
    );
}

/// fuzz `recovery`: `9999-12-31T23:59:59-23:59` parsed to a time in year
/// 10000, which prints as `10000-01-01T23:58:59.000Z`, not RFC 3339: a
/// `snapshot` frame or a recovery file carrying it decoded, but its
/// re-encoding did not. Times past year 9999 are now refused.
#[test]
fn rfc3339_times_past_year_9999_are_refused() {
    assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:59-23:59"), None);
    assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:60Z"), None);
    let last = Timestamp::parse_rfc3339("9999-12-31T23:59:59.999Z").unwrap();
    assert_eq!(last.to_string(), "9999-12-31T23:59:59.999Z");
    assert_eq!(
        Timestamp::parse_rfc3339("9999-12-31T23:59:59+23:59")
            .map(|t| Timestamp::parse_rfc3339(&t.to_string()) == Some(t)),
        Some(true)
    );
}
