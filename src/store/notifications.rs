//! The notification outbox: rows are written before anything is sent, keyed by a stable id
//! (so replays and restarts add nothing twice), then taken by workers when due and marked
//! sent, failed or rescheduled; an acknowledgement cancels the pages still pending.

use vigil_streams::Millis;

use super::error::{counted, StoreError};
use super::pool::{now_ms, on_backend, Store};

/// What a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    /// A page about a firing alert (one escalation step).
    Page,
    /// The short message that the alert resolved or was retracted.
    Resolved,
}

impl NotificationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Page => "page",
            NotificationKind::Resolved => "resolved",
        }
    }
}

/// A notification to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The alert it is about.
    pub alert_id: String,
    /// Its tenant.
    pub tenant_id: u64,
    /// Page or resolution message.
    pub kind: NotificationKind,
    /// Escalation step.
    pub step: u32,
    /// Escalation round (0 first, then the repeats).
    pub round: u32,
    /// Contact id.
    pub contact: String,
    /// `email`, `sms` or `webhook`.
    pub channel: &'static str,
    /// When it is to go out.
    pub due_at: Millis,
}

impl NewNotification {
    /// The stable id: the same alert, kind, step, round, contact and channel always give the
    /// same id, whatever run plans it.
    pub fn id(&self) -> String {
        const NAMESPACE: uuid::Uuid =
            uuid::Uuid::from_u128(0x8a3e_51c2_0d7f_4b69_a1c4_72e9_05b8_d316);
        let key = format!(
            "{}|{}|{}|{}|{}|{}",
            self.alert_id,
            self.kind.as_str(),
            self.step,
            self.round,
            self.contact,
            self.channel
        );
        uuid::Uuid::new_v5(&NAMESPACE, key.as_bytes()).to_string()
    }
}

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredNotification {
    /// Its id.
    pub notification_id: String,
    /// The alert.
    pub alert_id: String,
    /// The tenant.
    pub tenant_id: i64,
    /// `page` or `resolved`.
    pub kind: String,
    /// Escalation step.
    pub step: i64,
    /// Escalation round.
    pub round: i64,
    /// Contact id.
    pub contact: String,
    /// Channel.
    pub channel: String,
    /// When it is due.
    pub due_at: i64,
    /// `pending`, `sent`, `failed` or `cancelled`.
    pub state: String,
    /// Sending attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the provider accepted it.
    pub sent_at: Option<i64>,
}

/// `SELECT <every column> FROM notifications <rest>`, as one literal.
macro_rules! select_notifications {
    ($rest:literal) => {
        concat!(
            "SELECT notification_id, alert_id, tenant_id, kind, step, round, contact, channel, \
             due_at, state, attempts, last_error, sent_at FROM notifications ",
            $rest
        )
    };
}

impl Store {
    /// Writes notifications that are not there yet (by id) as pending; returns how many were
    /// new.
    pub async fn enqueue_notifications(&self, rows: &[NewNotification]) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut added = 0;
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            for n in rows {
                let tenant = i64::try_from(n.tenant_id).map_err(|_| StoreError::InvalidRecord {
                    record: format!("notification of alert {}", n.alert_id),
                    reason: "tenant id above 2^63-1",
                })?;
                added += sqlx::query(
                    "INSERT INTO notifications (notification_id, alert_id, tenant_id, kind, step, \
                     round, contact, channel, due_at, state, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10) \
                     ON CONFLICT (notification_id) DO NOTHING",
                )
                .bind(n.id())
                .bind(&n.alert_id)
                .bind(tenant)
                .bind(n.kind.as_str())
                .bind(i64::from(n.step))
                .bind(i64::from(n.round))
                .bind(&n.contact)
                .bind(n.channel)
                .bind(n.due_at)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(counted)?
                .rows_affected();
            }
            tx.commit().await.map_err(counted)?;
        });
        Ok(added)
    }

    /// Pending notifications due at `now`, oldest first; at most `limit`.
    pub async fn due_notifications(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let sql = select_notifications!(
            "WHERE state = 'pending' AND due_at <= $1 ORDER BY due_at, notification_id LIMIT $2"
        );
        let rows = on_backend!(self, |pool| {
            sqlx::query_as(sql)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(counted)?
        });
        Ok(rows)
    }

    /// Notifications of one alert, in the order they are due.
    pub async fn alert_notifications(
        &self,
        alert_id: &str,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let sql = select_notifications!("WHERE alert_id = $1 ORDER BY due_at, notification_id");
        let rows = on_backend!(self, |pool| {
            sqlx::query_as(sql)
                .bind(alert_id)
                .fetch_all(pool)
                .await
                .map_err(counted)?
        });
        Ok(rows)
    }

    /// Records the outcome of a sending attempt: `Ok(())` marks it sent; `Err(reason)` either
    /// reschedules it at `retry_at` or, without one, marks it failed.
    pub async fn record_attempt(
        &self,
        notification_id: &str,
        outcome: Result<(), &str>,
        retry_at: Option<Millis>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_backend!(self, |pool| {
            let query = match (outcome, retry_at) {
                (Ok(()), _) => sqlx::query(
                    "UPDATE notifications SET state = 'sent', sent_at = $2, attempts = attempts + 1, \
                     updated_at = $2, last_error = NULL WHERE notification_id = $1 AND state = 'pending'",
                )
                .bind(notification_id)
                .bind(now),
                (Err(reason), Some(at)) => sqlx::query(
                    "UPDATE notifications SET due_at = $3, attempts = attempts + 1, last_error = $4, \
                     updated_at = $2 WHERE notification_id = $1 AND state = 'pending'",
                )
                .bind(notification_id)
                .bind(now)
                .bind(at)
                .bind(reason),
                (Err(reason), None) => sqlx::query(
                    "UPDATE notifications SET state = 'failed', attempts = attempts + 1, \
                     last_error = $3, updated_at = $2 WHERE notification_id = $1 AND state = 'pending'",
                )
                .bind(notification_id)
                .bind(now)
                .bind(reason),
            };
            query.execute(pool).await.map_err(counted)?;
        });
        Ok(())
    }

    /// Cancels the pages of an alert still pending (it was acknowledged, resolved or
    /// retracted); returns how many.
    pub async fn cancel_pages(&self, alert_id: &str) -> Result<u64, StoreError> {
        let now = now_ms();
        let cancelled = on_backend!(self, |pool| {
            sqlx::query(
                "UPDATE notifications SET state = 'cancelled', updated_at = $2 \
                 WHERE alert_id = $1 AND kind = 'page' AND state = 'pending'",
            )
            .bind(alert_id)
            .bind(now)
            .execute(pool)
            .await
            .map_err(counted)?
            .rows_affected()
        });
        Ok(cancelled)
    }
}
