//! Whether to send now. Each notification first ([`Dispatcher::screen`]): a page of an alert
//! no longer firing is cancelled, a warning's page is inhibited while its ticket has a breach,
//! a silence or the contact's quiet hours hold it back. Then each group about to become a
//! message ([`Dispatcher::hold`]): an open circuit breaker, `group_interval` and the rate
//! limits per recipient and channel hold it back.

use vigil_engine::{AlertState, Level};
use vigil_schema::{format_instant, Millis};

use super::group::{facts_of, GroupKey, Hold};
use super::Dispatcher;
use crate::flags::Switch;
use crate::notify::config::{Channel, ContactSpec};
use crate::notify::schedule;
use crate::store::notifications::{DueNotification, NotificationKind, Outcome};
use crate::store::silences::Silence;
use crate::telemetry::metrics;

impl Dispatcher {
    /// What must happen to a notification before grouping, if it is not to be sent now.
    pub(super) fn screen(
        &self,
        n: &DueNotification,
        silences: &[Silence],
        now: Millis,
    ) -> Option<Outcome> {
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
        if let Some(reason) = self.switched_off(n) {
            return Some(Outcome::Cancelled { reason });
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
        let routing = self.routing.load();
        let contact = routing.of(record.tenant_id).contact(&n.contact)?;
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

    /// Why a feature flag stops this notification for its tenant, if one does.
    fn switched_off(&self, n: &DueNotification) -> Option<String> {
        let record = &n.alert.record;
        let tenant = record.tenant_id;
        if n.channel == Channel::Sms.as_str() && !self.flags.is_on(&Switch::Sms, tenant) {
            return Some(format!(
                "the SMS channel is switched off for tenant {tenant} (flag notify.sms)"
            ));
        }
        let retraction =
            n.kind == NotificationKind::Resolved && record.state == AlertState::Retracted;
        if retraction && !self.flags.is_on(&Switch::Retractions, tenant) {
            return Some(format!(
                "retraction notices are switched off for tenant {tenant} (flag notify.retractions)"
            ));
        }
        None
    }

    /// Whether a group of `count` notifications for `contact_id` on `channel` waits: the
    /// channel's provider is down (open breaker), the group had a message less than
    /// `group_interval` ago, or the recipient is over the rate limit (the group is then folded
    /// into the next message). A group already assigned to a message waits only for the
    /// breaker.
    pub(super) async fn hold(
        &mut self,
        key: &GroupKey,
        tenant_id: u64,
        channel: Channel,
        contact_id: &str,
        count: usize,
        now: Millis,
    ) -> Option<Hold> {
        let admitted = self.breaker(channel).admit(now);
        metrics::notification_breaker_state(channel.as_str())
            .set(self.breaker(channel).state().gauge_value());
        if !admitted {
            return Some(Hold {
                until: now + self.main().delivery.breaker_cooldown.as_millis(),
                reason: format!("the {} provider is down (circuit open)", channel.as_str()),
                fall_back: channel == Channel::Sms,
            });
        }
        if let GroupKey::Fresh { route, .. } = key {
            let interval = self
                .routing
                .load()
                .of(tenant_id)
                .routes
                .get(*route)
                .map_or(0, |r| r.group_interval.as_millis());
            if let Some(last) = self.last_sent.get(key) {
                if now < last + interval {
                    return Some(Hold {
                        until: last + interval,
                        reason: "grouped: the next message of this group goes after \
                                 group_interval"
                            .into(),
                        fall_back: false,
                    });
                }
            }
            if let Err(until) = self.limits.take(contact_id, channel).await {
                metrics::notifications(channel.as_str(), "rate_limited").increment(count as u64);
                return Some(Hold {
                    until,
                    reason: format!(
                        "rate limit of {} by {}: folded into the next message",
                        contact_id,
                        channel.as_str()
                    ),
                    fall_back: false,
                });
            }
        }
        None
    }
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
