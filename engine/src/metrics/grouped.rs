//! SLA compliance per priority and per service type, for the compliance report's `group_by`.
//!
//! Only goal outcomes are counted here (met and breached per goal), at hour resolution for the
//! last day and day resolution for the last 30 days, so each group costs at most 54 small
//! buckets and an idle tenant holds none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigil_schema::Millis;

use super::ring::{Counts, Ring};
use super::{resolution_for, StoppedGoal, DAY, HOUR};
use crate::engine::GoalOutcome;

/// What a compliance report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The ticket's priority name.
    Priority = 0,
    /// The ticket's service type.
    ServiceType = 1,
}

impl GroupBy {
    /// `"priority"` or `"service_type"`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Priority => "priority",
            GroupBy::ServiceType => "service_type",
        }
    }

    /// Parses [`GroupBy::as_str`].
    pub fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "priority" => Some(GroupBy::Priority),
            "service_type" => Some(GroupBy::ServiceType),
            _ => None,
        }
    }
}

/// Met and breached goals, per goal (`[response, resolution]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Tally {
    met: [u32; 2],
    breached: [u32; 2],
}

impl Counts for Tally {
    fn add(&mut self, o: &Tally) {
        for i in 0..2 {
            self.met[i] += o.met[i];
            self.breached[i] += o.breached[i];
        }
    }
}

/// One goal's outcomes over a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GoalCounts {
    /// Goals that stopped within target.
    pub met: u64,
    /// Goals that stopped past target.
    pub breached: u64,
    /// `met / (met + breached)`, or `None` when no goal stopped.
    pub compliance: Option<f64>,
}

impl GoalCounts {
    fn of(met: u32, breached: u32) -> GoalCounts {
        let n = u64::from(met) + u64::from(breached);
        GoalCounts {
            met: met.into(),
            breached: breached.into(),
            compliance: (n > 0).then(|| f64::from(met) / n as f64),
        }
    }
}

/// Compliance of a group (or of everything) over a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Compliance {
    /// Response goals.
    pub response: GoalCounts,
    /// Resolution goals.
    pub resolution: GoalCounts,
    /// Breached goals of both kinds.
    pub violations: u64,
}

impl From<&Tally> for Compliance {
    fn from(t: &Tally) -> Compliance {
        Compliance {
            response: GoalCounts::of(t.met[0], t.breached[0]),
            resolution: GoalCounts::of(t.met[1], t.breached[1]),
            violations: u64::from(t.breached[0]) + u64::from(t.breached[1]),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct GroupRings {
    hourly: Ring<Tally>,
    daily: Ring<Tally>,
}

/// Goal outcomes per group: by priority name (`[0]`) and by service type (`[1]`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupedCompliance {
    groups: [BTreeMap<Box<str>, GroupRings>; 2],
}

impl GroupedCompliance {
    /// Counts a stopped goal under its priority and its service type.
    pub fn goal_stopped(&mut self, t: Millis, g: StoppedGoal, priority: &str, service_type: &str) {
        let i = g.goal.index();
        let f = |b: &mut Tally| match g.outcome {
            GoalOutcome::Met => b.met[i] += 1,
            GoalOutcome::Breached => b.breached[i] += 1,
            GoalOutcome::Cancelled => {}
        };
        if g.outcome == GoalOutcome::Cancelled {
            return;
        }
        for (groups, key) in self.groups.iter_mut().zip([priority, service_type]) {
            if !groups.contains_key(key) {
                groups.insert(key.into(), GroupRings::default());
            }
            if let Some(rings) = groups.get_mut(key) {
                rings.hourly.record(t, HOUR, 24, &f);
                rings.daily.record(t, DAY, 30, &f);
            }
        }
    }

    /// Compliance per group of `by` over `(from, to]`, at the resolution that reaches the
    /// range's first instant `from + 1` from `now` (as [`super::RollingMetrics::between`]); groups
    /// without outcomes in the range are left out.
    pub fn by(
        &self,
        by: GroupBy,
        now: Millis,
        from: Millis,
        to: Millis,
    ) -> Vec<(String, Compliance)> {
        let width = resolution_for(now, from + 1).max(HOUR);
        self.groups[by as usize]
            .iter()
            .filter_map(|(key, rings)| {
                let ring = if width == HOUR {
                    &rings.hourly
                } else {
                    &rings.daily
                };
                let sum = ring.sum(from, to, width);
                (sum != Tally::default()).then(|| (key.to_string(), Compliance::from(&sum)))
            })
            .collect()
    }

    /// Buckets held (for memory accounting).
    pub fn buckets(&self) -> usize {
        self.groups
            .iter()
            .flat_map(BTreeMap::values)
            .map(|r| r.hourly.len() + r.daily.len())
            .sum()
    }
}
