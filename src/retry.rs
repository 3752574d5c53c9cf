//! Retry waits, the one back-off of the crate: exponential with jitter (backon), so that
//! instances retrying the same peer do not do so in step. The notification and partner
//! outboxes compute a row's next try with [`backoff_delay`], never shorter than what the peer
//! asked for with `Retry-After`, and hold a peer's `Retry-After` to a limit
//! ([`bound_retry_after`]) so that no answer can park work for years or overflow the clock
//! arithmetic. Loops that retry in place (store writes, alert publishing, a partner worker
//! whose store is away) take their waits from a [`Backoff`].

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Attempts past this many wait as long as this one: doubling from any `min` has reached any
/// `max` long before, and the iterator below is not walked further for nothing.
const LAST_DOUBLING: u32 = 64;

/// The wait before retry `attempt` (0 first): from `min` doubling up to `max`, with jitter
/// (up to as much again), and at least `retry_after`.
pub fn backoff_delay(
    attempt: u32,
    min: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max.max(min))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt.min(LAST_DOUBLING) as usize)
        .unwrap_or(max);
    backoff.max(retry_after.unwrap_or_default())
}

/// The waits of one retry loop: [`backoff_delay`] for the first, second, … retry, starting
/// over after [`reset`](Backoff::reset).
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Waits from `min` doubling up to `max`, with jitter.
    pub const fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            attempt: 0,
        }
    }

    /// The wait before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        let wait = backoff_delay(self.attempt, self.min, self.max, None);
        self.attempt = self.attempt.saturating_add(1);
        wait
    }

    /// Starts over from `min` (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A peer's `Retry-After` against the longest wait the caller can honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// Nothing asked, or no more than the limit: wait at least this.
    Within(Option<Duration>),
    /// More than the limit (`u64::MAX` seconds, a date centuries away): an answer that no
    /// wait can honour, taken as a failure of the peer, not as a wait.
    TooLong(Duration),
}

/// What a peer's `asked` wait comes to under `limit`.
pub fn bound_retry_after(asked: Option<Duration>, limit: Duration) -> RetryAfter {
    match asked {
        Some(wait) if wait > limit => RetryAfter::TooLong(wait),
        asked => RetryAfter::Within(asked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_beyond_the_limit_is_too_long_not_a_wait() {
        let limit = Duration::from_secs(300);
        let table = [
            (None, RetryAfter::Within(None)),
            (
                Some(Duration::from_secs(7)),
                RetryAfter::Within(Some(Duration::from_secs(7))),
            ),
            (Some(limit), RetryAfter::Within(Some(limit))),
            (
                Some(Duration::from_secs(301)),
                RetryAfter::TooLong(Duration::from_secs(301)),
            ),
            (
                Some(Duration::from_secs(u64::MAX)),
                RetryAfter::TooLong(Duration::from_secs(u64::MAX)),
            ),
        ];
        for (asked, want) in table {
            assert_eq!(bound_retry_after(asked, limit), want, "{asked:?}");
        }
    }

    #[test]
    fn doubles_with_jitter_up_to_the_cap_and_honours_retry_after() {
        let (min, max) = (Duration::from_secs(2), Duration::from_secs(300));
        for attempt in 0..12 {
            let d = backoff_delay(attempt, min, max, None);
            let base = (min * 2u32.pow(attempt.min(20))).min(max);
            assert!(d >= base, "attempt {attempt}: {d:?} < {base:?}");
            assert!(d <= base * 2, "attempt {attempt}: {d:?} > twice {base:?}");
        }
        let asked = Duration::from_secs(120);
        assert!(backoff_delay(0, min, max, Some(asked)) >= asked);
        assert!(backoff_delay(u32::MAX, min, max, None) >= max);
    }

    #[test]
    fn a_loops_waits_double_and_start_over_after_a_reset() {
        let (min, max) = (Duration::from_millis(50), Duration::from_secs(5));
        let mut backoff = Backoff::new(min, max);
        let first = backoff.next_delay();
        assert!(first >= min && first <= min * 2, "{first:?}");
        let second = backoff.next_delay();
        assert!(second >= min * 2 && second <= min * 4, "{second:?}");
        for _ in 0..20 {
            let wait = backoff.next_delay();
            assert!(wait <= max * 2, "{wait:?}");
        }
        assert!(backoff.next_delay() >= max);
        backoff.reset();
        assert!(backoff.next_delay() <= min * 2);
    }
}
