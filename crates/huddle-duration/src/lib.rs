//! # huddle-duration
//!
//! The one duration syntax of every Huddle binary (`huddle serve`,
//! `huddle load`, `huddle-sim`, the benchmark tools), for flags and
//! environment variables alike: a number and a unit, `250ms`, `30s`, `5m`,
//! `1h`, `2days`, or several such parts, `1m30s` (humantime's syntax:
//! `ns`, `us`, `ms`, `s`, `m`, `h`, `d`/`days`, `w`, `M`, `y` and their
//! long names); fractions too: `1.5s` is `1500ms`.
//!
//! A bare number is refused too: the unit must be written, so that `30`
//! is never silently read as 30 ms in one place and 30 s in another.
//!
//! ```
//! use std::time::Duration;
//! use huddle_duration::{format_duration, parse_duration};
//!
//! assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
//! assert!(parse_duration("30").is_err());
//! assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
//! ```
//!
//! With clap: `#[arg(long, value_parser = huddle_duration::parse_duration)]`.

use std::time::Duration;

/// Parses a duration written in the syntax above; `Err` is a message for
/// the user that shows how to write it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration (write it like 250ms, 30s or 5m)".into());
    }
    if !text.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "`{text}` has no unit (write it like {text}ms, {text}s or {text}m)"
        ));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 250ms, 30s or 5m: {e}"))
}

/// Writes a duration so that [`parse_duration`] reads it back (`5m`,
/// `1s500ms`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_combinations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration("30days"),
            Ok(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.25h"), Ok(Duration::from_secs(900)));
    }

    #[test]
    fn refuses_garbage_and_bare_numbers() {
        for bad in ["", " ", "30", "abc", "5 parsecs", "-1s", "ms", "1.5", "s30"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        let message = parse_duration("30").unwrap_err();
        assert!(message.contains("30s"), "{message}");
    }

    #[test]
    fn formats_round_trip() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(250),
            Duration::from_millis(1500),
            Duration::from_secs(30),
            Duration::from_secs(300),
            Duration::from_secs(30 * 86_400),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
    }
}
