//! The emails of scheduled reports: one row per (job, recipient), written when the job
//! finishes ([`super::ReportJobs::finish`]), claimed by any instance under a lease, and
//! settled as sent, retried later, or failed.
//!
//! Invariant: a delivery is claimed by one sender at a time; only a claimed, pending delivery
//! is settled, so a late answer from a sender whose lease ran out changes nothing.

use sqlx::Row;
use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};

/// A delivery to send now, with what its email needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// `<task_id>:<recipient>`: also the email's Message-ID.
    pub delivery_id: String,
    /// The job whose file it carries.
    pub task_id: String,
    /// The tenant.
    pub tenant_id: u64,
    /// The email address.
    pub recipient: String,
    /// Attempts before this one.
    pub attempts: u32,
    /// When the schedule's run was due.
    pub scheduled_at: Millis,
    /// The job's file name (`None` if the file is gone).
    pub file_name: Option<String>,
    /// The job's summary.
    pub summary: Option<String>,
    /// The job's period.
    pub period: (Millis, Millis),
    /// The job's language.
    pub language: String,
}

/// Report deliveries. A borrowed handle from [`Store::report_deliveries`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct ReportDeliveries<'a> {
    backend: &'a Backend,
}

impl Store {
    /// The emails of scheduled reports.
    pub fn report_deliveries(&self) -> ReportDeliveries<'_> {
        ReportDeliveries {
            backend: &self.backend,
        }
    }
}

impl ReportDeliveries<'_> {
    /// Claims up to `limit` pending deliveries due by `now` whose lease (if any) ran out,
    /// until `now + lease_ms`.
    pub async fn claim(
        self,
        limit: usize,
        lease_ms: i64,
        now: Millis,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        on_backend!(self, |pool| {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT delivery_id FROM report_deliveries WHERE state = 'pending' \
                 AND due_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) \
                 ORDER BY due_at, delivery_id LIMIT $2",
            )
            .bind(now)
            .bind(limit as i64)
            .fetch_all(pool)
            .await
            .map_err(counted)?;
            let mut claimed = Vec::new();
            for id in ids {
                let row = sqlx::query(
                    "UPDATE report_deliveries SET claimed_until = $1 \
                     WHERE delivery_id = $2 AND state = 'pending' \
                     AND (claimed_until IS NULL OR claimed_until <= $3) \
                     RETURNING delivery_id, task_id, tenant_id, recipient, attempts, scheduled_at",
                )
                .bind(now.saturating_add(lease_ms))
                .bind(&id)
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(counted)?;
                let Some(row) = row else { continue };
                let task_id: String = row.try_get("task_id").map_err(counted)?;
                let job = sqlx::query(
                    "SELECT file_name, summary, period_from, period_to, language \
                     FROM report_jobs WHERE task_id = $1",
                )
                .bind(&task_id)
                .fetch_optional(pool)
                .await
                .map_err(counted)?;
                let attempts: i32 = row.try_get("attempts").map_err(counted)?;
                let mut due = DueDelivery {
                    delivery_id: row.try_get("delivery_id").map_err(counted)?,
                    tenant_id: row.try_get::<i64, _>("tenant_id").map_err(counted)? as u64,
                    recipient: row.try_get("recipient").map_err(counted)?,
                    attempts: attempts.max(0) as u32,
                    scheduled_at: row.try_get("scheduled_at").map_err(counted)?,
                    task_id,
                    file_name: None,
                    summary: None,
                    period: (0, 0),
                    language: "en".into(),
                };
                if let Some(job) = job {
                    due.file_name = job.try_get("file_name").map_err(counted)?;
                    due.summary = job.try_get("summary").map_err(counted)?;
                    due.period = (
                        job.try_get("period_from").map_err(counted)?,
                        job.try_get("period_to").map_err(counted)?,
                    );
                    due.language = job.try_get("language").map_err(counted)?;
                }
                claimed.push(due);
            }
            Ok(claimed)
        })
    }

    /// Settles a claimed delivery: sent at `now`, or failed with `error` and tried again at
    /// `retry_at` (failed for good when `None`).
    pub async fn settle(
        self,
        delivery_id: &str,
        outcome: Result<(), (&str, Option<Millis>)>,
        now: Millis,
    ) -> Result<(), StoreError> {
        on_backend!(self, |pool| {
            let q = match outcome {
                Ok(()) => sqlx::query(
                    "UPDATE report_deliveries SET state = 'sent', sent_at = $1, \
                     attempts = attempts + 1, claimed_until = NULL, last_error = NULL \
                     WHERE delivery_id = $2 AND state = 'pending'",
                )
                .bind(now)
                .bind(delivery_id),
                Err((error, Some(retry_at))) => sqlx::query(
                    "UPDATE report_deliveries SET due_at = $1, attempts = attempts + 1, \
                     claimed_until = NULL, last_error = $2 \
                     WHERE delivery_id = $3 AND state = 'pending'",
                )
                .bind(retry_at)
                .bind(error)
                .bind(delivery_id),
                Err((error, None)) => sqlx::query(
                    "UPDATE report_deliveries SET state = 'failed', attempts = attempts + 1, \
                     claimed_until = NULL, last_error = $1 \
                     WHERE delivery_id = $2 AND state = 'pending'",
                )
                .bind(error)
                .bind(delivery_id),
            };
            q.execute(pool).await.map_err(counted)?;
            Ok(())
        })
    }

    /// Every delivery of a job: `(recipient, state, attempts, sent_at)`, by recipient.
    pub async fn of_job(
        self,
        task_id: &str,
    ) -> Result<Vec<(String, String, u32, Option<Millis>)>, StoreError> {
        on_backend!(self, |pool| {
            let rows = sqlx::query(
                "SELECT recipient, state, attempts, sent_at FROM report_deliveries \
                 WHERE task_id = $1 ORDER BY recipient",
            )
            .bind(task_id)
            .fetch_all(pool)
            .await
            .map_err(counted)?;
            rows.iter()
                .map(|r| {
                    let attempts: i32 = r.try_get("attempts")?;
                    Ok((
                        r.try_get("recipient")?,
                        r.try_get("state")?,
                        attempts.max(0) as u32,
                        r.try_get("sent_at")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(counted)
        })
    }
}
