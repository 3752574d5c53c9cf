//! What one round's steps hand each other: a group's key, a message ready to send, a group
//! held back and why, and the views of a notification that screening and grouping read.

use vigil_schema::Millis;

use crate::notify::channel::Outgoing;
use crate::notify::config::Channel;
use crate::notify::escalation::AlertFacts;
use crate::store::notifications::{DueNotification, Outcome};

/// Which notifications go out as one message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum GroupKey {
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
pub(super) struct Ready {
    /// Its group.
    pub key: GroupKey,
    /// Its channel.
    pub channel: Channel,
    /// The notifications it carries, in id order.
    pub rows: Vec<DueNotification>,
    /// The message.
    pub outgoing: Outgoing,
}

/// A group that waits or ends without a send, or its message.
pub(super) enum Prepared {
    /// Ready to send (boxed: a message is much larger than a hold).
    Ready(Box<Ready>),
    /// Deferred or failed without a send.
    Held {
        /// The group's notifications.
        rows: Vec<DueNotification>,
        /// What is recorded for them.
        outcome: Outcome,
        /// Whether SMS among them falls back to email and webhook.
        fall_back: bool,
    },
}

/// Why a group waits: until when, the reason recorded, and whether SMS falls back meanwhile.
pub(super) struct Hold {
    /// When it is due again.
    pub until: Millis,
    /// Recorded with the deferral.
    pub reason: String,
    /// Whether SMS of the group falls back to email and webhook.
    pub fall_back: bool,
}

/// The ids of `rows`.
pub(super) fn ids(rows: &[DueNotification]) -> Vec<String> {
    rows.iter().map(|n| n.notification_id.clone()).collect()
}

/// What routing and silences look at in a notification's alert.
pub(super) fn facts_of(n: &DueNotification) -> AlertFacts<'_> {
    let r = &n.alert.record;
    AlertFacts {
        ticket_id: &r.ticket_id,
        level: r.level.as_str(),
        goal: r.goal.as_str(),
        priority: &r.priority,
        service_type: &r.service_type,
    }
}
