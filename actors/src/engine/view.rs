//! Read-only views of a ticket's clocks, for the API.

use vigil_streams::Millis;

use super::goal::GoalOutcome;
use super::tenant::TenantEngine;
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

impl TenantEngine {
    /// The live clocks of one ticket at `now`.
    pub fn ticket_view(&self, ticket_id: &str, now: Millis) -> Option<TicketView> {
        let tk = self.ticket(self.find(ticket_id)?);
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
        Some(TicketView {
            ticket_id: tk.id.to_string(),
            status: tk.status.as_str(),
            priority: tk.policy.priority_name(tk.priority).to_string(),
            service_type: self.service_type_name(tk.service_type).to_string(),
            policy_version: tk.policy.version,
            goals,
        })
    }
}
