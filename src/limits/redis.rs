//! [`SharedLimits`]: rate limits kept in Redis, so that every instance counts against the same
//! budget. One multiplexed connection per process (redis' `ConnectionManager`, which reconnects
//! by itself), and one Lua script (`gcra.lua`) that runs GCRA on one key atomically.
//!
//! Keys are `vigil:limit:<scope>:<key>` ([`redis_key`]) and hold one number, the key's
//! theoretical arrival time; each expires when that time is reached, which is when its limit
//! is full again, so Redis holds a key only for a client that is using up its limit.
//!
//! Redis down must never stop the service: a check that Redis does not answer within
//! [`CALL_TIMEOUT`] is counted in `vigil_limit_redis_errors_total`, logged (a warning at most
//! every [`WARN_EVERY`]) and answered by the instance's own limiter (see
//! [`super::KeyedLimit`]); for [`COOL_DOWN`] after that, checks go to the instance's limiter
//! without trying Redis, and then a single check tries it again, so an outage delays at most
//! one check a second, by at most [`CALL_TIMEOUT`].

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::{info, warn};

use super::gcra::{Gcra, Verdict};
use crate::telemetry::metrics;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "vigil:limit:";
/// How long a check waits for Redis before the instance's own limiter answers it.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// How long checks skip Redis after it failed to answer one.
pub const COOL_DOWN: Duration = Duration::from_secs(1);
/// The least time between two warnings about Redis not answering.
pub const WARN_EVERY: Duration = Duration::from_secs(60);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnection attempts after a lost connection, before the next check starts over.
const RECONNECT_RETRIES: usize = 2;

/// Why Redis gave no verdict.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The configured URL is not a Redis URL; no retry can help.
    #[error("not a Redis URL (redis://… or rediss://…): {0}")]
    BadUrl(String),
    /// Redis failed or could not be reached; the next check tries again.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within [`CALL_TIMEOUT`]; the next check tries again.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The script answered something other than a verdict (another program's key of the same
    /// name?); the next check tries again.
    #[error("Redis answered {0:?}, not a verdict")]
    Answer((i64, i64, i64)),
}

/// The Redis key of `key` in `scope`: `vigil:limit:<scope>:<key>`.
pub fn redis_key(scope: &str, key: impl Display) -> String {
    format!("{KEY_PREFIX}{scope}:{key}")
}

/// Whether `url` is one Redis can be reached at: `redis://` or `rediss://` (TLS), and
/// well-formed. `Err` says what is wrong (without the URL, which may hold a password).
pub fn check_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err("expected redis://[:password@]host[:port][/db] or rediss://… (TLS)".into());
    }
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| format!("not a valid Redis URL: {e}"))
}

/// Rate limits shared through one Redis; cheap to clone (one connection per process).
#[derive(Clone)]
pub struct SharedLimits {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    script: redis::Script,
    /// The URL with its password hidden, for logs.
    shown_url: String,
    /// What the two instants below count from.
    started: Instant,
    /// Until when checks skip Redis, in ms since `started`; 0 while Redis answers.
    skip_until_ms: AtomicU64,
    /// When the last warning was logged, in ms since `started` plus one (0: never).
    warned_ms: AtomicU64,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("url", &self.inner.shown_url)
            .finish_non_exhaustive()
    }
}

impl SharedLimits {
    /// The Redis of `[cluster] redis_url`, or `None` when it is empty (every limit stays in
    /// the process). See [`SharedLimits::connect`].
    pub async fn from_setting(url: &str) -> Result<Option<SharedLimits>, SharedError> {
        if url.trim().is_empty() {
            return Ok(None);
        }
        SharedLimits::connect(url.trim()).await.map(Some)
    }

    /// Sets up the connection to `url` and tries it once (within a second), logging whether
    /// Redis answered. Redis being down is no error: the connection is made again on later
    /// checks, which the instance's own limiters answer meanwhile. Only a malformed URL fails.
    /// Must run inside a tokio runtime.
    pub async fn connect(url: &str) -> Result<SharedLimits, SharedError> {
        let shown_url = crate::redact::url(url);
        let client = redis::Client::open(url)
            .map_err(|e| SharedError::BadUrl(format!("{shown_url}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(COOL_DOWN);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| SharedError::BadUrl(format!("{shown_url}: {e}")))?;
        let shared = SharedLimits {
            inner: Arc::new(Inner {
                conn,
                script: redis::Script::new(include_str!("gcra.lua")),
                shown_url,
                started: Instant::now(),
                skip_until_ms: AtomicU64::new(0),
                warned_ms: AtomicU64::new(0),
            }),
        };
        match shared.ping().await {
            Ok(()) => {
                info!(redis = %shared.inner.shown_url, "rate limits are shared through Redis");
            }
            Err(e) => warn!(redis = %shared.inner.shown_url, error = %e,
                "Redis does not answer yet: rate limits are per instance until it does"),
        }
        Ok(shared)
    }

    /// The URL, its password hidden.
    pub fn shown_url(&self) -> &str {
        &self.inner.shown_url
    }

    /// `PING`, within [`CONNECT_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), SharedError> {
        let mut conn = self.inner.conn.clone();
        let ping = redis::cmd("PING");
        tokio::time::timeout(CONNECT_TIMEOUT, ping.query_async::<String>(&mut conn))
            .await
            .map_err(|_| SharedError::Timeout(CONNECT_TIMEOUT))??;
        Ok(())
    }

    /// One request of `key` in `scope` under the limit `gcra`, decided by Redis at `now_us`
    /// (µs since the Unix epoch), or by Redis' own clock (`TIME`) when `None`. Waits at most
    /// [`CALL_TIMEOUT`]. Nothing here counts or logs failures: see [`SharedLimits::check`].
    pub async fn take(
        &self,
        scope: &str,
        key: impl Display,
        gcra: Gcra,
        now_us: Option<u64>,
    ) -> Result<Verdict, SharedError> {
        let mut conn = self.inner.conn.clone();
        let mut invocation = self.inner.script.key(redis_key(scope, key));
        invocation
            .arg(gcra.emission_us)
            .arg(gcra.tolerance_us)
            .arg(now_us.map(|n| n.to_string()).unwrap_or_default());
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut conn);
        let answer = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| SharedError::Timeout(CALL_TIMEOUT))??;
        match answer {
            (1, tat, ttl_ms) if tat >= 0 && ttl_ms >= 0 => Ok(Verdict::Allowed {
                tat: tat.unsigned_abs(),
                ttl_ms: ttl_ms.unsigned_abs(),
            }),
            (0, wait, _) if wait > 0 => Ok(Verdict::Refused {
                wait_us: wait.unsigned_abs(),
            }),
            other => Err(SharedError::Answer(other)),
        }
    }

    /// [`SharedLimits::take`] for a limiter: `None` when Redis gave no verdict, which is then
    /// counted under `scope`, logged at most every [`WARN_EVERY`], and followed by
    /// [`COOL_DOWN`] during which checks return `None` at once. After it one check (not every
    /// check arriving then) tries Redis again: the others return `None` meanwhile, so while
    /// Redis is failing at most one check a [`COOL_DOWN`] waits for it.
    pub async fn check(
        &self,
        scope: &'static str,
        key: impl Display,
        gcra: Gcra,
        now_us: Option<u64>,
    ) -> Option<Verdict> {
        let inner = &self.inner;
        let skip_until = inner.skip_until_ms.load(Ordering::Relaxed);
        if skip_until != 0 {
            let now = self.elapsed_ms();
            if now < skip_until {
                return None;
            }
            // This check probes Redis; the others keep skipping until it has its answer.
            let probing = now + millis(CALL_TIMEOUT) + 1;
            if inner
                .skip_until_ms
                .compare_exchange(skip_until, probing, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                return None;
            }
        }
        let started = Instant::now();
        match self.take(scope, key, gcra, now_us).await {
            Ok(verdict) => {
                metrics::limit_redis_seconds().record(started.elapsed().as_secs_f64());
                if skip_until != 0 {
                    inner.skip_until_ms.store(0, Ordering::Relaxed);
                }
                Some(verdict)
            }
            Err(e) => {
                metrics::limit_redis_errors(scope).increment(1);
                let now = self.elapsed_ms();
                inner
                    .skip_until_ms
                    .store(now + millis(COOL_DOWN), Ordering::Relaxed);
                self.warn_now_and_then(now, &e);
                None
            }
        }
    }

    fn warn_now_and_then(&self, now: u64, error: &SharedError) {
        let inner = &self.inner;
        let last = inner.warned_ms.load(Ordering::Relaxed);
        let due = last == 0 || now + 1 >= last + millis(WARN_EVERY);
        if due
            && inner
                .warned_ms
                .compare_exchange(last, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            warn!(redis = %inner.shown_url, error = %error,
                "Redis did not answer a rate-limit check: limits are per instance until it does \
                 (warned at most once a minute; vigil_limit_redis_errors_total counts them all)");
        }
    }

    fn elapsed_ms(&self) -> u64 {
        millis(self.inner.started.elapsed())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_by_scope() {
        assert_eq!(redis_key("ip", "10.0.0.1"), "vigil:limit:ip:10.0.0.1");
        assert_eq!(redis_key("partner", "acme"), "vigil:limit:partner:acme");
    }

    #[test]
    fn only_redis_urls_pass() {
        assert!(check_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(check_url("redis://:s3cret@cache:6379").is_ok());
        assert!(check_url("rediss://user:pw@cache.example.com:6380").is_ok());
        for bad in ["http://cache:6379", "cache:6379", "unix:///tmp/redis.sock"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        let e = check_url("redis://:pw@host:notaport").unwrap_err();
        assert!(!e.contains("pw"), "{e}");
    }

    const GCRA: Gcra = Gcra {
        emission_us: 1_000_000,
        tolerance_us: 0,
    };

    /// Nothing listens on the port: the check gives no verdict, without hanging.
    #[tokio::test]
    async fn an_unreachable_redis_gives_no_verdict() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let shared = SharedLimits::connect(&format!("redis://127.0.0.1:{port}"))
            .await
            .unwrap();
        let started = Instant::now();
        assert_eq!(shared.check("ip", "10.0.0.1", GCRA, None).await, None);
        // Bounded by the call's timeout (slack for a busy machine).
        assert!(started.elapsed() < CALL_TIMEOUT + Duration::from_millis(750));
    }

    /// Something accepts connections and never answers: the check waits [`CALL_TIMEOUT`],
    /// and the next one, within the cool-down, does not try Redis at all.
    #[tokio::test]
    async fn a_silent_redis_costs_one_timeout_then_is_skipped() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let shared = SharedLimits::connect(&format!("redis://127.0.0.1:{port}"))
            .await
            .unwrap();
        let started = Instant::now();
        assert_eq!(shared.check("ip", "10.0.0.1", GCRA, None).await, None);
        let first = started.elapsed();
        assert!(
            first >= CALL_TIMEOUT - Duration::from_millis(5)
                && first < CALL_TIMEOUT + Duration::from_millis(750),
            "{first:?}"
        );
        // A try would wait the whole timeout again.
        let started = Instant::now();
        assert_eq!(shared.check("tenant", 7, GCRA, None).await, None);
        assert!(
            started.elapsed() < CALL_TIMEOUT / 2,
            "{:?}",
            started.elapsed()
        );
        drop(silent);
    }
}
