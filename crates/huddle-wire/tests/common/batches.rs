//! A board where alice (an id that needs escaping) writes three batches,
//! of 1, 3 and 2 events, while bob is joined: what the `events` frame
//! tests splice and compare with the serializer's frames.

use huddle_core::*;
use huddle_testkit::Harness;

pub const ALICE: ConnId = ConnId(1);
pub const BOB: ConnId = ConnId(2);

/// An upsert on page `p"q` (a page id that needs escaping).
pub fn upsert(element: &str, data: &str) -> Mutation {
    Mutation::Upsert {
        page: "p\"q".into(),
        element: element.into(),
        data: data.into(),
    }
}

/// The board and bob's three `events` notices, one per batch.
pub fn three_batches() -> (Harness, Vec<Notice>) {
    let mut h = Harness::new(Config::default());
    // An id that needs escaping (control characters are refused in ids).
    h.join(ALICE, JoinRequest::new("b", "alice\"\\", "Alice"))
        .unwrap();
    h.join(BOB, JoinRequest::new("b", "bob", "Bob")).unwrap();
    h.take(BOB);
    h.mutate(ALICE, "b1", vec![upsert("e1", "1")]).unwrap();
    h.mutate(
        ALICE,
        "b2",
        vec![
            upsert("e2", r#"{"s":"caf\u00e9 é"}"#),
            Mutation::Delete {
                page: "p\"q".into(),
                element: "e1".into(),
            },
            upsert("e\\3", "[1, 2]"),
        ],
    )
    .unwrap();
    h.mutate(
        ALICE,
        "b3",
        vec![upsert("e4", "null"), upsert("e5", "true")],
    )
    .unwrap();
    let events = h.take(BOB);
    assert_eq!(events.len(), 3, "{events:?}");
    (h, events)
}
