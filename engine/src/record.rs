//! What the engine tells the store about a tenant's tickets as it applies their events:
//! [`SlaRecord`]s (DESIGN.md §7), one per ticket goal when it stops, for exchange partners (a
//! goal that stops again after a reopen gives a newer record with the same `record_id`; the
//! latest stop wins), and [`TicketFact`]s, the history SLA reports are computed from.

use serde::{Deserialize, Serialize};
use vigil_schema::Millis;

use crate::alert::Goal;
use crate::engine::GoalOutcome;

/// A stopped goal as exchange partners hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaRecord {
    /// `<tenant_id>:<ticket_id>:<goal>`, stable across stops of the same goal.
    pub record_id: String,
    /// The tenant.
    pub tenant_id: u64,
    /// The ticket.
    pub ticket_id: String,
    /// Response or resolution.
    pub goal: Goal,
    /// The ticket's priority when the goal stopped.
    pub priority: String,
    /// The ticket's service type.
    pub service_type: String,
    /// The goal's target, in milliseconds of calendar time.
    pub target_ms: i64,
    /// Calendar time the goal took.
    pub actual_ms: i64,
    /// `met`, `breached` or `cancelled`.
    pub outcome: String,
    /// The policy version the ticket runs under.
    pub policy_version: u32,
    /// When the goal started (`ticket.created`'s `occurred_at`).
    #[serde(with = "crate::alert::instant")]
    pub started_at: Millis,
    /// When the goal stopped (the stopping event's `occurred_at`).
    #[serde(with = "crate::alert::instant")]
    pub stopped_at: Millis,
    /// The ticket's assignee when the goal stopped, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<String>,
}

impl SlaRecord {
    /// The record id of a ticket goal: `12345:TKT-001:resolution`.
    pub fn id_of(tenant_id: u64, ticket_id: &str, goal: Goal) -> String {
        format!("{tenant_id}:{ticket_id}:{}", goal.as_str())
    }

    /// A record of a goal that stopped.
    #[allow(clippy::too_many_arguments)]
    pub fn stopped(
        tenant_id: u64,
        ticket_id: &str,
        goal: Goal,
        outcome: GoalOutcome,
        (target_ms, actual_ms): (i64, i64),
        (started_at, stopped_at): (Millis, Millis),
        (priority, service_type, policy_version): (&str, &str, u32),
        assignee_id: Option<&str>,
    ) -> SlaRecord {
        SlaRecord {
            record_id: SlaRecord::id_of(tenant_id, ticket_id, goal),
            tenant_id,
            ticket_id: ticket_id.to_string(),
            goal,
            priority: priority.to_string(),
            service_type: service_type.to_string(),
            target_ms,
            actual_ms,
            outcome: outcome.as_str().to_string(),
            policy_version,
            started_at,
            stopped_at,
            assignee_id: assignee_id.map(str::to_string),
        }
    }
}

/// One thing that happened to a ticket, as SLA reports count it: at the instant the engine's
/// rolling metrics count it (`at`), under the ticket's priority and service type then, so a
/// report over a period adds up to what the live metrics said of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketFact {
    /// The tenant.
    pub tenant_id: u64,
    /// The ticket.
    pub ticket_id: String,
    /// The ticket's priority at the time.
    pub priority: String,
    /// The ticket's service type.
    pub service_type: String,
    /// When the metrics count it.
    pub at: Millis,
    /// What happened.
    pub kind: FactKind,
}

/// What a [`TicketFact`] says happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// `ticket.created`.
    Created,
    /// A goal stopped (met, breached or cancelled); its SLA record.
    Stopped(SlaRecord),
    /// RESOLVED → IN_PROGRESS: the resolution goal runs again.
    Reopened,
    /// A satisfaction rating of an open ticket, in hundredths (100–500).
    Rated {
        /// The rating × 100, rounded as the live metrics round it.
        centi: u16,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_the_design_shape() {
        let r = SlaRecord::stopped(
            12345,
            "TKT-001",
            Goal::Resolution,
            GoalOutcome::Breached,
            (86_400_000, 90_000_000),
            (1_763_791_200_000, 1_763_881_200_000),
            ("HIGH", "incident", 2),
            Some("eng-7"),
        );
        let v = serde_json::to_value(&r).expect("serializes");
        assert_eq!(v["record_id"], "12345:TKT-001:resolution");
        assert_eq!(v["outcome"], "breached");
        assert_eq!(v["started_at"], "2025-11-22T06:00:00Z");
        assert_eq!(v["assignee_id"], "eng-7");
        let back: SlaRecord = serde_json::from_value(v).expect("parses");
        assert_eq!(back, r);
    }
}
