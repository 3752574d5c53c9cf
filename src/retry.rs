//! Retry waits shared by the notification and partner outboxes: exponential with jitter
//! (backon), never shorter than what the peer asked for with `Retry-After`, and a peer's
//! `Retry-After` held to a limit ([`bound_retry_after`]) so that no answer can park work
//! for years or overflow the clock arithmetic.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The wait before retry `attempt` (0 first): from `min` doubling up to `max`, with jitter,
/// and at least `retry_after`.
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
        .nth(attempt as usize)
        .unwrap_or(max);
    backoff.max(retry_after.unwrap_or_default())
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
    }
}
