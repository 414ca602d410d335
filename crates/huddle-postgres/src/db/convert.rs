//! Numbers, strings and enums to and from SQL, refusing what does not fit.
//!
//! Sequences (and epochs, watermarks, versions) are ordered in SQL, so they
//! are stored as non-negative `bigint`s up to `i64::MAX`. Timestamps and
//! ids are only compared for equality or ordered in Rust, so they keep all
//! 64 bits, stored bit for bit. Strings that clients choose are stored as
//! their UTF-8 bytes (`bytea`); reading back bytes that are not UTF-8 is
//! corrupt.

use huddle_core::{SessionType, SnapshotCause, UserSessionStatus};
use huddle_store::StoreError;

/// A sequence for SQL; larger than `i64::MAX` is an invalid request.
pub(crate) fn seq_to_sql(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n)
        .map_err(|_| StoreError::Invalid(format!("{n} does not fit a signed 64-bit integer")))
}

/// A sequence from SQL; a negative one is corrupt.
pub(crate) fn seq_from_sql(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative {what}: {n}")))
}

/// A 64-bit value stored bit for bit.
pub(crate) fn bits_to_sql(n: u64) -> i64 {
    i64::from_ne_bytes(n.to_ne_bytes())
}

/// A 64-bit value stored bit for bit.
pub(crate) fn bits_from_sql(n: i64) -> u64 {
    u64::from_ne_bytes(n.to_ne_bytes())
}

/// A count for SQL, saturating.
pub(crate) fn count_to_sql(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A string stored as bytes.
pub(crate) fn text_from_sql(bytes: Vec<u8>, what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("{what} is not UTF-8: {e}")))
}

pub(crate) fn session_type_to_sql(t: SessionType) -> &'static str {
    match t {
        SessionType::Ephemeral => "ephemeral",
        SessionType::Persistent => "persistent",
    }
}

pub(crate) fn session_type_from_sql(s: &str) -> Result<SessionType, StoreError> {
    match s {
        "ephemeral" => Ok(SessionType::Ephemeral),
        "persistent" => Ok(SessionType::Persistent),
        other => Err(StoreError::Corrupt(format!(
            "unknown session type {other:?}"
        ))),
    }
}

pub(crate) fn cause_from_sql(s: &str) -> Result<SnapshotCause, StoreError> {
    [
        SnapshotCause::AutoSave,
        SnapshotCause::OnDisconnect,
        SnapshotCause::Manual,
        SnapshotCause::Archive,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
    .ok_or_else(|| StoreError::Corrupt(format!("unknown snapshot cause {s:?}")))
}

pub(crate) fn status_to_sql(s: UserSessionStatus) -> &'static str {
    match s {
        UserSessionStatus::Active => "active",
        UserSessionStatus::Ended => "ended",
        UserSessionStatus::Timeout => "timeout",
    }
}

pub(crate) fn status_from_sql(s: &str) -> Result<UserSessionStatus, StoreError> {
    match s {
        "active" => Ok(UserSessionStatus::Active),
        "ended" => Ok(UserSessionStatus::Ended),
        "timeout" => Ok(UserSessionStatus::Timeout),
        other => Err(StoreError::Corrupt(format!(
            "unknown session status {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_and_sequences_refuse_overflow() {
        for n in [0, 1, i64::MAX as u64, u64::MAX] {
            assert_eq!(bits_from_sql(bits_to_sql(n)), n);
        }
        assert!(seq_to_sql(u64::MAX).is_err());
        assert_eq!(seq_to_sql(7).unwrap(), 7);
        assert!(seq_from_sql(-1, "x").is_err());
        assert!(text_from_sql(vec![0xff], "x").is_err());
        assert_eq!(text_from_sql(b"a\0b".to_vec(), "x").unwrap(), "a\0b");
    }
}
