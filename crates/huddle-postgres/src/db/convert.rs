//! Numbers, strings and enums to and from SQL, refusing what does not fit
//! (the numbers and enums as the SQLite backend stores them:
//! [`huddle_store::sql`]).
//!
//! Sequences (and epochs, watermarks, versions) are ordered in SQL, so they
//! are stored as non-negative `bigint`s up to `i64::MAX`. Timestamps and
//! ids are only compared for equality or ordered in Rust, so they keep all
//! 64 bits, stored bit for bit. Strings that clients choose are stored as
//! their UTF-8 bytes (`bytea`); reading back bytes that are not UTF-8 is
//! corrupt.

use huddle_store::StoreError;

pub(crate) use huddle_store::sql::*;

/// A string stored as bytes.
pub(crate) fn text_from_sql(bytes: Vec<u8>, what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("{what} is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_must_be_utf8_and_may_hold_nul() {
        assert!(text_from_sql(vec![0xff], "x").is_err());
        assert_eq!(text_from_sql(b"a\0b".to_vec(), "x").unwrap(), "a\0b");
    }
}
