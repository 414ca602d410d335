//! The pieces of hand-written JSON: strings, integers and element data,
//! byte for byte what serde_json writes for them (the golden-frame tests
//! and `tests/json_writer.rs` pin that).
//!
//! A string needs escaping only if it holds `"`, `\` or a control
//! character (serde_json escapes nothing else: not `/`, not DEL, not
//! non-ASCII text). Ids almost never do, so a string is checked first and,
//! when clean, copied verbatim; otherwise serde_json writes it.

use serde::ser::Error as _;

use super::EncodeError;
use huddle_core::Payload;

/// Whether serde_json escapes this byte in a string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether any byte of `w` is below `n` (at most 0x80): exact, as in
/// "Bit Twiddling Hacks" (a byte at 0x80 or above never counts).
fn has_below(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES.wrapping_mul(u64::from(n))) & !w & HIGHS != 0
}

/// Whether any byte of `w` is `b`.
fn has_byte(w: u64, b: u8) -> bool {
    has_below(w ^ ONES.wrapping_mul(u64::from(b)), 1)
}

/// Whether any byte of `s` needs escaping: eight bytes at a time.
fn any_escape(s: &[u8]) -> bool {
    let mut words = s.chunks_exact(8);
    for word in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let w = u64::from_ne_bytes(eight);
        if has_below(w, 0x20) || has_byte(w, b'"') || has_byte(w, b'\\') {
            return true;
        }
    }
    words.remainder().iter().copied().any(needs_escape)
}

/// Writes `s` as a JSON string (quoted, escaped as serde_json escapes).
pub(crate) fn string(out: &mut Vec<u8>, s: &str) -> Result<(), EncodeError> {
    if any_escape(s.as_bytes()) {
        return serde_json::to_writer(&mut *out, s).map_err(EncodeError::from);
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
    Ok(())
}

/// The bytes [`string`] writes for `s`, without writing them (a clean
/// string is its length and two quotes).
pub(crate) fn string_len(s: &str) -> Result<usize, EncodeError> {
    if any_escape(s.as_bytes()) {
        let mut out = Vec::with_capacity(s.len() + 8);
        serde_json::to_writer(&mut out, s).map_err(EncodeError::from)?;
        return Ok(out.len());
    }
    Ok(s.len() + 2)
}

/// The digits of `n` in decimal.
pub(crate) fn number_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Writes `n` in decimal.
pub(crate) fn number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes element data verbatim: it is JSON text already. Refused, as the
/// serde path refuses it, when it is empty or not UTF-8.
pub(crate) fn data(out: &mut Vec<u8>, data: &Payload) -> Result<(), EncodeError> {
    let bytes = data.as_bytes();
    if bytes.is_empty() {
        return Err(custom("element data is empty, not JSON"));
    }
    if !bytes.is_ascii() && core::str::from_utf8(bytes).is_err() {
        return Err(custom("element data is not UTF-8 JSON text"));
    }
    out.extend_from_slice(bytes);
    Ok(())
}

fn custom(message: &str) -> EncodeError {
    EncodeError::from(serde_json::Error::custom(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_string(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let cases = [
            "",
            "plain-id_42",
            "quote\"back\\slash",
            "ctl\u{0}\u{1f}\n\t\r\u{8}\u{c}",
            "caf\u{e9} \u{1F600} /slash \u{7f}",
        ];
        for s in cases {
            assert_eq!(as_string(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        for b in 0u8..=0x7f {
            let s = (b as char).to_string();
            assert_eq!(as_string(&s), serde_json::to_string(&s).unwrap(), "{b}");
            // At every position of a word and of the tail.
            for at in 0..20 {
                let mut long: Vec<char> = "abcdefghijklmnopqrst".chars().collect();
                long[at] = b as char;
                let long: String = long.into_iter().collect();
                assert_eq!(as_string(&long), serde_json::to_string(&long).unwrap());
                assert_eq!(any_escape(long.as_bytes()), needs_escape(b), "{b} at {at}");
            }
        }
        // Non-ASCII bytes (0x80 and above) never need escaping.
        let wide = "\u{80}\u{7ff}\u{ffff}\u{10ffff}é€😀";
        assert!(!any_escape(wide.as_bytes()));
    }

    #[test]
    fn numbers_are_decimal() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
            assert_eq!(number_len(n), out.len());
        }
    }

    #[test]
    fn string_lengths_are_what_is_written() {
        for s in ["", "plain", "quote\"back\\slash", "ctl\u{0}\n", "caf\u{e9}"] {
            assert_eq!(string_len(s).unwrap(), as_string(s).len(), "{s:?}");
        }
    }

    #[test]
    fn data_is_verbatim_or_refused() {
        let mut out = Vec::new();
        data(&mut out, &Payload::from(r#"{"s":"caf\u00e9 é"}"#)).unwrap();
        assert_eq!(out, r#"{"s":"caf\u00e9 é"}"#.as_bytes());
        let empty = data(&mut out, &Payload::from(Vec::new())).unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
        let bad = data(&mut out, &Payload::from(vec![b'"', 0xff, b'"'])).unwrap_err();
        assert!(bad.to_string().contains("UTF-8"), "{bad}");
    }
}
