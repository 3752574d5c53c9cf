//! The outbox worker of one partner: claims due records in queue order, upserts them at the
//! partner (`PUT /records/{id}`) with up to `concurrency` requests in flight, and books each
//! outcome: delivered; tried again later (retryable failures: `retries` quick retries from
//! `retry_delay`, then every `max_retry_delay`, never sooner than `Retry-After`; while the
//! breaker is open the breaker alone paces the tries, so the queue order holds); parked with
//! the partner's answer (permanent refusals); or given back untouched when the breaker opened
//! before it went out. While the breaker is open nothing is claimed: records wait in the
//! store, not in memory, and drain in queue order once probes find the partner back. While
//! full batches come back, claims run ahead of the sends and outcomes are booked behind them,
//! so records go out as one stream.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, info, warn, Instrument};
use vigil_schema::Millis;

use super::config::RateLimitConfig;
use super::link::{LinkError, PartnerLink};
use crate::breaker::BreakerState;
use crate::flags::{Flags, Switch};
use crate::retry::{backoff_delay, bound_retry_after, Backoff, RetryAfter};
use crate::store::{ClaimedRecord, DeliveryOutcome, Store, StoreError};
use crate::telemetry::metrics;

/// How long a record whose exchange a flag switched off waits before it is looked at again.
pub const FLAG_RECHECK_MS: Millis = 5_000;

/// Records claimed per round.
pub const BATCH: u32 = 1_000;
/// How long a claim holds before another worker may take the record (a crashed worker's
/// claims expire).
pub const CLAIM_LEASE_MS: Millis = 120_000;
/// Longest sleep while idle: new records also wake the worker at once through its waker.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often the outbox gauges are refreshed.
const GAUGES_EVERY: Duration = Duration::from_secs(5);
/// First wait after the outbox could not be read (before jitter).
const STORE_FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait while the outbox cannot be read (before jitter).
const STORE_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    /// Records claimed.
    pub claimed: usize,
    /// Accepted by the partner.
    pub delivered: usize,
    /// Failed retryably; due again later.
    pub retried: usize,
    /// Refused for good; parked.
    pub parked: usize,
    /// Not sent (the breaker opened first); given back.
    pub released: usize,
    /// Set when the breaker is open: nothing is claimed before this instant.
    pub blocked_until: Option<Millis>,
}

/// A claim's result.
enum Claim {
    /// The records claimed (none when nothing is due).
    Batch(Vec<ClaimedRecord>),
    /// The breaker is open until then: nothing was claimed.
    Blocked(Millis),
}

/// A sent record's id, the version claimed, and what became of it.
type Sent = (String, i64, DeliveryOutcome);

impl RoundReport {
    fn blocked(until: Millis) -> RoundReport {
        RoundReport {
            blocked_until: Some(until),
            ..RoundReport::default()
        }
    }

    /// Adds the counts of `other`; its `blocked_until` replaces this one's.
    fn add(&mut self, other: &RoundReport) {
        self.claimed += other.claimed;
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.parked += other.parked;
        self.released += other.released;
        self.blocked_until = other.blocked_until;
    }
}

/// Drains one partner's outbox.
#[derive(Debug, Clone)]
pub struct PartnerWorker {
    link: Arc<PartnerLink>,
    store: Store,
    wake: Arc<Notify>,
    /// Feature flags (`partner.<id>`); all on unless handed over.
    flags: Flags,
    /// This partner's flag.
    switch: Switch,
}

impl PartnerWorker {
    /// A worker for the partner behind `link`, over the outbox in `store`.
    pub fn new(link: Arc<PartnerLink>, store: Store) -> PartnerWorker {
        PartnerWorker {
            switch: Switch::Partner(link.id().to_string()),
            link,
            store,
            wake: Arc::new(Notify::new()),
            flags: Flags::default(),
        }
    }

    /// The same worker following `flags`: while `partner.<id>` is off for a tenant, that
    /// tenant's records wait ([`FLAG_RECHECK_MS`] at a time) and nothing is sent for them.
    pub fn with_flags(mut self, flags: Flags) -> PartnerWorker {
        self.flags = flags;
        self
    }

    /// Wakes the worker when records were queued.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The partner's link.
    pub fn link(&self) -> &Arc<PartnerLink> {
        &self.link
    }

    /// One round: claim what is due (unless the breaker is open), send it, book the outcomes.
    pub async fn round(&self) -> Result<RoundReport, StoreError> {
        let batch = match self.claim(self.batch_size()).await? {
            Claim::Blocked(until) => return Ok(RoundReport::blocked(until)),
            Claim::Batch(batch) => batch,
        };
        let outcomes = self.send(batch).await;
        self.book(&outcomes).await?;
        Ok(self.tally(&outcomes))
    }

    /// Sends while full batches come back and `stop` is not set, as one stream: claims run
    /// ahead of the sends (one batch waiting, one being claimed), the records go out with up to
    /// `concurrency` in flight whatever batch they came in, and their outcomes are booked a
    /// batch at a time while later ones are sent. So the partner never waits for the store, nor
    /// for the slowest answer of a batch (under a rate limit either wait came off the limit).
    /// Returns what was sent. A claim that fails ends the stream: what was claimed is still
    /// sent and booked, then the error is returned. A failed booking is an error as in
    /// [`round`](Self::round): the records not booked are sent again once their claims lapse.
    async fn drain(&self, stop: &watch::Receiver<bool>) -> Result<RoundReport, StoreError> {
        let size = self.batch_size();
        // A batch may wait while the one before it is sent; the claimer holds at most one more.
        let (batches_tx, mut batches_rx) = mpsc::channel::<Vec<ClaimedRecord>>(1);
        let (sent_tx, mut sent_rx) = mpsc::channel::<Vec<Sent>>(2);
        let claims = async move {
            while !*stop.borrow() {
                let batch = match self.claim(size).await? {
                    Claim::Blocked(until) => return Ok::<_, StoreError>(Some(until)),
                    Claim::Batch(batch) => batch,
                };
                let full = batch.len() >= size as usize;
                if batch.is_empty() || batches_tx.send(batch).await.is_err() || !full {
                    break;
                }
            }
            Ok(None)
        };
        let sends = async move {
            let concurrency = self.link.config().concurrency.max(1) as usize;
            let claimed = futures::stream::poll_fn(|cx| batches_rx.poll_recv(cx))
                .flat_map(futures::stream::iter);
            // Once stopping, what is left is given back rather than sent.
            let mut outcomes = claimed
                .map(|c| async move {
                    if *stop.borrow() {
                        (c.record.record_id, c.version, DeliveryOutcome::Released)
                    } else {
                        self.deliver(c).await
                    }
                })
                .buffer_unordered(concurrency)
                .chunks(size as usize);
            while let Some(chunk) = outcomes.next().await {
                if sent_tx.send(chunk).await.is_err() {
                    break;
                }
            }
        };
        let books = async {
            let mut report = RoundReport::default();
            while let Some(outcomes) = sent_rx.recv().await {
                self.book(&outcomes).await?;
                report.add(&self.tally(&outcomes));
            }
            Ok::<_, StoreError>(report)
        };
        let (claimed, (), booked) = tokio::join!(claims, sends, books);
        let mut report = booked?;
        report.blocked_until = claimed?.or(report.blocked_until);
        Ok(report)
    }

    fn batch_size(&self) -> u32 {
        claim_size(self.link.config().rate_limit)
    }

    /// The next batch due, unless the breaker is open.
    async fn claim(&self, size: u32) -> Result<Claim, StoreError> {
        let now = self.link.now();
        if let Some(until) = self.link.open_until().filter(|u| now < *u) {
            return Ok(Claim::Blocked(until));
        }
        let batch = self
            .store
            .partner_outbox()
            .claim(self.link.id(), now, size, CLAIM_LEASE_MS)
            .await?;
        Ok(Claim::Batch(batch))
    }

    /// Sends a batch in claim order with up to `concurrency` requests in flight; the outcomes
    /// as they come (a slow answer does not hold back the requests after it).
    async fn send(&self, batch: Vec<ClaimedRecord>) -> Vec<Sent> {
        let concurrency = self.link.config().concurrency.max(1) as usize;
        futures::stream::iter(batch)
            .map(|c| self.deliver(c))
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    /// Books a batch's outcomes in the outbox.
    async fn book(&self, outcomes: &[Sent]) -> Result<(), StoreError> {
        self.store
            .partner_outbox()
            .finish(self.link.id(), outcomes, self.link.now())
            .await
    }

    /// The report of a sent batch (and its retries counted).
    fn tally(&self, outcomes: &[Sent]) -> RoundReport {
        let mut report = RoundReport {
            claimed: outcomes.len(),
            ..RoundReport::default()
        };
        for (_, _, outcome) in outcomes {
            match outcome {
                DeliveryOutcome::Delivered { .. } => report.delivered += 1,
                DeliveryOutcome::Retry { .. } => report.retried += 1,
                DeliveryOutcome::Parked { .. } => report.parked += 1,
                DeliveryOutcome::Released | DeliveryOutcome::Held { .. } => report.released += 1,
            }
        }
        if report.retried > 0 {
            metrics::partner_retries(self.link.id()).increment(report.retried as u64);
        }
        report.blocked_until = self.link.open_until();
        report
    }

    async fn deliver(&self, claimed: ClaimedRecord) -> Sent {
        let ClaimedRecord {
            record,
            version,
            attempts,
            ..
        } = claimed;
        let switch = &self.switch;
        if !self.flags.is_on(switch, record.tenant_id) {
            let reason = format!(
                "the exchange is switched off for tenant {} (flag {switch})",
                record.tenant_id
            );
            let due_at = self.link.now().saturating_add(FLAG_RECHECK_MS);
            return (
                record.record_id,
                version,
                DeliveryOutcome::Held { due_at, reason },
            );
        }
        let span = tracing::debug_span!("partner_put", partner = %self.link.id(),
            record_id = %record.record_id, tenant_id = record.tenant_id, attempt = attempts + 1);
        let result = self.link.put(&record).instrument(span).await;
        let outcome = match result {
            Ok(status) => DeliveryOutcome::Delivered { status },
            Err(LinkError::Open { .. }) => DeliveryOutcome::Released,
            Err(LinkError::Call(e)) if e.is_retryable() => {
                // With the breaker open the partner is down, not this record: the breaker
                // paces the tries, and the record keeps its place at the head of the queue.
                let wait = if self.link.breaker_state() == BreakerState::Closed {
                    self.retry_wait(attempts, e.retry_after())
                } else {
                    0
                };
                debug!(partner = %self.link.id(), record_id = %record.record_id,
                    attempt = attempts + 1, status = ?e.status, error = %e.message,
                    retry_in_ms = wait, "partner delivery failed; will retry");
                DeliveryOutcome::Retry {
                    due_at: self.link.now().saturating_add(wait),
                    status: e.status,
                    error: e.message,
                }
            }
            Err(LinkError::Call(e)) => {
                warn!(partner = %self.link.id(), record_id = %record.record_id,
                    attempt = attempts + 1, status = ?e.status, error = %e.message,
                    "partner refused the record; parked");
                DeliveryOutcome::Parked {
                    status: e.status,
                    error: e.message,
                }
            }
        };
        (record.record_id, version, outcome)
    }

    /// Milliseconds before the next try of a record that failed `attempts + 1` times: the
    /// first `retries` waits double from `retry_delay`, later ones are `max_retry_delay`; the
    /// partner's `Retry-After` is honoured up to `max_retry_delay`.
    fn retry_wait(&self, attempts: u32, retry_after: Option<Duration>) -> Millis {
        let c = self.link.config();
        let (min, max) = (c.retry_delay.as_std(), c.max_retry_delay.as_std());
        let retry_after = capped_retry_after(self.link.id(), retry_after, max);
        let wait = if attempts < c.retries {
            backoff_delay(attempts, min, max, retry_after)
        } else {
            max.max(retry_after.unwrap_or_default())
        };
        Millis::try_from(wait.as_millis()).unwrap_or(Millis::MAX)
    }

    /// Drains the outbox until `stop` turns true: again when woken, when the breaker lets
    /// probes through, or after `IDLE_POLL`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let partner = self.link.id().to_string();
        info!(partner = %partner, "partner outbox worker started");
        let mut gauges = tokio::time::interval(GAUGES_EVERY);
        let mut store_backoff = Backoff::new(STORE_FIRST_BACKOFF, STORE_MAX_BACKOFF);
        loop {
            let wait = match self.drain(&stop).await {
                Ok(r) => {
                    store_backoff.reset();
                    let until_open = r
                        .blocked_until
                        .map(|u| u.saturating_sub(self.link.now()).max(0));
                    until_open
                        .map(|ms| Duration::from_millis(ms.unsigned_abs()))
                        .unwrap_or(IDLE_POLL)
                        .min(IDLE_POLL)
                }
                Err(e) => {
                    warn!(partner = %partner, error = %e, "partner outbox unavailable; records wait");
                    store_backoff.next_delay()
                }
            };
            tokio::select! {
                _ = crate::stopped(&mut stop) => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = gauges.tick() => self.refresh_gauges().await,
            }
        }
        info!(partner = %partner, "partner outbox worker stopped");
    }

    /// Sets the outbox gauges of this partner from the store.
    pub async fn refresh_gauges(&self) {
        let partner = self.link.id();
        match self.store.partner_outbox().stats(partner).await {
            Ok(s) => {
                metrics::partner_outbox_depth(partner).set(s.pending as f64);
                metrics::partner_outbox_parked(partner).set(s.parked as f64);
                let age = s
                    .oldest_pending_queued_at
                    .map_or(0, |q| self.link.now().saturating_sub(q).max(0));
                metrics::partner_outbox_oldest_age_seconds(partner).set(age as f64 / 1000.0);
            }
            Err(e) => debug!(partner = %partner, error = %e, "cannot read partner outbox figures"),
        }
    }
}

/// Records claimed at once: [`BATCH`], or fewer under a low rate limit, so that what a worker
/// holds (the batch being sent, one waiting, one being claimed) goes out well within
/// [`CLAIM_LEASE_MS`] even when instances share the limit: at most an eighth of what the limit
/// lets through in a lease.
fn claim_size(limit: Option<RateLimitConfig>) -> u32 {
    let Some(limit) = limit else {
        return BATCH;
    };
    let per_lease = u64::from(limit.per_second) * CLAIM_LEASE_MS.unsigned_abs() / 1000;
    u32::try_from(per_lease / 8)
        .unwrap_or(BATCH)
        .clamp(1, BATCH)
}

/// A partner's `Retry-After` held to `max_retry_delay`: a longer one (1e11 s, `u64::MAX` s) is
/// the partner failing, not a wait to honour; the record is tried again after
/// `max_retry_delay`, as any record that keeps failing is.
pub(crate) fn capped_retry_after(
    partner: &str,
    asked: Option<Duration>,
    max: Duration,
) -> Option<Duration> {
    match bound_retry_after(asked, max) {
        RetryAfter::Within(asked) => asked,
        RetryAfter::TooLong(asked) => {
            warn!(partner = %partner, retry_after_s = asked.as_secs(),
                max_retry_delay_s = max.as_secs(),
                "partner asked to wait longer than max_retry_delay; waiting max_retry_delay");
            Some(max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_shrink_so_a_low_rate_sends_them_well_within_the_lease() {
        let limit = |per_second| {
            Some(RateLimitConfig {
                per_second,
                burst: 1,
            })
        };
        assert_eq!(claim_size(None), BATCH);
        assert_eq!(claim_size(limit(10_000)), BATCH);
        assert_eq!(claim_size(limit(50)), 750);
        assert_eq!(claim_size(limit(1)), 15);
        for per_second in [1, 2, 5, 50, 100, 1_000] {
            let held_ms =
                3 * u64::from(claim_size(limit(per_second))) * 1000 / u64::from(per_second);
            assert!(
                held_ms <= CLAIM_LEASE_MS.unsigned_abs() / 2,
                "{per_second}/s: {held_ms} ms"
            );
        }
    }

    #[test]
    fn a_partners_retry_after_is_held_to_max_retry_delay() {
        let max = Duration::from_secs(300);
        let table = [
            (None, None),
            (
                Some(Duration::from_secs(120)),
                Some(Duration::from_secs(120)),
            ),
            (Some(max), Some(max)),
            (Some(Duration::from_secs(100_000_000_000)), Some(max)),
            (Some(Duration::from_secs(u64::MAX)), Some(max)),
        ];
        for (asked, want) in table {
            assert_eq!(capped_retry_after("p", asked, max), want, "{asked:?}");
        }
    }
}
