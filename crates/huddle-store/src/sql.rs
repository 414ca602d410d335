//! Numbers and enums to and from SQL, refusing what does not fit: the
//! encodings the SQL backends (SQLite, PostgreSQL) share, so that they
//! store and refuse the same values.
//!
//! Sequences (and epochs, watermarks, versions) are ordered in SQL, so they
//! are stored as non-negative 64-bit integers up to `i64::MAX`. Timestamps and
//! ids are only compared for equality or ordered in Rust, so they keep all
//! 64 bits, stored bit for bit.

use crate::StoreError;
use huddle_core::{SessionType, SnapshotCause, UserSessionStatus};

/// A sequence for SQL; larger than `i64::MAX` is an invalid request.
pub fn seq_to_sql(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n)
        .map_err(|_| StoreError::Invalid(format!("{n} does not fit a signed 64-bit integer")))
}

/// A sequence from SQL; a negative one is corrupt.
pub fn seq_from_sql(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative {what}: {n}")))
}

/// A 64-bit value stored bit for bit.
pub fn bits_to_sql(n: u64) -> i64 {
    i64::from_ne_bytes(n.to_ne_bytes())
}

/// A 64-bit value stored bit for bit.
pub fn bits_from_sql(n: i64) -> u64 {
    u64::from_ne_bytes(n.to_ne_bytes())
}

/// A count for SQL, saturating.
pub fn count_to_sql(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A room type as stored (`ephemeral`, `persistent`).
pub fn session_type_to_sql(t: SessionType) -> &'static str {
    match t {
        SessionType::Ephemeral => "ephemeral",
        SessionType::Persistent => "persistent",
    }
}

/// A stored room type; anything else is corrupt.
pub fn session_type_from_sql(s: &str) -> Result<SessionType, StoreError> {
    match s {
        "ephemeral" => Ok(SessionType::Ephemeral),
        "persistent" => Ok(SessionType::Persistent),
        other => Err(StoreError::Corrupt(format!(
            "unknown session type {other:?}"
        ))),
    }
}

/// A stored snapshot cause (its wire form); anything else is corrupt.
pub fn cause_from_sql(s: &str) -> Result<SnapshotCause, StoreError> {
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

/// A user session status as stored.
pub fn status_to_sql(s: UserSessionStatus) -> &'static str {
    match s {
        UserSessionStatus::Active => "active",
        UserSessionStatus::Ended => "ended",
        UserSessionStatus::Timeout => "timeout",
    }
}

/// A stored user session status; anything else is corrupt.
pub fn status_from_sql(s: &str) -> Result<UserSessionStatus, StoreError> {
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
    }
}
