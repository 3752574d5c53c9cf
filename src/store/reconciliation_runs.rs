//! Nightly reconciliation with exchange partners (DESIGN.md §7): the runs and their reports.
//! A run counts the partner's pages ([`reconciliation_pages`](super::reconciliation_pages)),
//! keeps the first diffs it finds ([`reconciliation_diffs`](super::reconciliation_diffs)) and
//! then finishes; one instance at a time reconciles a partner ([`leases`](super::leases)).
//!
//! Invariant: at most one run of a partner and day is running (a unique index says so);
//! opening again resumes it, whatever started it.

use serde::Serialize;
use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};

/// The columns of a run, in [`RunRow`]'s order.
macro_rules! select_runs {
    ($rest:literal) => {
        concat!(
            "SELECT run_id, partner_id, day, trigger, state, started_at, finished_at, \
             pages_done, partner_records, our_records, matched, missing_at_partner, \
             missing_at_ours, mismatched, repaired, diffs_kept, error \
             FROM reconciliation_runs ",
            $rest
        )
    };
}

/// A reconciliation run and its report. `vigil reconcile --format json` prints it as it is,
/// instants in ms since the epoch; the API reshapes it (instants as RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationRun {
    /// Its id.
    pub run_id: String,
    /// The partner.
    pub partner_id: String,
    /// The day reconciled, `YYYY-MM-DD` in the partner's time zone.
    pub day: String,
    /// `nightly` or `manual`.
    pub trigger: String,
    /// `running` or `finished`.
    pub state: String,
    /// When it started (ms since the epoch).
    pub started_at: Millis,
    /// When it finished.
    pub finished_at: Option<Millis>,
    /// The last partner page counted (pages start at 1).
    pub pages_done: u32,
    /// Records the partner listed.
    pub partner_records: u64,
    /// Records we have for the day.
    pub our_records: u64,
    /// Records both sides hold alike.
    pub matched: u64,
    /// Ours that the partner does not have.
    pub missing_at_partner: u64,
    /// The partner's that we do not have.
    pub missing_at_ours: u64,
    /// Held by both, but different.
    pub mismatched: u64,
    /// Records queued to be sent again to repair the partner's side.
    pub repaired: u64,
    /// Diffs kept in the report (the first ones found).
    pub diffs_kept: u32,
    /// Why the last attempt failed, if one did (a finished run keeps it: it was resumed).
    pub error: Option<String>,
}

/// What [`Reconciliations::open`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRun {
    /// The run.
    pub run: ReconciliationRun,
    /// Whether it was running already (continue after its last page).
    pub resumed: bool,
}

/// Reconciliation runs, their pages and their diffs. A borrowed handle from
/// [`Store::reconciliations`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct Reconciliations<'a> {
    pub(super) backend: &'a Backend,
}

impl Store {
    /// Reconciliation runs, their pages and their diffs.
    pub fn reconciliations(&self) -> Reconciliations<'_> {
        Reconciliations {
            backend: &self.backend,
        }
    }
}

impl Reconciliations<'_> {
    /// The running run of `partner` and `day`, resumed (whatever started it), or else a new
    /// one with id `run_id_if_new`. Fails when that id belongs to another run already.
    pub async fn open(
        self,
        partner: &str,
        day: &str,
        trigger: &str,
        run_id_if_new: &str,
        now: Millis,
    ) -> Result<OpenedRun, StoreError> {
        let (inserted, row) = on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            // No conflict target: a running run of the day (the partial unique index) and a
            // taken id both make this a no-op.
            let inserted = sqlx::query(
                "INSERT INTO reconciliation_runs (run_id, partner_id, day, trigger, state, \
                 started_at) VALUES ($1, $2, $3, $4, 'running', $5) ON CONFLICT DO NOTHING",
            )
            .bind(run_id_if_new)
            .bind(partner)
            .bind(day)
            .bind(trigger)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(counted)?
            .rows_affected()
                == 1;
            let row: Option<RunRow> = sqlx::query_as(select_runs!(
                "WHERE partner_id = $1 AND day = $2 AND state = 'running'"
            ))
            .bind(partner)
            .bind(day)
            .fetch_optional(&mut *tx)
            .await
            .map_err(counted)?;
            tx.commit().await.map_err(counted)?;
            (inserted, row)
        });
        match row {
            Some(row) => Ok(OpenedRun {
                run: row.into_run()?,
                resumed: !inserted,
            }),
            None => Err(StoreError::InvalidRecord {
                record: format!("reconciliation run {run_id_if_new}"),
                reason: "the run id is taken by another run",
            }),
        }
    }

    /// The latest finished run of `partner` and `day` that `trigger` started.
    pub async fn finished(
        self,
        partner: &str,
        day: &str,
        trigger: &str,
    ) -> Result<Option<ReconciliationRun>, StoreError> {
        let row: Option<RunRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_runs!(
                "WHERE partner_id = $1 AND day = $2 AND trigger = $3 AND state = 'finished' \
                 ORDER BY finished_at DESC, run_id DESC LIMIT 1"
            ))
            .bind(partner)
            .bind(day)
            .bind(trigger)
            .fetch_optional(pool)
            .await
            .map_err(counted)?
        });
        row.map(RunRow::into_run).transpose()
    }

    /// Records why an attempt of a running run failed; the run stays running, to be resumed.
    pub async fn fail_attempt(self, run_id: &str, error: &str) -> Result<(), StoreError> {
        on_backend!(self, |pool| {
            sqlx::query(
                "UPDATE reconciliation_runs SET error = $2 WHERE run_id = $1 \
                 AND state = 'running'",
            )
            .bind(run_id)
            .bind(error)
            .execute(pool)
            .await
            .map_err(counted)?;
        });
        Ok(())
    }

    /// `partner`'s runs (of `day`, or of any day), newest first; at most `limit`.
    pub async fn runs(
        self,
        partner: &str,
        day: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ReconciliationRun>, StoreError> {
        let rows: Vec<RunRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_runs!(
                "WHERE partner_id = $1 AND ($2 IS NULL OR day = $2) \
                 ORDER BY started_at DESC, run_id DESC LIMIT $3"
            ))
            .bind(partner)
            .bind(day)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter().map(RunRow::into_run).collect()
    }

    /// One run by id.
    pub async fn run(self, run_id: &str) -> Result<Option<ReconciliationRun>, StoreError> {
        let row: Option<RunRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_runs!("WHERE run_id = $1"))
                .bind(run_id)
                .fetch_optional(pool)
                .await
                .map_err(counted)?
        });
        row.map(RunRow::into_run).transpose()
    }
}

pub(super) fn unknown_run(run_id: &str) -> StoreError {
    StoreError::InvalidRecord {
        record: format!("reconciliation run {run_id}"),
        reason: "no such run",
    }
}

/// A count to store, refused above 2^63-1.
pub(super) fn to_i64(v: u64, run_id: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidRecord {
        record: format!("reconciliation run {run_id}"),
        reason: "count above 2^63-1",
    })
}

/// A stored non-negative number as a `u32`.
pub(super) fn to_u32(v: i64, table: &'static str, column: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::CorruptRow {
        table,
        message: format!("{column} out of range: {v}"),
    })
}

/// A stored non-negative count as a `u64`.
fn to_u64(v: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::CorruptRow {
        table: "reconciliation_runs",
        message: format!("{column} out of range: {v}"),
    })
}

/// A row of [`select_runs`].
#[derive(sqlx::FromRow)]
struct RunRow {
    run_id: String,
    partner_id: String,
    day: String,
    trigger: String,
    state: String,
    started_at: i64,
    finished_at: Option<i64>,
    pages_done: i64,
    partner_records: i64,
    our_records: i64,
    matched: i64,
    missing_at_partner: i64,
    missing_at_ours: i64,
    mismatched: i64,
    repaired: i64,
    diffs_kept: i64,
    error: Option<String>,
}

impl RunRow {
    fn into_run(self) -> Result<ReconciliationRun, StoreError> {
        Ok(ReconciliationRun {
            pages_done: to_u32(self.pages_done, "reconciliation_runs", "pages_done")?,
            partner_records: to_u64(self.partner_records, "partner_records")?,
            our_records: to_u64(self.our_records, "our_records")?,
            matched: to_u64(self.matched, "matched")?,
            missing_at_partner: to_u64(self.missing_at_partner, "missing_at_partner")?,
            missing_at_ours: to_u64(self.missing_at_ours, "missing_at_ours")?,
            mismatched: to_u64(self.mismatched, "mismatched")?,
            repaired: to_u64(self.repaired, "repaired")?,
            diffs_kept: to_u32(self.diffs_kept, "reconciliation_runs", "diffs_kept")?,
            run_id: self.run_id,
            partner_id: self.partner_id,
            day: self.day,
            trigger: self.trigger,
            state: self.state,
            started_at: self.started_at,
            finished_at: self.finished_at,
            error: self.error,
        })
    }
}
