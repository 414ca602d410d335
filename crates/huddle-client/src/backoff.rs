//! Reconnect delays and the seeded jitter source.

use core::time::Duration;

use super::config::Backoff;

impl Backoff {
    /// The wait before attempt `attempt` (1-based), without jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return self.first_delay.min(self.max_delay);
        }
        let mut d = self.base_delay;
        for _ in 2..attempt {
            d = d.saturating_mul(self.multiplier);
            if d >= self.max_delay {
                break;
            }
        }
        d.min(self.max_delay)
    }
}

/// A small deterministic generator (SplitMix64): the client's only source
/// of randomness, seeded at construction.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `delay` scaled by a factor uniform in `[1 - jitter, 1 + jitter]`.
pub(crate) fn jittered(delay: Duration, jitter: f64, rng: &mut SplitMix64) -> Duration {
    if jitter.is_nan() || jitter <= 0.0 || delay.is_zero() {
        return delay;
    }
    let j = jitter.min(1.0);
    let factor = 1.0 - j + 2.0 * j * rng.next_unit();
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_the_spec() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=5).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16]);
        assert_eq!(b.delay(40), Duration::from_secs(16));
    }

    #[test]
    fn jitter_stays_in_bounds_and_is_seeded() {
        let d = Duration::from_secs(4);
        let (mut a, mut b) = (SplitMix64::new(9), SplitMix64::new(9));
        for _ in 0..1000 {
            let x = jittered(d, 0.25, &mut a);
            assert_eq!(x, jittered(d, 0.25, &mut b));
            assert!(
                x >= Duration::from_secs(3) && x <= Duration::from_secs(5),
                "{x:?}"
            );
        }
        assert_eq!(jittered(d, 0.0, &mut a), d);
        assert_eq!(jittered(d, f64::NAN, &mut a), d);
    }
}
