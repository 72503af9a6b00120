//! The retry schedule of the outbox: exponential backoff with jitter, then a dead letter.
//!
//! After the `n`-th failed attempt (n >= 1) the event waits
//! `min(backoff_base_ms · 2^(n-1), 1 hour) · (1 ± 10 %)`, the jitter drawn uniformly from the
//! injected source, so a burst of failures does not retry in lock step. With the defaults
//! (`backoff_base_ms = 2000`, `max_attempts = 12`, the column defaults of `event_outbox`) the
//! waits are 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 and 2048 s: the twelfth and last attempt
//! comes about 68 minutes after the first; if it fails too, the event is `dead` with its last
//! error until `requeue_dead_events` puts it back. Both numbers are per row, so an operator (or
//! a test) can give one event a faster or longer schedule.

/// Attempts before an event is dead (column default of `event_outbox.max_attempts`).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 12;
/// The first wait (column default of `event_outbox.backoff_base_ms`).
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 2_000;
/// No wait is longer than an hour (before jitter).
pub const MAX_BACKOFF_MS: u64 = 3_600_000;
/// Relative jitter: each wait is scaled by a factor in `[1 - JITTER, 1 + JITTER]`.
pub const JITTER: f64 = 0.10;

/// The wait after the `failed_attempt`-th failure, before jitter.
pub fn nominal_delay_ms(failed_attempt: u32, backoff_base_ms: u64) -> u64 {
    let doublings = failed_attempt.saturating_sub(1).min(63);
    backoff_base_ms
        .saturating_mul(1u64 << doublings)
        .min(MAX_BACKOFF_MS)
}

/// The wait after the `failed_attempt`-th failure, with jitter. `unit_random` is a draw from
/// `[0, 1)` (`Math.random()` on wasm); anything else is clamped (NaN counts as 0.5).
pub fn retry_delay_ms(failed_attempt: u32, backoff_base_ms: u64, unit_random: f64) -> u64 {
    let r = if unit_random.is_nan() {
        0.5
    } else {
        unit_random.clamp(0.0, 1.0)
    };
    let factor = 1.0 + JITTER * (2.0 * r - 1.0);
    let nominal = nominal_delay_ms(failed_attempt, backoff_base_ms) as f64;
    ((nominal * factor).round() as u64).max(1)
}

/// What happens to an event whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this many milliseconds.
    Retry { delay_ms: u64 },
    /// That was the last attempt.
    Dead,
}

/// Decide after attempt number `attempts` (1-based, as counted by the claim) failed.
pub fn after_failure(
    attempts: u32,
    max_attempts: u32,
    backoff_base_ms: u64,
    unit_random: f64,
) -> AfterFailure {
    if attempts >= max_attempts {
        AfterFailure::Dead
    } else {
        AfterFailure::Retry {
            delay_ms: retry_delay_ms(attempts, backoff_base_ms, unit_random),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_the_documented_one() {
        let waits: Vec<u64> = (1..DEFAULT_MAX_ATTEMPTS)
            .map(|n| nominal_delay_ms(n, DEFAULT_BACKOFF_BASE_MS) / 1000)
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]);
        let total: u64 = waits.iter().sum();
        assert_eq!(total, 4094); // ~68 minutes from the first attempt to the last
        assert_eq!(
            after_failure(12, DEFAULT_MAX_ATTEMPTS, DEFAULT_BACKOFF_BASE_MS, 0.5),
            AfterFailure::Dead
        );
        assert_eq!(
            after_failure(11, DEFAULT_MAX_ATTEMPTS, DEFAULT_BACKOFF_BASE_MS, 0.5),
            AfterFailure::Retry {
                delay_ms: 2_048_000
            }
        );
    }

    #[test]
    fn waits_are_capped_and_never_overflow() {
        assert_eq!(nominal_delay_ms(13, 2000), MAX_BACKOFF_MS);
        assert_eq!(nominal_delay_ms(u32::MAX, u64::MAX), MAX_BACKOFF_MS);
        assert_eq!(nominal_delay_ms(0, 2000), 2000); // "0th failure" reads as the first
        assert_eq!(retry_delay_ms(1, 0, 0.0), 1); // never a zero wait
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for n in 1..20 {
            let nominal = nominal_delay_ms(n, 2000) as f64;
            for r in [0.0, 0.001, 0.25, 0.5, 0.75, 0.999_999, 1.0] {
                let d = retry_delay_ms(n, 2000, r) as f64;
                assert!(
                    d >= (nominal * 0.9).floor() && d <= (nominal * 1.1).ceil(),
                    "{n} {r} {d}"
                );
            }
        }
        assert_eq!(retry_delay_ms(1, 1000, 0.0), 900);
        assert_eq!(retry_delay_ms(1, 1000, 0.5), 1000);
        assert_eq!(retry_delay_ms(1, 1000, 1.0), 1100);
        // Out-of-range draws are clamped, NaN is the middle.
        assert_eq!(retry_delay_ms(1, 1000, -3.0), 900);
        assert_eq!(retry_delay_ms(1, 1000, 7.0), 1100);
        assert_eq!(retry_delay_ms(1, 1000, f64::NAN), 1000);
    }

    #[test]
    fn a_short_schedule_for_one_row() {
        assert_eq!(
            after_failure(1, 3, 100, 0.5),
            AfterFailure::Retry { delay_ms: 100 }
        );
        assert_eq!(
            after_failure(2, 3, 100, 0.5),
            AfterFailure::Retry { delay_ms: 200 }
        );
        assert_eq!(after_failure(3, 3, 100, 0.5), AfterFailure::Dead);
        assert_eq!(after_failure(9, 3, 100, 0.5), AfterFailure::Dead);
    }
}
