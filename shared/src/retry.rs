//! Asking again: exponential backoff with a cap and jitter, for every
//! client of a server that may fail for a moment (registries, and the
//! operator's polls that reuse it).
//!
//! The delay of attempt `n` (from 0) is `initial · 2ⁿ`, at most `cap`,
//! plus 0–20 % of itself at random, so many clients that failed together
//! do not come back together.

use std::time::Duration;

/// An exponential backoff policy.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
}

impl Backoff {
    /// Starts at `initial`, doubles, never over `cap` (before jitter).
    pub fn new(initial: Duration, cap: Duration) -> Backoff {
        Backoff { initial, cap }
    }

    /// The delay before attempt `attempt + 1`, without jitter.
    pub fn base(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(30));
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// The delay before attempt `attempt + 1`: [`Self::base`] plus 0–20 %.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base(attempt);
        let mut byte = [0u8; 2];
        // Without randomness the jitter is 0: still a valid delay.
        let r = match getrandom::fill(&mut byte) {
            Ok(()) => f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX),
            Err(_) => 0.0,
        };
        base + base.mul_f64(0.2 * r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_at_most_a_fifth_of_jitter() {
        let b = Backoff::new(Duration::from_secs(30), Duration::from_secs(300));
        let bases: Vec<u64> = (0..6).map(|n| b.base(n).as_secs()).collect();
        assert_eq!(bases, [30, 60, 120, 240, 300, 300]);
        for n in 0..40 {
            let d = b.delay(n);
            assert!(d >= b.base(n) && d <= b.base(n).mul_f64(1.2), "{n}: {d:?}");
        }
    }
}
