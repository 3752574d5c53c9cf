//! Grouping and the message: which notifications go out together (one tenant's, of one route,
//! to one contact on one channel; or the message an earlier attempt assigned them to), and the
//! SMS, email or webhook body that carries them, with its ack link.

use vigil_schema::Millis;

use super::group::{facts_of, ids, GroupKey, Hold, Prepared, Ready};
use super::Dispatcher;
use crate::notify::channel::{Content, Outgoing};
use crate::notify::config::{Channel, ContactSpec};
use crate::notify::message::{self, MessageFacts};
use crate::store::notifications::{DueNotification, NotificationKind, Outcome};
use crate::store::StoreError;
use crate::views::AlertView;

impl Dispatcher {
    /// The group a notification goes out in; `None` when its channel or contact is no longer
    /// configured.
    pub(super) fn group_key(&self, n: &DueNotification) -> Option<GroupKey> {
        if let Some(m) = &n.message_id {
            return Some(GroupKey::Message(m.clone()));
        }
        let channel = Channel::from_name(&n.channel)?;
        let routing = self.routing.load();
        let config = routing.of(n.alert.record.tenant_id);
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

    /// Holds a group back (see [`Dispatcher::hold`]) or builds its message.
    pub(super) async fn prepare(
        &mut self,
        key: GroupKey,
        mut rows: Vec<DueNotification>,
        now: Millis,
    ) -> Result<Prepared, StoreError> {
        rows.sort_by(|a, b| a.notification_id.cmp(&b.notification_id));
        let (channel, contact_id) = match &key {
            GroupKey::Fresh {
                channel, contact, ..
            } => (*channel, contact.clone()),
            GroupKey::Message(_) => match Channel::from_name(&rows[0].channel) {
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
        let tenant_id = rows[0].alert.record.tenant_id;
        if let Some(Hold {
            until,
            reason,
            fall_back,
        }) = self
            .hold(&key, tenant_id, channel, &contact_id, rows.len(), now)
            .await
        {
            return Ok(Prepared::Held {
                rows,
                outcome: Outcome::Deferred { until, reason },
                fall_back,
            });
        }
        let routing = self.routing.load();
        let config = routing.of(tenant_id);
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
                    reason: format!("{} has no {} address", contact.id, channel.as_str()),
                },
                fall_back: false,
            });
        };
        let message_id = match &key {
            GroupKey::Message(m) => m.clone(),
            GroupKey::Fresh { .. } => {
                let m = rows[0].notification_id.clone();
                self.store
                    .notifications()
                    .assign_message(&m, &ids(&rows))
                    .await?;
                m
            }
        };
        let outgoing = self.compose(&message_id, contact, channel, &to, &rows, now);
        Ok(Prepared::Ready(Box::new(Ready {
            key,
            channel,
            rows,
            outgoing,
        })))
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
                    .load()
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
}
