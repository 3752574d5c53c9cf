//! Read-only views of a ticket's clocks, for the API.

use vigil_schema::Millis;

use super::goal::GoalOutcome;
use super::tenant::TenantEngine;
use super::ticket::Ticket;
use crate::alert::Goal;

/// Where one goal of a ticket stands (for the ticket SLA endpoint).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GoalView {
    /// Response or resolution.
    pub goal: Goal,
    /// Current target.
    pub target_ms: i64,
    /// Elapsed calendar time.
    pub elapsed_ms: i64,
    /// Target minus elapsed (negative once breached).
    pub remaining_ms: i64,
    /// Elapsed as a percentage of the target.
    pub percent: f64,
    /// Whether the status pauses it now.
    pub paused: bool,
    /// When it breaches if it keeps running (`None` if paused or stopped).
    pub deadline: Option<Millis>,
    /// `met`, `breached`, `cancelled`, or `None` while running.
    pub outcome: Option<&'static str>,
}

/// Where one ticket stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TicketView {
    /// The ticket.
    pub ticket_id: String,
    /// Current status.
    pub status: &'static str,
    /// Current priority.
    pub priority: String,
    /// Service type.
    pub service_type: String,
    /// Policy version it runs under.
    pub policy_version: u32,
    /// Response and resolution.
    pub goals: Vec<GoalView>,
}

impl TicketView {
    /// The soonest deadline among goals that are running and not yet breached.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.goals
            .iter()
            .filter(|g| g.remaining_ms > 0)
            .filter_map(|g| g.deadline)
            .min()
    }
}

impl TenantEngine {
    /// The live clocks of one ticket at `now`.
    pub fn ticket_view(&self, ticket_id: &str, now: Millis) -> Option<TicketView> {
        Some(self.view_of(self.ticket(self.find(ticket_id)?), now))
    }

    /// The live clocks of several tickets at `now`, in the order asked; `None` for a ticket
    /// that is not open (final, or never seen).
    pub fn ticket_views<'a>(
        &self,
        ticket_ids: impl IntoIterator<Item = &'a str>,
        now: Millis,
    ) -> Vec<(&'a str, Option<TicketView>)> {
        ticket_ids
            .into_iter()
            .map(|id| (id, self.ticket_view(id, now)))
            .collect()
    }

    /// The open tickets closest to breach at `now`: those with a running goal not yet breached,
    /// soonest [`TicketView::next_deadline`] first, at most `limit`.
    pub fn at_risk(&self, now: Millis, limit: usize) -> Vec<TicketView> {
        let mut due: Vec<(Millis, &Ticket)> = self
            .tickets()
            .filter_map(|tk| Some((next_deadline(tk, now)?, tk)))
            .collect();
        if due.len() > limit {
            due.select_nth_unstable_by_key(limit, |(d, _)| *d);
            due.truncate(limit);
        }
        due.sort_by_key(|(d, _)| *d);
        due.into_iter()
            .map(|(_, tk)| self.view_of(tk, now))
            .collect()
    }

    fn view_of(&self, tk: &Ticket, now: Millis) -> TicketView {
        let cal = tk.calendar();
        let goals = Goal::ALL
            .iter()
            .map(|&goal| {
                let g = &tk.goals[goal.index()];
                let accruing = tk.accruing(goal);
                let elapsed = tk.elapsed_at(goal, now.max(tk.since));
                let target = tk.target(goal);
                GoalView {
                    goal,
                    target_ms: target,
                    elapsed_ms: elapsed,
                    remaining_ms: target - elapsed,
                    percent: if target > 0 {
                        elapsed as f64 * 100.0 / target as f64
                    } else {
                        0.0
                    },
                    paused: g.is_running() && tk.paused(),
                    deadline: accruing
                        .then(|| cal.add_business(now.max(tk.since), (target - elapsed).max(0))),
                    outcome: g.outcome.map(GoalOutcome::as_str),
                }
            })
            .collect();
        TicketView {
            ticket_id: tk.id.to_string(),
            status: tk.status.as_str(),
            priority: tk.policy.priority_name(tk.priority).to_string(),
            service_type: self.service_type_name(tk.service_type).to_string(),
            policy_version: tk.policy.version,
            goals,
        }
    }
}

/// When the first running, accruing goal of a ticket not yet past its target breaches.
fn next_deadline(tk: &Ticket, now: Millis) -> Option<Millis> {
    let at = now.max(tk.since);
    Goal::ALL
        .iter()
        .filter(|&&goal| tk.accruing(goal))
        .filter_map(|&goal| {
            let remaining = tk.target(goal) - tk.elapsed_at(goal, at);
            (remaining > 0).then(|| tk.calendar().add_business(at, remaining))
        })
        .min()
}
