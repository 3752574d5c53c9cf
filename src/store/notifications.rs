//! The notification outbox: rows are written before anything is sent, keyed by a stable id
//! (so replays and restarts add nothing twice), then taken by workers when due and marked
//! sent, failed or rescheduled; an acknowledgement cancels the pages still pending.

use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};
use super::sql::ids_json;
use crate::clock::now_ms;

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
    /// The notification this one stands in for, when it is a fallback.
    pub fallback_of: Option<String>,
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

/// The notification outbox, for the workers that send it and the operators who watch it
/// ([`notification_admin`](super::notification_admin)). A borrowed handle from
/// [`Store::notifications`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct Notifications<'a> {
    pub(super) backend: &'a Backend,
}

impl Store {
    /// The notification outbox.
    pub fn notifications(&self) -> Notifications<'_> {
        Notifications {
            backend: &self.backend,
        }
    }
}

impl Notifications<'_> {
    /// Writes notifications that are not there yet (by id) as pending; returns how many were
    /// new.
    pub async fn enqueue(self, rows: &[NewNotification]) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut added = 0;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tenants = Vec::with_capacity(rows.len());
        for n in rows {
            tenants.push(
                i64::try_from(n.tenant_id).map_err(|_| StoreError::InvalidRecord {
                    record: format!("notification of alert {}", n.alert_id),
                    reason: "tenant id above 2^63-1",
                })?,
            );
        }
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            for (chunk, tenants) in rows.chunks(500).zip(tenants.chunks(500)) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO notifications (notification_id, alert_id, tenant_id, kind, step, \
                     round, contact, channel, due_at, state, created_at, updated_at, fallback_of) ",
                );
                qb.push_values(chunk.iter().zip(tenants), |mut b, (n, tenant)| {
                    b.push_bind(n.id())
                        .push_bind(n.alert_id.clone())
                        .push_bind(*tenant)
                        .push_bind(n.kind.as_str())
                        .push_bind(i64::from(n.step))
                        .push_bind(i64::from(n.round))
                        .push_bind(n.contact.clone())
                        .push_bind(n.channel)
                        .push_bind(n.due_at)
                        .push_bind("pending")
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(n.fallback_of.clone());
                });
                qb.push(" ON CONFLICT (notification_id) DO NOTHING");
                added += qb
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(counted)?
                    .rows_affected();
            }
            tx.commit().await.map_err(counted)?;
        });
        Ok(added)
    }

    /// Takes up to `limit` pending notifications due at `now`, oldest first, with their
    /// alerts, and reserves them until `lease_until`: another worker (or this one after a
    /// crash) takes them again only once that passes.
    pub async fn claim_due(
        self,
        now: Millis,
        limit: u32,
        lease_until: Millis,
    ) -> Result<Vec<DueNotification>, StoreError> {
        const SELECT: &str = "SELECT n.notification_id, n.kind, n.step, n.round, n.contact, \
             n.channel, n.due_at, n.attempts, n.created_at AS queued_at, n.message_id, \
             n.fallback_of, EXISTS (SELECT 1 FROM alerts b WHERE b.tenant_id = a.tenant_id \
             AND b.ticket_id = a.ticket_id AND b.level = 'breach' \
             AND b.state IN ('firing', 'acknowledged')) AS breach_open, \
             a.alert_id, a.tenant_id, a.ticket_id, a.goal, a.level, a.threshold, a.state, \
             a.target_ms, a.elapsed_ms, a.fired_at, a.deadline, a.priority, a.service_type, \
             a.policy_version, a.updated_at, a.acked_by, a.acked_at, a.resolved_by, a.resolved_at \
             FROM notifications n JOIN alerts a ON a.alert_id = n.alert_id \
             WHERE n.state = 'pending' AND n.due_at <= $1 ORDER BY n.due_at, n.notification_id \
             LIMIT $2";
        let take = format!(
            "UPDATE notifications SET due_at = $2 WHERE {}",
            self.pending_among_ids()
        );
        // Instances sharing a PostgreSQL database take disjoint rows; SQLite has one writer.
        // SQLite: take the write lock up front; a read that later upgrades to a write fails
        // with "database is locked" when another writer got in between.
        let (begin, select) = match &self.backend {
            super::Backend::Sqlite(_) => ("BEGIN IMMEDIATE", SELECT.to_string()),
            super::Backend::Postgres(_) => {
                ("BEGIN", format!("{SELECT} FOR UPDATE OF n SKIP LOCKED"))
            }
        };
        let rows: Vec<DueRow> = on_backend!(self, |pool| {
            let mut tx = pool.begin_with(begin).await.map_err(counted)?;
            let rows: Vec<DueRow> = sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(counted)?;
            let taken: Vec<String> = rows.iter().map(|r| r.notification_id.clone()).collect();
            sqlx::query(sqlx::AssertSqlSafe(take.clone()))
                .bind(ids_json(&taken))
                .bind(lease_until)
                .execute(&mut *tx)
                .await
                .map_err(counted)?;
            tx.commit().await.map_err(counted)?;
            rows
        });
        rows.into_iter().map(DueRow::into_due).collect()
    }

    /// Extends the claim on those of `ids` still pending under the claim that ends at `held`
    /// to `until`; a notification settled since, or taken by another worker after the claim
    /// lapsed, keeps its own due time. The number renewed.
    pub async fn renew_claim(
        self,
        ids: &[String],
        held: Millis,
        until: Millis,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE notifications SET due_at = $3 WHERE {} AND due_at = $2",
            self.pending_among_ids()
        );
        let ids = ids_json(ids);
        let renewed = on_backend!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&ids)
                .bind(held)
                .bind(until)
                .execute(pool)
                .await
                .map_err(counted)?
                .rows_affected()
        });
        Ok(renewed)
    }

    /// Records that these notifications go out together as one message, before it is sent:
    /// a retry after a crash sends the same message with the same idempotency key.
    pub async fn assign_message(self, message_id: &str, ids: &[String]) -> Result<(), StoreError> {
        self.update_pending(
            ids,
            "message_id = $2",
            &[Bind::Text(message_id.to_string())],
        )
        .await
    }

    /// Records what became of notifications taken by [`Notifications::claim_due`].
    pub async fn record_outcome(self, ids: &[String], outcome: &Outcome) -> Result<(), StoreError> {
        let now = now_ms();
        match outcome {
            Outcome::Sent => {
                self.update_pending(
                    ids,
                    "state = 'sent', sent_at = $2, attempts = attempts + 1, updated_at = $2, \
                     last_error = NULL",
                    &[Bind::Int(now)],
                )
                .await
            }
            Outcome::Retry { at, reason } => {
                self.update_pending(
                    ids,
                    "due_at = $2, attempts = attempts + 1, last_error = $3, updated_at = $4",
                    &[Bind::Int(*at), Bind::Text(reason.clone()), Bind::Int(now)],
                )
                .await
            }
            Outcome::Deferred { until, reason } => {
                self.update_pending(
                    ids,
                    "due_at = $2, last_error = $3, updated_at = $4",
                    &[
                        Bind::Int(*until),
                        Bind::Text(reason.clone()),
                        Bind::Int(now),
                    ],
                )
                .await
            }
            Outcome::Failed { reason } => {
                self.update_pending(
                    ids,
                    "state = 'failed', attempts = attempts + 1, last_error = $2, updated_at = $3",
                    &[Bind::Text(reason.clone()), Bind::Int(now)],
                )
                .await
            }
            Outcome::Cancelled { reason } => {
                self.update_pending(
                    ids,
                    "state = 'cancelled', last_error = $2, updated_at = $3",
                    &[Bind::Text(reason.clone()), Bind::Int(now)],
                )
                .await
            }
        }
    }

    /// `UPDATE notifications SET <set>` on the pending rows among `ids`, in one statement:
    /// `$1` is the ids, `$2`… are `extra`.
    async fn update_pending(
        self,
        ids: &[String],
        set: &'static str,
        extra: &[Bind],
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE notifications SET {set} WHERE {}",
            self.pending_among_ids()
        );
        let ids = ids_json(ids);
        on_backend!(self, |pool| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(&ids);
            for b in extra {
                q = match b {
                    Bind::Int(v) => q.bind(*v),
                    Bind::Text(t) => q.bind(t.clone()),
                };
            }
            q.execute(pool).await.map_err(counted)?;
        });
        Ok(())
    }

    /// The condition "pending, and one of the ids bound as `$1`" (a JSON array of strings).
    fn pending_among_ids(self) -> &'static str {
        match &self.backend {
            // `+state`: look rows up by id. Without statistics SQLite would rather walk every
            // pending row through the state index, once per statement.
            super::Backend::Sqlite(_) => {
                "notification_id IN (SELECT value FROM json_each($1)) AND +state = 'pending'"
            }
            super::Backend::Postgres(_) => {
                "notification_id IN (SELECT json_array_elements_text($1::json)) \
                 AND state = 'pending'"
            }
        }
    }

    /// Pending notifications.
    pub async fn pending(self) -> Result<i64, StoreError> {
        self.overdue(Millis::MAX).await
    }

    /// Pending notifications that are due by `now` or were held back once (retries, an open
    /// breaker, rate limits, silences, quiet hours): the outbox depth gauge. Escalation steps
    /// planned for later are not a backlog.
    pub async fn overdue(self, now: Millis) -> Result<i64, StoreError> {
        let n: i64 = on_backend!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM notifications WHERE state = 'pending' \
                 AND (due_at <= $1 OR last_error IS NOT NULL)",
            )
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(counted)?
        });
        Ok(n)
    }

    /// Cancels the pages of an alert still pending (it was acknowledged, resolved or
    /// retracted); returns how many.
    pub async fn cancel_pages(self, alert_id: &str) -> Result<u64, StoreError> {
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

/// A value bound after the ids in [`Notifications::update_pending`].
enum Bind {
    Int(i64),
    Text(String),
}

/// What became of a notification that was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted it.
    Sent,
    /// The attempt failed; try again at `at`.
    Retry {
        /// When.
        at: Millis,
        /// Why it failed.
        reason: String,
    },
    /// Held back without an attempt (silence, quiet hours, rate limit, grouping) until `until`.
    Deferred {
        /// When it may go.
        until: Millis,
        /// Why it waits.
        reason: String,
    },
    /// It cannot be delivered.
    Failed {
        /// Why.
        reason: String,
    },
    /// It is no longer wanted (acknowledged, resolved, inhibited).
    Cancelled {
        /// Why.
        reason: String,
    },
}

/// A notification taken for sending, with its alert as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct DueNotification {
    /// Its id.
    pub notification_id: String,
    /// Page or resolution message.
    pub kind: NotificationKind,
    /// Escalation step.
    pub step: i64,
    /// Escalation round.
    pub round: i64,
    /// Contact id.
    pub contact: String,
    /// `email`, `sms` or `webhook`.
    pub channel: String,
    /// When it was due.
    pub due_at: Millis,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was written to the outbox.
    pub queued_at: Millis,
    /// The message it already went into, if an earlier attempt assigned one.
    pub message_id: Option<String>,
    /// The notification it stands in for, when it is a fallback.
    pub fallback_of: Option<String>,
    /// Whether the alert's ticket has a breach firing or acknowledged (which inhibits its
    /// warnings).
    pub breach_open: bool,
    /// The alert.
    pub alert: super::StoredAlert,
}

/// A row of [`Notifications::claim_due`]'s query.
#[derive(sqlx::FromRow)]
struct DueRow {
    notification_id: String,
    kind: String,
    step: i64,
    round: i64,
    contact: String,
    channel: String,
    due_at: i64,
    attempts: i64,
    queued_at: i64,
    message_id: Option<String>,
    fallback_of: Option<String>,
    breach_open: bool,
    #[sqlx(flatten)]
    alert: super::alerts::AlertRow,
}

impl DueRow {
    fn into_due(self) -> Result<DueNotification, StoreError> {
        let kind = match self.kind.as_str() {
            "page" => NotificationKind::Page,
            "resolved" => NotificationKind::Resolved,
            other => {
                return Err(StoreError::CorruptRow {
                    table: "notifications",
                    message: format!("unknown kind {other:?}"),
                })
            }
        };
        Ok(DueNotification {
            notification_id: self.notification_id,
            kind,
            step: self.step,
            round: self.round,
            contact: self.contact,
            channel: self.channel,
            due_at: self.due_at,
            attempts: self.attempts,
            queued_at: self.queued_at,
            message_id: self.message_id,
            fallback_of: self.fallback_of,
            breach_open: self.breach_open,
            alert: self.alert.into_stored()?,
        })
    }
}
