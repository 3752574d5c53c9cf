//! Rate limits (governor, GCRA): per client IP on every API request and WebSocket upgrade,
//! and per tenant once the token says which tenant is calling. A refused request answers 429
//! with code 40005 and `Retry-After`, and is counted in `vigil_http_rate_limited_total`.
//! Clients are keyed by [`limit_key`] (an IPv6 /64 is one client), so rotating addresses
//! inside one's own prefix does not escape the limit.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::config::HttpConfig;
use super::envelope::ApiError;
use super::proxy::{limit_key, Proxies};
use crate::telemetry::metrics::http_rate_limited;

/// The configured limits; `None` where a limit is switched off (0).
pub struct RateLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_tenant: Option<DefaultKeyedRateLimiter<u64>>,
    proxies: Proxies,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_ip", &self.per_ip.is_some())
            .field("per_tenant", &self.per_tenant.is_some())
            .finish_non_exhaustive()
    }
}

fn limiter<K: Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)))
}

fn check<K: Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
    scope: &'static str,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| {
        http_rate_limited(scope).increment(1);
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::rate_limited(
            format!("rate limit per {scope} exceeded; retry in {seconds} s"),
            seconds.max(1),
        )
    })
}

impl RateLimits {
    /// The limits of `[http]`.
    pub fn new(config: &HttpConfig) -> RateLimits {
        RateLimits {
            per_ip: limiter(config.rate_limit_per_ip),
            per_tenant: limiter(config.rate_limit_per_tenant),
            proxies: Proxies::new(&config.trusted_proxies),
        }
    }

    /// The client's address (see [`Proxies::client_ip`]): the peer, or behind a trusted proxy
    /// the right-most `X-Forwarded-For` address that is not a trusted proxy.
    pub fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        self.proxies.client_ip(headers, peer)
    }

    /// Counts one request of `ip` (under its [`limit_key`]); 40005 once over the limit.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(self.per_ip.as_ref(), &limit_key(ip), "ip")
    }

    /// Counts one request of `tenant_id`; 40005 once over the limit.
    pub fn check_tenant(&self, tenant_id: u64) -> Result<(), ApiError> {
        check(self.per_tenant.as_ref(), &tenant_id, "tenant")
    }

    /// Forgets clients whose limits have fully recovered, so the tables stay small.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_tenant {
            l.retain_recent();
            l.shrink_to_fit();
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

    #[test]
    fn the_limit_refuses_with_retry_after_and_keys_are_separate() {
        let config = HttpConfig {
            rate_limit_per_ip: 3,
            rate_limit_per_tenant: 0,
            ..HttpConfig::default()
        };
        let limits = RateLimits::new(&config);
        let a = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            limits.check_ip(a).unwrap();
        }
        let refused = limits.check_ip(a).unwrap_err();
        assert_eq!(refused.code, RATE_LIMITED);
        // 3 per minute: the next one is 20 s away.
        assert!((1..=20).contains(&refused.retry_after_s.unwrap()));
        limits.check_ip(IpAddr::from([10, 0, 0, 2])).unwrap();
        // The tenant limit is off.
        for _ in 0..100 {
            limits.check_tenant(1).unwrap();
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
        let untrusted = RateLimits::new(&HttpConfig::default());
        assert_eq!(untrusted.client_ip(&headers, peer), peer.ip());
        let trusted = RateLimits::new(&HttpConfig {
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            ..HttpConfig::default()
        });
        assert_eq!(
            trusted.client_ip(&headers, peer),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn addresses_of_one_ipv6_64_share_a_limit() {
        let limits = RateLimits::new(&HttpConfig {
            rate_limit_per_ip: 2,
            ..HttpConfig::default()
        });
        limits.check_ip("2001:db8::1".parse().unwrap()).unwrap();
        limits.check_ip("2001:db8::2".parse().unwrap()).unwrap();
        assert!(limits
            .check_ip("2001:db8::ffff:3".parse().unwrap())
            .is_err());
        limits.check_ip("2001:db8:0:1::1".parse().unwrap()).unwrap();
    }
}
