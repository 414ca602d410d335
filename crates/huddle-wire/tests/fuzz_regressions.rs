//! Regressions the fuzz targets found in the wire codec, each fixed.

/// fuzz `recovery`: `9999-12-31T23:59:59-23:59` parsed to a time in year
/// 10000, which does not print as RFC 3339: a `snapshot` frame carrying it
/// decoded, but its re-encoding did not. Times past year 9999 are refused
/// (the parsing itself is tested in huddle-core).
#[test]
fn a_snapshot_frame_past_year_9999_is_refused() {
    let frame = br#"{"type":"snapshot","id":"s","version":1,"created_at":"9999-12-31T23:59:59-23:59","created_by":"manual"}"#;
    assert!(huddle_wire::ServerMessage::from_json(frame).is_err());
}
