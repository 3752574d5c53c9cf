//! The delivery side of the outbox: takes due notifications, holds back what must wait
//! (silences, quiet hours, rate limits, `group_interval`), drops what is no longer wanted
//! (acknowledged, resolved, inhibited), folds what goes to one recipient on one channel into
//! one message, sends it, and records the outcome: sent, retried with backoff, or failed; SMS
//! that cannot go out falls back to email and webhook.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use tokio::sync::{watch, Notify};
use tracing::{debug, warn, Instrument};
use vigil_engine::clock::Clock;
use vigil_engine::{AlertState, Level};
use vigil_schema::{format_instant, Millis};

use super::ack_token::LinkSigner;
use super::channel::{Content, Outgoing, Providers, SendError};
use super::config::{Channel, ContactSpec, NotifyConfig};
use super::escalation::AlertFacts;
use super::lease::{LeaseKeeper, BACKSTOP_MARGIN};
use super::limits::RecipientLimits;
use super::message::{self, MessageFacts};
use super::schedule;
use super::Routing;
use crate::breaker::Breaker;
use crate::retry::{bound_retry_after, RetryAfter};
use crate::store::notifications::{DueNotification, NewNotification, NotificationKind, Outcome};
use crate::store::silences::Silence;
use crate::store::{Store, StoreError};
use crate::telemetry::metrics;
use crate::views::AlertView;

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

/// Which notifications go out as one message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum GroupKey {
    /// Already assigned to a message by an earlier attempt: sent again as it was.
    Message(String),
    /// New: one tenant's notifications of one route to one contact on one channel.
    Fresh {
        tenant_id: u64,
        route: usize,
        contact: String,
        channel: Channel,
        kind: &'static str,
    },
}

/// A message ready to send, and the notifications it carries.
struct Ready {
    key: GroupKey,
    channel: Channel,
    rows: Vec<DueNotification>,
    outgoing: Outgoing,
}

/// Sends due notifications; see the module docs. Run it with [`Dispatcher::run`], or drive it
/// round by round with [`Dispatcher::round`] (tests, with a manual clock).
pub struct Dispatcher {
    routing: Arc<Routing>,
    store: Store,
    providers: Arc<Providers>,
    links: Option<Arc<LinkSigner>>,
    clock: Arc<dyn Clock>,
    breakers: HashMap<Channel, Breaker>,
    limits: RecipientLimits,
    /// When each group last had a message accepted (for `group_interval`).
    last_sent: HashMap<GroupKey, Millis>,
    /// Where people reach this service (ack and dashboard links), without a trailing `/`.
    public_url: String,
}

fn parse_channel(name: &str) -> Option<Channel> {
    match name {
        "email" => Some(Channel::Email),
        "sms" => Some(Channel::Sms),
        "webhook" => Some(Channel::Webhook),
        _ => None,
    }
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Sms => "sms",
        Channel::Webhook => "webhook",
    }
}

fn facts_of(n: &DueNotification) -> AlertFacts<'_> {
    let r = &n.alert.record;
    AlertFacts {
        ticket_id: &r.ticket_id,
        level: r.level.as_str(),
        goal: r.goal.as_str(),
        priority: &r.priority,
        service_type: &r.service_type,
    }
}

/// The wait before retry `attempt` (0 first): exponential from 1 s, doubling up to 5 min, with
/// jitter; never shorter than what the provider asked for.
pub fn retry_delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    crate::retry::backoff_delay(
        attempt,
        Duration::from_secs(1),
        Duration::from_secs(300),
        retry_after,
    )
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

impl Dispatcher {
    /// A dispatcher over the outbox in `store`.
    pub fn new(
        routing: Arc<Routing>,
        store: Store,
        providers: Arc<Providers>,
        links: Option<Arc<LinkSigner>>,
        clock: Arc<dyn Clock>,
        public_url: &str,
    ) -> Dispatcher {
        let delivery = routing.main().delivery;
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
            limits: RecipientLimits::new(&routing.main().limits, clock.clone()),
            routing,
            store,
            providers,
            links,
            clock,
            breakers,
            last_sent: HashMap::new(),
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    /// The circuit breaker of a channel's provider.
    fn breaker(&mut self, channel: Channel) -> &mut Breaker {
        let delivery = self.routing.main().delivery;
        self.breakers.entry(channel).or_insert_with(|| {
            Breaker::consecutive(
                delivery.breaker_failures,
                delivery.breaker_cooldown.as_millis(),
            )
        })
    }

    /// The main file's `[notify]`: delivery settings, limits, link lifetime.
    fn main(&self) -> &NotifyConfig {
        self.routing.main()
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
                let keep = self.routing.longest_group_interval();
                self.last_sent.retain(|_, at| now - *at < keep);
                if let Ok(depth) = self.store.overdue_notifications(now).await {
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

    /// One round: takes the due notifications and settles each of them.
    pub async fn round(&mut self) -> Result<Round, StoreError> {
        let now = self.clock.now();
        let delivery = self.main().delivery;
        let lease_until = now.saturating_add(delivery.claim_timeout.as_millis());
        let due = self
            .store
            .claim_due(now, delivery.batch, lease_until)
            .await?;
        let mut round = Round {
            taken: due.len(),
            ..Round::default()
        };
        if due.is_empty() {
            return Ok(round);
        }
        // Sending a full round can outlast the claim: keep it until the round is over.
        let _lease = LeaseKeeper::start(
            self.store.clone(),
            self.clock.clone(),
            due.iter().map(|n| n.notification_id.clone()).collect(),
            lease_until,
            delivery.claim_timeout.as_millis(),
        );
        let silences = self.store.silences_in_force(now).await.unwrap_or_else(|e| {
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
                Prepared::Ready(r) => ready.push(r),
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
            self.store.record_outcome(ids, outcome).await?;
        }
        self.add_fallbacks(&mut fallbacks, &mut round).await?;
        // Each message's outcome is recorded as soon as it is known, so a crash mid-round
        // sends again only what was in flight.
        let timeout = delivery.send_timeout.as_std();
        let providers = self.providers.clone();
        let mut sends = stream::iter(ready)
            .map(|r| {
                let providers = providers.clone();
                let span = tracing::info_span!(
                    "notify",
                    tenant_id = r.outgoing.tenant_id,
                    ticket_id = %r.rows[0].alert.record.ticket_id,
                    channel = channel_name(r.channel),
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
            .buffer_unordered(delivery.concurrency.max(1) as usize)
            // Whatever has finished when the last write is done: recorded together.
            .ready_chunks(delivery.concurrency.max(1) as usize);
        while let Some(finished) = sends.next().await {
            let now = self.clock.now();
            let mut sent: Vec<String> = Vec::new();
            for (r, result) in finished {
                let (outcome, more) = self.settle(&r, result, now, &mut round);
                fallbacks.extend(more);
                match outcome {
                    Outcome::Sent => sent.extend(ids(&r.rows)),
                    other => self.store.record_outcome(&ids(&r.rows), &other).await?,
                }
            }
            self.store.record_outcome(&sent, &Outcome::Sent).await?;
            self.add_fallbacks(&mut fallbacks, &mut round).await?;
        }
        Ok(round)
    }

    /// Writes the fallback notifications gathered so far (idempotent: a fallback already
    /// written adds nothing).
    async fn add_fallbacks(
        &self,
        fallbacks: &mut Vec<NewNotification>,
        round: &mut Round,
    ) -> Result<(), StoreError> {
        if fallbacks.is_empty() {
            return Ok(());
        }
        let added = self.store.enqueue_notifications(fallbacks).await? as usize;
        fallbacks.clear();
        round.fallbacks += added;
        metrics::notifications("sms", "fallback").increment(added as u64);
        Ok(())
    }

    /// The outcome of one send, and the fallbacks it calls for; updates the breaker, the
    /// metrics and `round`.
    fn settle(
        &mut self,
        r: &Ready,
        result: Result<(), SendError>,
        now: Millis,
        round: &mut Round,
    ) -> (Outcome, Vec<NewNotification>) {
        let delivery = self.main().delivery;
        let channel = channel_name(r.channel);
        let mut fallbacks = Vec::new();
        let breaker = self.breaker(r.channel);
        breaker.record(!matches!(result, Err(SendError::Transient { .. })), now);
        metrics::notification_breaker_state(channel).set(breaker.state().gauge_value());
        let outcome = match result {
            Ok(()) => {
                metrics::notifications(channel, "sent").increment(r.rows.len() as u64);
                let escalated = r
                    .rows
                    .iter()
                    .filter(|n| n.kind == NotificationKind::Page && (n.step > 0 || n.round > 0))
                    .count();
                metrics::notification_escalations().increment(escalated as u64);
                for n in &r.rows {
                    // A first page from when the alert change was noticed (grouping included);
                    // a later step or a resolution message from when it was due.
                    let first_page =
                        n.kind == NotificationKind::Page && n.step == 0 && n.round == 0;
                    let from = if first_page { n.queued_at } else { n.due_at };
                    metrics::notification_delivery_seconds(channel)
                        .record((now - from).max(0) as f64 / 1000.0);
                }
                if let GroupKey::Fresh { .. } = &r.key {
                    self.last_sent.insert(r.key.clone(), now);
                }
                debug!(tenant_id = r.outgoing.tenant_id, channel, to = %r.outgoing.to, message_id = %r.outgoing.idempotency_key, notifications = r.rows.len(), "notification sent");
                round.messages += 1;
                round.sent += r.rows.len();
                Outcome::Sent
            }
            Err(SendError::Transient {
                reason,
                retry_after,
            }) => {
                let oldest = r.rows.iter().map(|n| n.queued_at).min().unwrap_or(now);
                // A provider asking for longer than we would retry at all cannot be waited
                // for: that answer fails the delivery now (and an SMS falls back).
                let (retry_after, refused_wait) =
                    match bound_retry_after(retry_after, delivery.give_up_after.as_std()) {
                        RetryAfter::Within(asked) => (asked, None),
                        RetryAfter::TooLong(asked) => (None, Some(asked)),
                    };
                let give_up =
                    refused_wait.is_some() || now - oldest >= delivery.give_up_after.as_millis();
                warn!(tenant_id = r.outgoing.tenant_id, channel, error = %reason, give_up,
                    retry_after_s = refused_wait.map(|d| d.as_secs()), "notification not accepted");
                if r.channel == Channel::Sms {
                    fallbacks = self.fallbacks_for(&r.rows, now);
                }
                if give_up {
                    metrics::notifications(channel, "failed").increment(r.rows.len() as u64);
                    round.failed += r.rows.len();
                    let reason = match refused_wait {
                        Some(asked) => format!(
                            "the provider asked to wait {} s (Retry-After), longer than \
                             give_up_after ({}): {reason}",
                            asked.as_secs(),
                            delivery.give_up_after
                        ),
                        None => format!("gave up after {}: {reason}", delivery.give_up_after),
                    };
                    Outcome::Failed { reason }
                } else {
                    metrics::notifications(channel, "retried").increment(r.rows.len() as u64);
                    round.retried += r.rows.len();
                    let attempts = r.rows.iter().map(|n| n.attempts).max().unwrap_or(0);
                    let wait =
                        retry_delay(u32::try_from(attempts).unwrap_or(u32::MAX), retry_after);
                    Outcome::Retry {
                        at: now.saturating_add(millis(wait)),
                        reason,
                    }
                }
            }
            Err(SendError::Permanent { reason }) => {
                // The provider answered, so it is up; the message itself cannot go.
                warn!(tenant_id = r.outgoing.tenant_id, channel, error = %reason, "notification refused for good");
                if r.channel == Channel::Sms {
                    fallbacks = self.fallbacks_for(&r.rows, now);
                }
                metrics::notifications(channel, "failed").increment(r.rows.len() as u64);
                round.failed += r.rows.len();
                Outcome::Failed { reason }
            }
        };
        (outcome, fallbacks)
    }

    /// What must happen to a notification before grouping, if it is not to be sent now.
    fn screen(&self, n: &DueNotification, silences: &[Silence], now: Millis) -> Option<Outcome> {
        let record = &n.alert.record;
        if n.kind == NotificationKind::Page {
            if record.state != AlertState::Firing {
                return Some(Outcome::Cancelled {
                    reason: format!("the alert is {}", record.state.as_str()),
                });
            }
            if record.level == Level::Warning && n.breach_open {
                return Some(Outcome::Cancelled {
                    reason: "inhibited: the ticket has a breach".into(),
                });
            }
        }
        let facts = facts_of(n);
        if let Some(s) = silences
            .iter()
            .find(|s| s.silences(record.tenant_id, &facts, now))
        {
            return Some(Outcome::Deferred {
                until: s.ends_at,
                reason: format!("silenced by {} until {}", s.id, format_instant(s.ends_at)),
            });
        }
        let contact = self.routing.of(record.tenant_id).contact(&n.contact)?;
        // Quiet hours hold everything about warnings (pages and their resolution), never
        // breaches.
        if record.level == Level::Warning {
            if let Some(until) = quiet_until(contact, now) {
                return Some(Outcome::Deferred {
                    until,
                    reason: format!(
                        "quiet hours of {} until {}",
                        contact.id,
                        format_instant(until)
                    ),
                });
            }
        }
        None
    }

    fn group_key(&self, n: &DueNotification) -> Option<GroupKey> {
        if let Some(m) = &n.message_id {
            return Some(GroupKey::Message(m.clone()));
        }
        let channel = parse_channel(&n.channel)?;
        let config = self.routing.of(n.alert.record.tenant_id);
        config.contact(&n.contact)?;
        let route = config
            .routes
            .iter()
            .position(|r| r.matches(&facts_of(n)))
            .unwrap_or(usize::MAX);
        Some(GroupKey::Fresh {
            tenant_id: n.alert.record.tenant_id,
            route,
            contact: n.contact.clone(),
            channel,
            kind: n.kind.as_str(),
        })
    }

    /// Holds a group back (grouping interval, rate limit, open breaker) or builds its message.
    async fn prepare(
        &mut self,
        key: GroupKey,
        mut rows: Vec<DueNotification>,
        now: Millis,
    ) -> Result<Prepared, StoreError> {
        rows.sort_by(|a, b| a.notification_id.cmp(&b.notification_id));
        let held = |rows, until, reason: String, fall_back| Prepared::Held {
            rows,
            outcome: Outcome::Deferred { until, reason },
            fall_back,
        };
        let (channel, contact_id) = match &key {
            GroupKey::Fresh {
                channel, contact, ..
            } => (*channel, contact.clone()),
            GroupKey::Message(_) => match parse_channel(&rows[0].channel) {
                Some(c) => (c, rows[0].contact.clone()),
                None => {
                    return Ok(Prepared::Held {
                        rows,
                        outcome: Outcome::Failed {
                            reason: "unknown channel".into(),
                        },
                        fall_back: false,
                    })
                }
            },
        };
        let admitted = self.breaker(channel).admit(now);
        metrics::notification_breaker_state(channel_name(channel))
            .set(self.breaker(channel).state().gauge_value());
        if !admitted {
            let until = now + self.main().delivery.breaker_cooldown.as_millis();
            let reason = format!(
                "the {} provider is down (circuit open)",
                channel_name(channel)
            );
            return Ok(held(rows, until, reason, channel == Channel::Sms));
        }
        let tenant_id = rows[0].alert.record.tenant_id;
        if let GroupKey::Fresh { route, .. } = &key {
            let interval = self
                .routing
                .of(tenant_id)
                .routes
                .get(*route)
                .map_or(0, |r| r.group_interval.as_millis());
            if let Some(last) = self.last_sent.get(&key) {
                if now < last + interval {
                    let reason =
                        "grouped: the next message of this group goes after group_interval".into();
                    return Ok(held(rows, last + interval, reason, false));
                }
            }
            if let Err(until) = self.limits.take(&contact_id, channel) {
                let reason = format!(
                    "rate limit of {} by {}: folded into the next message",
                    contact_id,
                    channel_name(channel)
                );
                metrics::notifications(channel_name(channel), "rate_limited")
                    .increment(rows.len() as u64);
                return Ok(held(rows, until, reason, false));
            }
        }
        let config = self.routing.of(tenant_id);
        let Some(contact) = config.contact(&contact_id) else {
            return Ok(Prepared::Held {
                rows,
                outcome: Outcome::Failed {
                    reason: format!("contact {contact_id:?} is no longer configured"),
                },
                fall_back: false,
            });
        };
        let Some(to) = config.address(contact, channel).map(str::to_string) else {
            return Ok(Prepared::Held {
                rows,
                outcome: Outcome::Failed {
                    reason: format!("{} has no {} address", contact.id, channel_name(channel)),
                },
                fall_back: false,
            });
        };
        let message_id = match &key {
            GroupKey::Message(m) => m.clone(),
            GroupKey::Fresh { .. } => {
                let m = rows[0].notification_id.clone();
                self.store.assign_message(&m, &ids(&rows)).await?;
                m
            }
        };
        let outgoing = self.compose(&message_id, contact, channel, &to, &rows, now);
        Ok(Prepared::Ready(Ready {
            key,
            channel,
            rows,
            outgoing,
        }))
    }

    /// The message carrying `rows` to `contact` on `channel`.
    fn compose(
        &self,
        message_id: &str,
        contact: &ContactSpec,
        channel: Channel,
        to: &str,
        rows: &[DueNotification],
        now: Millis,
    ) -> Outgoing {
        let firing = rows.iter().any(|n| n.kind == NotificationKind::Page);
        let ack_url = self.links.as_ref().filter(|_| firing).map(|links| {
            let token = links.sign(
                message_id,
                &contact.id,
                now + self.main().ack_link_ttl.as_millis(),
            );
            links.url(&self.public_url, &token)
        });
        let facts: Vec<MessageFacts<'_>> = rows
            .iter()
            .map(|n| {
                let r = &n.alert.record;
                MessageFacts {
                    tenant_id: r.tenant_id,
                    ticket_id: &r.ticket_id,
                    goal: r.goal.as_str(),
                    level: r.level.as_str(),
                    state: r.state.as_str(),
                    priority: &r.priority,
                    target_ms: r.target_ms,
                    elapsed_ms: r.elapsed_ms,
                    deadline: r.deadline,
                    ack_url: None,
                    dashboard_url: None,
                    time_zone: contact.timezone.as_deref(),
                }
            })
            .collect();
        let tenant_id = rows[0].alert.record.tenant_id;
        let content = match channel {
            Channel::Sms => Content::Sms {
                text: message::sms_group(contact.locale, &facts, ack_url.as_deref()),
            },
            Channel::Email => Content::Email {
                // The tenant's own sender address, when its file names one.
                from: self
                    .routing
                    .of(tenant_id)
                    .smtp
                    .as_ref()
                    .map(|smtp| smtp.from.clone()),
                email: {
                    let mut email = message::email_group(
                        contact.locale,
                        &facts,
                        ack_url.as_deref(),
                        Some(&format!("{}/", self.public_url)),
                    );
                    if rows.iter().any(|n| n.fallback_of.is_some()) {
                        message::mark_fallback(contact.locale, &mut email);
                    }
                    email
                },
            },
            Channel::Webhook => Content::Webhook {
                body: serde_json::json!({
                    "message_id": message_id,
                    "tenant_id": tenant_id,
                    "contact": contact.id,
                    "kind": rows[0].kind.as_str(),
                    "fallback": rows.iter().any(|n| n.fallback_of.is_some()),
                    "ack_url": ack_url,
                    "alerts": rows.iter().map(|n| AlertView::from(&n.alert)).collect::<Vec<_>>(),
                }),
            },
        };
        Outgoing {
            idempotency_key: message_id.to_string(),
            tenant_id,
            to: to.to_string(),
            content,
        }
    }

    /// Email and webhook stand-ins for SMS that cannot go out, for contacts reachable there.
    fn fallbacks_for(&self, rows: &[DueNotification], now: Millis) -> Vec<NewNotification> {
        let mut out = Vec::new();
        for n in rows.iter().filter(|n| n.channel == "sms") {
            let config = self.routing.of(n.alert.record.tenant_id);
            let Some(contact) = config.contact(&n.contact) else {
                continue;
            };
            for channel in [Channel::Email, Channel::Webhook] {
                if config.address(contact, channel).is_none() || !self.providers.has(channel) {
                    continue;
                }
                out.push(NewNotification {
                    alert_id: n.alert.record.alert_id.clone(),
                    tenant_id: n.alert.record.tenant_id,
                    kind: n.kind,
                    step: u32::try_from(n.step).unwrap_or(0),
                    round: u32::try_from(n.round).unwrap_or(0),
                    contact: n.contact.clone(),
                    channel: channel_name(channel),
                    due_at: now,
                    fallback_of: Some(n.notification_id.clone()),
                });
            }
        }
        out
    }
}

/// A group that waits or ends without a send, or its message.
enum Prepared {
    Ready(Ready),
    Held {
        rows: Vec<DueNotification>,
        outcome: Outcome,
        fall_back: bool,
    },
}

fn ids(rows: &[DueNotification]) -> Vec<String> {
    rows.iter().map(|n| n.notification_id.clone()).collect()
}

/// When the contact's quiet hours end, if `now` is in them.
fn quiet_until(contact: &ContactSpec, now: Millis) -> Option<Millis> {
    let range = schedule::parse_range(contact.quiet_hours.as_deref()?)?;
    let tz = contact
        .timezone
        .as_deref()
        .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    schedule::in_range(range, &tz, now).then(|| schedule::range_end(range, &tz, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_and_honour_retry_after() {
        let first = retry_delay(0, None);
        assert!(
            first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
            "{first:?}"
        );
        let later = retry_delay(5, None);
        assert!(later >= Duration::from_secs(32), "{later:?}");
        assert!(retry_delay(30, None) <= Duration::from_secs(600));
        assert_eq!(
            retry_delay(0, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
    }
}
