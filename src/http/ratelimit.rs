//! Rate limits (GCRA): per client IP on every API request and WebSocket upgrade, and per
//! tenant once the token says which tenant is calling. A refused request answers 429 with code
//! 40005 and `Retry-After`, and is counted in `vigil_http_rate_limited_total`. Clients are
//! keyed by [`limit_key`] (an IPv6 /64 is one client), so rotating addresses inside one's own
//! prefix does not escape the limit. With a shared Redis ([`crate::limits`]) the limits hold
//! across instances (keys `vigil:limit:ip:<address>` and `vigil:limit:tenant:<id>`); while
//! Redis does not answer, each instance's own limits apply and no request is refused for it.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::HeaderMap;
use governor::Quota;

use super::config::HttpConfig;
use super::envelope::ApiError;
use super::proxy::{limit_key, Proxies};
use crate::limits::{KeyedLimit, SharedLimits};
use crate::telemetry::metrics::http_rate_limited;

/// The limits in force; `None` where a limit is switched off (0). The configuration center
/// may change them at run time ([`RateLimits::set_per_minute`]).
#[derive(Debug)]
pub struct RateLimits {
    per_ip: RwLock<Option<Arc<KeyedLimit<IpAddr>>>>,
    per_tenant: RwLock<Option<Arc<KeyedLimit<u64>>>>,
    proxies: Proxies,
    shared: Option<SharedLimits>,
    /// Requests per minute per IP and per tenant in force.
    in_force: Mutex<(u32, u32)>,
}

/// Reads what a lock guards, whether or not a writer panicked.
fn read<T: Clone>(lock: &RwLock<T>) -> T {
    match lock.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write<T>(lock: &RwLock<T>, value: T) {
    match lock.write() {
        Ok(mut guard) => *guard = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

fn limiter<K: std::hash::Hash + Eq + Clone + std::fmt::Display>(
    scope: &'static str,
    per_minute: u32,
    shared: Option<&SharedLimits>,
) -> Option<Arc<KeyedLimit<K>>> {
    NonZeroU32::new(per_minute)
        .map(|n| Arc::new(KeyedLimit::new(scope, Quota::per_minute(n), shared)))
}

async fn check<K: std::hash::Hash + Eq + Clone + std::fmt::Display>(
    limiter: Option<Arc<KeyedLimit<K>>>,
    key: &K,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check(key).await.map_err(|refused| {
        let scope = limiter.scope();
        http_rate_limited(scope).increment(1);
        let wait = refused.retry_after;
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::rate_limited(
            format!("rate limit per {scope} exceeded; retry in {seconds} s"),
            seconds.max(1),
        )
    })
}

impl RateLimits {
    /// The limits of `[http]`, shared through `shared` when given (`[cluster] redis_url`).
    pub fn new(config: &HttpConfig, shared: Option<&SharedLimits>) -> RateLimits {
        RateLimits {
            per_ip: RwLock::new(limiter("ip", config.rate_limit_per_ip, shared)),
            per_tenant: RwLock::new(limiter("tenant", config.rate_limit_per_tenant, shared)),
            proxies: Proxies::new(&config.trusted_proxies),
            shared: shared.cloned(),
            in_force: Mutex::new((config.rate_limit_per_ip, config.rate_limit_per_tenant)),
        }
    }

    /// Puts new limits in force (requests per minute; 0 switches a limit off). A limit that
    /// changes starts afresh: every client has its full burst again. Returns whether anything
    /// changed.
    pub fn set_per_minute(&self, per_ip: u32, per_tenant: u32) -> bool {
        let mut in_force = match self.in_force.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let shared = self.shared.as_ref();
        if in_force.0 != per_ip {
            write(&self.per_ip, limiter("ip", per_ip, shared));
        }
        if in_force.1 != per_tenant {
            write(&self.per_tenant, limiter("tenant", per_tenant, shared));
        }
        let changed = *in_force != (per_ip, per_tenant);
        *in_force = (per_ip, per_tenant);
        changed
    }

    /// The client's address (see [`Proxies::client_ip`]): the peer, or behind a trusted proxy
    /// the right-most `X-Forwarded-For` address that is not a trusted proxy.
    pub fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        self.proxies.client_ip(headers, peer)
    }

    /// Counts one request of `ip` (under its [`limit_key`]); 40005 once over the limit.
    pub async fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(read(&self.per_ip), &limit_key(ip)).await
    }

    /// Counts one request of `tenant_id`; 40005 once over the limit.
    pub async fn check_tenant(&self, tenant_id: u64) -> Result<(), ApiError> {
        check(read(&self.per_tenant), &tenant_id).await
    }

    /// Forgets clients whose limits have fully recovered, so the tables stay small.
    pub fn forget_idle(&self) {
        if let Some(l) = read(&self.per_ip) {
            l.forget_idle();
        }
        if let Some(l) = read(&self.per_tenant) {
            l.forget_idle();
        }
    }

    /// Calls [`RateLimits::forget_idle`] every `every` until the process ends.
    pub async fn upkeep(self: std::sync::Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.forget_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::envelope::RATE_LIMITED;

    #[tokio::test]
    async fn the_limit_refuses_with_retry_after_and_keys_are_separate() {
        let config = HttpConfig {
            rate_limit_per_ip: 3,
            rate_limit_per_tenant: 0,
            ..HttpConfig::default()
        };
        let limits = RateLimits::new(&config, None);
        let a = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            limits.check_ip(a).await.unwrap();
        }
        let refused = limits.check_ip(a).await.unwrap_err();
        assert_eq!(refused.code, RATE_LIMITED);
        // 3 per minute: the next one is 20 s away.
        assert!((1..=20).contains(&refused.retry_after_s.unwrap()));
        limits.check_ip(IpAddr::from([10, 0, 0, 2])).await.unwrap();
        // The tenant limit is off.
        for _ in 0..100 {
            limits.check_tenant(1).await.unwrap();
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies_and_from_the_right() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.4".parse().unwrap(),
        );
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let untrusted = RateLimits::new(&HttpConfig::default(), None);
        assert_eq!(untrusted.client_ip(&headers, peer), peer.ip());
        let trusted = RateLimits::new(
            &HttpConfig {
                trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
                ..HttpConfig::default()
            },
            None,
        );
        assert_eq!(
            trusted.client_ip(&headers, peer),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
    }

    #[tokio::test]
    async fn addresses_of_one_ipv6_64_share_a_limit() {
        let limits = RateLimits::new(
            &HttpConfig {
                rate_limit_per_ip: 2,
                ..HttpConfig::default()
            },
            None,
        );
        limits
            .check_ip("2001:db8::1".parse().unwrap())
            .await
            .unwrap();
        limits
            .check_ip("2001:db8::2".parse().unwrap())
            .await
            .unwrap();
        assert!(limits
            .check_ip("2001:db8::ffff:3".parse().unwrap())
            .await
            .is_err());
        limits
            .check_ip("2001:db8:0:1::1".parse().unwrap())
            .await
            .unwrap();
    }
}
