//! The GCRA arithmetic of the shared limiter, in Rust: what `gcra.lua` computes inside Redis,
//! written once more here so that it can be read and tested without a server. The integration
//! tests (`tests/redis_limits.rs`) check that the script answers as [`Gcra::decide`] does, and
//! the tests below that [`Gcra::decide`] answers as governor (the in-process limiter) does, so
//! a limit means the same on both paths.
//!
//! GCRA keeps one instant per key, the theoretical arrival time (TAT): when the key would be
//! back to an empty bucket if it sent nothing more. A request at `now` is allowed when
//! `now >= TAT - tolerance`, and then moves the TAT one emission interval on (from `now` if the
//! TAT had already passed).

use governor::Quota;

/// A limit in GCRA's terms, in microseconds: the unit of the script, where instants since the
/// Unix epoch stay below 2^53 and so are exact in Lua's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// The emission interval: one more request is allowed per interval (at least 1 µs, so a
    /// limit above a million a second is a million a second when shared).
    pub emission_us: u64,
    /// The burst tolerance, `emission_us * (burst - 1)`: how far ahead of `now` the TAT may be
    /// and still allow a request.
    pub tolerance_us: u64,
}

/// What one check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed: the key's TAT is now `tat`, and the key lives `ttl_ms` (until `tat`, when the
    /// limit is full again and nothing needs remembering).
    Allowed {
        /// The new theoretical arrival time, µs since the epoch.
        tat: u64,
        /// How long the key is kept, in milliseconds (rounded up).
        ttl_ms: u64,
    },
    /// Refused, nothing changed: the next request is allowed `wait_us` from now.
    Refused {
        /// Microseconds until a request is allowed.
        wait_us: u64,
    },
}

impl Gcra {
    /// The GCRA parameters of a governor quota.
    pub fn from_quota(quota: Quota) -> Gcra {
        let emission_us = u64::try_from(quota.replenish_interval().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let burst = u64::from(quota.burst_size().get());
        Gcra {
            emission_us,
            tolerance_us: emission_us.saturating_mul(burst - 1),
        }
    }

    /// One request at `now_us` against a key whose stored TAT is `stored_tat` (`None`: no key,
    /// or an expired one, which is the same thing).
    pub fn decide(&self, stored_tat: Option<u64>, now_us: u64) -> Verdict {
        let tat = stored_tat.map_or(now_us, |t| t.max(now_us));
        let allow_at = tat.saturating_sub(self.tolerance_us);
        if now_us < allow_at {
            return Verdict::Refused {
                wait_us: allow_at - now_us,
            };
        }
        let tat = tat.saturating_add(self.emission_us);
        Verdict::Allowed {
            tat,
            ttl_ms: (tat - now_us).div_ceil(1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;
    use governor::{Quota, RateLimiter};
    use proptest::prelude::*;

    use super::*;

    const NOW: u64 = 1_700_000_000_000_000;

    fn per_minute(n: u32) -> Gcra {
        Gcra::from_quota(Quota::per_minute(NonZeroU32::new(n).unwrap()))
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let g = per_minute(3);
        assert_eq!(
            g,
            Gcra {
                emission_us: 20_000_000,
                tolerance_us: 40_000_000
            }
        );
        let mut tat = None;
        for i in 1..=3u64 {
            match g.decide(tat, NOW) {
                Verdict::Allowed { tat: t, ttl_ms } => {
                    assert_eq!(t, NOW + i * 20_000_000);
                    assert_eq!(ttl_ms, i * 20_000);
                    tat = Some(t);
                }
                refused => panic!("request {i} refused: {refused:?}"),
            }
        }
        assert_eq!(
            g.decide(tat, NOW),
            Verdict::Refused {
                wait_us: 20_000_000
            }
        );
        // Half-way there: still refused, and the wait shrank by as much.
        assert_eq!(
            g.decide(tat, NOW + 10_000_000),
            Verdict::Refused {
                wait_us: 10_000_000
            }
        );
        // One interval later exactly one more goes through.
        let later = NOW + 20_000_000;
        let Verdict::Allowed { tat: t, .. } = g.decide(tat, later) else {
            panic!("refused after an interval");
        };
        assert!(matches!(g.decide(Some(t), later), Verdict::Refused { .. }));
    }

    #[test]
    fn a_tat_in_the_past_is_a_full_bucket() {
        let g = per_minute(2);
        assert_eq!(g.decide(Some(NOW - 5), NOW), g.decide(None, NOW));
    }

    #[test]
    fn the_key_lives_until_the_bucket_is_full_again() {
        // 10 a second, burst 1: each allowed request keeps the key 100 ms.
        let g = Gcra::from_quota(Quota::with_period(Duration::from_millis(100)).unwrap());
        assert_eq!(g.tolerance_us, 0);
        assert_eq!(
            g.decide(None, NOW),
            Verdict::Allowed {
                tat: NOW + 100_000,
                ttl_ms: 100
            }
        );
        // Refused until the TAT itself, to the microsecond.
        assert_eq!(
            g.decide(Some(NOW + 100_000), NOW + 99_999),
            Verdict::Refused { wait_us: 1 }
        );
        // A sub-millisecond remainder rounds the expiry up, never down.
        let fast = Gcra {
            emission_us: 1_500,
            tolerance_us: 0,
        };
        assert_eq!(
            fast.decide(None, NOW),
            Verdict::Allowed {
                tat: NOW + 1_500,
                ttl_ms: 2
            }
        );
    }

    #[test]
    fn very_high_rates_keep_a_one_microsecond_interval() {
        let g = Gcra::from_quota(Quota::per_second(NonZeroU32::MAX));
        assert_eq!(g.emission_us, 1);
    }

    proptest! {
        /// Any sequence of requests gets the same answers from [`Gcra::decide`] as from
        /// governor with the same quota: same allowed/refused, same wait (to the microsecond).
        #[test]
        fn answers_as_governor_does(
            // Whole microseconds, the script's unit.
            period_us in 1_000u64..500_000,
            burst in 1u32..10,
            gaps_us in proptest::collection::vec(0u64..400_000, 1..60),
        ) {
            let quota = Quota::with_period(Duration::from_micros(period_us))
                .unwrap()
                .allow_burst(NonZeroU32::new(burst).unwrap());
            let g = Gcra::from_quota(quota);
            let clock = FakeRelativeClock::default();
            let governor = RateLimiter::direct_with_clock(quota, clock.clone());
            let mut tat = None;
            let mut now = NOW;
            for gap in gaps_us {
                now += gap;
                clock.advance(Duration::from_micros(gap));
                let ours = g.decide(tat, now);
                match (governor.check(), ours) {
                    (Ok(()), Verdict::Allowed { tat: t, .. }) => tat = Some(t),
                    (Err(not_until), Verdict::Refused { wait_us }) => {
                        use governor::clock::Clock as _;
                        let wait = not_until.wait_time_from(clock.now());
                        prop_assert_eq!(u64::try_from(wait.as_micros()).unwrap(), wait_us);
                    }
                    (theirs, ours) => prop_assert!(false, "governor {theirs:?}, ours {ours:?}"),
                }
            }
        }
    }
}
