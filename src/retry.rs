//! Retry waits shared by the notification and partner outboxes: exponential with jitter
//! (backon), never shorter than what the peer asked for with `Retry-After`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
