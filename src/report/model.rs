//! What an SLA report says: the figures of one tenant over one period, with the previous
//! period of the same length beside them. Every renderer (JSON, CSV, Excel, PDF) writes this
//! and only this; the JSON format is its serde form.

use serde::Serialize;
use vigil_schema::Millis;

use super::labels::Language;

/// One tenant's SLA report over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The tenant.
    pub tenant_id: u64,
    /// The language of labels and headings.
    pub language: Language,
    /// The IANA zone the period's days (and the trend's steps) are counted in.
    pub timezone: String,
    /// The period reported.
    pub period: Period,
    /// The period of the same length just before it.
    pub previous_period: Period,
    /// When the report was computed.
    #[serde(serialize_with = "instant")]
    pub generated_at: Millis,
    /// The period's figures.
    pub summary: Summary,
    /// The previous period's figures.
    pub previous: Summary,
    /// Per priority, by name.
    pub by_priority: Vec<Breakdown>,
    /// Per service type, by name.
    pub by_service_type: Vec<Breakdown>,
    /// Per engineer (the ticket's assignee when the goal stopped; `""` for none), by name.
    pub by_engineer: Vec<Breakdown>,
    /// Compliance per day (periods up to 62 days) or per week (longer ones).
    pub trend: Trend,
    /// Goals that stopped past their target in the period, worst first (at most
    /// [`Report::BREACHES_LISTED`]; `breaches_total` says how many there were).
    pub breaches: Vec<Breach>,
    /// How many goals stopped breached in the period.
    pub breaches_total: u64,
    /// Satisfaction ratings given in the period.
    pub satisfaction: Satisfaction,
}

impl Report {
    /// The most breaches a report lists.
    pub const BREACHES_LISTED: usize = 10_000;
}

/// A half-open range of instants `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    /// First instant in the period.
    #[serde(serialize_with = "instant")]
    pub from: Millis,
    /// First instant after it.
    #[serde(serialize_with = "instant")]
    pub to: Millis,
}

/// The headline figures of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Tickets created in the period.
    pub opened: u64,
    /// Resolution goals that stopped met or breached in the period.
    pub resolved: u64,
    /// Tickets created before the period's end and not resolved or cancelled by then (within
    /// the retention of the reporting history).
    pub open_at_end: u64,
    /// The response goal.
    pub response: GoalFigures,
    /// The resolution goal.
    pub resolution: GoalFigures,
    /// Warnings fired in the period.
    pub warnings: u64,
    /// Breach alerts fired in the period.
    pub breach_alerts: u64,
    /// Mean satisfaction rating, if any was given.
    pub satisfaction: Option<f64>,
}

/// One goal's outcomes over a range (DESIGN.md §3 rule 9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GoalFigures {
    /// Stopped within target.
    pub met: u64,
    /// Stopped past target.
    pub breached: u64,
    /// Stopped by a cancellation (left out of compliance).
    pub cancelled: u64,
    /// `met / (met + breached)`, if any stopped.
    pub compliance: Option<f64>,
    /// Mean SLA time of the met and breached ones.
    pub mean_ms: Option<f64>,
    /// Median SLA time: the upper bound of its histogram bucket (as the live metrics give it).
    pub p50_ms: Option<i64>,
    /// 95th percentile SLA time: the upper bound of its histogram bucket.
    pub p95_ms: Option<i64>,
}

/// The figures of one group (a priority, a service type, an engineer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    /// The group's name.
    pub key: String,
    /// Tickets created in the period (not counted per engineer: always 0 there).
    pub opened: u64,
    /// The response goal.
    pub response: GoalFigures,
    /// The resolution goal.
    pub resolution: GoalFigures,
}

/// How the trend steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendStep {
    /// Local days.
    Day,
    /// Local weeks starting on Monday (the first and last may be partial).
    Week,
}

/// Compliance over the period, step by step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// Days or weeks.
    pub step: TrendStep,
    /// One point per step, oldest first, empty steps included.
    pub points: Vec<TrendPoint>,
}

/// One step of the trend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrendPoint {
    /// The step's first instant (local midnight).
    #[serde(serialize_with = "instant")]
    pub start: Millis,
    /// Tickets created.
    pub opened: u64,
    /// The response goal.
    pub response: GoalFigures,
    /// The resolution goal.
    pub resolution: GoalFigures,
}

/// A goal that stopped past its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// The ticket.
    pub ticket_id: String,
    /// `response` or `resolution`.
    pub goal: String,
    /// The ticket's priority when the goal stopped.
    pub priority: String,
    /// The ticket's service type.
    pub service_type: String,
    /// The assignee when the goal stopped (`""` for none).
    pub engineer: String,
    /// The goal's target, SLA time.
    pub target_ms: i64,
    /// SLA time it took.
    pub elapsed_ms: i64,
    /// By how much it missed: `elapsed_ms - target_ms`.
    pub over_ms: i64,
    /// When the goal stopped.
    #[serde(serialize_with = "instant")]
    pub stopped_at: Millis,
}

/// Satisfaction ratings over a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Satisfaction {
    /// Ratings given.
    pub count: u64,
    /// Their mean, if any.
    pub mean: Option<f64>,
    /// How many rounded to 1, 2, 3, 4 and 5 stars.
    pub distribution: [u64; 5],
}

/// Instants as RFC 3339 UTC with milliseconds, as everywhere in the API.
fn instant<S: serde::Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&vigil_schema::format_instant(*ms))
}
