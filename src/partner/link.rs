//! One partner as every caller in this process reaches it: its client, one rate limit and one
//! circuit breaker shared by the outbox worker and the reconciliation, and the request
//! metrics. With a shared Redis ([`crate::limits`]) the rate limit holds across instances
//! (key `vigil:limit:partner:<id>`), so the partner sees `rate_limit` in total however many
//! instances deliver to it.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use governor::Quota;
use serde_json::{Map, Value};
use tracing::{info, warn};
use vigil_engine::clock::Clock;
use vigil_engine::SlaRecord;
use vigil_schema::Millis;

use super::client::{PageBody, PartnerClient};
use super::config::PartnerConfig;
use super::mapping::Mapper;
use crate::breaker::{Breaker, BreakerPolicy, BreakerState};
use crate::http_client::CallError;
use crate::limits::{KeyedLimit, Pacer, SharedLimits};
use crate::telemetry::metrics;

/// Why a call was not made or did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The breaker is open: no call was made; the next probe may go at `until`.
    #[error("circuit breaker open until {until}")]
    Open {
        /// When probes are let through (ms since the epoch).
        until: Millis,
    },
    /// The call was made and failed.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// A partner's client behind its rate limit and circuit breaker.
pub struct PartnerLink {
    config: PartnerConfig,
    client: PartnerClient,
    limit: Option<RateLimit>,
    breaker: Mutex<Breaker>,
    clock: Arc<dyn Clock>,
}

/// How a partner's rate limit is held.
enum RateLimit {
    /// In this process, by a pacer thread punctual below tokio's millisecond timer.
    Paced(Pacer),
    /// Through Redis across instances (keyed by the partner's id, the one key it has), or in
    /// this process if the pacer's thread could not start.
    Keyed(KeyedLimit<String>),
}

impl std::fmt::Debug for PartnerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerLink")
            .field("partner", &self.config.id)
            .finish_non_exhaustive()
    }
}

impl PartnerLink {
    /// A link to the partner `client` speaks to, configured by `config`, with the breaker on
    /// `clock` and the rate limit in this process.
    pub fn new(config: PartnerConfig, client: PartnerClient, clock: Arc<dyn Clock>) -> Self {
        PartnerLink::with_shared_limit(config, client, clock, None)
    }

    /// [`PartnerLink::new`] with the rate limit shared through `shared` when given (`[cluster]
    /// redis_url`).
    pub fn with_shared_limit(
        config: PartnerConfig,
        client: PartnerClient,
        clock: Arc<dyn Clock>,
        shared: Option<&SharedLimits>,
    ) -> Self {
        let limit = config.rate_limit.map(|r| {
            let per_second = NonZeroU32::new(r.per_second).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(r.burst).unwrap_or(NonZeroU32::MIN);
            let keyed = |shared| {
                let quota = Quota::per_second(per_second).allow_burst(burst);
                RateLimit::Keyed(KeyedLimit::new("partner", quota, shared))
            };
            if shared.is_some() {
                return keyed(shared);
            }
            match Pacer::spawn(&config.id, per_second, burst) {
                Ok(pacer) => RateLimit::Paced(pacer),
                Err(e) => {
                    warn!(partner = %config.id, error = %e,
                        "cannot start the rate limit's pacer thread; pacing on the runtime's timer");
                    keyed(None)
                }
            }
        });
        let b = config.breaker;
        let breaker = Breaker::new(BreakerPolicy {
            failure_rate: b.failure_rate,
            window: b.window,
            open_for_ms: b.open_for.as_millis(),
            half_open_calls: b.half_open_calls,
        });
        metrics::partner_breaker_state(&config.id).set(BreakerState::Closed.gauge_value());
        PartnerLink {
            config,
            client,
            limit,
            breaker: Mutex::new(breaker),
            clock,
        }
    }

    /// The partner's id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The partner's configuration.
    pub fn config(&self) -> &PartnerConfig {
        &self.config
    }

    /// How records become the partner's JSON.
    pub fn mapper(&self) -> &Mapper {
        self.client.mapper()
    }

    /// The clock the breaker runs on.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Where the breaker is.
    pub fn breaker_state(&self) -> BreakerState {
        self.with_breaker(|b| b.state())
    }

    /// When an open breaker lets probes through, if it is open.
    pub fn open_until(&self) -> Option<Millis> {
        self.with_breaker(|b| b.open_until())
    }

    /// Upserts one record at the partner (`PUT /records/{id}`); answers the HTTP status.
    pub async fn put(&self, record: &SlaRecord) -> Result<u16, LinkError> {
        self.call("put", self.client.put_record(record)).await
    }

    /// One page of the partner's records of a local date, as it arrived
    /// ([`PageBody::parse`] makes the page), read into `buffer`
    /// ([`PartnerClient::get_page_body`]).
    pub async fn get_page_body(
        &self,
        date: &str,
        page: u32,
        page_size: u32,
        buffer: Vec<u8>,
    ) -> Result<PageBody, LinkError> {
        self.call(
            "get",
            self.client.get_page_body(date, page, page_size, buffer),
        )
        .await
    }

    /// Maps a record as the partner receives it.
    pub fn map(&self, record: &SlaRecord) -> Map<String, Value> {
        self.client.mapper().map(record)
    }

    async fn call<T>(
        &self,
        call: &'static str,
        request: impl std::future::Future<Output = Result<T, CallError>>,
    ) -> Result<T, LinkError> {
        let admitted = self.with_breaker(|b| {
            let before = b.state();
            let admitted = b.admit(self.clock.now());
            (admitted, before, b.state(), b.open_until())
        });
        let (admitted, before, after, until) = admitted;
        self.transition(before, after);
        if !admitted {
            return Err(LinkError::Open {
                until: until.unwrap_or_else(|| self.clock.now()),
            });
        }
        match &self.limit {
            Some(RateLimit::Paced(pacer)) => pacer.acquire().await,
            Some(RateLimit::Keyed(limiter)) => wait_for_permit(limiter, &self.config.id).await,
            None => {}
        }
        let started = Instant::now();
        let result = request.await;
        metrics::partner_request_seconds(&self.config.id, call)
            .record(started.elapsed().as_secs_f64());
        let (label, failed) = match &result {
            Ok(_) => ("ok", false),
            // A permanent refusal is about the request, not the partner's health.
            Err(e) if e.is_retryable() => ("retryable", e.status != Some(429)),
            Err(_) => ("permanent", false),
        };
        metrics::partner_requests(&self.config.id, call, label).increment(1);
        let (before, after) = self.with_breaker(|b| {
            let before = b.state();
            b.record(!failed, self.clock.now());
            (before, b.state())
        });
        self.transition(before, after);
        result.map_err(LinkError::Call)
    }

    fn transition(&self, before: BreakerState, after: BreakerState) {
        if before == after {
            return;
        }
        metrics::partner_breaker_state(&self.config.id).set(after.gauge_value());
        metrics::partner_breaker_transitions(&self.config.id, after.as_str()).increment(1);
        if after == BreakerState::Open {
            warn!(partner = %self.config.id, "partner circuit breaker opened; calls wait");
        } else {
            info!(partner = %self.config.id, from = before.as_str(), to = after.as_str(),
                "partner circuit breaker changed");
        }
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut b = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut b)
    }
}

/// Waits until a shared limiter lets one more call to partner `id` through, sleeping on
/// tokio's timer between tries (each try is a Redis call).
async fn wait_for_permit(limiter: &KeyedLimit<String>, id: &String) {
    while let Err(refused) = limiter.check(id).await {
        tokio::time::sleep(refused.retry_after).await;
    }
}
