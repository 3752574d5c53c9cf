//! The JSON shapes the API and the WebSocket hub send (DESIGN.md §4 and §5), with their
//! OpenAPI schemas. Instants are RFC 3339 strings in UTC, durations `_ms` integers.
//!
//! They live below the REST layer so that the hub, the alert fan-out and notification dispatch
//! use them without importing [`crate::api`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_engine::engine::{GoalView, TicketView};
use vigil_engine::metrics::{Compliance, MetricsSnapshot, WindowStats};
use vigil_engine::AlertRecord;
use vigil_schema::{format_instant, Millis};

use crate::store::{Store, StoreError, StoredAlert};

fn instant(t: Millis) -> String {
    format_instant(t)
}

/// An alert: the record of DESIGN.md §4 plus who acknowledged or resolved it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertView {
    /// Stable id (UUID v5 of the dedupe key).
    pub alert_id: String,
    /// `firing`, `acknowledged`, `resolved` or `retracted`.
    pub state: String,
    /// The tenant.
    pub tenant_id: u64,
    /// The ticket.
    pub ticket_id: String,
    /// `response` or `resolution`.
    pub goal: String,
    /// `warning` or `breach`.
    pub level: String,
    /// Fraction of the target (e.g. 0.8; 1.0 for a breach).
    pub threshold: f64,
    /// The goal's target.
    pub target_ms: i64,
    /// SLA time elapsed when it fired.
    pub elapsed_ms: i64,
    /// The instant the threshold was crossed in SLA time.
    pub fired_at: String,
    /// When the goal breaches (or breached).
    pub deadline: String,
    /// The ticket's priority.
    pub priority: String,
    /// The ticket's service type.
    pub service_type: String,
    /// The policy version the ticket runs under.
    pub policy_version: u32,
    /// Last change (absent for changes not yet read back from the store).
    pub updated_at: Option<String>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When it was acknowledged.
    pub acked_at: Option<String>,
    /// Who resolved it by hand.
    pub resolved_by: Option<String>,
    /// When it was resolved by hand.
    pub resolved_at: Option<String>,
}

impl From<&AlertRecord> for AlertView {
    fn from(r: &AlertRecord) -> AlertView {
        AlertView {
            alert_id: r.alert_id.clone(),
            state: r.state.as_str().into(),
            tenant_id: r.tenant_id,
            ticket_id: r.ticket_id.clone(),
            goal: r.goal.as_str().into(),
            level: r.level.as_str().into(),
            threshold: r.threshold,
            target_ms: r.target_ms,
            elapsed_ms: r.elapsed_ms,
            fired_at: instant(r.fired_at),
            deadline: instant(r.deadline),
            priority: r.priority.clone(),
            service_type: r.service_type.clone(),
            policy_version: r.policy_version,
            updated_at: None,
            acked_by: None,
            acked_at: None,
            resolved_by: None,
            resolved_at: None,
        }
    }
}

impl From<&StoredAlert> for AlertView {
    fn from(a: &StoredAlert) -> AlertView {
        AlertView {
            updated_at: Some(instant(a.updated_at)),
            acked_by: a.acked_by.clone(),
            acked_at: a.acked_at.map(instant),
            resolved_by: a.resolved_by.clone(),
            resolved_at: a.resolved_at.map(instant),
            ..AlertView::from(&a.record)
        }
    }
}

/// Open (firing and acknowledged) alerts of a tenant, or of all, newest first.
pub async fn open_alerts(
    store: &Store,
    tenant: Option<u64>,
    limit: u32,
) -> Result<Vec<AlertView>, StoreError> {
    let rows = store.alerts().open(tenant, limit).await?;
    Ok(rows.iter().map(AlertView::from).collect())
}

/// Where one goal of a ticket stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GoalClock {
    /// `response` or `resolution`.
    pub goal: String,
    /// Current target.
    pub target_ms: i64,
    /// SLA time elapsed.
    pub elapsed_ms: i64,
    /// Target minus elapsed (negative once breached).
    pub remaining_ms: i64,
    /// Elapsed as a percentage of the target.
    pub percent: f64,
    /// Paused by the ticket's status.
    pub paused: bool,
    /// When it breaches if it keeps running; null when paused or stopped.
    pub deadline: Option<String>,
    /// `met`, `breached` or `cancelled` once stopped; null while running.
    pub outcome: Option<String>,
}

impl From<&GoalView> for GoalClock {
    fn from(g: &GoalView) -> GoalClock {
        GoalClock {
            goal: g.goal.as_str().into(),
            target_ms: g.target_ms,
            elapsed_ms: g.elapsed_ms,
            remaining_ms: g.remaining_ms,
            percent: (g.percent * 10.0).round() / 10.0,
            paused: g.paused,
            deadline: g.deadline.map(instant),
            outcome: g.outcome.map(String::from),
        }
    }
}

/// The live SLA clocks of one open ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TicketClocks {
    /// The ticket.
    pub ticket_id: String,
    /// Current status.
    pub status: String,
    /// Current priority.
    pub priority: String,
    /// Service type.
    pub service_type: String,
    /// Policy version it runs under.
    pub policy_version: u32,
    /// The soonest deadline of a goal not yet breached (null if none runs).
    pub next_deadline: Option<String>,
    /// Response and resolution.
    pub goals: Vec<GoalClock>,
}

impl From<&TicketView> for TicketClocks {
    fn from(v: &TicketView) -> TicketClocks {
        TicketClocks {
            ticket_id: v.ticket_id.clone(),
            status: v.status.into(),
            priority: v.priority.clone(),
            service_type: v.service_type.clone(),
            policy_version: v.policy_version,
            next_deadline: v.next_deadline().map(instant),
            goals: v.goals.iter().map(GoalClock::from).collect(),
        }
    }
}

/// A tenant's live figures (the WebSocket `metrics` message and the KPI cards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LiveMetrics {
    /// The instant the figures are for.
    pub at: String,
    /// Open (not final) tickets.
    pub open: u64,
    /// Open tickets in status PENDING.
    pub pending: u64,
    /// Open tickets in status ON_HOLD.
    pub on_hold: u64,
    /// Resolution goals stopped since local midnight.
    pub resolved_today: u64,
    /// Age of the oldest unresolved open ticket.
    pub oldest_open_age_ms: Option<i64>,
    /// Open tickets by priority.
    pub by_priority: BTreeMap<String, u64>,
    /// Rolling windows `1h`, `24h`, `7d`, `30d`: created, resolved, warnings, breaches,
    /// satisfaction, and per goal met, breached, compliance, mean_ms, p95_ms.
    #[schema(value_type = Object)]
    pub windows: BTreeMap<String, WindowStats>,
}

impl LiveMetrics {
    /// The figures of a snapshot.
    pub fn of(s: &MetricsSnapshot) -> LiveMetrics {
        let status = |name: &str| s.open.by_status.get(name).copied().unwrap_or(0);
        LiveMetrics {
            at: instant(s.at),
            open: s.open.total,
            pending: status("PENDING"),
            on_hold: status("ON_HOLD"),
            resolved_today: s.today.resolved,
            oldest_open_age_ms: s.open.oldest_age_ms,
            by_priority: s.open.by_priority.clone(),
            windows: s
                .windows
                .iter()
                .map(|(name, w)| (name.to_string(), *w))
                .collect(),
        }
    }

    /// The figures of a tenant nothing is known of yet.
    pub fn empty(now: Millis) -> LiveMetrics {
        LiveMetrics {
            at: instant(now),
            open: 0,
            pending: 0,
            on_hold: 0,
            resolved_today: 0,
            oldest_open_age_ms: None,
            by_priority: BTreeMap::new(),
            windows: vigil_engine::metrics::WINDOWS
                .iter()
                .map(|(name, _)| (name.to_string(), WindowStats::default()))
                .collect(),
        }
    }
}

/// One goal's outcomes over a range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct GoalCompliance {
    /// Goals that stopped within target.
    pub met: u64,
    /// Goals that stopped past target.
    pub breached: u64,
    /// `met / (met + breached)`; null when none stopped.
    pub compliance: Option<f64>,
}

/// Compliance of a group, or of all tickets.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComplianceRow {
    /// The group (priority name or service type); absent for the total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Response goals.
    pub response: GoalCompliance,
    /// Resolution goals.
    pub resolution: GoalCompliance,
    /// Breached goals of both kinds.
    pub violations: u64,
}

impl ComplianceRow {
    /// A row of a group's (or the total's) figures.
    pub fn of(key: Option<String>, c: &Compliance) -> ComplianceRow {
        let goal = |g: &vigil_engine::metrics::GoalCounts| GoalCompliance {
            met: g.met,
            breached: g.breached,
            compliance: g.compliance,
        };
        ComplianceRow {
            key,
            response: goal(&c.response),
            resolution: goal(&c.resolution),
            violations: c.violations,
        }
    }

    /// The total row of a window's figures.
    pub fn total(w: &WindowStats) -> ComplianceRow {
        let goal = |g: &vigil_engine::metrics::GoalStats| GoalCompliance {
            met: g.met,
            breached: g.breached,
            compliance: g.compliance,
        };
        ComplianceRow {
            key: None,
            response: goal(&w.response),
            resolution: goal(&w.resolution),
            violations: w.response.breached + w.resolution.breached,
        }
    }
}

/// Overall compliance of both goals together: met over all stopped goals.
pub fn overall_compliance(w: &WindowStats) -> Option<f64> {
    let met = w.response.met + w.resolution.met;
    let n = met + w.response.breached + w.resolution.breached;
    (n > 0).then(|| met as f64 / n as f64)
}
