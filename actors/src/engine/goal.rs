//! One SLA goal's clock: accrued calendar time, running or stopped, which thresholds fired.

use vigil_streams::Millis;

use crate::calendar::{Calendar, NEVER};

/// How a goal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoalOutcome {
    /// Elapsed ≤ target.
    Met,
    /// Elapsed > target.
    Breached,
    /// The ticket was cancelled; left out of compliance.
    Cancelled,
}

impl GoalOutcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GoalOutcome::Met => "met",
            GoalOutcome::Breached => "breached",
            GoalOutcome::Cancelled => "cancelled",
        }
    }
}

/// Bit of the breach threshold in [`GoalClock::fired`]; warnings use bits `0..warn_at.len()`.
pub const BREACH_BIT: u32 = 31;

/// The clock of one goal. Time is folded into `acc` at every change, so between changes the
/// elapsed time is `acc + calendar.business_between(since, t)` while the goal accrues.
#[derive(Debug, Clone)]
pub struct GoalClock {
    /// Calendar time accrued up to `since`.
    pub acc: i64,
    /// The instant `acc` was last brought up to date.
    pub since: Millis,
    /// The next scheduled crossing, or [`NEVER`].
    pub due: Millis,
    /// Thresholds that have fired (they never fire again).
    pub fired: u32,
    /// Fired alerts still firing (resolved when the goal stops).
    pub open: u32,
    /// `None` while the goal runs.
    pub outcome: Option<GoalOutcome>,
    /// When it last stopped.
    pub stopped_at: Millis,
}

impl GoalClock {
    /// A goal started at `t`.
    pub fn started(t: Millis) -> GoalClock {
        GoalClock {
            acc: 0,
            since: t,
            due: NEVER,
            fired: 0,
            open: 0,
            outcome: None,
            stopped_at: NEVER,
        }
    }

    /// Whether the goal has not stopped.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Elapsed calendar time at `t >= since`, given whether it accrues.
    pub fn elapsed_at(&self, cal: &Calendar, t: Millis, accruing: bool) -> i64 {
        if accruing && t > self.since {
            self.acc + cal.business_between(self.since, t)
        } else {
            self.acc
        }
    }

    /// Brings `acc` up to `t` (no-op for `t <= since`).
    pub fn fold(&mut self, cal: &Calendar, t: Millis, accruing: bool) {
        if t > self.since {
            self.acc = self.elapsed_at(cal, t, accruing);
            self.since = t;
        }
    }

    /// The next unfired threshold and the instant it is crossed, if the goal accrues.
    /// `thresholds` are `(bit, ms)` ascending by ms.
    pub fn next_crossing(
        &self,
        cal: &Calendar,
        thresholds: impl Iterator<Item = (u32, i64)>,
        accruing: bool,
    ) -> Option<(u32, i64, Millis)> {
        if !accruing || !self.is_running() {
            return None;
        }
        let (bit, ms) = thresholds
            .filter(|(bit, _)| self.fired & (1 << bit) == 0)
            .min_by_key(|(_, ms)| *ms)?;
        let at = cal.add_business(self.since, ms - self.acc);
        (at != NEVER).then_some((bit, ms, at))
    }
}
