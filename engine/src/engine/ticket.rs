//! An open ticket's state: status, priority, policy, and its two goal clocks.

use std::sync::Arc;

use compact_str::CompactString;
use vigil_schema::{Millis, Status};

use super::goal::{GoalClock, BREACH_BIT};
use crate::alert::{Goal, Level};
use crate::calendar::Calendar;
use crate::policy::{PolicyVersion, RulesIndex};

/// An alert a ticket raised, kept to announce its later state changes with the same fields.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FiredAlert {
    /// Which goal.
    pub goal: Goal,
    /// Threshold bit ([`BREACH_BIT`] for the breach).
    pub bit: u8,
    /// When it was crossed.
    pub fired_at: Millis,
    /// Elapsed at `fired_at`.
    pub elapsed_ms: i64,
    /// Target at `fired_at`.
    pub target_ms: i64,
    /// Projected breach instant at `fired_at`.
    pub deadline: Millis,
    /// Priority index at `fired_at`.
    pub priority: u8,
}

/// One ticket that is not final: 120 bytes, its id included up to 24 bytes.
#[derive(Debug)]
pub struct Ticket {
    /// The upstream ticket id, inline up to 24 bytes: a lookup compares it where the ticket
    /// is, without following a pointer to another cache line.
    pub id: CompactString,
    /// `ticket.created`'s `occurred_at`.
    pub created_at: Millis,
    /// The policy version it started under (kept for life).
    pub policy: Arc<PolicyVersion>,
    /// Which of the version's rules apply (service type override or base).
    pub rules: RulesIndex,
    /// Interned service type.
    pub service_type: u32,
    /// Interned assignee, or `u32::MAX`.
    pub assignee: u32,
    /// Current priority (index into the version's priorities).
    pub priority: u8,
    /// Current status.
    pub status: Status,
    /// Response and resolution clocks.
    pub goals: [GoalClock; 2],
    /// Alerts raised so far (allocated on the first one).
    pub alerts: Option<Box<Vec<FiredAlert>>>,
    /// The latest `occurred_at` applied: both clocks are folded up to it.
    pub since: Millis,
}

impl Ticket {
    /// The calendar its goals run on.
    pub fn calendar(&self) -> &Calendar {
        &self.policy.rules_at(self.rules).calendar
    }

    /// Whether the current status pauses the goals.
    pub fn paused(&self) -> bool {
        self.policy.pauses[self.status.index()]
    }

    /// Whether a goal accrues time now.
    pub fn accruing(&self, goal: Goal) -> bool {
        self.goals[goal.index()].is_running() && !self.paused()
    }

    /// The current target of a goal.
    pub fn target(&self, goal: Goal) -> i64 {
        self.policy
            .targets(self.rules, self.priority)
            .map_or(i64::MAX, |t| t[goal.index()])
    }

    /// `(bit, threshold ms)` of every threshold of a goal under its current target.
    pub fn thresholds(&self, goal: Goal) -> impl Iterator<Item = (u32, i64)> + '_ {
        let target = self.target(goal);
        self.policy
            .warn_at
            .iter()
            .enumerate()
            .map(move |(i, f)| (i as u32, f.of(target)))
            .chain(std::iter::once((BREACH_BIT, target)))
    }

    /// The level and fraction of a threshold bit.
    pub fn threshold_of(&self, bit: u32) -> (Level, f64) {
        if bit == BREACH_BIT {
            (Level::Breach, 1.0)
        } else {
            let f = self
                .policy
                .warn_at
                .get(bit as usize)
                .map_or(1.0, |f| f.as_f64());
            (Level::Warning, f)
        }
    }

    /// Folds both clocks up to `t` (no-op for `t <= since`).
    pub fn fold(&mut self, t: Millis) {
        if t <= self.since {
            return;
        }
        let accruing = [
            self.accruing(Goal::Response),
            self.accruing(Goal::Resolution),
        ];
        let cal = &self.policy.rules_at(self.rules).calendar;
        for (g, accrues) in self.goals.iter_mut().zip(accruing) {
            g.acc = g.elapsed_at(cal, self.since, t, accrues);
        }
        self.since = t;
    }

    /// Elapsed calendar time of a goal at `t`.
    pub fn elapsed_at(&self, goal: Goal, t: Millis) -> i64 {
        self.goals[goal.index()].elapsed_at(self.calendar(), self.since, t, self.accruing(goal))
    }

    /// The next crossing of a goal: `(bit, threshold ms, instant)`.
    pub fn next_crossing(&self, goal: Goal) -> Option<(u32, i64, Millis)> {
        self.goals[goal.index()].next_crossing(
            self.calendar(),
            self.since,
            self.thresholds(goal),
            self.accruing(goal),
        )
    }
}
