//! Settling: what a send's answer makes of its notifications (sent; retried with backoff,
//! within `give_up_after` and any `Retry-After`; or failed), the provider's circuit breaker and
//! the delivery metrics it updates, and the email and webhook fallbacks of SMS that cannot go
//! out.

use std::time::Duration;

use tracing::{debug, warn};
use vigil_schema::Millis;

use super::group::{GroupKey, Ready};
use super::{Dispatcher, Round};
use crate::notify::channel::SendError;
use crate::notify::config::Channel;
use crate::retry::{bound_retry_after, RetryAfter};
use crate::store::notifications::{DueNotification, NewNotification, NotificationKind, Outcome};
use crate::store::StoreError;
use crate::telemetry::metrics;

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
    /// Writes the fallback notifications gathered so far (idempotent: a fallback already
    /// written adds nothing).
    pub(super) async fn add_fallbacks(
        &self,
        fallbacks: &mut Vec<NewNotification>,
        round: &mut Round,
    ) -> Result<(), StoreError> {
        if fallbacks.is_empty() {
            return Ok(());
        }
        let added = self.store.notifications().enqueue(fallbacks).await? as usize;
        fallbacks.clear();
        round.fallbacks += added;
        metrics::notifications("sms", "fallback").increment(added as u64);
        Ok(())
    }

    /// The outcome of one send, and the fallbacks it calls for; updates the breaker, the
    /// metrics and `round`.
    pub(super) fn settle(
        &mut self,
        r: &Ready,
        result: Result<(), SendError>,
        now: Millis,
        round: &mut Round,
    ) -> (Outcome, Vec<NewNotification>) {
        let delivery = self.main().delivery;
        let channel = r.channel.as_str();
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

    /// Email and webhook stand-ins for SMS that cannot go out, for contacts reachable there.
    pub(super) fn fallbacks_for(
        &self,
        rows: &[DueNotification],
        now: Millis,
    ) -> Vec<NewNotification> {
        let mut out = Vec::new();
        for n in rows.iter().filter(|n| n.channel == "sms") {
            let routing = self.routing.load();
            let config = routing.of(n.alert.record.tenant_id);
            let Some(contact) = config.contact(&n.contact) else {
                continue;
            };
            for channel in [Channel::Email, Channel::Webhook] {
                if config.address(contact, channel).is_none()
                    || !self.providers.current().has(channel)
                {
                    continue;
                }
                out.push(NewNotification {
                    alert_id: n.alert.record.alert_id.clone(),
                    tenant_id: n.alert.record.tenant_id,
                    kind: n.kind,
                    step: u32::try_from(n.step).unwrap_or(0),
                    round: u32::try_from(n.round).unwrap_or(0),
                    contact: n.contact.clone(),
                    channel: channel.as_str(),
                    due_at: now,
                    fallback_of: Some(n.notification_id.clone()),
                });
            }
        }
        out
    }
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
