//! What SLA reports are computed from: the facts of each tenant's tickets (creations,
//! reopens, ratings, stopped goals) in `ticket_facts`, and their daily rollups in
//! `report_daily`, per priority and service type and per engineer.
//!
//! Invariant: a fact is written once, keyed by `(tenant, ticket, kind, at)`; only facts
//! written for the first time are added to the rollups, in the same transaction. So replays
//! and restarts (which derive the same facts again) change neither table, and a day's rollup
//! always equals the sum of its facts.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use sqlx::Row;
use vigil_engine::metrics::histogram_bucket;
use vigil_engine::{FactKind, TicketFact};
use vigil_schema::Millis;

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};

/// Facts per multi-row insert (12 bound values each).
const FACT_CHUNK: usize = 1_000;
/// Rollup rows per multi-row upsert (47 bound values each).
const ROLLUP_CHUNK: usize = 500;

/// The counter columns of `report_daily`, in [`FactCounts::values`] order.
const COUNT_COLUMNS: [&str; 41] = [
    "created",
    "reopened",
    "response_met",
    "response_breached",
    "response_cancelled",
    "response_sum_ms",
    "response_h0",
    "response_h1",
    "response_h2",
    "response_h3",
    "response_h4",
    "response_h5",
    "response_h6",
    "response_h7",
    "response_h8",
    "response_h9",
    "response_h10",
    "response_h11",
    "resolution_met",
    "resolution_breached",
    "resolution_cancelled",
    "resolution_sum_ms",
    "resolution_h0",
    "resolution_h1",
    "resolution_h2",
    "resolution_h3",
    "resolution_h4",
    "resolution_h5",
    "resolution_h6",
    "resolution_h7",
    "resolution_h8",
    "resolution_h9",
    "resolution_h10",
    "resolution_h11",
    "rating_n",
    "rating_centi",
    "stars_1",
    "stars_2",
    "stars_3",
    "stars_4",
    "stars_5",
];

/// One goal's stops, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoalCounts {
    /// Stopped within target.
    pub met: u64,
    /// Stopped past target.
    pub breached: u64,
    /// Stopped by a cancellation.
    pub cancelled: u64,
    /// Sum of the SLA times of the met and breached ones.
    pub sum_ms: u64,
    /// Histogram of those SLA times (the live metrics' buckets).
    pub hist: [u64; 12],
}

/// What reports add up: the facts of a day (a rollup row) or of any set of facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FactCounts {
    /// Tickets created.
    pub created: u64,
    /// Resolution goals reopened.
    pub reopened: u64,
    /// Response and resolution goals, in that order.
    pub goals: [GoalCounts; 2],
    /// Ratings given.
    pub rating_n: u64,
    /// Their sum, in hundredths.
    pub rating_centi: u64,
    /// Ratings rounding to 1 to 5 stars.
    pub stars: [u64; 5],
}

impl FactCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &FactCounts) {
        let mut values = self.values();
        for (v, o) in values.iter_mut().zip(other.values()) {
            *v += o;
        }
        *self = FactCounts::from_values(&values);
    }

    /// Counts one fact as stored.
    pub fn count(&mut self, fact: &FactRow) {
        match fact.kind.as_str() {
            "created" => self.created += 1,
            "reopened" => self.reopened += 1,
            "rated" => self.rated(fact.rating_centi.unwrap_or(0)),
            goal => self.stopped(
                goal == "resolution",
                fact.outcome.as_deref().unwrap_or(""),
                fact.elapsed_ms.unwrap_or(0),
            ),
        }
    }

    /// Counts one fact as the engine gives it (as [`count`](Self::count) counts its row).
    pub fn count_fact(&mut self, fact: &TicketFact) {
        match &fact.kind {
            FactKind::Created => self.created += 1,
            FactKind::Reopened => self.reopened += 1,
            FactKind::Rated { centi } => self.rated(*centi),
            FactKind::Stopped(r) => self.stopped(
                r.goal == vigil_engine::Goal::Resolution,
                &r.outcome,
                r.actual_ms,
            ),
        }
    }

    fn rated(&mut self, centi: u16) {
        let centi = u64::from(centi);
        self.rating_n += 1;
        self.rating_centi += centi;
        let star = ((centi + 50) / 100).clamp(1, 5) as usize;
        self.stars[star - 1] += 1;
    }

    fn stopped(&mut self, resolution: bool, outcome: &str, elapsed: i64) {
        let g = &mut self.goals[usize::from(resolution)];
        match outcome {
            "met" => g.met += 1,
            "breached" => g.breached += 1,
            _ => {
                g.cancelled += 1;
                return;
            }
        }
        g.sum_ms += elapsed.max(0) as u64;
        g.hist[histogram_bucket(elapsed)] += 1;
    }

    fn values(&self) -> [u64; 41] {
        let mut v = [0u64; 41];
        v[0] = self.created;
        v[1] = self.reopened;
        for (i, g) in self.goals.iter().enumerate() {
            let at = 2 + i * 16;
            v[at] = g.met;
            v[at + 1] = g.breached;
            v[at + 2] = g.cancelled;
            v[at + 3] = g.sum_ms;
            v[at + 4..at + 16].copy_from_slice(&g.hist);
        }
        v[34] = self.rating_n;
        v[35] = self.rating_centi;
        v[36..41].copy_from_slice(&self.stars);
        v
    }

    fn from_values(v: &[u64; 41]) -> FactCounts {
        let goal = |at: usize| {
            let mut hist = [0u64; 12];
            hist.copy_from_slice(&v[at + 4..at + 16]);
            GoalCounts {
                met: v[at],
                breached: v[at + 1],
                cancelled: v[at + 2],
                sum_ms: v[at + 3],
                hist,
            }
        };
        let mut stars = [0u64; 5];
        stars.copy_from_slice(&v[36..41]);
        FactCounts {
            created: v[0],
            reopened: v[1],
            goals: [goal(2), goal(18)],
            rating_n: v[34],
            rating_centi: v[35],
            stars,
        }
    }

    fn from_row<R: Row>(row: &R, first: usize) -> Result<FactCounts, sqlx::Error>
    where
        usize: sqlx::ColumnIndex<R>,
        i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        let mut v = [0u64; 41];
        for (i, slot) in v.iter_mut().enumerate() {
            let n: Option<i64> = row.try_get(first + i)?;
            *slot = n.unwrap_or(0).max(0) as u64;
        }
        Ok(FactCounts::from_values(&v))
    }
}

/// What a rollup row is kept per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Per priority and service type.
    Group,
    /// Per engineer (goal stops only).
    Engineer,
}

impl Dimension {
    fn as_str(self) -> &'static str {
        match self {
            Dimension::Group => "group",
            Dimension::Engineer => "engineer",
        }
    }
}

/// A rollup row's key within a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RollupKey {
    /// The local day: days since 1970-01-01 of the date in the tenant's report zone.
    pub day: i32,
    /// The priority (`""` per engineer).
    pub priority: String,
    /// The service type (`""` per engineer).
    pub service_type: String,
    /// The engineer (`""` per group, and for goals stopped unassigned).
    pub engineer: String,
}

/// One fact as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactRow {
    /// The tenant.
    pub tenant_id: u64,
    /// The ticket.
    pub ticket_id: String,
    /// `created`, `reopened`, `rated`, `response` or `resolution` (a goal stopped).
    pub kind: String,
    /// When the live metrics count it.
    pub at: Millis,
    /// The ticket's priority then.
    pub priority: String,
    /// Its service type.
    pub service_type: String,
    /// The assignee when a goal stopped (`""` for none, and for other facts).
    pub engineer: String,
    /// A goal's outcome: `met`, `breached` or `cancelled`.
    pub outcome: Option<String>,
    /// A goal's target.
    pub target_ms: Option<i64>,
    /// A goal's SLA time.
    pub elapsed_ms: Option<i64>,
    /// When a goal's stopping event happened.
    pub stopped_at: Option<Millis>,
    /// A rating × 100.
    pub rating_centi: Option<u16>,
}

impl FactRow {
    /// The row of an engine fact.
    pub fn of(fact: &TicketFact) -> FactRow {
        let mut row = FactRow {
            tenant_id: fact.tenant_id,
            ticket_id: fact.ticket_id.clone(),
            kind: String::new(),
            at: fact.at,
            priority: fact.priority.clone(),
            service_type: fact.service_type.clone(),
            engineer: String::new(),
            outcome: None,
            target_ms: None,
            elapsed_ms: None,
            stopped_at: None,
            rating_centi: None,
        };
        row.kind = match &fact.kind {
            FactKind::Created => "created".into(),
            FactKind::Reopened => "reopened".into(),
            FactKind::Rated { centi } => {
                row.rating_centi = Some(*centi);
                "rated".into()
            }
            FactKind::Stopped(r) => {
                row.engineer = r.assignee_id.clone().unwrap_or_default();
                row.outcome = Some(r.outcome.clone());
                row.target_ms = Some(r.target_ms);
                row.elapsed_ms = Some(r.actual_ms);
                row.stopped_at = Some(r.stopped_at);
                r.goal.as_str().into()
            }
        };
        row
    }

    fn key(&self) -> (u64, &str, &str, Millis) {
        (self.tenant_id, &self.ticket_id, &self.kind, self.at)
    }

    fn is_goal_stop(&self) -> bool {
        matches!(self.kind.as_str(), "response" | "resolution")
    }

    fn from_row<R: Row>(row: &R) -> Result<FactRow, sqlx::Error>
    where
        for<'c> &'c str: sqlx::ColumnIndex<R>,
        i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        let rating: Option<i64> = row.try_get("rating_centi")?;
        Ok(FactRow {
            tenant_id: row.try_get::<i64, _>("tenant_id")? as u64,
            ticket_id: row.try_get("ticket_id")?,
            kind: row.try_get("kind")?,
            at: row.try_get("at")?,
            priority: row.try_get("priority")?,
            service_type: row.try_get("service_type")?,
            engineer: row.try_get("engineer")?,
            outcome: row.try_get("outcome")?,
            target_ms: row.try_get("target_ms")?,
            elapsed_ms: row.try_get("elapsed_ms")?,
            stopped_at: row.try_get("stopped_at")?,
            rating_centi: rating.and_then(|r| u16::try_from(r).ok()),
        })
    }
}

/// The columns of a fact, in [`FactRow::from_row`] order.
const FACT_COLUMNS: &str = "tenant_id, ticket_id, kind, at, priority, service_type, engineer, \
     outcome, target_ms, elapsed_ms, stopped_at, rating_centi";

/// The facts reports are computed from. A borrowed handle from [`Store::report_facts`]; copy
/// it freely.
#[derive(Debug, Clone, Copy)]
pub struct ReportFacts<'a> {
    backend: &'a Backend,
}

impl Store {
    /// The facts reports are computed from (in the reporting database, see
    /// [`Store::connect_with`]).
    pub fn report_facts(&self) -> ReportFacts<'_> {
        ReportFacts {
            backend: &self.history,
        }
    }
}

/// Sums of `report_daily` per key, for one tenant.
pub type Rollups = Vec<(RollupKey, FactCounts)>;

impl ReportFacts<'_> {
    /// Records facts, each once, and adds those recorded for the first time to the rollups of
    /// the local day `day_of(tenant, at)` gives. Returns how many were new. One transaction.
    pub async fn record(
        self,
        facts: &[TicketFact],
        day_of: &(dyn Fn(u64, Millis) -> i32 + Sync),
    ) -> Result<usize, StoreError> {
        if facts.is_empty() {
            return Ok(0);
        }
        let rows: Vec<FactRow> = facts.iter().map(FactRow::of).collect();
        let insert_tail = " ON CONFLICT (tenant_id, ticket_id, kind, at) DO NOTHING \
                           RETURNING tenant_id, ticket_id, kind, at";
        let upsert = rollup_upsert_tail();
        on_backend!(self, |pool| {
            let mut tx = pool.begin().await.map_err(counted)?;
            let mut taken: HashSet<(u64, String, String, Millis)> = HashSet::new();
            for chunk in rows.chunks(FACT_CHUNK) {
                let mut qb =
                    sqlx::QueryBuilder::new(format!("INSERT INTO ticket_facts ({FACT_COLUMNS}) "));
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.tenant_id as i64)
                        .push_bind(r.ticket_id.as_str())
                        .push_bind(r.kind.as_str())
                        .push_bind(r.at)
                        .push_bind(r.priority.as_str())
                        .push_bind(r.service_type.as_str())
                        .push_bind(r.engineer.as_str())
                        .push_bind(r.outcome.as_deref())
                        .push_bind(r.target_ms)
                        .push_bind(r.elapsed_ms)
                        .push_bind(r.stopped_at)
                        .push_bind(r.rating_centi.map(i64::from));
                });
                qb.push(insert_tail);
                let new = qb.build().fetch_all(&mut *tx).await.map_err(counted)?;
                for row in new {
                    let tenant: i64 = row.try_get(0).map_err(counted)?;
                    taken.insert((
                        tenant as u64,
                        row.try_get(1).map_err(counted)?,
                        row.try_get(2).map_err(counted)?,
                        row.try_get(3).map_err(counted)?,
                    ));
                }
            }
            let fresh = rows.iter().filter(|r| {
                let (t, ticket, kind, at) = r.key();
                taken.contains(&(t, ticket.to_string(), kind.to_string(), at))
            });
            let deltas = rollup_deltas(fresh, day_of);
            for chunk in deltas.chunks(ROLLUP_CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(format!(
                    "INSERT INTO report_daily (tenant_id, day, dimension, priority, \
                     service_type, engineer, {}) ",
                    COUNT_COLUMNS.join(", ")
                ));
                qb.push_values(chunk, |mut b, ((tenant, dim, key), counts)| {
                    b.push_bind(*tenant as i64)
                        .push_bind(key.day)
                        .push_bind(dim.as_str())
                        .push_bind(key.priority.as_str())
                        .push_bind(key.service_type.as_str())
                        .push_bind(key.engineer.as_str());
                    for v in counts.values() {
                        b.push_bind(v as i64);
                    }
                });
                qb.push(upsert.as_str());
                qb.build().execute(&mut *tx).await.map_err(counted)?;
            }
            tx.commit().await.map_err(counted)?;
            Ok(taken.len())
        })
    }

    /// A tenant's rollup rows of `dimension` for the local days in `days`.
    pub async fn rollups(
        self,
        tenant_id: u64,
        dimension: Dimension,
        days: Range<i32>,
    ) -> Result<Rollups, StoreError> {
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT day, priority, service_type, engineer, {} FROM report_daily \
             WHERE tenant_id = $1 AND dimension = $2 AND day >= $3 AND day < $4",
            COUNT_COLUMNS.join(", ")
        );
        on_backend!(self, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant_id as i64)
                .bind(dimension.as_str())
                .bind(days.start)
                .bind(days.end)
                .fetch_all(pool)
                .await
                .map_err(counted)?;
            rows.iter()
                .map(|row| {
                    let key = RollupKey {
                        day: row.try_get("day")?,
                        priority: row.try_get("priority")?,
                        service_type: row.try_get("service_type")?,
                        engineer: row.try_get("engineer")?,
                    };
                    Ok((key, FactCounts::from_row(row, 4)?))
                })
                .collect::<Result<Rollups, sqlx::Error>>()
                .map_err(counted)
        })
    }

    /// A tenant's rollups (per priority and service type) summed over every local day before
    /// `day`.
    pub async fn totals_before(self, tenant_id: u64, day: i32) -> Result<FactCounts, StoreError> {
        let sums = COUNT_COLUMNS
            .iter()
            .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {sums} FROM report_daily \
             WHERE tenant_id = $1 AND dimension = 'group' AND day < $2"
        );
        on_backend!(self, |pool| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant_id as i64)
                .bind(day)
                .fetch_one(pool)
                .await
                .map_err(counted)?;
            FactCounts::from_row(&row, 0).map_err(counted)
        })
    }

    /// A tenant's facts counted in `[from, to)`, oldest first.
    pub async fn between(
        self,
        tenant_id: u64,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<FactRow>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {FACT_COLUMNS} FROM ticket_facts \
             WHERE tenant_id = $1 AND at >= $2 AND at < $3 ORDER BY at"
        );
        on_backend!(self, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant_id as i64)
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await
                .map_err(counted)?;
            rows.iter()
                .map(FactRow::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(counted)
        })
    }

    /// A tenant's goals that stopped breached in `[from, to)`: the `limit` that missed by the
    /// most (then by ticket), and how many there were.
    pub async fn breaches(
        self,
        tenant_id: u64,
        (from, to): (Millis, Millis),
        limit: usize,
    ) -> Result<(Vec<FactRow>, u64), StoreError> {
        let filter = "FROM ticket_facts WHERE tenant_id = $1 AND at >= $2 AND at < $3 \
                      AND kind IN ('response', 'resolution') AND outcome = 'breached'";
        let list = format!(
            "SELECT {FACT_COLUMNS} {filter} \
             ORDER BY elapsed_ms - target_ms DESC, ticket_id, kind, at LIMIT $4"
        );
        let count = format!("SELECT COUNT(*) {filter}");
        on_backend!(self, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(list))
                .bind(tenant_id as i64)
                .bind(from)
                .bind(to)
                .bind(limit as i64)
                .fetch_all(pool)
                .await
                .map_err(counted)?;
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(tenant_id as i64)
                .bind(from)
                .bind(to)
                .fetch_one(pool)
                .await
                .map_err(counted)?;
            let rows = rows
                .iter()
                .map(FactRow::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(counted)?;
            Ok((rows, total.max(0) as u64))
        })
    }

    /// Deletes facts counted before `before` and rollups of local days before `before_day`
    /// (the reporting retention); returns how many facts went.
    pub async fn prune(self, before: Millis, before_day: i32) -> Result<u64, StoreError> {
        on_backend!(self, |pool| {
            let facts = sqlx::query("DELETE FROM ticket_facts WHERE at < $1")
                .bind(before)
                .execute(pool)
                .await
                .map_err(counted)?
                .rows_affected();
            sqlx::query("DELETE FROM report_daily WHERE day < $1")
                .bind(before_day)
                .execute(pool)
                .await
                .map_err(counted)?;
            Ok(facts)
        })
    }
}

/// `ON CONFLICT … DO UPDATE` adding every counter of the new row to the stored one.
fn rollup_upsert_tail() -> String {
    let adds = COUNT_COLUMNS
        .iter()
        .map(|c| format!("{c} = report_daily.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        " ON CONFLICT (tenant_id, dimension, day, priority, service_type, engineer) \
         DO UPDATE SET {adds}"
    )
}

/// The rollup rows `facts` add to, with what they add: per priority and service type, and
/// per engineer for goal stops.
fn rollup_deltas<'a>(
    facts: impl Iterator<Item = &'a FactRow>,
    day_of: &(dyn Fn(u64, Millis) -> i32 + Sync),
) -> Vec<((u64, Dimension, RollupKey), FactCounts)> {
    let mut deltas: HashMap<(u64, Dimension, RollupKey), FactCounts> = HashMap::new();
    for f in facts {
        let day = day_of(f.tenant_id, f.at);
        let group = RollupKey {
            day,
            priority: f.priority.clone(),
            service_type: f.service_type.clone(),
            engineer: String::new(),
        };
        deltas
            .entry((f.tenant_id, Dimension::Group, group))
            .or_default()
            .count(f);
        if f.is_goal_stop() {
            let engineer = RollupKey {
                day,
                priority: String::new(),
                service_type: String::new(),
                engineer: f.engineer.clone(),
            };
            deltas
                .entry((f.tenant_id, Dimension::Engineer, engineer))
                .or_default()
                .count(f);
        }
    }
    deltas.into_iter().collect()
}
