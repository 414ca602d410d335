//! Raw bytes as a recovery file (the client's persisted offline queue):
//! `Recovery::from_json` never panics, and whatever decodes re-encodes to
//! text that decodes to the same recovery. Also exercises the RFC 3339
//! parser on the same bytes.
#![no_main]

use huddle_client::Recovery;
use huddle_core::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Some(t) = Timestamp::parse_rfc3339(text) {
            let shown = t.to_string();
            assert_eq!(
                Timestamp::parse_rfc3339(&shown),
                Some(t),
                "{text:?} parses to {t:?}, shown as {shown:?}"
            );
        }
    }
    let Ok(recovery) = Recovery::from_json(bytes) else {
        return;
    };
    let _ = recovery.mutation_count();
    let json = recovery
        .to_json()
        .unwrap_or_else(|e| panic!("{recovery:?} decoded but does not encode: {e}"));
    let again = Recovery::from_json(json.as_bytes())
        .unwrap_or_else(|e| panic!("re-encoded {json} does not decode: {e}"));
    assert_eq!(again, recovery, "round trip through {json}");
});
