//! Raw bytes as a server frame, which clients decode:
//! `ServerMessage::from_json` never panics, and whatever decodes
//! re-encodes to a frame that decodes to the same message.
#![no_main]

use huddle_wire::ServerMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let Ok(message) = ServerMessage::from_json(frame) else {
        return;
    };
    let _ = message.kind();
    let json = message
        .to_json()
        .unwrap_or_else(|e| panic!("{message:?} decoded but does not encode: {e}"));
    let again = ServerMessage::from_json(json.as_bytes())
        .unwrap_or_else(|e| panic!("re-encoded {json} does not decode: {e}"));
    assert_eq!(again, message, "round trip through {json}");
    assert_eq!(again.to_json().ok().as_deref(), Some(json.as_str()));
});
