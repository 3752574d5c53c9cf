//! Alerts in the store: idempotent recording of alert state changes, listing, acknowledgement.
//!
//! Invariant: one row per dedupe key, and a row's state only moves forward
//! (`firing → acknowledged → resolved | retracted`, or `firing → resolved | retracted`). A write
//! reports whether it changed anything; the caller publishes and notifies only those that did,
//! so replays and restarts never record or publish the same change twice.

use std::collections::HashMap;
use std::time::Instant;

use vigil_engine::{AlertRecord, AlertState, Goal, Level};
use vigil_schema::Millis;

use super::alert_batch;
pub use super::alert_change::AlertWrite;
use super::alert_change::{forward_from, prepare, Prepared};
use super::error::{counted, StoreError};
use super::fences::{begin_write, check_fences, Fence};
use super::pool::{on_backend, Backend, Store};
use super::sql::{ids_json, ID_CHUNK};
use crate::clock::now_ms;
use crate::telemetry::metrics::{store_errors, store_write_seconds};

/// An alert as stored: the latest record plus store-side fields.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    /// The record, with the row's current state.
    pub record: AlertRecord,
    /// Wall-clock instant of the last change to the row.
    pub updated_at: Millis,
    /// Who acknowledged it, if anybody.
    pub acked_by: Option<String>,
    /// When it was acknowledged.
    pub acked_at: Option<Millis>,
    /// Who resolved it by hand, if anybody.
    pub resolved_by: Option<String>,
    /// When it was resolved by hand.
    pub resolved_at: Option<Millis>,
}

/// What [`Alerts::acknowledge`] or [`Alerts::resolve`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The alert moved to the asked state.
    Changed(StoredAlert),
    /// It exists but could not move (already there, or past it); unchanged.
    Unchanged(StoredAlert),
    /// No alert has this id.
    Unknown,
}

/// `INSERT INTO alerts (<every column a change writes>) `, as one literal, for one row or many.
macro_rules! insert_columns {
    () => {
        "INSERT INTO alerts (alert_id, dedupe_key, tenant_id, ticket_id, goal, level, \
         threshold, state, target_ms, elapsed_ms, fired_at, deadline, priority, service_type, \
         policy_version, updated_at) "
    };
}

const INSERT: &str = concat!(
    insert_columns!(),
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
     ON CONFLICT (dedupe_key) DO NOTHING"
);

const ADVANCE: &str = "UPDATE alerts SET state = $2, target_ms = $3, elapsed_ms = $4, \
     deadline = $5, priority = $6, policy_version = $7, updated_at = $8 \
     WHERE dedupe_key = $1 AND state IN ($9, $10)";

/// `SELECT <every column> FROM alerts <rest>`, as one literal; `select_alerts!(, ", more FROM …")`
/// selects more columns after every column of `alerts`.
macro_rules! select_alerts {
    (, $more:literal) => {
        concat!(
            "SELECT alert_id, tenant_id, ticket_id, goal, level, threshold, state, target_ms, \
             elapsed_ms, fired_at, deadline, priority, service_type, policy_version, updated_at, \
             acked_by, acked_at, resolved_by, resolved_at",
            $more
        )
    };
    ($rest:literal) => {
        concat!(
            "SELECT alert_id, tenant_id, ticket_id, goal, level, threshold, state, target_ms, \
             elapsed_ms, fired_at, deadline, priority, service_type, policy_version, updated_at, \
             acked_by, acked_at, resolved_by, resolved_at FROM alerts ",
            $rest
        )
    };
}

pub(super) use select_alerts;

/// Runs one write on an executor (pool or transaction) of either dialect.
macro_rules! write_one {
    ($exec:expr, $p:expr, $now:expr) => {{
        let r = $p.record;
        let inserted = sqlx::query(INSERT)
            .bind(&r.alert_id)
            .bind(&$p.dedupe_key)
            .bind($p.tenant_id)
            .bind(&r.ticket_id)
            .bind(r.goal.as_str())
            .bind(r.level.as_str())
            .bind(r.threshold)
            .bind(r.state.as_str())
            .bind(r.target_ms)
            .bind(r.elapsed_ms)
            .bind(r.fired_at)
            .bind(r.deadline)
            .bind(&r.priority)
            .bind(&r.service_type)
            .bind(i64::from(r.policy_version))
            .bind($now)
            .execute(&mut *$exec)
            .await?
            .rows_affected();
        if inserted == 1 {
            AlertWrite::Inserted
        } else {
            match forward_from(r.state) {
                [] => AlertWrite::Unchanged,
                from => {
                    let first = from[0];
                    let second = from.get(1).copied().unwrap_or(first);
                    let advanced = sqlx::query(ADVANCE)
                        .bind(&$p.dedupe_key)
                        .bind(r.state.as_str())
                        .bind(r.target_ms)
                        .bind(r.elapsed_ms)
                        .bind(r.deadline)
                        .bind(&r.priority)
                        .bind(i64::from(r.policy_version))
                        .bind($now)
                        .bind(first.as_str())
                        .bind(second.as_str())
                        .execute(&mut *$exec)
                        .await?
                        .rows_affected();
                    if advanced == 1 {
                        AlertWrite::Advanced
                    } else {
                        AlertWrite::Unchanged
                    }
                }
            }
        }
    }};
}

/// The alerts: state changes recorded idempotently, listed, acknowledged and resolved. A
/// borrowed handle from [`Store::alerts`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct Alerts<'a> {
    backend: &'a Backend,
}

impl Store {
    /// The alerts.
    pub fn alerts(&self) -> Alerts<'_> {
        Alerts {
            backend: &self.backend,
        }
    }
}

impl Alerts<'_> {
    /// Warnings and breach alerts a tenant's goals fired in `[from, to)`, less those retracted
    /// (late data showed the threshold was not crossed after all). The live metrics count
    /// every alert as it fires, so they may count more than this when alerts were retracted;
    /// which alerts a wall clock fires before late data retracts them depends on when the
    /// data arrived, and a report must not.
    pub async fn fired_in(
        self,
        tenant_id: u64,
        from: Millis,
        to: Millis,
    ) -> Result<(u64, u64), StoreError> {
        let sql = "SELECT CAST(COALESCE(SUM(CASE WHEN level = 'warning' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                   CAST(COALESCE(SUM(CASE WHEN level = 'breach' THEN 1 ELSE 0 END), 0) AS BIGINT) \
                   FROM alerts WHERE tenant_id = $1 AND fired_at >= $2 AND fired_at < $3 \
                   AND state <> 'retracted'";
        on_backend!(self, |pool| {
            let (warnings, breaches): (i64, i64) = sqlx::query_as(sql)
                .bind(tenant_id as i64)
                .bind(from)
                .bind(to)
                .fetch_one(pool)
                .await
                .map_err(counted)?;
            Ok((warnings.max(0) as u64, breaches.max(0) as u64))
        })
    }

    /// Records one alert state change, idempotently: inserts the first record of a dedupe key,
    /// moves an existing row forward, and otherwise changes nothing. Publish the change only
    /// when the result [`AlertWrite::is_new`].
    #[tracing::instrument(level = "debug", skip_all, fields(tenant_id = record.tenant_id, ticket_id = %record.ticket_id))]
    pub async fn record_change(self, record: &AlertRecord) -> Result<AlertWrite, StoreError> {
        let started = Instant::now();
        let result = self.record_one(record).await;
        finish("alert", started, &result);
        result
    }

    async fn record_one(self, record: &AlertRecord) -> Result<AlertWrite, StoreError> {
        let p = prepare(record)?;
        let now = now_ms();
        let write = on_backend!(self, |pool| {
            let mut conn = pool.acquire().await?;
            write_one!(conn, p, now)
        });
        Ok(write)
    }

    /// Records many alert changes in one transaction, in order (the same key may appear more
    /// than once, e.g. firing then resolved). All or nothing: on error nothing is recorded and
    /// the whole batch can be retried. Returns one [`AlertWrite`] per record. `fences` are
    /// those of the partitions the records come from: [`StoreError::Fenced`], recording
    /// nothing, when another instance has taken one of them over.
    #[tracing::instrument(level = "debug", skip_all, fields(records = records.len()))]
    pub async fn record_changes(
        self,
        fences: &[Fence],
        records: &[AlertRecord],
    ) -> Result<Vec<AlertWrite>, StoreError> {
        let started = Instant::now();
        let result = self.record_batch(fences, records).await;
        finish("alert_batch", started, &result);
        result
    }

    async fn record_batch(
        self,
        fences: &[Fence],
        records: &[AlertRecord],
    ) -> Result<Vec<AlertWrite>, StoreError> {
        let prepared = records.iter().map(prepare).collect::<Result<Vec<_>, _>>()?;
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        if let Some(writes) = self.write_planned(fences, &prepared, now).await? {
            return Ok(writes);
        }
        // The rows did not move as planned: one change at a time decides each on its own.
        let mut writes = Vec::with_capacity(prepared.len());
        on_backend!(self, |pool| {
            let mut tx = begin_write!(self.backend, pool)?;
            check_fences!(tx, self.backend, fences);
            for p in &prepared {
                writes.push(write_one!(tx, p, now));
            }
            tx.commit().await?;
        });
        Ok(writes)
    }

    /// Records a batch with the statements of its [`plan`](alert_batch::plan): its keys read,
    /// then one multi-row insert and one update. `None`, recording nothing, when the rows
    /// written are not those planned.
    async fn write_planned(
        self,
        fences: &[Fence],
        prepared: &[Prepared<'_>],
        now: Millis,
    ) -> Result<Option<Vec<AlertWrite>>, StoreError> {
        let select = alert_batch::select_stored_sql(self.backend);
        let advance = alert_batch::advance_sql(self.backend);
        let keys: Vec<String> = prepared.iter().map(|p| p.dedupe_key.clone()).collect();
        let planned = on_backend!(self, |pool| {
            let mut tx = begin_write!(self.backend, pool)?;
            check_fences!(tx, self.backend, fences);
            let mut stored = HashMap::with_capacity(keys.len());
            for chunk in keys.chunks(ID_CHUNK) {
                let rows: Vec<(String, String)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                        .bind(ids_json(chunk))
                        .fetch_all(&mut *tx)
                        .await?;
                for (key, state) in rows {
                    let state =
                        AlertState::parse(&state).ok_or_else(|| StoreError::CorruptRow {
                            table: "alerts",
                            message: format!("unknown state {state:?}"),
                        })?;
                    stored.insert(key, state);
                }
            }
            let plan = alert_batch::plan(prepared, &stored);
            let mut inserted = 0;
            for chunk in plan.inserts.chunks(alert_batch::INSERT_CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(insert_columns!());
                qb.push_values(chunk, |mut b, row| {
                    let (first, last) = (row.first.record, row.last.record);
                    b.push_bind(first.alert_id.as_str())
                        .push_bind(row.first.dedupe_key.as_str())
                        .push_bind(row.first.tenant_id)
                        .push_bind(first.ticket_id.as_str())
                        .push_bind(first.goal.as_str())
                        .push_bind(first.level.as_str())
                        .push_bind(first.threshold)
                        .push_bind(last.state.as_str())
                        .push_bind(last.target_ms)
                        .push_bind(last.elapsed_ms)
                        .push_bind(first.fired_at)
                        .push_bind(last.deadline)
                        .push_bind(last.priority.as_str())
                        .push_bind(first.service_type.as_str())
                        .push_bind(i64::from(last.policy_version))
                        .push_bind(now);
                });
                qb.push(" ON CONFLICT (dedupe_key) DO NOTHING");
                inserted += qb.build().execute(&mut *tx).await?.rows_affected();
            }
            let mut advanced = 0;
            for rows in alert_batch::advance_rows(&plan.advances) {
                advanced += sqlx::query(advance)
                    .bind(rows)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            let as_planned = usize::try_from(inserted).ok() == Some(plan.inserts.len())
                && usize::try_from(advanced).ok() == Some(plan.advances.len());
            if as_planned {
                tx.commit().await?;
                Some(plan.writes)
            } else {
                tracing::debug!(
                    inserted,
                    advanced,
                    "alert rows moved since they were read; recording one change at a time"
                );
                tx.rollback().await?;
                None
            }
        });
        Ok(planned)
    }

    /// Alerts, newest `fired_at` first, optionally of one tenant and/or in one state; at most
    /// `limit`.
    pub async fn list(
        self,
        tenant: Option<u64>,
        state: Option<AlertState>,
        limit: u32,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let tenant = match tenant.map(i64::try_from) {
            Some(Ok(t)) => Some(t),
            // No tenant id above 2^63-1 can be stored, so there is nothing to list.
            Some(Err(_)) => return Ok(Vec::new()),
            None => None,
        };
        // One statement per combination of filters, so each can use its index (a
        // `$1 IS NULL OR …` condition makes the planner scan the whole table).
        let sql = match (tenant.is_some(), state.is_some()) {
            (true, true) => select_alerts!(
                "WHERE tenant_id = $1 AND state = $2 ORDER BY fired_at DESC, alert_id LIMIT $3"
            ),
            (true, false) => select_alerts!(
                "WHERE tenant_id = $1 AND $2 IS NULL ORDER BY fired_at DESC, alert_id LIMIT $3"
            ),
            (false, true) => select_alerts!(
                "WHERE $1 IS NULL AND state = $2 ORDER BY fired_at DESC, alert_id LIMIT $3"
            ),
            (false, false) => select_alerts!(
                "WHERE $1 IS NULL AND $2 IS NULL ORDER BY fired_at DESC, alert_id LIMIT $3"
            ),
        };
        let rows: Vec<AlertRow> = on_backend!(self, |pool| {
            sqlx::query_as(sql)
                .bind(tenant)
                .bind(state.map(AlertState::as_str))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(counted)?
        });
        rows.into_iter().map(AlertRow::into_stored).collect()
    }

    /// Open (firing or acknowledged) alerts, newest `fired_at` first, of one tenant or of
    /// all; at most `limit`. One statement, served by the `(tenant_id, state, fired_at)` index.
    pub async fn open(
        self,
        tenant: Option<u64>,
        limit: u32,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let tenant = match tenant.map(i64::try_from) {
            Some(Ok(t)) => Some(t),
            Some(Err(_)) => return Ok(Vec::new()),
            None => None,
        };
        let sql = if tenant.is_some() {
            select_alerts!(
                "WHERE tenant_id = $1 AND state IN ('firing', 'acknowledged') \
                 ORDER BY fired_at DESC, alert_id LIMIT $2"
            )
        } else {
            select_alerts!(
                "WHERE $1 IS NULL AND state IN ('firing', 'acknowledged') \
                 ORDER BY fired_at DESC, alert_id LIMIT $2"
            )
        };
        let rows: Vec<AlertRow> = on_backend!(self, |pool| {
            sqlx::query_as(sql)
                .bind(tenant)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(counted)?
        });
        rows.into_iter().map(AlertRow::into_stored).collect()
    }

    /// One alert by id.
    pub async fn get(self, alert_id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let sql = select_alerts!("WHERE alert_id = $1");
        let row: Option<AlertRow> = on_backend!(self, |pool| {
            sqlx::query_as(sql)
                .bind(alert_id)
                .fetch_optional(pool)
                .await
                .map_err(counted)?
        });
        row.map(AlertRow::into_stored).transpose()
    }

    /// Acknowledges a firing alert on behalf of `by` (a user id). An alert that is no longer
    /// firing is left as it is.
    pub async fn acknowledge(self, alert_id: &str, by: &str) -> Result<Transition, StoreError> {
        self.transition(
            alert_id,
            by,
            "UPDATE alerts SET state = 'acknowledged', acked_by = $2, acked_at = $3, \
             updated_at = $3 WHERE alert_id = $1 AND state = 'firing'",
        )
        .await
    }

    /// Resolves a firing or acknowledged alert by hand on behalf of `by`. A resolved or
    /// retracted alert is left as it is.
    pub async fn resolve(self, alert_id: &str, by: &str) -> Result<Transition, StoreError> {
        self.transition(
            alert_id,
            by,
            "UPDATE alerts SET state = 'resolved', resolved_by = $2, resolved_at = $3, \
             updated_at = $3 WHERE alert_id = $1 AND state IN ('firing', 'acknowledged')",
        )
        .await
    }

    async fn transition(
        self,
        alert_id: &str,
        by: &str,
        update: &'static str,
    ) -> Result<Transition, StoreError> {
        let started = Instant::now();
        let now = now_ms();
        let changed = on_backend!(self, |pool| {
            sqlx::query(update)
                .bind(alert_id)
                .bind(by)
                .bind(now)
                .execute(pool)
                .await
                .map_err(counted)?
                .rows_affected()
        });
        let result = match self.get(alert_id).await {
            Ok(None) => Ok(Transition::Unknown),
            Ok(Some(row)) if changed == 1 => Ok(Transition::Changed(row)),
            Ok(Some(row)) => Ok(Transition::Unchanged(row)),
            Err(e) => Err(e),
        };
        finish("alert_transition", started, &result);
        result
    }
}

/// Records the duration of a write, and counts its error if it failed.
fn finish<T>(op: &'static str, started: Instant, result: &Result<T, StoreError>) {
    store_write_seconds(op).record(started.elapsed().as_secs_f64());
    if let Err(e) = result {
        store_errors(e.is_retryable()).increment(1);
    }
}

/// A row of `alerts` as the database returns it.
#[derive(sqlx::FromRow)]
pub(super) struct AlertRow {
    alert_id: String,
    tenant_id: i64,
    ticket_id: String,
    goal: String,
    level: String,
    threshold: f64,
    state: String,
    target_ms: i64,
    elapsed_ms: i64,
    fired_at: i64,
    deadline: i64,
    priority: String,
    service_type: String,
    policy_version: i64,
    updated_at: i64,
    acked_by: Option<String>,
    acked_at: Option<i64>,
    resolved_by: Option<String>,
    resolved_at: Option<i64>,
}

impl AlertRow {
    pub(super) fn into_stored(self) -> Result<StoredAlert, StoreError> {
        let corrupt = |message: String| StoreError::CorruptRow {
            table: "alerts",
            message,
        };
        let goal = match self.goal.as_str() {
            "response" => Goal::Response,
            "resolution" => Goal::Resolution,
            other => return Err(corrupt(format!("unknown goal {other:?}"))),
        };
        let level = match self.level.as_str() {
            "warning" => Level::Warning,
            "breach" => Level::Breach,
            other => return Err(corrupt(format!("unknown level {other:?}"))),
        };
        let state = AlertState::parse(&self.state)
            .ok_or_else(|| corrupt(format!("unknown state {:?}", self.state)))?;
        let tenant_id = u64::try_from(self.tenant_id)
            .map_err(|_| corrupt(format!("negative tenant id {}", self.tenant_id)))?;
        let policy_version = u32::try_from(self.policy_version).map_err(|_| {
            corrupt(format!(
                "policy version {} out of range",
                self.policy_version
            ))
        })?;
        Ok(StoredAlert {
            record: AlertRecord {
                alert_id: self.alert_id,
                state,
                tenant_id,
                ticket_id: self.ticket_id,
                goal,
                level,
                threshold: self.threshold,
                target_ms: self.target_ms,
                elapsed_ms: self.elapsed_ms,
                fired_at: self.fired_at,
                deadline: self.deadline,
                priority: self.priority,
                service_type: self.service_type,
                policy_version,
            },
            updated_at: self.updated_at,
            acked_by: self.acked_by,
            acked_at: self.acked_at,
            resolved_by: self.resolved_by,
            resolved_at: self.resolved_at,
        })
    }
}
