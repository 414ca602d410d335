//! Durations on the command line and in env vars: `250ms`, `30s`, `5m`,
//! `1h`, or combinations such as `1m30s` (humantime's syntax).

use std::time::Duration;

/// Parses a duration flag value. A bare number is refused: the unit must be
/// written, so that `30` is never silently read as 30 ms or 30 min.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration (write it like 250ms, 30s or 5m)".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` has no unit (write it like {text}ms, {text}s or {text}m)"
        ));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 250ms, 30s or 5m: {e}"))
}

/// Writes a duration the way the flags take it (`5m`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_forms() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_garbage_and_bare_numbers() {
        for bad in ["", "30", "abc", "5 parsecs", "-1s", "ms"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn formats_round_trip() {
        for d in [
            Duration::from_millis(250),
            Duration::from_secs(30),
            Duration::from_secs(300),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
    }
}
