//! Time as the engine sees it: a [`Timestamp`] that the host passes in with
//! every input. The engine never reads a clock.
//!
//! A timestamp is a count of milliseconds since the Unix epoch (UTC), so the
//! same value serves deadlines, user-session records and snapshot creation
//! times. All arithmetic saturates: no input can make it overflow or panic.

use core::fmt;
use core::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
///
/// Hosts build it from their wall clock (`SystemTime`) or from a virtual
/// clock in tests. The engine treats a `now` that goes backwards as "no time
/// passed" (see [`crate::Engine`]), so a host need not guarantee monotonicity.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The latest representable time; used as "never".
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// A timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at [`Timestamp::MAX`].
    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// `self - d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_sub(ms))
    }

    /// How long after `earlier` this is; zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with millisecond precision, e.g.
    /// `2026-11-22T03:16:45.123Z`, as the wire format requires.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 % 1000;
        let secs = self.0 / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        let (y, mo, d) = civil_from_days(days);
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
    }
}

impl Timestamp {
    /// Parses an RFC 3339 time such as `2026-11-22T03:16:45.123Z` or
    /// `2026-11-22T04:16:45+01:00` (fractions beyond milliseconds are
    /// truncated). `None` for anything else, or a time before the epoch.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |r: core::ops::Range<usize>| -> Option<u64> {
            let s = text.get(r)?;
            if s.bytes().all(|c| c.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo)
            || d == 0
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || s > 60
        {
            return None;
        }
        let mut rest = &text[19..];
        let mut millis = 0u64;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            for (i, c) in frac.bytes().take(3).enumerate().take(digits) {
                millis += u64::from(c - b'0') * [100, 10, 1][i];
            }
            rest = &frac[digits..];
        }
        let offset_secs: i64 = match rest.as_bytes() {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let oh = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
                let om = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = oh * 3600 + om * 60;
                if *sign == b'+' {
                    off
                } else {
                    -off
                }
            }
            _ => return None,
        };
        let days = i64::try_from(days_from_civil(y, mo, d)?).ok()?;
        let secs = days * 86_400 + i64::try_from(h * 3600 + mi * 60 + s).ok()? - offset_secs;
        let secs = u64::try_from(secs).ok()?;
        let t = Timestamp(secs.checked_mul(1000)?.checked_add(millis)?);
        // An offset can carry a year-9999 time past the four-digit years
        // (`9999-12-31T23:59:59-23:59`), which `Display` cannot write back
        // as RFC 3339: refuse it, so that what parses prints back.
        (t <= LAST_RFC3339).then_some(t)
    }
}

/// `9999-12-31T23:59:59.999Z`, the last time with a four-digit year.
const LAST_RFC3339: Timestamp = Timestamp(253_402_300_799_999);

fn is_leap(y: u64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a Gregorian date (the inverse of
/// [`civil_from_days`]); `None` before the epoch.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y.saturating_sub(1) } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's algorithm,
/// unsigned form since timestamps never precede the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(1)),
            Timestamp::MAX
        );
        assert_eq!(
            Timestamp::EPOCH.saturating_sub(Duration::from_secs(1)),
            Timestamp::EPOCH
        );
        let t = Timestamp::from_millis(5);
        assert_eq!(
            Timestamp::EPOCH.saturating_duration_since(t),
            Duration::ZERO
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::EPOCH),
            Duration::from_millis(5)
        );
        assert_eq!(t.saturating_add(Duration::MAX), Timestamp::MAX);
    }

    #[test]
    fn parses_rfc3339() {
        for ms in [0, 951_827_696_789, 1_763_781_405_123, 4_102_444_800_000] {
            let t = Timestamp::from_millis(ms);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Some(t));
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2000-02-29T13:34:56.7891+01:00"),
            Some(Timestamp::from_millis(951_827_696_789))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:01Z"),
            Some(Timestamp::from_millis(1000))
        );
        for bad in [
            "",
            "2001-02-29T00:00:00Z",
            "2000-13-01T00:00:00Z",
            "2000-01-01T24:00:00Z",
            "2000-01-01T00:00:00",
            "2000-01-01T00:00:00.Z",
            "1969-12-31T23:59:59Z",
            "2000-01-01T00:00:00+1:00",
            "２000-01-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(Timestamp::EPOCH.to_string(), "1970-01-01T00:00:00.000Z");
        // 2000-02-29T12:34:56.789Z, a leap day.
        assert_eq!(
            Timestamp::from_millis(951_827_696_789).to_string(),
            "2000-02-29T12:34:56.789Z"
        );
        assert_eq!(
            Timestamp::from_millis(1_795_404_605_123).to_string(),
            "2026-11-23T03:30:05.123Z"
        );
        // Never panics, even at the end of time.
        assert!(!Timestamp::MAX.to_string().is_empty());
    }
}
