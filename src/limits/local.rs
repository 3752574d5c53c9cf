//! [`LocalLimit`]: the in-process limiter, governor's keyed GCRA on a clock of the caller's
//! choosing (the monotonic clock for the API and partners, the notifier's own clock for
//! notifications, so its tests can drive it). What one instance uses alone, and what a shared
//! limit falls back to while Redis does not answer.

use std::hash::Hash;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// A keyed GCRA limiter held in this process.
pub struct LocalLimit<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
}

impl<K: Hash + Eq + Clone> LocalLimit<K> {
    /// `quota` per key on the monotonic clock.
    pub fn new(quota: Quota) -> Self {
        LocalLimit::with_clock(quota, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> LocalLimit<K, C> {
    /// `quota` per key on `clock`.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        LocalLimit {
            limiter: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone()),
            clock,
        }
    }

    /// Counts one request of `key`: `Ok` if allowed, else how long until one is.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets keys whose limits are full again, so the table stays small.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
