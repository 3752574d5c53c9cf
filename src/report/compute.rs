//! Computing a report from the store: whole local days from the daily rollups, the partial
//! days at the period's edges from the facts themselves, so a year's report reads a few
//! thousand rollup rows and at most two days of facts (and the breaches it lists).

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use vigil_engine::metrics::histogram_quantile;
use vigil_schema::Millis;

use super::labels::Language;
use super::model::{
    Breach, Breakdown, GoalFigures, Period, Report, Satisfaction, Summary, Trend, TrendPoint,
    TrendStep,
};
use super::zone::{day_start, local_day};
use crate::store::report_facts::{Dimension, FactCounts, FactRow, GoalCounts, RollupKey, Rollups};
use crate::store::{Store, StoreError};

/// Periods up to this many days get a daily trend; longer ones a weekly one.
const DAILY_TREND_DAYS: i64 = 62;

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// The tenant.
    pub tenant_id: u64,
    /// The period, `[from, to)`.
    pub period: Period,
    /// Labels' language.
    pub language: Language,
    /// The zone whose local days count (an IANA name).
    pub timezone: String,
}

/// Computes the report `request` asks for; `progress` is told the percent done as parts are
/// read.
pub async fn compute(
    store: &Store,
    request: &ReportRequest,
    now: Millis,
    progress: &(dyn Fn(u8) + Sync),
) -> Result<Report, StoreError> {
    let tz = TimeZone::get(&request.timezone).unwrap_or(TimeZone::UTC);
    let tenant = request.tenant_id;
    let Period { from, to } = request.period;
    let previous_period = Period {
        from: from - (to - from),
        to: from,
    };
    let current = PeriodCounts::read(store, tenant, &tz, request.period).await?;
    progress(40);
    let previous = PeriodCounts::read(store, tenant, &tz, previous_period).await?;
    progress(60);
    let (breach_rows, breaches_total) = store
        .report_facts()
        .breaches(tenant, (from, to), Report::BREACHES_LISTED)
        .await?;
    progress(80);
    let summary = current.summary(store, tenant, &tz, to).await?;
    let previous_summary = previous.summary(store, tenant, &tz, from).await?;
    progress(95);
    Ok(Report {
        tenant_id: tenant,
        language: request.language,
        timezone: request.timezone.clone(),
        period: request.period,
        previous_period,
        generated_at: now,
        summary,
        previous: previous_summary,
        by_priority: current.breakdown(|k| k.priority.clone()),
        by_service_type: current.breakdown(|k| k.service_type.clone()),
        by_engineer: breakdowns(
            current
                .engineers
                .iter()
                .map(|(k, c)| (k.engineer.clone(), c)),
        ),
        trend: current.trend(&tz, request.period),
        breaches: breach_rows.iter().map(breach).collect(),
        breaches_total,
        satisfaction: satisfaction(&current.total()),
    })
}

/// A period's counts per rollup key, whole days and edges together.
struct PeriodCounts {
    period: Period,
    groups: Rollups,
    engineers: Rollups,
}

impl PeriodCounts {
    async fn read(
        store: &Store,
        tenant: u64,
        tz: &TimeZone,
        period: Period,
    ) -> Result<PeriodCounts, StoreError> {
        let facts = store.report_facts();
        // Whole local days [first, last): those starting at or after `from` and ending by `to`.
        let first = local_day(tz, period.from - 1) + 1;
        let last = local_day(tz, period.to);
        let (mut groups, mut engineers) = (Vec::new(), Vec::new());
        let mut edges = Vec::new();
        if first < last {
            groups = facts.rollups(tenant, Dimension::Group, first..last).await?;
            engineers = facts
                .rollups(tenant, Dimension::Engineer, first..last)
                .await?;
            edges.extend(
                facts
                    .between(tenant, period.from, day_start(tz, first))
                    .await?,
            );
            edges.extend(
                facts
                    .between(tenant, day_start(tz, last), period.to)
                    .await?,
            );
        } else {
            edges = facts.between(tenant, period.from, period.to).await?;
        }
        let (edge_groups, edge_engineers) = counted_by_key(tz, &edges);
        groups.extend(edge_groups);
        engineers.extend(edge_engineers);
        Ok(PeriodCounts {
            period,
            groups,
            engineers,
        })
    }

    fn total(&self) -> FactCounts {
        let mut total = FactCounts::default();
        for (_, c) in &self.groups {
            total.add(c);
        }
        total
    }

    fn breakdown(&self, key: impl Fn(&RollupKey) -> String) -> Vec<Breakdown> {
        breakdowns(self.groups.iter().map(|(k, c)| (key(k), c)))
    }

    /// The headline figures; `open_at_end` from everything counted before `end`.
    async fn summary(
        &self,
        store: &Store,
        tenant: u64,
        tz: &TimeZone,
        end: Millis,
    ) -> Result<Summary, StoreError> {
        let total = self.total();
        let last = local_day(tz, end);
        let mut before = store.report_facts().totals_before(tenant, last).await?;
        let tail = store
            .report_facts()
            .between(tenant, day_start(tz, last), end)
            .await?;
        for f in &tail {
            before.count(f);
        }
        let resolution = &before.goals[1];
        let open_at_end = (before.created + before.reopened)
            .saturating_sub(resolution.met + resolution.breached + resolution.cancelled);
        let (warnings, breach_alerts) = store
            .report_facts()
            .alerts_fired(tenant, self.period.from, self.period.to)
            .await?;
        let sat = satisfaction(&total);
        Ok(Summary {
            opened: total.created,
            resolved: total.goals[1].met + total.goals[1].breached,
            open_at_end,
            response: figures(&total.goals[0]),
            resolution: figures(&total.goals[1]),
            warnings,
            breach_alerts,
            satisfaction: sat.mean,
        })
    }

    fn trend(&self, tz: &TimeZone, period: Period) -> Trend {
        let days = (period.to - period.from).div_euclid(86_400_000);
        let step = if days <= DAILY_TREND_DAYS {
            TrendStep::Day
        } else {
            TrendStep::Week
        };
        // The step a local day belongs to, named by its first local day.
        let step_of = |day: i32| match step {
            TrendStep::Day => day,
            // 1970-01-01 was a Thursday: day 4 was a Monday.
            TrendStep::Week => day - (day - 4).rem_euclid(7),
        };
        let first = step_of(local_day(tz, period.from));
        let last = step_of(local_day(tz, period.to - 1));
        let mut points: BTreeMap<i32, FactCounts> = BTreeMap::new();
        let width = if step == TrendStep::Day { 1 } else { 7 };
        let mut d = first;
        while d <= last {
            points.insert(d, FactCounts::default());
            d += width;
        }
        for (k, c) in &self.groups {
            points.entry(step_of(k.day)).or_default().add(c);
        }
        Trend {
            step,
            points: points
                .into_iter()
                .map(|(day, c)| TrendPoint {
                    start: day_start(tz, day).max(period.from),
                    opened: c.created,
                    response: figures(&c.goals[0]),
                    resolution: figures(&c.goals[1]),
                })
                .collect(),
        }
    }
}

/// Facts summed per rollup key (group and engineer), as the rollups would hold them.
fn counted_by_key(tz: &TimeZone, facts: &[FactRow]) -> (Rollups, Rollups) {
    let mut groups: BTreeMap<(i32, String, String), FactCounts> = BTreeMap::new();
    let mut engineers: BTreeMap<(i32, String), FactCounts> = BTreeMap::new();
    for f in facts {
        let day = local_day(tz, f.at);
        groups
            .entry((day, f.priority.clone(), f.service_type.clone()))
            .or_default()
            .count(f);
        if matches!(f.kind.as_str(), "response" | "resolution") {
            engineers
                .entry((day, f.engineer.clone()))
                .or_default()
                .count(f);
        }
    }
    let groups = groups
        .into_iter()
        .map(|((day, priority, service_type), c)| {
            let key = RollupKey {
                day,
                priority,
                service_type,
                engineer: String::new(),
            };
            (key, c)
        })
        .collect();
    let engineers = engineers
        .into_iter()
        .map(|((day, engineer), c)| {
            let key = RollupKey {
                day,
                priority: String::new(),
                service_type: String::new(),
                engineer,
            };
            (key, c)
        })
        .collect();
    (groups, engineers)
}

/// Counts summed per name, as breakdown rows sorted by name.
fn breakdowns<'a>(rows: impl Iterator<Item = (String, &'a FactCounts)>) -> Vec<Breakdown> {
    let mut by: BTreeMap<String, FactCounts> = BTreeMap::new();
    for (key, c) in rows {
        by.entry(key).or_default().add(c);
    }
    by.into_iter()
        .map(|(key, c)| Breakdown {
            key,
            opened: c.created,
            response: figures(&c.goals[0]),
            resolution: figures(&c.goals[1]),
        })
        .collect()
}

/// One goal's figures from its counts (DESIGN.md §3 rule 9; times as the live metrics give
/// them).
pub fn figures(g: &GoalCounts) -> GoalFigures {
    let n = g.met + g.breached;
    GoalFigures {
        met: g.met,
        breached: g.breached,
        cancelled: g.cancelled,
        compliance: (n > 0).then(|| g.met as f64 / n as f64),
        mean_ms: (n > 0).then(|| g.sum_ms as f64 / n as f64),
        p50_ms: histogram_quantile(&g.hist, 50),
        p95_ms: histogram_quantile(&g.hist, 95),
    }
}

fn satisfaction(c: &FactCounts) -> Satisfaction {
    Satisfaction {
        count: c.rating_n,
        mean: (c.rating_n > 0).then(|| c.rating_centi as f64 / 100.0 / c.rating_n as f64),
        distribution: c.stars,
    }
}

fn breach(f: &FactRow) -> Breach {
    let target = f.target_ms.unwrap_or(0);
    let elapsed = f.elapsed_ms.unwrap_or(0);
    Breach {
        ticket_id: f.ticket_id.clone(),
        goal: f.kind.clone(),
        priority: f.priority.clone(),
        service_type: f.service_type.clone(),
        engineer: f.engineer.clone(),
        target_ms: target,
        elapsed_ms: elapsed,
        over_ms: elapsed - target,
        stopped_at: f.stopped_at.unwrap_or(f.at),
    }
}
