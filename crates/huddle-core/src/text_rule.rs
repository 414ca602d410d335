//! The one rule for ids and names, whatever door they come through (a
//! WebSocket frame, an HTTP body, a token's claims, an embedding host):
//! a length in bytes within the limit and no control characters (Unicode
//! category Cc: NUL, newline, DEL, C1 codes...). Ids end up in logs,
//! HTTP paths, storage keys and other clients' screens, where such
//! characters break lines, terminate strings or hide text.
//!
//! The engine checks every id of a `join` and a `mutate` with
//! [`check_text`]; hosts call it for what they take in before the engine
//! sees it, so a bad id gets the same answer at every door.

use thiserror::Error;

/// What is wrong with an id or name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TextProblem {
    /// Shorter than `min` or longer than `max` bytes.
    #[error("must be {min} to {max} bytes long (is {len})")]
    Length {
        /// The length in bytes.
        len: usize,
        /// The least allowed.
        min: usize,
        /// The most allowed.
        max: usize,
    },
    /// Holds a control character.
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// Checks an id or name: `min..=max` bytes, no control characters.
pub fn check_text(value: &str, min: usize, max: usize) -> Result<(), TextProblem> {
    let len = value.len();
    if len < min || len > max {
        return Err(TextProblem::Length { len, min, max });
    }
    if value.chars().any(char::is_control) {
        return Err(TextProblem::ControlCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_in_bytes() {
        assert_eq!(check_text("a", 1, 3), Ok(()));
        assert_eq!(check_text("abc", 1, 3), Ok(()));
        assert_eq!(check_text("", 0, 3), Ok(()));
        assert_eq!(
            check_text("", 1, 3),
            Err(TextProblem::Length {
                len: 0,
                min: 1,
                max: 3
            })
        );
        // "é" is two bytes.
        assert!(check_text("éé", 1, 3).is_err());
    }

    #[test]
    fn control_characters_anywhere() {
        for bad in ["\0", "a\nb", "a\r", "\u{7f}", "x\u{85}", "\u{1b}[31m"] {
            assert_eq!(
                check_text(bad, 1, 16),
                Err(TextProblem::ControlCharacter),
                "{bad:?}"
            );
        }
        // A tab is a control character too; other Unicode is not.
        assert_eq!(
            check_text("a\tb", 1, 16),
            Err(TextProblem::ControlCharacter)
        );
        assert_eq!(check_text("a b", 1, 16), Ok(()));
        assert_eq!(check_text("Zoë 🙂", 1, 16), Ok(()));
    }
}
