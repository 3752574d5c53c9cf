//! One SLA goal's clock: accrued calendar time, running or stopped, which thresholds fired.

use vigil_schema::Millis;

use crate::calendar::{Calendar, NEVER};

/// How a goal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Bit of the breach threshold in [`GoalClock::fired`]; warnings use bits `0..warn_at.len()`
/// (at most [`MAX_WARNINGS`]).
pub const BREACH_BIT: u32 = 15;
/// Most `warn_at` thresholds a policy may have (the bits below [`BREACH_BIT`]).
pub const MAX_WARNINGS: usize = BREACH_BIT as usize;

/// The clock of one goal: 24 bytes. Time is folded into `acc` at every change of its ticket, so
/// between changes the elapsed time is `acc + calendar.business_between(since, t)` while the
/// goal accrues, `since` being the ticket's last change (kept once, on the ticket).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GoalClock {
    /// Calendar time accrued up to the ticket's `since`.
    pub acc: i64,
    /// The next scheduled crossing, or [`NEVER`].
    pub due: Millis,
    /// Thresholds that have fired (they never fire again).
    pub fired: u16,
    /// Fired alerts still firing (resolved when the goal stops).
    pub open: u16,
    /// `None` while the goal runs.
    pub outcome: Option<GoalOutcome>,
}

impl GoalClock {
    /// A goal just started.
    pub fn started() -> GoalClock {
        GoalClock {
            acc: 0,
            due: NEVER,
            fired: 0,
            open: 0,
            outcome: None,
        }
    }

    /// Whether the goal has not stopped.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Elapsed calendar time at `t`, given the ticket's `since` and whether the goal accrues.
    pub fn elapsed_at(&self, cal: &Calendar, since: Millis, t: Millis, accruing: bool) -> i64 {
        if accruing && t > since {
            self.acc + cal.business_between(since, t)
        } else {
            self.acc
        }
    }

    /// The next unfired threshold and the instant it is crossed, if the goal accrues.
    /// `thresholds` are `(bit, ms)`.
    pub fn next_crossing(
        &self,
        cal: &Calendar,
        since: Millis,
        thresholds: impl Iterator<Item = (u32, i64)>,
        accruing: bool,
    ) -> Option<(u32, i64, Millis)> {
        if !accruing || !self.is_running() {
            return None;
        }
        let (bit, ms) = thresholds
            .filter(|(bit, _)| self.fired & (1 << bit) == 0)
            .min_by_key(|(_, ms)| *ms)?;
        let at = cal.add_business(since, ms - self.acc);
        (at != NEVER).then_some((bit, ms, at))
    }
}
