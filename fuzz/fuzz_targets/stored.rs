//! Stored records and snapshots, as a broken or hostile storage layer
//! could hand them back. The first byte picks the form:
//!
//! - `0`: the rest is a `huddle_store::codec` encoding of a board's pages
//!   (snapshots): decoding never panics, and what decodes round-trips;
//! - `1`: the rest is a JSON `LoadedBoard`;
//! - `2`: the rest is a JSON `Snapshot` (its pages then go through the codec);
//! - anything else: the rest builds a `LoadedBoard` field by field.
//!
//! Every `LoadedBoard` is checked with `huddle_store::load::check_loaded`
//! and loaded into an engine: the engine refuses it with a typed join error
//! or installs a consistent board (pages = stored pages + replayed events,
//! sequence = the end of the log, new mutations continue it) — never a
//! panic. A board that `check_loaded` accepts must load.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use huddle_core::*;
use huddle_store::codec::{decode_pages, encode_pages};
use huddle_store::load::check_loaded;
use huddle_store::validate::{check_events, check_snapshot, plan_flush};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, Copy)]
struct Seq(u64);

impl<'a> Arbitrary<'a> for Seq {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Seq(match u.int_in_range(0u8..=9)? {
            0 => u64::MAX - u64::from(u.arbitrary::<u8>()? % 4),
            1 => (i64::MAX as u64) + u64::from(u.arbitrary::<u8>()? % 4) - 1,
            2 => u.arbitrary()?,
            _ => u64::from(u.arbitrary::<u8>()? % 24),
        }))
    }
}

#[derive(Arbitrary, Debug)]
struct ArbLoaded {
    persistent: Option<bool>,
    pages: Vec<(u8, u8, u8)>,
    pages_sequence: Seq,
    first_seq: Seq,
    events: Vec<(u8, u8, u8, bool)>,
    bend: Option<(u8, Seq)>,
    snapshot_count: u16,
    last_snapshot_version: Option<Seq>,
    batches: Vec<(u8, u8, Seq)>,
    log_end: Option<Seq>,
}

impl ArbLoaded {
    fn build(&self) -> (LoadedBoard, Option<u64>) {
        let mut events: Vec<Event> = self
            .events
            .iter()
            .take(48)
            .enumerate()
            .map(|(i, (user, batch, element, delete))| {
                let element = ElementId::from(format!("e{}", element % 6));
                Event {
                    seq: self.first_seq.0.wrapping_add(i as u64),
                    author: format!("u{}", user % 3).into(),
                    batch: format!("b{}", batch % 6).into(),
                    at: Timestamp::from_millis(1_000),
                    mutation: if *delete {
                        Mutation::Delete {
                            page: "p0".into(),
                            element,
                        }
                    } else {
                        Mutation::Upsert {
                            page: "p0".into(),
                            element,
                            data: Payload::from(i.to_string().as_str()),
                        }
                    },
                }
            })
            .collect();
        if let Some((i, seq)) = self.bend {
            if let Some(e) = events.get_mut(usize::from(i)) {
                e.seq = seq.0;
            }
        }
        let loaded = LoadedBoard {
            session_type: self.persistent.map(|p| {
                if p {
                    SessionType::Persistent
                } else {
                    SessionType::Ephemeral
                }
            }),
            pages: Pages::from_elements(self.pages.iter().take(24).map(|(p, e, d)| {
                (
                    format!("p{}", p % 3).into(),
                    format!("e{}", e % 6).into(),
                    Payload::from(d.to_string().as_str()),
                )
            })),
            pages_sequence: self.pages_sequence.0,
            events,
            snapshot_count: usize::from(self.snapshot_count),
            last_snapshot_version: self.last_snapshot_version.map(|s| s.0),
            batches: self
                .batches
                .iter()
                .take(12)
                .map(|(u, b, s)| BatchRecord {
                    user: format!("u{}", u % 3).into(),
                    batch: format!("b{}", b % 6).into(),
                    last_seq: s.0,
                    digest: Some(huddle_core::BatchDigest::from_bits(s.0)),
                    at: huddle_core::Timestamp::from_millis(s.0),
                })
                .collect(),
        };
        (loaded, self.log_end.map(|s| s.0))
    }
}

fn codec(bytes: &[u8]) {
    let Ok(pages) = decode_pages(bytes) else {
        return;
    };
    let encoded = encode_pages(&pages).expect("decoded pages encode");
    let again = decode_pages(&encoded).expect("re-encoded pages decode");
    assert_eq!(again, pages);
    assert_eq!(encode_pages(&again).ok(), Some(encoded));
}

/// The end of the log the board describes.
fn log_end(loaded: &LoadedBoard) -> u64 {
    loaded
        .events
        .last()
        .map_or(loaded.pages_sequence, |e| e.seq)
        .max(loaded.pages_sequence)
}

fn load(loaded: LoadedBoard, log_end_hint: Option<u64>) {
    let end = log_end_hint.unwrap_or_else(|| log_end(&loaded));
    let valid = check_loaded(&loaded, end).is_ok();
    let _ = check_events(&"b".into(), &loaded.events);
    let expected_sequence = log_end(&loaded);
    let mut expected_pages = loaded.pages.clone();
    for e in loaded
        .events
        .iter()
        .filter(|e| e.seq > loaded.pages_sequence)
    {
        expected_pages.apply(&e.mutation);
    }

    let now = Timestamp::from_millis(1_767_225_600_000);
    let mut engine = Engine::new(Config::default(), 1);
    let conn = ConnId(1);
    engine
        .join(now, conn, JoinRequest::new("b", "u0", "U"))
        .expect("a valid join");
    let mut load_id = None;
    while let Some(out) = engine.poll_output() {
        if let Output::Effect(Effect::LoadBoard { id, .. }) = out {
            load_id = Some(id);
        }
    }
    let id = load_id.expect("a join of a new board loads it");
    engine
        .handle_storage(now, id, StorageOutcome::Loaded(Box::new(loaded.clone())))
        .expect("the report of a load fits");
    let mut joined = None;
    let mut failed = None;
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Notify {
                notice: Notice::Joined(j),
                ..
            } => joined = Some(j),
            Output::Notify {
                notice: Notice::JoinFailed { code, message, .. },
                ..
            } => failed = Some((code, message)),
            _ => {}
        }
    }
    let Some(joined) = joined else {
        let (code, message) = failed.expect("a join is answered");
        assert_eq!(code, ErrorCode::Unavailable, "{message}");
        assert!(
            engine.session("b").is_none(),
            "a refused load leaves no session"
        );
        assert!(
            !(valid && log_end_hint.is_none()),
            "check_loaded accepts what the engine refuses ({message}): {loaded:?}"
        );
        return;
    };
    // Installed: the board must be what the store described.
    let info = engine.session("b").expect("a session after joining");
    assert_eq!(info.sequence, expected_sequence, "{loaded:?}");
    assert_eq!(joined.sequence, expected_sequence);
    assert!(info.history_from <= expected_sequence.saturating_add(1));
    assert_eq!(
        engine.pages("b"),
        Some(&expected_pages),
        "pages after loading {loaded:?}"
    );
    // New mutations continue the sequence (or are refused with a typed error).
    let m = Mutation::Delete {
        page: "p0".into(),
        element: "e0".into(),
    };
    match engine.apply_mutations(now, conn, "fresh".into(), vec![m]) {
        Ok(a) => assert_eq!(Some(a.sequence), expected_sequence.checked_add(1)),
        Err(e) => assert_eq!(e, MutateError::SequenceExhausted),
    }
    // A replayed batch the store remembers is answered with its sequence.
    for r in &loaded.batches {
        let _ = engine.apply_mutations(now, conn, r.batch.clone(), vec![]);
    }
    // A delta join from any point is answered.
    let conn2 = ConnId(2);
    let from = expected_sequence.saturating_sub(3);
    engine
        .join(
            now,
            conn2,
            JoinRequest::new("b", "u1", "V").last_sequence(from),
        )
        .expect("a second join");
    while engine.poll_output().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind {
        0 => codec(rest),
        1 => {
            if let Ok(loaded) = serde_json::from_slice::<LoadedBoard>(rest) {
                load(loaded, None);
            }
        }
        2 => {
            if let Ok(snapshot) = serde_json::from_slice::<Snapshot>(rest) {
                let _ = check_snapshot(&snapshot);
                if let Ok(bytes) = encode_pages(&snapshot.pages) {
                    assert_eq!(decode_pages(&bytes).ok(), Some(snapshot.pages.clone()));
                }
            }
        }
        _ => {
            let mut u = Unstructured::new(rest);
            if let Ok(arb) = ArbLoaded::arbitrary(&mut u) {
                let (loaded, end) = arb.build();
                let batch = FlushBatch {
                    first_seq: loaded.pages_sequence,
                    through: end.unwrap_or(0),
                    ..FlushBatch::default()
                };
                let _ = plan_flush(&"b".into(), &batch, loaded.pages_sequence, log_end(&loaded));
                load(loaded, end);
            }
        }
    }
});
