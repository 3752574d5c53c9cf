//! Rolling service metrics of one tenant over 1 h, 24 h, 7 d and 30 d.
//!
//! Counts go into time buckets at three resolutions (5 minutes for the last hour, hours for the
//! last day, days for the last 30 days), so memory per tenant is bounded (at most 66 buckets of
//! ~112 bytes) whatever the traffic, and an idle tenant holds none. Windows are summed from the
//! buckets; the 7 d and 30 d windows are exact to the day.
//!
//! # Layout
//! - `ring`: a sparse ring of time buckets at one resolution.
//! - `grouped`: compliance per priority and per service type.
//! - `snapshot`: a point-in-time view of a tenant's metrics.

mod grouped;
mod ring;
mod snapshot;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use vigil_schema::Millis;

use crate::alert::{Goal, Level};
use crate::engine::GoalOutcome;
pub use grouped::{Compliance, GoalCounts, GroupBy, GroupedCompliance};
use ring::{Bucket, Ring};
pub use snapshot::{MetricsSnapshot, OpenTickets};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// How far back from `now` each resolution reaches: 5-minute buckets for the last hour, hours
/// for the last day, days for the last 30 days.
const RESOLUTIONS: [(i64, i64, usize); 3] =
    [(5 * MINUTE, HOUR, 12), (HOUR, DAY, 24), (DAY, 30 * DAY, 30)];

/// The finest bucket width whose ring still reaches back from `now` to `from`.
fn resolution_for(now: Millis, from: Millis) -> i64 {
    RESOLUTIONS
        .iter()
        .find(|(_, reach, _)| now - from <= *reach)
        .map_or(DAY, |(width, _, _)| *width)
}

/// Upper bounds, in minutes, of the buckets of the SLA-time histogram (the last is open-ended).
pub const HISTOGRAM_MINUTES: [i64; 12] =
    [1, 5, 15, 30, 60, 120, 240, 480, 1440, 4320, 10080, i64::MAX];

/// The histogram bucket an SLA time falls in.
pub fn histogram_bucket(elapsed_ms: i64) -> usize {
    let minutes = elapsed_ms / MINUTE;
    HISTOGRAM_MINUTES
        .iter()
        .position(|m| minutes < *m)
        .unwrap_or(HISTOGRAM_MINUTES.len() - 1)
}

/// The `percent`-th percentile of a histogram of SLA times, as the upper bound (in
/// milliseconds) of the bucket it falls in; `None` for an empty histogram.
pub fn histogram_quantile(hist: &[u64; 12], percent: u64) -> Option<i64> {
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return None;
    }
    let rank = (n * percent).div_ceil(100);
    let mut seen = 0u64;
    let h = hist
        .iter()
        .position(|c| {
            seen += c;
            seen >= rank
        })
        .unwrap_or(HISTOGRAM_MINUTES.len() - 1);
    Some(HISTOGRAM_MINUTES[h].saturating_mul(MINUTE))
}

/// How far back the rolling metrics reach: 30 days.
pub const RETAINED_MS: i64 = 30 * DAY;

/// The windows reported, with their length.
pub const WINDOWS: [(&str, i64); 4] = [
    ("1h", 60 * MINUTE),
    ("24h", 24 * 60 * MINUTE),
    ("7d", 7 * 24 * 60 * MINUTE),
    ("30d", 30 * 24 * 60 * MINUTE),
];

/// A goal that stopped, as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct StoppedGoal {
    /// Which goal.
    pub goal: Goal,
    /// How it ended.
    pub outcome: GoalOutcome,
    /// SLA (calendar) time it took.
    pub elapsed_ms: i64,
    /// Wall time from creation to the stop.
    pub wall_ms: i64,
}

/// The bucketed counts of one tenant.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RollingMetrics {
    fine: Ring,
    hourly: Ring,
    daily: Ring,
}

/// One goal's figures over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GoalStats {
    /// Goals that stopped within target.
    pub met: u64,
    /// Goals that stopped past target.
    pub breached: u64,
    /// `met / (met + breached)`, or `None` when no goal stopped.
    pub compliance: Option<f64>,
    /// Mean SLA time to the stop.
    pub mean_ms: Option<f64>,
    /// 95th percentile SLA time to the stop (upper bound of its histogram bucket).
    pub p95_ms: Option<i64>,
}

/// A tenant's figures over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// Tickets created.
    pub created: u64,
    /// Resolution goals stopped (met or breached).
    pub resolved: u64,
    /// Response goal figures.
    pub response: GoalStats,
    /// Resolution goal figures.
    pub resolution: GoalStats,
    /// Warnings fired.
    pub warnings: u64,
    /// Breaches fired.
    pub breaches: u64,
    /// Mean satisfaction rating.
    pub satisfaction: Option<f64>,
}

impl RollingMetrics {
    fn record(&mut self, t: Millis, f: impl Fn(&mut Bucket)) {
        for (ring, (width, _, keep)) in self.rings_mut().into_iter().zip(RESOLUTIONS) {
            ring.record(t, width, keep, &f);
        }
    }

    fn rings_mut(&mut self) -> [&mut Ring; 3] {
        [&mut self.fine, &mut self.hourly, &mut self.daily]
    }

    fn ring(&self, width: i64) -> &Ring {
        match width {
            w if w < HOUR => &self.fine,
            HOUR => &self.hourly,
            _ => &self.daily,
        }
    }

    /// A ticket was created at `t`.
    pub fn ticket_created(&mut self, t: Millis) {
        self.record(t, |b| b.created += 1);
    }

    /// A goal stopped at `t`.
    pub fn goal_stopped(&mut self, t: Millis, g: StoppedGoal) {
        self.record(t, |b| b.goal_stopped(g));
    }

    /// An alert fired at `t`.
    pub fn alert_fired(&mut self, t: Millis, level: Level) {
        self.record(t, |b| match level {
            Level::Warning => b.warnings += 1,
            Level::Breach => b.breaches += 1,
        });
    }

    /// A satisfaction rating at `t`.
    pub fn satisfaction(&mut self, t: Millis, rating: f64) {
        self.record(t, |b| {
            b.satisfaction_centi += (rating * 100.0).round() as u32;
            b.satisfaction_n += 1;
        });
    }

    /// Figures of the window of length `len_ms` ending at `now`.
    pub fn window(&self, now: Millis, len_ms: i64) -> WindowStats {
        self.between(now, now - len_ms, now)
    }

    /// Figures of `(from, to]`, at the finest resolution that reaches back from `now` to the
    /// range's first instant `from + 1` (whole buckets: the one `from` falls in is left out
    /// unless `to` is in it too). A range of the last 24 h given as `(now - 24 h - 1, now]`
    /// is summed by the hour, like [`window`](Self::window), not by the day.
    pub fn between(&self, now: Millis, from: Millis, to: Millis) -> WindowStats {
        let width = resolution_for(now, from + 1);
        self.ring(width).sum(from, to, width).stats()
    }

    /// The window of length `len_ms` ending at `now` as a series of buckets (5 minutes up to
    /// an hour, hours up to a day, else days), empty ones included: `(bucket start, figures)`,
    /// oldest first, the last one holding `now`.
    pub fn series(&self, now: Millis, len_ms: i64) -> Vec<(Millis, WindowStats)> {
        let width = resolution_for(now, now - len_ms);
        let from = now - len_ms + width;
        self.ring(width)
            .series(from, now + 1, width)
            .into_iter()
            .map(|(at, b)| (at, b.stats()))
            .collect()
    }

    /// Buckets held (for memory accounting).
    pub fn buckets(&self) -> usize {
        self.fine.len() + self.hourly.len() + self.daily.len()
    }
}
