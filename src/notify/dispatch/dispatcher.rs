//! The [`Dispatcher`]: its loop, and one round of it: claim the due notifications (under a
//! lease renewed while the round sends), screen them, group them into messages, send those
//! with bounded concurrency, and record every outcome as soon as it is known.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, warn, Instrument};
use vigil_engine::clock::Clock;
use vigil_schema::Millis;

use super::group::{ids, GroupKey, Prepared};
use super::settle::retry_delay;
use crate::breaker::Breaker;
use crate::flags::Flags;
use crate::limits::SharedLimits;
use crate::notify::ack_token::LinkSigner;
use crate::notify::channel::{Providers, SendError};
use crate::notify::config::{Channel, NotifyConfig};
use crate::notify::lease::{LeaseKeeper, BACKSTOP_MARGIN};
use crate::notify::limits::RecipientLimits;
use crate::notify::{Routing, RoutingHandle};
use crate::retry::Backoff;
use crate::secrets::Rebuilt;
use crate::store::notifications::{DueNotification, NewNotification, Outcome};
use crate::store::{Store, StoreError};
use crate::telemetry::metrics;
use crate::AbortOnDrop;

/// Longest wait between rounds when nothing is known to be due (other instances may write).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often the outbox depth gauge is refreshed and idle limiter and grouping state dropped.
const UPKEEP: Duration = Duration::from_secs(15);

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Notifications taken.
    pub taken: usize,
    /// Messages the providers accepted.
    pub messages: usize,
    /// Notifications in them.
    pub sent: usize,
    /// Notifications to try again later.
    pub retried: usize,
    /// Notifications that ended `failed`.
    pub failed: usize,
    /// Notifications held back (silence, quiet hours, rate limit, grouping, open breaker).
    pub deferred: usize,
    /// Notifications no longer wanted.
    pub cancelled: usize,
    /// Fallback notifications written.
    pub fallbacks: usize,
}

/// Sends due notifications (see [`crate::notify::dispatch`]). Run it with
/// [`Dispatcher::run`], or drive it round by round with [`Dispatcher::round`] (tests, with a
/// manual clock).
pub struct Dispatcher {
    /// Each tenant's routing (contacts, schedules, policies, routes), as in force now.
    pub(super) routing: RoutingHandle,
    /// The main file's `[notify]` as the service started: delivery settings, limits, link
    /// lifetime (none of them changes at run time).
    main: Arc<Routing>,
    /// The outbox.
    pub(super) store: Store,
    /// The providers, one per channel.
    pub(super) providers: Rebuilt<Providers>,
    /// Signs ack links (`None`: messages carry none).
    pub(super) links: Option<Arc<LinkSigner>>,
    /// "Now" for due times, holds and leases.
    pub(super) clock: Arc<dyn Clock>,
    /// One circuit breaker per channel's provider.
    breakers: HashMap<Channel, Breaker>,
    /// Rate limits per recipient and channel.
    pub(super) limits: RecipientLimits,
    /// When each group last had a message accepted (for `group_interval`).
    pub(super) last_sent: HashMap<GroupKey, Millis>,
    /// Where people reach this service (ack and dashboard links), without a trailing `/`.
    pub(super) public_url: String,
    /// Feature flags (`notify.sms`, `notify.retractions`); all on unless handed over.
    pub(super) flags: Flags,
}

impl Dispatcher {
    /// A dispatcher over the outbox in `store`.
    pub fn new(
        routing: RoutingHandle,
        store: Store,
        providers: Rebuilt<Providers>,
        links: Option<Arc<LinkSigner>>,
        clock: Arc<dyn Clock>,
        public_url: &str,
    ) -> Dispatcher {
        let main = routing.load();
        let delivery = main.main().delivery;
        let breakers = [Channel::Email, Channel::Sms, Channel::Webhook]
            .into_iter()
            .map(|c| {
                (
                    c,
                    Breaker::consecutive(
                        delivery.breaker_failures,
                        delivery.breaker_cooldown.as_millis(),
                    ),
                )
            })
            .collect();
        Dispatcher {
            limits: RecipientLimits::new(&main.main().limits, clock.clone(), None),
            routing,
            main,
            store,
            providers,
            links,
            clock,
            breakers,
            last_sent: HashMap::new(),
            public_url: public_url.trim_end_matches('/').to_string(),
            flags: Flags::default(),
        }
    }

    /// The same dispatcher following `flags` (`notify.sms`, `notify.retractions`).
    pub fn with_flags(mut self, flags: Flags) -> Dispatcher {
        self.flags = flags;
        self
    }

    /// The same dispatcher with its recipients' rate limits shared through `shared` (`[cluster]
    /// redis_url`), so that they hold across instances; `None` keeps them in this process.
    pub fn with_shared_limits(mut self, shared: Option<&SharedLimits>) -> Dispatcher {
        self.limits = RecipientLimits::new(&self.main.main().limits, self.clock.clone(), shared);
        self
    }

    /// The circuit breaker of a channel's provider.
    pub(super) fn breaker(&mut self, channel: Channel) -> &mut Breaker {
        let delivery = self.main.main().delivery;
        self.breakers.entry(channel).or_insert_with(|| {
            Breaker::consecutive(
                delivery.breaker_failures,
                delivery.breaker_cooldown.as_millis(),
            )
        })
    }

    /// The main file's `[notify]`: delivery settings, limits, link lifetime.
    pub(super) fn main(&self) -> &NotifyConfig {
        self.main.main()
    }

    /// Sends whatever is due, round after round, until `stop`; a round starts when the next
    /// notification is due, when `wake` is notified (new work was written), or after a second
    /// (another instance may have written work).
    pub async fn run(mut self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        let mut last_upkeep = Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            let pause = match self.round().await {
                Ok(round) => {
                    failures = 0;
                    if round.taken > 0 {
                        debug!(?round, "notification round");
                    }
                    if round.taken >= self.main().delivery.batch as usize {
                        Duration::ZERO
                    } else {
                        IDLE_POLL
                    }
                }
                Err(e) => {
                    failures += 1;
                    warn!(error = %e, "notification round failed; the outbox keeps the work");
                    retry_delay(failures.min(8), None)
                }
            };
            if last_upkeep.elapsed() >= UPKEEP {
                last_upkeep = Instant::now();
                self.limits.forget_idle();
                let now = self.clock.now();
                let keep = self.routing.load().longest_group_interval();
                self.last_sent.retain(|_, at| now - *at < keep);
                if let Ok(depth) = self.store.notifications().overdue(now).await {
                    metrics::notification_outbox_depth().set(depth as f64);
                }
            }
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Records the outcome of messages that went to their providers. A store that cannot be
    /// reached is tried again (backing off up to 2 s) for as long as this round's claim on them
    /// surely holds (half the claim timeout: the claim is renewed at least that often), so an
    /// outage shorter than that sends nothing twice; after it, another notifier may have
    /// claimed them, and the error ends the round.
    async fn record_after_send(&self, ids: &[String], outcome: &Outcome) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let claim_holds_until = Instant::now() + self.main().delivery.claim_timeout.as_std() / 2;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        loop {
            match self
                .store
                .notifications()
                .record_outcome(ids, outcome)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() => {
                    let wait = backoff.next_delay();
                    if Instant::now() + wait >= claim_holds_until {
                        return Err(e);
                    }
                    warn!(error = %e, notifications = ids.len(), "cannot record what was sent; trying again while the claim holds");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One round: takes the due notifications and settles each of them.
    pub async fn round(&mut self) -> Result<Round, StoreError> {
        let now = self.clock.now();
        let delivery = self.main().delivery;
        let lease_until = now.saturating_add(delivery.claim_timeout.as_millis());
        let due = self
            .store
            .notifications()
            .claim_due(now, delivery.batch, lease_until)
            .await?;
        let mut round = Round {
            taken: due.len(),
            ..Round::default()
        };
        if due.is_empty() {
            return Ok(round);
        }
        // Sending a full round can outlast the claim: keep it until the round is over (a round
        // that ends early gives back what it did not settle).
        let lease = LeaseKeeper::start(
            self.store.clone(),
            self.clock.clone(),
            due.iter().map(|n| n.notification_id.clone()).collect(),
            lease_until,
            delivery.claim_timeout.as_millis(),
        );
        let silences = self
            .store
            .silences()
            .in_force(now)
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot read silences; sending as if there were none");
                Vec::new()
            });
        let mut settled: Vec<(Vec<String>, Outcome)> = Vec::new();
        let mut fallbacks: Vec<NewNotification> = Vec::new();
        let mut groups: BTreeMap<GroupKey, Vec<DueNotification>> = BTreeMap::new();
        for n in due {
            match self.screen(&n, &silences, now) {
                Some(outcome) => settled.push((vec![n.notification_id.clone()], outcome)),
                None => {
                    let Some(key) = self.group_key(&n) else {
                        settled.push((
                            vec![n.notification_id.clone()],
                            Outcome::Failed {
                                reason: format!(
                                    "contact {:?} or channel {:?} is no longer configured",
                                    n.contact, n.channel
                                ),
                            },
                        ));
                        continue;
                    };
                    groups.entry(key).or_default().push(n);
                }
            }
        }
        let mut ready = Vec::new();
        for (key, rows) in groups {
            match self.prepare(key, rows, now).await? {
                Prepared::Ready(r) => ready.push(*r),
                Prepared::Held {
                    rows,
                    outcome,
                    fall_back,
                } => {
                    if fall_back {
                        fallbacks.extend(self.fallbacks_for(&rows, now));
                    }
                    settled.push((ids(&rows), outcome));
                }
            }
        }
        // One statement per distinct outcome, not per notification.
        let mut merged: Vec<(Vec<String>, Outcome)> = Vec::new();
        for (ids, outcome) in settled {
            match merged.iter_mut().find(|(_, o)| *o == outcome) {
                Some((all, _)) => all.extend(ids),
                None => merged.push((ids, outcome)),
            }
        }
        for (ids, outcome) in &merged {
            match outcome {
                Outcome::Deferred { .. } => round.deferred += ids.len(),
                Outcome::Cancelled { .. } => round.cancelled += ids.len(),
                _ => {}
            }
            self.store
                .notifications()
                .record_outcome(ids, outcome)
                .await?;
        }
        self.add_fallbacks(&mut fallbacks, &mut round).await?;
        // Each message's outcome is recorded as soon as it is known, so a crash mid-round
        // sends again only what was in flight.
        let timeout = delivery.send_timeout.as_std();
        let concurrency = delivery.concurrency.max(1) as usize;
        let providers = self.providers.current();
        let sends = stream::iter(ready)
            .map(move |r| {
                let providers = providers.clone();
                let span = tracing::info_span!(
                    "notify",
                    tenant_id = r.outgoing.tenant_id,
                    ticket_id = %r.rows[0].alert.record.ticket_id,
                    channel = r.channel.as_str(),
                    message_id = %r.outgoing.idempotency_key,
                    notifications = r.rows.len(),
                );
                async move {
                    // A backstop: each provider times out by itself after `timeout` and says
                    // how; this only catches one that does not.
                    let sent = tokio::time::timeout(
                        timeout + BACKSTOP_MARGIN,
                        providers.send(r.channel, &r.outgoing),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(SendError::Transient {
                            reason: format!("no answer within {} s", timeout.as_secs()),
                            retry_after: None,
                        })
                    });
                    (r, sent)
                }
                .instrument(span)
            })
            .buffer_unordered(concurrency);
        // The sends run on a task of their own, so a send in flight is never starved while
        // this loop waits for the store: one left unpolled would time out on its own clock,
        // though the provider had taken it, and be sent again.
        let (finished_tx, mut finished_rx) = mpsc::channel(concurrency);
        let sending = tokio::spawn(async move {
            let mut sends = std::pin::pin!(sends);
            while let Some(finished) = sends.next().await {
                if finished_tx.send(finished).await.is_err() {
                    return;
                }
            }
        });
        let _sending = AbortOnDrop(sending);
        let mut finished = Vec::with_capacity(concurrency);
        // Whatever has finished when the last write is done: recorded together.
        while finished_rx.recv_many(&mut finished, concurrency).await > 0 {
            let now = self.clock.now();
            let mut sent: Vec<String> = Vec::new();
            for (r, result) in finished.drain(..) {
                let (outcome, more) = self.settle(&r, result, now, &mut round);
                fallbacks.extend(more);
                match outcome {
                    Outcome::Sent => sent.extend(ids(&r.rows)),
                    other => self.record_after_send(&ids(&r.rows), &other).await?,
                }
            }
            self.record_after_send(&sent, &Outcome::Sent).await?;
            self.add_fallbacks(&mut fallbacks, &mut round).await?;
        }
        lease.finish();
        Ok(round)
    }
}
