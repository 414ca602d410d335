//! Raw bytes as a client's frame: `ClientMessage::from_json` never panics,
//! `from_text_with` decodes a UTF-8 frame the same, and whatever decodes
//! re-encodes to a frame that decodes to the same message (and encodes to
//! the same text again).
#![no_main]

use huddle_wire::{ClientMessage, DecodeLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let decoded = ClientMessage::from_json(frame);
    if let Ok(text) = std::str::from_utf8(frame) {
        let limits = DecodeLimits::default();
        assert_eq!(ClientMessage::from_text_with(text, &limits), decoded);
    }
    let Ok(message) = decoded else {
        return;
    };
    let _ = message.kind();
    let json = message
        .to_json()
        .unwrap_or_else(|e| panic!("{message:?} decoded but does not encode: {e}"));
    let again = ClientMessage::from_json(json.as_bytes())
        .unwrap_or_else(|e| panic!("re-encoded {json} does not decode: {e}"));
    assert_eq!(again, message, "round trip through {json}");
    assert_eq!(again.to_json().ok().as_deref(), Some(json.as_str()));
});
