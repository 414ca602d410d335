//! The engines' seed: where user-session ids get their randomness.
//!
//! An engine makes its user-session ids from a counter mixed with the seed
//! it is given ([`huddle_core::Engine::new`]), so a seed reused by the next
//! process hands out the same ids again, and records stored under those ids
//! (`Store::put_user_session` replaces by id) overwrite the earlier run's.
//! [`DriverConfig::seed`](crate::DriverConfig::seed) is therefore `None` by
//! default: [`Driver::start`](crate::Driver::start) draws a fresh seed from
//! the operating system each time it runs. A fixed seed is for tests that
//! need the same ids on every run.

/// The seed a driver starts with: the configured one, or a fresh one from
/// the operating system.
pub(crate) fn resolve(configured: Option<u64>) -> u64 {
    match configured {
        Some(seed) => seed,
        None => from_os(),
    }
}

/// 64 bits from the operating system's random source. Should the OS refuse
/// (getrandom has no source on this platform, or a sandbox blocks it), the
/// standard library's per-process random hash keys mixed with the wall
/// clock and the process id: still different on every start, which is all
/// the ids need.
fn from_os() -> u64 {
    match getrandom::u64() {
        Ok(seed) => seed,
        Err(error) => {
            tracing::warn!(%error, "no randomness from the OS; seeding session ids from the clock");
            fallback()
        }
    }
}

fn fallback() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(since_epoch.as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_seed_is_taken_as_is() {
        assert_eq!(resolve(Some(0)), 0);
        assert_eq!(resolve(Some(42)), 42);
    }

    #[test]
    fn drawn_seeds_differ() {
        // 64 random bits twice: equal with probability 2^-64.
        assert_ne!(resolve(None), resolve(None));
        assert_ne!(fallback(), fallback());
    }
}
