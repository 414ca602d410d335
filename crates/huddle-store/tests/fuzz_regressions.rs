//! Regression tests for what the fuzz targets (`fuzz/`) found in stored
//! records.

use huddle_core::{Pages, Payload};
use huddle_store::codec::{decode_pages, encode_pages};

/// fuzz `stored`: pages deserialized with an empty page encoded to bytes
/// that `decode_pages` refuses, so a snapshot could be stored but never
/// read back. Deserialized pages now never hold an empty page.
#[test]
fn pages_from_stored_json_round_trip_through_the_codec() {
    let pages = Pages::from_elements([("p0".into(), "e0".into(), Payload::from("1"))]);
    // The JSON a store could hold: the page p1 with no elements.
    let stored: Pages = serde_json::from_str(r#"{"p0":{"e0":[49]},"p1":{}}"#).unwrap();
    assert_eq!(stored, pages);
    let bytes = encode_pages(&stored).unwrap();
    assert_eq!(decode_pages(&bytes).unwrap(), stored);
}

fn event(seq: u64) -> huddle_core::Event {
    huddle_core::Event {
        seq,
        author: "u".into(),
        batch: "b".into(),
        at: huddle_core::Timestamp::EPOCH,
        mutation: huddle_core::Mutation::Delete {
            page: "p".into(),
            element: "e".into(),
        },
    }
}

/// fuzz `stored`: `check_loaded` took a log at the top of the sequence
/// space (`u64::MAX` twice: `saturating_add`) or starting at 0 for
/// contiguous, where the engine refuses it.
#[test]
fn check_loaded_refuses_saturated_and_zero_sequences() {
    use huddle_store::load::check_loaded;
    let mut loaded = huddle_core::LoadedBoard::empty();
    loaded.events = vec![event(u64::MAX), event(u64::MAX)];
    assert!(check_loaded(&loaded, u64::MAX).is_err());
    loaded.events = vec![event(0), event(1)];
    assert!(check_loaded(&loaded, 1).is_err());
    loaded.events = vec![event(1), event(2)];
    assert!(check_loaded(&loaded, 2).is_ok());
}

/// fuzz `stored`/`engine`: a log past `MAX_SEQUENCE` (which no backend
/// writes) is refused by `check_loaded`, as the engine refuses a board at
/// `u64::MAX`.
#[test]
fn check_loaded_refuses_a_log_past_max_sequence() {
    use huddle_store::load::check_loaded;
    let mut loaded = huddle_core::LoadedBoard::empty();
    loaded.events = vec![event(u64::MAX - 1), event(u64::MAX)];
    assert!(check_loaded(&loaded, u64::MAX).is_err());
    let end = huddle_store::MAX_SEQUENCE;
    loaded.events = (end - 999..=end).map(event).collect();
    loaded.pages_sequence = end - 1;
    assert!(check_loaded(&loaded, end).is_ok());
}
