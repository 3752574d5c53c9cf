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
            .alerts()
            .fired_in(tenant, self.period.from, self.period.to)
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

#[cfg(test)]
mod tests {
    use vigil_engine::engine::GoalOutcome;
    use vigil_engine::{FactKind, Goal, SlaRecord, TicketFact};

    use super::*;
    use crate::report::zone::ReportZones;
    use crate::report::TenantReport;
    use crate::store::test_support::sqlite;

    const HOUR: i64 = 3_600_000;
    /// 2026-03-01T00:00:00+08:00.
    const MAR_1_SH: Millis = 1_772_294_400_000;

    fn fact(ticket: &str, at: Millis, priority: &str, kind: FactKind) -> TicketFact {
        TicketFact {
            tenant_id: 9,
            ticket_id: ticket.into(),
            priority: priority.into(),
            service_type: "incident".into(),
            at,
            kind,
        }
    }

    fn stopped(ticket: &str, at: Millis, goal: Goal, elapsed: i64) -> TicketFact {
        let outcome = if elapsed <= 2 * HOUR {
            GoalOutcome::Met
        } else {
            GoalOutcome::Breached
        };
        let r = SlaRecord::stopped(
            9,
            ticket,
            goal,
            outcome,
            (2 * HOUR, elapsed),
            (at - elapsed, at),
            ("HIGH", "incident", 1),
            Some("eng-2"),
        );
        fact(ticket, at, "HIGH", FactKind::Stopped(r))
    }

    /// A period that starts and ends inside local days is the sum of exactly its facts: whole
    /// days from the rollups, the edges from the facts, in the tenant's zone.
    #[tokio::test]
    async fn partial_days_at_the_edges_count_exactly_the_facts_in_the_period() {
        let (_dir, store) = sqlite().await;
        let settings = TenantReport {
            language: Language::ZhCn,
            timezone: "Asia/Shanghai".into(),
            schedules: Vec::new(),
        };
        let zones = ReportZones::new([(&9u64, &settings)]);
        // One ticket created every 5 hours over four local days, each responded to an hour
        // later (every third one late), every fourth resolved after 3 h and reopened.
        let mut facts = Vec::new();
        for i in 0..20 {
            let t = MAR_1_SH - 8 * HOUR + i * 5 * HOUR;
            let id = format!("T{i}");
            let priority = if i % 2 == 0 { "HIGH" } else { "LOW" };
            facts.push(fact(&id, t, priority, FactKind::Created));
            let late = if i % 3 == 0 { 4 * HOUR } else { HOUR };
            facts.push(stopped(&id, t + late, Goal::Response, late));
            if i % 4 == 0 {
                facts.push(stopped(&id, t + 3 * HOUR, Goal::Resolution, 3 * HOUR));
                facts.push(fact(&id, t + 3 * HOUR + 1, "HIGH", FactKind::Reopened));
            }
        }
        let day_of = |tenant, at| zones.day_of(tenant, at);
        store.report_facts().record(&facts, &day_of).await.unwrap();

        let period = Period {
            from: MAR_1_SH + 10 * HOUR,
            to: MAR_1_SH + 2 * 24 * HOUR + 5 * HOUR,
        };
        let request = ReportRequest {
            tenant_id: 9,
            period,
            language: settings.language,
            timezone: settings.timezone.clone(),
        };
        let report = compute(&store, &request, period.to, &|_| {}).await.unwrap();

        let inside = |f: &&TicketFact| f.at >= period.from && f.at < period.to;
        let created = facts
            .iter()
            .filter(inside)
            .filter(|f| f.kind == FactKind::Created)
            .count() as u64;
        let responses: Vec<i64> = facts
            .iter()
            .filter(inside)
            .filter_map(|f| match &f.kind {
                FactKind::Stopped(r) if r.goal == Goal::Response => Some(r.actual_ms),
                _ => None,
            })
            .collect();
        let late = responses.iter().filter(|e| **e > 2 * HOUR).count() as u64;
        assert_eq!(report.summary.opened, created);
        assert_eq!(report.summary.response.met, responses.len() as u64 - late);
        assert_eq!(report.summary.response.breached, late);
        assert_eq!(
            report.breaches_total,
            late + report.summary.resolution.breached
        );
        assert_eq!(
            report.summary.response.mean_ms,
            Some(responses.iter().sum::<i64>() as f64 / responses.len() as f64)
        );
        // Open at the end: created before it, less resolved, plus reopened.
        let before = |kind: &dyn Fn(&FactKind) -> bool| {
            facts
                .iter()
                .filter(|f| f.at < period.to && kind(&f.kind))
                .count() as u64
        };
        let open = before(&|k| *k == FactKind::Created) + before(&|k| *k == FactKind::Reopened)
            - before(&|k| matches!(k, FactKind::Stopped(r) if r.goal == Goal::Resolution));
        assert_eq!(report.summary.open_at_end, open);
        // Local days: Mar 1 (from 10:00), Mar 2, Mar 3 (to 05:00).
        assert_eq!(report.trend.step, TrendStep::Day);
        assert_eq!(report.trend.points.len(), 3);
        assert_eq!(report.trend.points[0].start, period.from);
        assert_eq!(report.trend.points[1].start, MAR_1_SH + 24 * HOUR);
        let trend_opened: u64 = report.trend.points.iter().map(|p| p.opened).sum();
        assert_eq!(trend_opened, created);
        let by_priority: u64 = report.by_priority.iter().map(|b| b.opened).sum();
        assert_eq!(by_priority, created);
        assert_eq!(report.by_engineer.len(), 1);
        assert_eq!(report.by_engineer[0].key, "eng-2");
        // The previous period is as long and ends where this one starts.
        assert_eq!(report.previous_period.to, period.from);
        assert_eq!(
            report.previous.opened,
            facts
                .iter()
                .filter(|f| f.kind == FactKind::Created)
                .filter(|f| f.at >= report.previous_period.from && f.at < period.from)
                .count() as u64
        );
    }

    /// The engine's own facts under a business calendar and a pause, reported: figures checked
    /// against times worked out by hand.
    #[tokio::test]
    async fn a_business_calendar_and_a_pause_give_the_hand_computed_times() {
        use crate::report::history::PolicySources;
        use vigil_engine::{EngineSettings, EventTimeDriver};

        let calendars = toml::from_str(
            "[business]\ntimezone = \"UTC\"\nhours = { mon = \"09:00-18:00\", tue = \"09:00-18:00\", \
             wed = \"09:00-18:00\", thu = \"09:00-18:00\", fri = \"09:00-18:00\" }\n",
        )
        .expect("calendars");
        let sources = PolicySources {
            default: serde_json::from_str(r#"{"calendar":"business"}"#).expect("policy"),
            calendars,
            tenants: Default::default(),
        };
        let settings = std::sync::Arc::new(EngineSettings {
            keep_facts: true,
            ..EngineSettings::default()
        });
        let book = std::sync::Arc::new(sources.current().expect("book"));
        let mut driver = EventTimeDriver::<()>::new(book, settings, 0);
        let at = |s: &str| vigil_schema::parse_instant(s).expect("instant");
        let event = |id: &str, ticket: &str, when: &str, body: &str| {
            let json = format!(
                r#"{{"schema":1,"event_id":"{id}","tenant_id":9,"ticket_id":"{ticket}","occurred_at":"{when}",{body}}}"#
            );
            vigil_schema::decode(json.as_bytes()).expect("event")
        };
        let status = |s: &str| format!(r#""event_type":"ticket.status_changed","status":"{s}""#);
        let created = r#""event_type":"ticket.created","priority":"HIGH""#;
        // A: created Friday 17:00, answered Monday 10:00: 1 h on Friday and 1 h on Monday.
        // B: created Monday 09:00, in progress 09:30 (response: 30 min), on hold 10:00–12:00,
        //    resolved 13:00: 1 h before the pause and 1 h after it.
        let events = [
            event("a1", "A", "2026-11-06T17:00:00Z", created),
            event("b1", "B", "2026-11-09T09:00:00Z", created),
            event("b2", "B", "2026-11-09T09:30:00Z", &status("IN_PROGRESS")),
            event(
                "a2",
                "A",
                "2026-11-09T10:00:00Z",
                r#""event_type":"ticket.responded""#,
            ),
            event("b3", "B", "2026-11-09T10:00:00Z", &status("ON_HOLD")),
            event("b4", "B", "2026-11-09T12:00:00Z", &status("IN_PROGRESS")),
            event("b5", "B", "2026-11-09T13:00:00Z", &status("RESOLVED")),
        ];
        struct Quiet;
        impl vigil_engine::Sink<()> for Quiet {
            fn applied(&mut self, _: &vigil_schema::Event, _: ()) {}
            fn rejected(&mut self, e: &vigil_schema::Event, _: (), r: vigil_schema::Rejection) {
                panic!("{} rejected: {}", e.event_id, r.message());
            }
            fn alert(&mut self, _: vigil_engine::AlertRecord) {}
        }
        for e in events {
            driver.offer(e, (), &mut Quiet);
        }
        driver.finish(&mut Quiet);
        let (_dir, store) = sqlite().await;
        let utc = |_: u64, t: Millis| t.div_euclid(24 * HOUR) as i32;
        store
            .report_facts()
            .record(&driver.take_facts(), &utc)
            .await
            .unwrap();
        let request = ReportRequest {
            tenant_id: 9,
            period: Period {
                from: at("2026-11-01T00:00:00Z"),
                to: at("2026-12-01T00:00:00Z"),
            },
            language: Language::En,
            timezone: "UTC".into(),
        };
        let report = compute(&store, &request, request.period.to, &|_| {})
            .await
            .unwrap();
        let s = &report.summary;
        assert_eq!((s.opened, s.resolved, s.open_at_end), (2, 1, 1));
        assert_eq!((s.response.met, s.response.breached), (2, 0));
        // (2 h + 30 min) / 2.
        assert_eq!(s.response.mean_ms, Some(75.0 * 60_000.0));
        assert_eq!(s.resolution.mean_ms, Some(2.0 * HOUR as f64));
        // Percentiles are upper bounds of the live metrics' histogram buckets: 2 h is in the
        // bucket of [2 h, 4 h).
        assert_eq!(s.response.p95_ms, Some(4 * HOUR));
        assert_eq!(s.resolution.p50_ms, Some(4 * HOUR));
    }
}
