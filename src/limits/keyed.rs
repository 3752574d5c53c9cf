//! [`KeyedLimit`]: one limit (a scope, a quota) over many keys, decided by Redis when the
//! instances share one, else (and whenever Redis does not answer) by this process.

use std::fmt::Display;
use std::hash::Hash;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::Quota;

use super::gcra::{Gcra, Verdict};
use super::local::LocalLimit;
use super::redis::SharedLimits;

/// A refused request: the limit allows the next one after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// How long until the limit allows a request of this key.
    pub retry_after: Duration,
}

/// One limit over many keys: `vigil:limit:<scope>:<key>` in Redis when shared, a governor
/// table on clock `C` in this process otherwise. While Redis does not answer, the process's
/// table answers (fail open: a Redis outage never refuses requests by itself, and each
/// instance still holds its own clients to the limit).
pub struct KeyedLimit<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    scope: &'static str,
    gcra: Gcra,
    local: LocalLimit<K, C>,
    shared: Option<SharedLimits>,
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for KeyedLimit<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLimit")
            .field("scope", &self.scope)
            .field("gcra", &self.gcra)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone + Display> KeyedLimit<K> {
    /// `quota` per key of `scope` (a bounded name: it labels metrics and names Redis keys),
    /// shared through `shared` when given, on the monotonic clock in this process.
    pub fn new(scope: &'static str, quota: Quota, shared: Option<&SharedLimits>) -> Self {
        KeyedLimit::with_clock(scope, quota, DefaultClock::default(), shared)
    }
}

impl<K: Hash + Eq + Clone + Display, C: Clock + Clone> KeyedLimit<K, C> {
    /// [`KeyedLimit::new`] with the in-process table on `clock`.
    pub fn with_clock(
        scope: &'static str,
        quota: Quota,
        clock: C,
        shared: Option<&SharedLimits>,
    ) -> Self {
        KeyedLimit {
            scope,
            gcra: Gcra::from_quota(quota),
            local: LocalLimit::with_clock(quota, clock),
            shared: shared.cloned(),
        }
    }

    /// The scope.
    pub fn scope(&self) -> &'static str {
        self.scope
    }

    /// Whether Redis decides (while it answers).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Counts one request of `key`; shared, it is judged on Redis' clock (`TIME`), which every
    /// instance reads alike.
    pub async fn check(&self, key: &K) -> Result<(), Refused> {
        self.check_on(key, None).await
    }

    /// [`KeyedLimit::check`] judged at `now_us` (µs since the Unix epoch) of the caller's
    /// clock, for callers whose answers must be on their own clock (see
    /// `notify::limits`).
    pub async fn check_at(&self, key: &K, now_us: u64) -> Result<(), Refused> {
        self.check_on(key, Some(now_us)).await
    }

    async fn check_on(&self, key: &K, now_us: Option<u64>) -> Result<(), Refused> {
        if let Some(shared) = &self.shared {
            match shared.check(self.scope, key, self.gcra, now_us).await {
                Some(Verdict::Allowed { .. }) => return Ok(()),
                Some(Verdict::Refused { wait_us }) => {
                    return Err(Refused {
                        retry_after: Duration::from_micros(wait_us),
                    })
                }
                // Redis did not answer (counted and logged there): this process decides.
                None => {}
            }
        }
        self.local
            .check(key)
            .map_err(|retry_after| Refused { retry_after })
    }

    /// Forgets keys of the in-process table whose limits are full again. Redis forgets its
    /// own (each key expires when its limit is full).
    pub fn forget_idle(&self) {
        self.local.forget_idle();
    }
}
