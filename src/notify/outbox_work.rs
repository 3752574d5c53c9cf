//! What an alert change asks of the notification outbox: the pages of its escalation when it
//! fires, the cancellation of pages still pending once somebody acknowledged it or it ended,
//! and a short resolution message to everyone who was paged. Pure: [`crate::notify::intake`]
//! writes the work to the store.

use vigil_engine::{AlertRecord, AlertState};
use vigil_schema::Millis;

use super::config::{Channel, ContactSpec, NotifyConfig};
use super::escalation::AlertFacts;
use crate::store::notifications::{NewNotification, NotificationKind};
use crate::store::OutboxEntry;

/// The outbox work of one alert change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxWork {
    /// Notifications to write (idempotent by id).
    pub enqueue: Vec<NewNotification>,
    /// Whether the alert's pending pages are to be cancelled.
    pub cancel_pages: bool,
}

impl NotifyConfig {
    /// The outbox work of an alert change noticed at `now`; `notified` are the alert's
    /// notifications so far (for resolution messages).
    pub fn outbox_work(
        &self,
        alert: &AlertRecord,
        now: Millis,
        notified: &[OutboxEntry],
    ) -> OutboxWork {
        let facts = AlertFacts {
            ticket_id: &alert.ticket_id,
            level: alert.level.as_str(),
            goal: alert.goal.as_str(),
            priority: &alert.priority,
            service_type: &alert.service_type,
        };
        let Some(route) = self.route_for(&facts) else {
            return OutboxWork::default();
        };
        let note = |kind, step, round, contact: &str, channel, due_at| NewNotification {
            alert_id: alert.alert_id.clone(),
            tenant_id: alert.tenant_id,
            kind,
            step,
            round,
            contact: contact.to_string(),
            channel,
            due_at,
            fallback_of: None,
        };
        let reachable =
            |contact: &ContactSpec, channel: Channel| self.address(contact, channel).is_some();
        match alert.state {
            AlertState::Firing => {
                let Some(policy) = self.policy(&route.policy) else {
                    return OutboxWork::default();
                };
                // Escalation runs from when the alert is noticed, not from `fired_at`: an alert
                // found late pages its first step now instead of every step at once. The
                // first page waits `group_wait` for others to go out with it.
                let mut enqueue = Vec::new();
                for page in self.escalation(policy, now) {
                    for contact in page.contacts.iter().filter_map(|id| self.contact(id)) {
                        for &channel in page.channels.iter().filter(|c| reachable(contact, **c)) {
                            enqueue.push(note(
                                NotificationKind::Page,
                                page.step as u32,
                                page.round,
                                &contact.id,
                                channel.as_str(),
                                now + page.after_ms + route.group_wait.as_millis(),
                            ));
                        }
                    }
                }
                OutboxWork {
                    enqueue,
                    cancel_pages: false,
                }
            }
            AlertState::Acknowledged => OutboxWork {
                enqueue: Vec::new(),
                cancel_pages: true,
            },
            AlertState::Resolved | AlertState::Retracted => {
                let mut enqueue: Vec<NewNotification> = Vec::new();
                if route.send_resolved {
                    for n in notified
                        .iter()
                        .filter(|n| n.kind == "page" && n.state == "sent")
                    {
                        let channel = match n.channel.as_str() {
                            "email" => "email",
                            "sms" => "sms",
                            _ => "webhook",
                        };
                        let message =
                            note(NotificationKind::Resolved, 0, 0, &n.contact, channel, now);
                        if !enqueue.iter().any(|e| e.id() == message.id()) {
                            enqueue.push(message);
                        }
                    }
                }
                OutboxWork {
                    enqueue,
                    cancel_pages: true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_engine::{Goal, Level};

    const CONFIG: &str = r#"
[smtp]
host = "127.0.0.1"
from = "vigil@example.com"

[sms]
url = "http://127.0.0.1:9000/sms"

[[contacts]]
id = "alice"
email = "alice@example.com"
phone = "+8613800000001"

[[contacts]]
id = "bob"
email = "bob@example.com"

[[policies]]
id = "critical"
steps = [
  { notify = ["contact:alice"], channels = ["sms", "email"], wait = "5m" },
  { notify = ["contact:bob"], channels = ["sms", "email"], wait = "5m" },
]

[[routes]]
policy = "critical"
"#;

    fn alert(state: AlertState) -> AlertRecord {
        AlertRecord {
            alert_id: "A1".into(),
            state,
            tenant_id: 7,
            ticket_id: "T".into(),
            goal: Goal::Response,
            level: Level::Breach,
            threshold: 1.0,
            target_ms: 1,
            elapsed_ms: 1,
            fired_at: 0,
            deadline: 0,
            priority: "CRITICAL".into(),
            service_type: "incident".into(),
            policy_version: 1,
        }
    }

    fn sent(contact: &str, channel: &str) -> OutboxEntry {
        OutboxEntry {
            notification_id: format!("{contact}-{channel}"),
            alert_id: "A1".into(),
            tenant_id: 7,
            kind: "page".into(),
            step: 0,
            round: 0,
            contact: contact.into(),
            channel: channel.into(),
            due_at: 0,
            state: "sent".into(),
            attempts: 1,
            last_error: None,
            sent_at: Some(0),
            message_id: None,
            fallback_of: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_firing_alert_pages_each_step_on_reachable_channels_from_now() {
        let c: NotifyConfig = toml::from_str(CONFIG).unwrap();
        let now = 1_000_000;
        let work = c.outbox_work(&alert(AlertState::Firing), now, &[]);
        let rows: Vec<(u32, &str, &str, i64)> = work
            .enqueue
            .iter()
            .map(|n| (n.step, n.contact.as_str(), n.channel, n.due_at - now))
            .collect();
        // Bob has no phone: email only. Everything waits the route's group_wait (30 s).
        assert_eq!(
            rows,
            [
                (0, "alice", "sms", 30_000),
                (0, "alice", "email", 30_000),
                (1, "bob", "email", 330_000)
            ]
        );
        assert!(!work.cancel_pages);
        // The same change planned again (a replay) gives the same ids.
        let again = c.outbox_work(&alert(AlertState::Firing), now + 5, &[]);
        let ids = |p: &OutboxWork| {
            p.enqueue
                .iter()
                .map(NewNotification::id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&work), ids(&again));
    }

    #[test]
    fn acknowledgement_cancels_and_resolution_tells_who_was_paged() {
        let c: NotifyConfig = toml::from_str(CONFIG).unwrap();
        let ack = c.outbox_work(&alert(AlertState::Acknowledged), 5, &[]);
        assert!(ack.cancel_pages && ack.enqueue.is_empty());
        let notified = [
            sent("alice", "sms"),
            sent("alice", "email"),
            sent("alice", "sms"),
        ];
        let resolved = c.outbox_work(&alert(AlertState::Resolved), 9, &notified);
        let to: Vec<(&str, &str)> = resolved
            .enqueue
            .iter()
            .map(|n| (n.contact.as_str(), n.channel))
            .collect();
        assert_eq!(to, [("alice", "sms"), ("alice", "email")]);
        assert!(resolved
            .enqueue
            .iter()
            .all(|n| n.kind == NotificationKind::Resolved));
        assert!(resolved.cancel_pages);
    }
}
