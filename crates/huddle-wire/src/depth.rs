//! The nesting depth of element `data`.
//!
//! `data` is kept as its exact JSON text and never parsed into a tree on
//! the server, so no parser's recursion limit applies to it: without a
//! bound, a client could store `[[[[...]]]]` 100 000 levels deep, and
//! every joiner, snapshot reader and client whose JSON parser recurses
//! would fail on it. Decoding a client frame measures the depth of each
//! upsert's `data` while its reader skips over it (`client_reader`, in
//! the same pass) and refuses the frame with `DATA_TOO_DEEP` beyond
//! [`DecodeLimits`]'s `max_data_depth`. `deeper_than` is the measure on
//! its own, for the tests' reference decoder.
//!
//! Depth counts the arrays and objects around the innermost value: a
//! scalar is 0 deep, `{}` and `[1]` are 1, `{"a":[{}]}` is 3.

/// Limits a decoder applies to what a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most levels of arrays and objects in one upsert's `data`.
    pub max_data_depth: usize,
}

/// The default of [`DecodeLimits::max_data_depth`]: 64 levels leave room
/// for the 5 levels a `joined` frame wraps around `data` within the 128
/// levels that common recursive parsers (serde_json's default among them)
/// accept.
pub const DEFAULT_MAX_DATA_DEPTH: usize = 64;

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_data_depth: DEFAULT_MAX_DATA_DEPTH,
        }
    }
}

/// Whether the JSON `text` nests arrays and objects deeper than `max`.
/// `text` is one well-formed JSON value (the decoder checked it); the scan
/// stops at the first level over `max`.
#[cfg(test)]
pub(crate) fn deeper_than(text: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        (0..).find(|&max| !deeper_than(text, max)).unwrap_or(0)
    }

    #[test]
    fn depths() {
        assert_eq!(depth("1"), 0);
        assert_eq!(depth(r#""[[[{{""#), 0);
        assert_eq!(depth("{}"), 1);
        assert_eq!(depth("[1, 2]"), 1);
        assert_eq!(depth(r#"{"a":[{}]}"#), 3);
        assert_eq!(depth(r#"[[1],[2],[[3]]]"#), 3);
        assert_eq!(depth(r#"{"k\"[":"v\\","l":["]"]}"#), 2);
    }

    #[test]
    fn stops_at_the_limit() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(deeper_than(&deep, 64));
        assert!(!deeper_than(&deep, 100_000));
        let at = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(!deeper_than(&at, 64));
        assert!(deeper_than(&at, 63));
    }
}
