//! Large syncs in parts (`docs/protocol.md`): a `joined` encoded with a
//! frame limit is frames each within it, which decode and assemble back
//! into the same sync; without a limit it is the one frame it always was;
//! the kept encodings are made once and sliced; and the frame limit's
//! invariant holds for the worst case it describes.

use huddle_core::*;
use huddle_testkit::Harness;
use huddle_wire::*;

const ALICE: ConnId = ConnId(1);

fn upsert(page: &str, element: &str, data: &str) -> Mutation {
    Mutation::Upsert {
        page: page.into(),
        element: element.into(),
        data: data.into(),
    }
}

/// Data of about `len` bytes, some of it needing no escape, some of it
/// non-ASCII.
fn data(n: usize, len: usize) -> String {
    format!(r#"{{"n":{n},"s":"{}é"}}"#, "x".repeat(len))
}

/// A board of `pages` pages with `per_page` elements each (sizes vary,
/// one page is emptied, ids need escaping), in batches of 50.
fn board(pages: usize, per_page: usize) -> Harness {
    let mut h = Harness::new(Config::default());
    h.join(ALICE, JoinRequest::new("b", "alice\"", "Alice"))
        .unwrap();
    let mut batch = Vec::new();
    let mut n = 0;
    for p in 0..pages {
        let page = format!("page \"{p}\"");
        for e in 0..per_page {
            batch.push(upsert(&page, &format!("el\\{e}"), &data(n, (n * 37) % 700)));
            n += 1;
            if batch.len() == 50 {
                h.mutate(ALICE, &format!("b{n}"), std::mem::take(&mut batch))
                    .unwrap();
            }
        }
    }
    batch.push(upsert("gone", "x", "1"));
    batch.push(Mutation::Delete {
        page: "gone".into(),
        element: "x".into(),
    });
    h.mutate(ALICE, "last", batch).unwrap();
    h.take(ALICE);
    h
}

fn join(h: &mut Harness, conn: u64, last_sequence: Option<u64>) -> Notice {
    let mut request = JoinRequest::new("b", "bob", "Bob");
    if let Some(s) = last_sequence {
        request = request.last_sequence(s);
    }
    h.join(ConnId(conn), request).unwrap();
    h.take(ConnId(conn)).remove(0)
}

/// Every (page, element, data) in order.
fn listing(pages: &Pages) -> Vec<(String, String, Vec<u8>)> {
    pages
        .iter()
        .flat_map(|(p, elements)| {
            elements.iter().map(move |(e, d)| {
                (
                    p.as_str().to_owned(),
                    e.as_str().to_owned(),
                    d.as_bytes().to_vec(),
                )
            })
        })
        .collect()
}

/// Decodes the frames as a client does: the `joined`, then each part.
fn assemble(frames: &[Vec<u8>]) -> JoinedMessage {
    let ServerMessage::Joined(joined) = ServerMessage::from_json(&frames[0]).unwrap() else {
        panic!("not joined: {}", String::from_utf8_lossy(&frames[0]))
    };
    assert_eq!(joined.parts as usize, frames.len() - 1);
    let mut assembly = JoinAssembly::new(*joined);
    for (i, frame) in frames[1..].iter().enumerate() {
        assert!(!assembly.is_complete());
        let ServerMessage::JoinedPart(part) = ServerMessage::from_json(frame).unwrap() else {
            panic!("not a part: {}", String::from_utf8_lossy(frame))
        };
        assert_eq!(part.part as usize, i + 1);
        assert_eq!(part.last, i + 2 == frames.len());
        // The serializer writes the part the same way.
        let again = ServerMessage::JoinedPart(part.clone()).to_json().unwrap();
        assert_eq!(
            ServerMessage::from_json(again.as_bytes()).unwrap(),
            ServerMessage::JoinedPart(part.clone())
        );
        assembly.add(*part).unwrap();
    }
    assert!(assembly.is_complete());
    assembly.into_joined()
}

fn check_parts(notice: &Notice, limit: usize) -> Vec<Vec<u8>> {
    let frames = encode_notice_frames(notice, limit).unwrap();
    for (i, f) in frames.iter().enumerate() {
        assert!(
            f.len() <= limit,
            "frame {i} of {}: {} > {limit}",
            frames.len(),
            f.len()
        );
    }
    let assembled = assemble(&frames);
    let ServerMessage::Joined(whole) = ServerMessage::from_notice(notice) else {
        panic!()
    };
    let JoinedMessage {
        sync, participants, ..
    } = &*whole;
    assert_eq!(&assembled.participants, participants);
    match (&assembled.sync, sync) {
        (WireSync::Full { pages: got, .. }, WireSync::Full { pages: want, .. }) => {
            assert_eq!(listing(got), listing(want));
        }
        (WireSync::Delta { events: got }, WireSync::Delta { events: want }) => {
            assert_eq!(got, want);
        }
        other => panic!("{other:?}"),
    }
    frames
}

#[test]
fn a_full_sync_in_parts_is_the_same_board() {
    let mut h = board(5, 120);
    let notice = join(&mut h, 2, None);
    let whole = encode_notice(&notice).unwrap();
    assert!(whole.len() > 60_000, "{}", whole.len());
    // No limit: the one frame of old, no `parts`.
    assert_eq!(
        encode_notice_frames(&notice, usize::MAX).unwrap(),
        vec![whole.clone()]
    );
    // A limit the whole frame fits with room for a part count: one frame.
    let roomy = whole.len() + r#","parts":4294967295"#.len();
    assert_eq!(
        encode_notice_frames(&notice, roomy).unwrap(),
        vec![whole.clone()]
    );
    assert!(!String::from_utf8_lossy(&whole).contains("\"parts\""));
    for limit in [whole.len() - 1, 64 * 1024, 16 * 1024, 4096, 1500] {
        let frames = check_parts(&notice, limit);
        assert!(frames.len() >= 2, "{limit}");
        if limit == 4096 {
            assert!(frames.len() > whole.len() / 4096, "{}", frames.len());
        }
    }
}

#[test]
fn a_delta_in_parts_is_the_same_events() {
    let mut h = board(3, 100);
    // Broadcast-free: bob joins after the events, so the delta encodes
    // (and keeps) the batches' encodings itself.
    let notice = join(&mut h, 2, Some(1));
    let Notice::Joined(j) = &notice else { panic!() };
    assert!(matches!(j.sync, JoinSync::Delta { .. }), "{notice:?}");
    let whole = encode_notice(&notice).unwrap();
    for limit in [whole.len() - 1, 8192, 2000] {
        let frames = check_parts(&notice, limit);
        assert!(frames.len() >= 2);
    }
}

#[test]
fn the_kept_encodings_are_made_once_and_sliced() {
    let mut h = board(4, 100);
    let notice = join(&mut h, 2, None);
    assert_eq!(h.engine.stats().encoded_bytes_held, 0);
    let parts = encode_notice_frames(&notice, 3000).unwrap();
    let held = h.engine.stats().encoded_bytes_held;
    assert!(held > 0, "a split sync fills the runs' places");
    // The same frames from the kept encodings, and the same one frame as
    // an unsplit encoding.
    assert_eq!(encode_notice_frames(&notice, 3000).unwrap(), parts);
    assert_eq!(h.engine.stats().encoded_bytes_held, held);
    // Another joiner's sync copies the same kept bytes: nothing new held.
    let second = join(&mut h, 3, None);
    let frames = encode_notice_frames(&second, 3000).unwrap();
    assert_eq!(frames.len(), parts.len());
    assert_eq!(h.engine.stats().encoded_bytes_held, held);
    assert_eq!(assemble(&frames).sync, assemble(&parts).sync);
}

#[test]
fn the_frame_limit_invariant_holds_for_its_worst_case() {
    let limits = Limits::new()
        .max_payload_bytes(2000)
        .max_id_bytes(12)
        .max_display_name_bytes(10)
        .max_participants(4);
    let limit = frame_needs(&limits).iter().map(|(_, n)| *n).max().unwrap();
    assert_eq!(check_frame_limit(limit, &limits), Ok(()));
    assert!(check_frame_limit(limit - 1, &limits).is_err());
    let config = Config::new().limits(limits.clone());
    let mut h = Harness::new(config);
    let quotes = |n: usize| "\"".repeat(n);
    let big = format!("\"{}\"", "y".repeat(1998));
    let board = quotes(12);
    for u in 0..4u8 {
        let user = format!("{}{u}", quotes(11));
        let name = format!("{}{u}", quotes(9));
        h.join(
            ConnId(u64::from(u) + 1),
            JoinRequest::new(board.as_str(), user.as_str(), name.as_str()),
        )
        .unwrap();
    }
    let mut mutations = Vec::new();
    for e in 0..6u8 {
        let element = format!("{}{e}", quotes(11));
        mutations.push(upsert(&quotes(12), &element, &big));
    }
    h.mutate(ConnId(1), "b", mutations).unwrap();
    h.drain();
    for (conn, last) in [(10, None), (11, Some(0))] {
        let mut request =
            JoinRequest::new(board.as_str(), format!("{}9", quotes(11)).as_str(), "late");
        if let Some(s) = last {
            request = request.last_sequence(s);
        }
        h.disconnect(ConnId(4));
        h.join(ConnId(conn), request).unwrap();
        let notice = h.take(ConnId(conn)).remove(0);
        assert!(matches!(notice, Notice::Joined(_)), "{notice:?}");
        let frames = check_parts(&notice, limit);
        assert!(frames.len() >= 6, "one element or event per part at most");
    }
}

#[test]
fn parts_that_do_not_continue_the_sync_are_refused() {
    let mut h = board(2, 60);
    let notice = join(&mut h, 2, None);
    let frames = encode_notice_frames(&notice, 2000).unwrap();
    assert!(frames.len() >= 4);
    let joined = || match ServerMessage::from_json(&frames[0]).unwrap() {
        ServerMessage::Joined(j) => *j,
        _ => panic!(),
    };
    let part = |i: usize| match ServerMessage::from_json(&frames[i]).unwrap() {
        ServerMessage::JoinedPart(p) => *p,
        _ => panic!(),
    };
    let mut a = JoinAssembly::new(joined());
    assert_eq!(
        a.add(part(2)),
        Err(PartError::OutOfOrder {
            expected: 1,
            got: 2
        })
    );
    let mut other = part(1);
    other.session_id = UserSessionId(other.session_id.0 ^ 1);
    assert!(matches!(a.add(other), Err(PartError::OtherSession { .. })));
    let mut other = part(1);
    other.board = "elsewhere".into();
    assert!(matches!(a.add(other), Err(PartError::OtherSession { .. })));
    let mut events = part(1);
    events.content = PartContent::Events(vec![]);
    assert!(matches!(a.add(events), Err(PartError::WrongContent { .. })));
    let mut early = part(1);
    early.last = true;
    assert!(matches!(a.add(early), Err(PartError::WrongLast { .. })));
    // None of that changed anything: the right sequence still completes.
    assert_eq!(a.received(), 0);
    for i in 1..frames.len() {
        a.add(part(i)).unwrap();
    }
    assert!(a.is_complete());
    assert_eq!(a.add(part(1)), Err(PartError::Unexpected));
    // A `joined` without parts takes none.
    let mut done = JoinAssembly::new(match ServerMessage::from_notice(&notice) {
        ServerMessage::Joined(j) => *j,
        _ => panic!(),
    });
    assert!(done.is_complete());
    assert_eq!(done.add(part(1)), Err(PartError::Unexpected));
}

#[test]
fn malformed_parts_do_not_decode() {
    for (frame, want) in [
        (
            r#"{"type":"joined_part","session_id":"01","board":"b","part":1,"last":true}"#,
            "missing `pages`",
        ),
        (
            r#"{"type":"joined_part","session_id":"01","board":"b","part":1,"last":true,"pages":{},"events":[]}"#,
            "invalid `events`",
        ),
        (
            r#"{"type":"joined_part","session_id":"01","board":"b","last":true,"pages":{}}"#,
            "missing `part`",
        ),
        (
            r#"{"type":"joined_part","session_id":"01","board":"b","part":1,"pages":{}}"#,
            "missing `last`",
        ),
        (
            r#"{"type":"joined_part","session_id":"xyz","board":"b","part":1,"last":true,"pages":{}}"#,
            "invalid `session_id`",
        ),
        (
            r#"{"type":"joined_part","session_id":"01","board":"b","part":-1,"last":true,"pages":{}}"#,
            "malformed",
        ),
    ] {
        let err = ServerMessage::from_json(frame.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(want), "{frame}: {err}");
    }
}

#[test]
fn parts_round_trip_through_the_serializer() {
    for frame in [
        r##"{"type":"joined","session_id":"00000000000000a1","board":"b","color":"#FF6B6B","participants":[],"sequence":3,"history_from":0,"sync":{"kind":"full","reason":"initial","parts":2,"pages":{"p":{"a":1}}}}"##,
        r##"{"type":"joined","session_id":"a1","board":"b","color":"#FF6B6B","participants":[],"sequence":3,"history_from":0,"sync":{"kind":"delta","parts":1,"events":[]}}"##,
        r#"{"type":"joined_part","session_id":"00000000000000a1","board":"b","part":1,"pages":{"p":{"b":[2]},"q":{}},"last":false}"#,
        r#"{"type":"joined_part","session_id":"a1","board":"b","part":2,"events":[{"seq":4,"user":"u","op":"upsert","page":"p","element":"e","data":{"x":1}}],"last":true}"#,
    ] {
        let message = ServerMessage::from_json(frame.as_bytes()).unwrap();
        let text = message.to_json().unwrap();
        assert_eq!(
            ServerMessage::from_json(text.as_bytes()).unwrap(),
            message,
            "{frame}"
        );
        let again = ServerMessage::from_json(text.as_bytes())
            .unwrap()
            .to_json()
            .unwrap();
        assert_eq!(again, text);
        assert!(
            text.contains(r#""parts":"#) || text.contains("joined_part"),
            "{text}"
        );
    }
}

#[test]
fn every_limit_splits_into_frames_within_it() {
    let mut h = board(3, 40);
    let full = join(&mut h, 2, None);
    let delta = join(&mut h, 3, Some(5));
    let mut previous = usize::MAX;
    for limit in (1100..9000).step_by(97) {
        let frames = check_parts(&full, limit);
        assert!(
            frames.len() <= previous,
            "a larger limit never needs more frames"
        );
        previous = frames.len();
        check_parts(&delta, limit);
    }
}
