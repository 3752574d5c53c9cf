//! Report jobs and their files: queued by the API, claimed by a worker of any instance under
//! a lease it renews, finished with their file in the store (so any instance serves the
//! download), and deleted with it when the file expires.
//!
//! Invariants: at most `max_queued` jobs are queued or running at once (the check and the
//! insert are one transaction, serialized on PostgreSQL by an advisory lock); a job is
//! claimed by one worker at a time, and one whose lease ran out is claimed again and starts
//! over; only the worker holding the claim can finish it.

use sqlx::Row;
use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};

/// The PostgreSQL advisory lock that serializes enqueuing (checking the queue's length).
const ENQUEUE_LOCK: i64 = 0x7669_6769_6c72_7074;

/// A job as requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReportJob {
    /// Its id (also the stem of its file's name).
    pub task_id: String,
    /// The tenant reported on.
    pub tenant_id: u64,
    /// Who asked (the token's subject, or `schedule:<id>`).
    pub requested_by: String,
    /// `json`, `csv`, `xlsx` or `pdf`.
    pub format: String,
    /// The period, `[from, to)`.
    pub period: (Millis, Millis),
    /// Labels' language.
    pub language: String,
    /// The zone of local days.
    pub timezone: String,
    /// The breakdowns asked for, comma-separated.
    pub breakdowns: String,
    /// The schedule that queued it, if one did.
    pub schedule_id: Option<String>,
    /// Email addresses the file goes to when it is done (a schedule's recipients).
    pub deliver_to: Vec<String>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportJob {
    /// What was asked.
    pub request: NewReportJob,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Progress, 0–100.
    pub percent: u8,
    /// Claims so far.
    pub attempts: u32,
    /// The file's name, once done.
    pub file_name: Option<String>,
    /// The file's size in bytes, once done.
    pub size_bytes: Option<u64>,
    /// Records (goal outcomes) the report counts, once done.
    pub records: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: Millis,
    /// When it finished.
    pub finished_at: Option<Millis>,
    /// When its file expires.
    pub expires_at: Option<Millis>,
    /// A short summary of the figures, once done (the body of a scheduled report's email).
    pub summary: Option<String>,
}

/// A finished job's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    /// The job.
    pub task_id: String,
    /// The tenant it reports on.
    pub tenant_id: u64,
    /// The bytes.
    pub content: Vec<u8>,
}

/// Why a job was not queued.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The queue is full.
    #[error("{queued} report jobs are queued or running, the most allowed; try again when one has finished")]
    Full {
        /// Jobs queued or running.
        queued: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Report jobs. A borrowed handle from [`Store::report_jobs`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct ReportJobs<'a> {
    backend: &'a Backend,
}

impl Store {
    /// Report jobs and their files.
    pub fn report_jobs(&self) -> ReportJobs<'_> {
        ReportJobs {
            backend: &self.backend,
        }
    }
}

const JOB_COLUMNS: &str = "task_id, tenant_id, requested_by, format, period_from, period_to, \
     language, timezone, breakdowns, state, percent, attempts, file_name, size_bytes, records, \
     error, created_at, finished_at, expires_at, schedule_id, deliver_to, summary";

fn job_of<R: Row>(row: &R) -> Result<ReportJob, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i32: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let size: Option<i64> = row.try_get("size_bytes")?;
    let records: Option<i64> = row.try_get("records")?;
    let percent: i32 = row.try_get("percent")?;
    let deliver_to: Option<String> = row.try_get("deliver_to")?;
    let attempts: i32 = row.try_get("attempts")?;
    Ok(ReportJob {
        request: NewReportJob {
            task_id: row.try_get("task_id")?,
            tenant_id: row.try_get::<i64, _>("tenant_id")? as u64,
            requested_by: row.try_get("requested_by")?,
            format: row.try_get("format")?,
            period: (row.try_get("period_from")?, row.try_get("period_to")?),
            language: row.try_get("language")?,
            timezone: row.try_get("timezone")?,
            breakdowns: row.try_get("breakdowns")?,
            schedule_id: row.try_get("schedule_id")?,
            deliver_to: deliver_to
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or_default(),
        },
        state: row.try_get("state")?,
        percent: percent.clamp(0, 100) as u8,
        attempts: attempts.max(0) as u32,
        file_name: row.try_get("file_name")?,
        size_bytes: size.map(|s| s.max(0) as u64),
        records: records.map(|r| r.max(0) as u64),
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        expires_at: row.try_get("expires_at")?,
        summary: row.try_get("summary")?,
    })
}

/// Serializes enqueuing on PostgreSQL (the queue's length is checked, then written), in
/// the transaction `$tx`.
macro_rules! lock_queue {
    ($tx:ident) => {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ENQUEUE_LOCK)
            .execute(&mut *$tx)
            .await
            .map_err(counted)?;
    };
}

/// Inserts the job `$job` in the transaction `$tx` unless `$max` are queued or running
/// (returning [`EnqueueError::Full`] from the caller). One statement checks and inserts: on
/// SQLite it is atomic as it stands (a read followed by a write in one transaction could not
/// take the write lock while another writer holds it).
macro_rules! insert_job {
    ($tx:ident, $job:expr, $max:expr, $now:expr) => {{
        let job: &NewReportJob = $job;
        let deliver_to = (!job.deliver_to.is_empty())
            .then(|| serde_json::Value::from(job.deliver_to.clone()).to_string());
        let inserted = sqlx::query(
            "INSERT INTO report_jobs (task_id, tenant_id, requested_by, format, period_from, \
             period_to, language, timezone, breakdowns, state, created_at, schedule_id, \
             deliver_to) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $12, $13 \
             WHERE (SELECT COUNT(*) FROM report_jobs WHERE state IN ('queued', 'running')) < $11",
        )
        .bind(&job.task_id)
        .bind(job.tenant_id as i64)
        .bind(&job.requested_by)
        .bind(&job.format)
        .bind(job.period.0)
        .bind(job.period.1)
        .bind(&job.language)
        .bind(&job.timezone)
        .bind(&job.breakdowns)
        .bind($now)
        .bind(i64::from($max))
        .bind(job.schedule_id.as_deref())
        .bind(deliver_to)
        .execute(&mut *$tx)
        .await
        .map_err(counted)?
        .rows_affected();
        if inserted == 0 {
            let queued: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM report_jobs WHERE state IN ('queued', 'running')",
            )
            .fetch_one(&mut *$tx)
            .await
            .map_err(counted)?;
            return Err(EnqueueError::Full {
                queued: queued.max(0) as u64,
            });
        }
    }};
}

impl ReportJobs<'_> {
    /// Queues a job unless `max_queued` are queued or running already.
    pub async fn enqueue(
        self,
        job: &NewReportJob,
        max_queued: u32,
        now: Millis,
    ) -> Result<(), EnqueueError> {
        let postgres = matches!(self.backend, Backend::Postgres(_));
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            if postgres {
                lock_queue!(tx);
            }
            insert_job!(tx, job, max_queued, now);
            tx.commit().await.map_err(counted)?;
            Ok(())
        })
    }

    /// Queues the job of a schedule's run (`due_at`: when the run was due) once: false when
    /// the run was queued before (by this instance or another). Refused like
    /// [`enqueue`](Self::enqueue) when the queue is full, and then nothing is written.
    pub async fn enqueue_scheduled(
        self,
        job: &NewReportJob,
        due_at: Millis,
        max_queued: u32,
        now: Millis,
    ) -> Result<bool, EnqueueError> {
        let postgres = matches!(self.backend, Backend::Postgres(_));
        let schedule = job.schedule_id.clone().unwrap_or_default();
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            if postgres {
                lock_queue!(tx);
            }
            let new = sqlx::query(
                "INSERT INTO report_schedule_runs (tenant_id, schedule_id, period_from, task_id, \
                 due_at, queued_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (tenant_id, schedule_id, period_from) DO NOTHING",
            )
            .bind(job.tenant_id as i64)
            .bind(&schedule)
            .bind(job.period.0)
            .bind(&job.task_id)
            .bind(due_at)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(counted)?
            .rows_affected();
            if new == 0 {
                return Ok(false);
            }
            insert_job!(tx, job, max_queued, now);
            tx.commit().await.map_err(counted)?;
            Ok(true)
        })
    }

    /// A job by id.
    pub async fn get(self, task_id: &str) -> Result<Option<ReportJob>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM report_jobs WHERE task_id = $1");
        on_backend!(self, |pool| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(task_id)
                .fetch_optional(pool)
                .await
                .map_err(counted)?;
            row.as_ref().map(job_of).transpose().map_err(counted)
        })
    }

    /// Claims the oldest job that is queued, or running under a lease that ran out, for
    /// `worker` until `now + lease_ms`; `None` when there is none.
    pub async fn claim(
        self,
        worker: &str,
        lease_ms: i64,
        now: Millis,
    ) -> Result<Option<ReportJob>, StoreError> {
        let sql = format!(
            "UPDATE report_jobs SET state = 'running', percent = 0, attempts = attempts + 1, \
             claimed_by = $1, claimed_until = $2, started_at = $3 \
             WHERE task_id = (SELECT task_id FROM report_jobs \
               WHERE state = 'queued' OR (state = 'running' AND claimed_until <= $3) \
               ORDER BY created_at, task_id LIMIT 1) \
             AND (state = 'queued' OR (state = 'running' AND claimed_until <= $3)) \
             RETURNING {JOB_COLUMNS}"
        );
        on_backend!(self, |pool| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(worker)
                .bind(now.saturating_add(lease_ms))
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(counted)?;
            row.as_ref().map(job_of).transpose().map_err(counted)
        })
    }

    /// Records progress and renews `worker`'s claim; false when the claim was lost.
    pub async fn progress(
        self,
        task_id: &str,
        worker: &str,
        percent: u8,
        claimed_until: Millis,
    ) -> Result<bool, StoreError> {
        on_backend!(self, |pool| {
            let done = sqlx::query(
                "UPDATE report_jobs SET percent = $1, claimed_until = $2 \
                 WHERE task_id = $3 AND claimed_by = $4 AND state = 'running'",
            )
            .bind(i32::from(percent.min(100)))
            .bind(claimed_until)
            .bind(task_id)
            .bind(worker)
            .execute(pool)
            .await
            .map_err(counted)?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Finishes `worker`'s job with its file, kept until `expires_at`, and its summary; a job
    /// with recipients gets one delivery each, due now. False (and nothing stored) when the
    /// claim was lost.
    pub async fn finish(
        self,
        task_id: &str,
        worker: &str,
        (file_name, content, summary): (&str, &[u8], &str),
        records: u64,
        (now, expires_at): (Millis, Millis),
    ) -> Result<bool, StoreError> {
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            let row = sqlx::query(
                "UPDATE report_jobs SET state = 'done', percent = 100, file_name = $1, \
                 size_bytes = $2, records = $3, finished_at = $4, expires_at = $5, \
                 claimed_until = NULL, summary = $8 \
                 WHERE task_id = $6 AND claimed_by = $7 AND state = 'running' \
                 RETURNING tenant_id, deliver_to",
            )
            .bind(file_name)
            .bind(content.len() as i64)
            .bind(records as i64)
            .bind(now)
            .bind(expires_at)
            .bind(task_id)
            .bind(worker)
            .bind(summary)
            .fetch_optional(&mut *tx)
            .await
            .map_err(counted)?;
            let Some(row) = row else {
                return Ok(false);
            };
            let tenant: i64 = row.try_get(0).map_err(counted)?;
            let deliver_to: Option<String> = row.try_get(1).map_err(counted)?;
            let recipients: Vec<String> = deliver_to
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or_default();
            if !recipients.is_empty() {
                let scheduled: Option<i64> = sqlx::query_scalar(
                    "SELECT due_at FROM report_schedule_runs WHERE task_id = $1",
                )
                .bind(task_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(counted)?;
                for to in &recipients {
                    sqlx::query(
                        "INSERT INTO report_deliveries (delivery_id, task_id, tenant_id, \
                         recipient, state, due_at, scheduled_at, created_at) \
                         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $5) \
                         ON CONFLICT (delivery_id) DO NOTHING",
                    )
                    .bind(format!("{task_id}:{to}"))
                    .bind(task_id)
                    .bind(tenant)
                    .bind(to)
                    .bind(now)
                    .bind(scheduled.unwrap_or(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(counted)?;
                }
            }
            sqlx::query(
                "INSERT INTO report_files (file_name, task_id, tenant_id, content, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(file_name)
            .bind(task_id)
            .bind(tenant)
            .bind(content)
            .bind(expires_at)
            .execute(&mut *tx)
            .await
            .map_err(counted)?;
            tx.commit().await.map_err(counted)?;
            Ok(true)
        })
    }

    /// Fails `worker`'s job with `error`.
    pub async fn fail(
        self,
        task_id: &str,
        worker: &str,
        error: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        on_backend!(self, |pool| {
            sqlx::query(
                "UPDATE report_jobs SET state = 'failed', error = $1, finished_at = $2, \
                 claimed_until = NULL WHERE task_id = $3 AND claimed_by = $4 AND state = 'running'",
            )
            .bind(error)
            .bind(now)
            .bind(task_id)
            .bind(worker)
            .execute(pool)
            .await
            .map_err(counted)?;
            Ok(())
        })
    }

    /// A file that has not expired at `now`.
    pub async fn file(
        self,
        file_name: &str,
        now: Millis,
    ) -> Result<Option<ReportFile>, StoreError> {
        on_backend!(self, |pool| {
            let row = sqlx::query(
                "SELECT task_id, tenant_id, content FROM report_files \
                 WHERE file_name = $1 AND expires_at > $2",
            )
            .bind(file_name)
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(counted)?;
            row.map(|r| {
                Ok(ReportFile {
                    task_id: r.try_get(0)?,
                    tenant_id: r.try_get::<i64, _>(1)? as u64,
                    content: r.try_get(2)?,
                })
            })
            .transpose()
            .map_err(counted)
        })
    }

    /// Deletes files that expired by `now`, with their jobs, and failed jobs finished before
    /// `failed_before`; returns how many files went.
    pub async fn expire(self, now: Millis, failed_before: Millis) -> Result<u64, StoreError> {
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            let files = sqlx::query("DELETE FROM report_files WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(counted)?
                .rows_affected();
            sqlx::query(
                "DELETE FROM report_jobs WHERE (state = 'done' AND expires_at <= $1) \
                 OR (state = 'failed' AND finished_at <= $2)",
            )
            .bind(now)
            .bind(failed_before)
            .execute(&mut *tx)
            .await
            .map_err(counted)?;
            tx.commit().await.map_err(counted)?;
            Ok(files)
        })
    }
}
