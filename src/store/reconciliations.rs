//! Nightly reconciliation with exchange partners (DESIGN.md §7): runs and their reports, the
//! partner pages a running run has counted, the diffs it keeps, and named leases so that one
//! instance at a time reconciles a partner.
//!
//! Invariants:
//! - At most one run of a partner and day is running (a unique index says so); opening again
//!   resumes it, whatever started it.
//! - A page is counted once: its row, its counts and its diffs are written in one transaction
//!   that does nothing at all when the page row exists already (a retried page) or the run has
//!   finished.
//! - A run keeps at most `keep_diffs` diffs, numbered from 1 in the order they were found; the
//!   counts by kind are always complete.
//! - Finishing is idempotent and drops the page rows, which only a running run needs.

use serde::Serialize;
use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Store};

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

/// Keeps the first of `$diffs` that fit below `$keep_diffs` in transaction `$tx`, numbered
/// after the `$kept` ones, and records the new number kept. A macro, as the transaction's type
/// differs per dialect.
macro_rules! keep_diffs {
    ($tx:expr, $run_id:expr, $kept:expr, $diffs:expr, $keep_diffs:expr) => {{
        let fit = room($kept, $keep_diffs).min($diffs.len());
        let diffs = &$diffs[..fit];
        if !diffs.is_empty() {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO reconciliation_diffs (run_id, seq, record_id, kind, ours, theirs) ",
            );
            qb.push_values(diffs.iter().zip($kept + 1..), |mut b, (d, seq)| {
                b.push_bind($run_id)
                    .push_bind(seq)
                    .push_bind(d.record_id.as_str())
                    .push_bind(d.kind.as_str())
                    .push_bind(d.ours.as_deref())
                    .push_bind(d.theirs.as_deref());
            });
            qb.build().execute(&mut *$tx).await.map_err(counted)?;
            sqlx::query("UPDATE reconciliation_runs SET diffs_kept = $2 WHERE run_id = $1")
                .bind($run_id)
                .bind($kept.saturating_add(i64::try_from(fit).unwrap_or(i64::MAX)))
                .execute(&mut *$tx)
                .await
                .map_err(counted)?;
        }
    }};
}

/// A reconciliation run and its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

/// What [`Store::open_reconciliation`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRun {
    /// The run.
    pub run: ReconciliationRun,
    /// Whether it was running already (continue after its last page).
    pub resumed: bool,
}

/// How a record differs between the partner and us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// We have it; the partner does not.
    MissingAtPartner,
    /// The partner has it; we do not.
    MissingAtOurs,
    /// Both have it, with different content.
    Mismatched,
}

impl DiffKind {
    /// Every kind.
    pub const ALL: [DiffKind; 3] = [
        DiffKind::MissingAtPartner,
        DiffKind::MissingAtOurs,
        DiffKind::Mismatched,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::MissingAtPartner => "missing_at_partner",
            DiffKind::MissingAtOurs => "missing_at_ours",
            DiffKind::Mismatched => "mismatched",
        }
    }

    /// Parses [`DiffKind::as_str`].
    pub fn parse(s: &str) -> Option<DiffKind> {
        DiffKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A diff to keep in a run's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDiff {
    /// The record.
    pub record_id: String,
    /// How it differs.
    pub kind: DiffKind,
    /// Our record as JSON, masked as it would leave.
    pub ours: Option<String>,
    /// The partner's record as JSON, masked.
    pub theirs: Option<String>,
}

/// A diff of a run's report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReconciliationDiff {
    /// Its place among the run's diffs, 1 first.
    pub seq: u32,
    /// The record.
    pub record_id: String,
    /// How it differs.
    pub kind: DiffKind,
    /// Our record, masked (a string when the stored text is not JSON).
    #[schema(value_type = Option<Object>)]
    pub ours: Option<serde_json::Value>,
    /// The partner's record, masked.
    #[schema(value_type = Option<Object>)]
    pub theirs: Option<serde_json::Value>,
}

/// What one partner page adds to a run's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Records on the page.
    pub partner_records: u64,
    /// Of those, held alike by us.
    pub matched: u64,
    /// Of those, missing at ours.
    pub missing_at_ours: u64,
    /// Of those, different from ours.
    pub mismatched: u64,
}

impl Store {
    /// The running run of `partner` and `day`, resumed (whatever started it), or else a new
    /// one with id `run_id_if_new`. Fails when that id belongs to another run already.
    pub async fn open_reconciliation(
        &self,
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
    pub async fn finished_reconciliation(
        &self,
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

    /// The pages a running run has counted, by page, with what the caller saved of each.
    pub async fn reconciliation_pages(
        &self,
        run_id: &str,
    ) -> Result<Vec<(u32, String)>, StoreError> {
        let rows: Vec<(i64, String)> = on_backend!(self, |pool| {
            sqlx::query_as(
                "SELECT page, seen FROM reconciliation_pages WHERE run_id = $1 ORDER BY page",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter()
            .map(|(page, seen)| Ok((to_u32(page, "reconciliation_pages", "page")?, seen)))
            .collect()
    }

    /// Counts partner page `page` of a running run, in one transaction: saves `seen` (what
    /// the caller needs to resume), adds `delta` to the counts, sets `pages_done`, and keeps
    /// `diffs` while the run has fewer than `keep_diffs`. Does nothing at all when the page was
    /// saved already or the run has finished, so a retried page never counts twice.
    pub async fn save_reconciliation_page(
        &self,
        run_id: &str,
        page: u32,
        seen: &str,
        delta: &RunCounts,
        diffs: &[NewDiff],
        keep_diffs: u32,
    ) -> Result<(), StoreError> {
        let delta = [
            to_i64(delta.partner_records, run_id)?,
            to_i64(delta.matched, run_id)?,
            to_i64(delta.missing_at_ours, run_id)?,
            to_i64(delta.mismatched, run_id)?,
        ];
        let missing = on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            let new_page = sqlx::query(
                "INSERT INTO reconciliation_pages (run_id, page, seen) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_id, page) DO NOTHING",
            )
            .bind(run_id)
            .bind(i64::from(page))
            .bind(seen)
            .execute(&mut *tx)
            .await
            .map_err(counted)?
            .rows_affected()
                == 1;
            if !new_page {
                return Ok(());
            }
            // Locks the run's row (PostgreSQL) until the diffs and their count are written.
            let kept: Option<i64> = sqlx::query_scalar(
                "UPDATE reconciliation_runs SET partner_records = partner_records + $2, \
                 matched = matched + $3, missing_at_ours = missing_at_ours + $4, \
                 mismatched = mismatched + $5, pages_done = $6 \
                 WHERE run_id = $1 AND state = 'running' RETURNING diffs_kept",
            )
            .bind(run_id)
            .bind(delta[0])
            .bind(delta[1])
            .bind(delta[2])
            .bind(delta[3])
            .bind(i64::from(page))
            .fetch_optional(&mut *tx)
            .await
            .map_err(counted)?;
            match kept {
                Some(kept) => {
                    keep_diffs!(tx, run_id, kept, diffs, keep_diffs);
                    tx.commit().await.map_err(counted)?;
                    false
                }
                // Finished already (the page row goes with the rollback), or unknown.
                None => {
                    tx.rollback().await.map_err(counted)?;
                    self.reconciliation_run(run_id).await?.is_none()
                }
            }
        });
        if missing {
            return Err(unknown_run(run_id));
        }
        Ok(())
    }

    /// Finishes a running run, in one transaction: the final counts, what is left of the diffs
    /// (within `keep_diffs`), `finished` at `now`, and its page rows dropped. Does nothing when
    /// it has finished already.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_reconciliation(
        &self,
        run_id: &str,
        our_records: u64,
        missing_at_partner: u64,
        diffs: &[NewDiff],
        keep_diffs: u32,
        repaired: u64,
        now: Millis,
    ) -> Result<(), StoreError> {
        let counts = [
            to_i64(our_records, run_id)?,
            to_i64(missing_at_partner, run_id)?,
            to_i64(repaired, run_id)?,
        ];
        let missing = on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            let kept: Option<i64> = sqlx::query_scalar(
                "UPDATE reconciliation_runs SET our_records = $2, missing_at_partner = $3, \
                 repaired = $4, state = 'finished', finished_at = $5 \
                 WHERE run_id = $1 AND state = 'running' RETURNING diffs_kept",
            )
            .bind(run_id)
            .bind(counts[0])
            .bind(counts[1])
            .bind(counts[2])
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(counted)?;
            match kept {
                Some(kept) => {
                    keep_diffs!(tx, run_id, kept, diffs, keep_diffs);
                    sqlx::query("DELETE FROM reconciliation_pages WHERE run_id = $1")
                        .bind(run_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(counted)?;
                    tx.commit().await.map_err(counted)?;
                    false
                }
                None => {
                    tx.rollback().await.map_err(counted)?;
                    self.reconciliation_run(run_id).await?.is_none()
                }
            }
        });
        if missing {
            return Err(unknown_run(run_id));
        }
        Ok(())
    }

    /// Records why an attempt of a running run failed; the run stays running, to be resumed.
    pub async fn fail_reconciliation_attempt(
        &self,
        run_id: &str,
        error: &str,
    ) -> Result<(), StoreError> {
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
    pub async fn reconciliation_runs(
        &self,
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
    pub async fn reconciliation_run(
        &self,
        run_id: &str,
    ) -> Result<Option<ReconciliationRun>, StoreError> {
        let row: Option<RunRow> = on_backend!(self, |pool| {
            sqlx::query_as(select_runs!("WHERE run_id = $1"))
                .bind(run_id)
                .fetch_optional(pool)
                .await
                .map_err(counted)?
        });
        row.map(RunRow::into_run).transpose()
    }

    /// The diffs a run kept, in the order they were found.
    pub async fn reconciliation_diffs(
        &self,
        run_id: &str,
    ) -> Result<Vec<ReconciliationDiff>, StoreError> {
        type Row = (i64, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> = on_backend!(self, |pool| {
            sqlx::query_as(
                "SELECT seq, record_id, kind, ours, theirs FROM reconciliation_diffs \
                 WHERE run_id = $1 ORDER BY seq",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await
            .map_err(counted)?
        });
        rows.into_iter()
            .map(|(seq, record_id, kind, ours, theirs)| {
                let kind = DiffKind::parse(&kind).ok_or_else(|| StoreError::CorruptRow {
                    table: "reconciliation_diffs",
                    message: format!("run {run_id}: unknown kind {kind:?}"),
                })?;
                Ok(ReconciliationDiff {
                    seq: to_u32(seq, "reconciliation_diffs", "seq")?,
                    record_id,
                    kind,
                    ours: ours.map(json_or_text),
                    theirs: theirs.map(json_or_text),
                })
            })
            .collect()
    }

    /// Takes (or extends) the lease `name` for `holder` until `now + ttl_ms` when it is free,
    /// expired, or held by `holder` already; false while someone else holds it. Atomic on both
    /// dialects: one upsert decides.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let taken: Option<String> = on_backend!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder \
                 RETURNING name",
            )
            .bind(name)
            .bind(holder)
            .bind(now.saturating_add(ttl_ms))
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(counted)?
        });
        Ok(taken.is_some())
    }

    /// Gives the lease `name` up if `holder` holds it; returns whether it did.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let released = on_backend!(self, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map_err(counted)?
                .rows_affected()
        });
        Ok(released == 1)
    }
}

/// How many more diffs a run with `kept` of them may keep.
fn room(kept: i64, keep_diffs: u32) -> usize {
    usize::try_from(i64::from(keep_diffs).saturating_sub(kept)).unwrap_or(0)
}

/// The text as JSON, or as a JSON string when it is not JSON.
fn json_or_text(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

fn unknown_run(run_id: &str) -> StoreError {
    StoreError::InvalidRecord {
        record: format!("reconciliation run {run_id}"),
        reason: "no such run",
    }
}

/// A count to store, refused above 2^63-1.
fn to_i64(v: u64, run_id: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidRecord {
        record: format!("reconciliation run {run_id}"),
        reason: "count above 2^63-1",
    })
}

/// A stored non-negative number as a `u32`.
fn to_u32(v: i64, table: &'static str, column: &str) -> Result<u32, StoreError> {
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
