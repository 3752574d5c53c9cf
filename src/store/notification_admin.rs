//! The notification outbox as operators see it: rows by state, a failed row sent again by
//! hand, and the alerts a sent message was about (for its ack link).
//!
//! Invariant: a retry only moves a `failed` row back to `pending`, due at once; `last_error`
//! and `attempts` stay, so the row still says what went wrong before.

use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::notifications::Notifications;
use super::pool::on_backend;
use crate::clock::now_ms;

/// Most rows one listing returns.
pub const MAX_LISTED_NOTIFICATIONS: u32 = 500;

/// The state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting to be sent (or to be sent again).
    Pending,
    /// The provider accepted it.
    Sent,
    /// Given up on.
    Failed,
    /// Not needed any more (the alert was acknowledged or ended first).
    Cancelled,
}

impl OutboxState {
    /// Every state.
    pub const ALL: [OutboxState; 4] = [
        OutboxState::Pending,
        OutboxState::Sent,
        OutboxState::Failed,
        OutboxState::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Cancelled => "cancelled",
        }
    }

    /// Parses [`OutboxState::as_str`].
    pub fn parse(s: &str) -> Option<OutboxState> {
        OutboxState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// One outbox row with everything an operator needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its id.
    pub notification_id: String,
    /// The alert.
    pub alert_id: String,
    /// The tenant.
    pub tenant_id: u64,
    /// `page` or `resolved`.
    pub kind: String,
    /// Escalation step.
    pub step: i64,
    /// Escalation round.
    pub round: i64,
    /// Contact id.
    pub contact: String,
    /// `email`, `sms` or `webhook`.
    pub channel: String,
    /// When it is (or was) due.
    pub due_at: Millis,
    /// `pending`, `sent`, `failed` or `cancelled`.
    pub state: String,
    /// Sending attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the provider accepted it.
    pub sent_at: Option<Millis>,
    /// The id shared by the rows sent together as one message.
    pub message_id: Option<String>,
    /// The row this one stands in for (another channel was down).
    pub fallback_of: Option<String>,
    /// When it was written.
    pub created_at: Millis,
    /// Its last change.
    pub updated_at: Millis,
}

/// `SELECT <every column> FROM notifications <rest>`, as one literal.
macro_rules! select_entries {
    ($rest:literal) => {
        concat!(
            "SELECT notification_id, alert_id, tenant_id, kind, step, round, contact, channel, \
             due_at, state, attempts, last_error, sent_at, message_id, fallback_of, created_at, \
             updated_at FROM notifications ",
            $rest
        )
    };
}

impl Notifications<'_> {
    /// Rows in `state`, of one tenant or of all, most recently changed first; at most `limit`
    /// (capped at [`MAX_LISTED_NOTIFICATIONS`]).
    pub async fn list(
        self,
        state: OutboxState,
        tenant: Option<u64>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let tenant = match tenant.map(i64::try_from) {
            Some(Ok(t)) => Some(t),
            // No tenant id above 2^63-1 can be stored, so there is nothing to list.
            Some(Err(_)) => return Ok(Vec::new()),
            None => None,
        };
        let limit = i64::from(limit.min(MAX_LISTED_NOTIFICATIONS));
        // Served by the (state, updated_at) index; the tenant filters what it yields.
        let rows: Vec<EntryRow> = on_backend!(self, |pool| {
            match tenant {
                Some(t) => sqlx::query_as(select_entries!(
                    "WHERE state = $1 AND tenant_id = $2 \
                     ORDER BY updated_at DESC, notification_id LIMIT $3"
                ))
                .bind(state.as_str())
                .bind(t)
                .bind(limit),
                None => sqlx::query_as(select_entries!(
                    "WHERE state = $1 ORDER BY updated_at DESC, notification_id LIMIT $2"
                ))
                .bind(state.as_str())
                .bind(limit),
            }
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter().map(EntryRow::into_entry).collect()
    }

    /// Every row of one alert, in the order they are due.
    pub async fn of_alert(self, alert_id: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<EntryRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_entries!(
                "WHERE alert_id = $1 ORDER BY due_at, notification_id"
            ))
            .bind(alert_id)
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter().map(EntryRow::into_entry).collect()
    }

    /// One row by id.
    pub async fn get(self, notification_id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let row: Option<EntryRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_entries!("WHERE notification_id = $1"))
                .bind(notification_id)
                .fetch_optional(pool)
                .await
                .map_err(counted)?
        });
        row.map(EntryRow::into_entry).transpose()
    }

    /// Sends a failed row again: it becomes `pending`, due now, keeping `last_error` and
    /// `attempts`. Returns whether it changed (false: unknown, or not `failed`).
    pub async fn retry(self, notification_id: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let changed = on_backend!(self, |pool| {
            sqlx::query(
                "UPDATE notifications SET state = 'pending', due_at = $2, updated_at = $2 \
                 WHERE notification_id = $1 AND state = 'failed'",
            )
            .bind(notification_id)
            .bind(now)
            .execute(pool)
            .await
            .map_err(counted)?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// How many notifications on `channel` (`"*"`: any) failed for good at or after `since`
    /// (a feature flag's automatic rollback condition).
    pub async fn failed_since(self, channel: &str, since: Millis) -> Result<u64, StoreError> {
        let (count,): (i64,) = on_backend!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM notifications WHERE state = 'failed' \
                 AND updated_at >= $1 AND ($2 = '*' OR channel = $2)",
            )
            .bind(since)
            .bind(channel)
            .fetch_one(pool)
            .await
            .map_err(counted)?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The distinct alerts (id, tenant) of a message: of the rows that share `message_id`, or
    /// whose own id it is (the group's first row, or a row sent alone); by alert id.
    pub async fn message_alerts(self, message_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = on_backend!(self, |pool| {
            sqlx::query_as(
                "SELECT DISTINCT alert_id, tenant_id FROM notifications \
                 WHERE message_id = $1 OR notification_id = $1 ORDER BY alert_id",
            )
            .bind(message_id)
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter()
            .map(|(alert_id, tenant)| {
                u64::try_from(tenant)
                    .map(|t| (alert_id, t))
                    .map_err(|_| StoreError::CorruptRow {
                        table: "notifications",
                        message: format!("negative tenant_id in message {message_id}"),
                    })
            })
            .collect()
    }
}

/// A row of `notifications` as the database returns it.
#[derive(sqlx::FromRow)]
struct EntryRow {
    notification_id: String,
    alert_id: String,
    tenant_id: i64,
    kind: String,
    step: i64,
    round: i64,
    contact: String,
    channel: String,
    due_at: i64,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    sent_at: Option<i64>,
    message_id: Option<String>,
    fallback_of: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl EntryRow {
    fn into_entry(self) -> Result<OutboxEntry, StoreError> {
        let tenant_id = u64::try_from(self.tenant_id).map_err(|_| StoreError::CorruptRow {
            table: "notifications",
            message: format!("notification {}: negative tenant_id", self.notification_id),
        })?;
        Ok(OutboxEntry {
            notification_id: self.notification_id,
            alert_id: self.alert_id,
            tenant_id,
            kind: self.kind,
            step: self.step,
            round: self.round,
            contact: self.contact,
            channel: self.channel,
            due_at: self.due_at,
            state: self.state,
            attempts: self.attempts,
            last_error: self.last_error,
            sent_at: self.sent_at,
            message_id: self.message_id,
            fallback_of: self.fallback_of,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}
