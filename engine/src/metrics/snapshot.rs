//! A point-in-time view of a tenant's metrics: the rolling windows plus figures about open
//! tickets, which are cheaper to scan on demand than to maintain per event.

use std::collections::BTreeMap;

use serde::Serialize;
use vigil_schema::{Millis, Status};

use super::{WindowStats, WINDOWS};
use crate::engine::TenantEngine;

/// Open tickets by status, priority and assignee, with backlog age.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenTickets {
    /// All tickets not final.
    pub total: u64,
    /// By status name.
    pub by_status: BTreeMap<&'static str, u64>,
    /// By priority name.
    pub by_priority: BTreeMap<String, u64>,
    /// By assignee (tickets without one are left out).
    pub by_assignee: BTreeMap<String, u64>,
    /// Age of the oldest open (not resolved) ticket.
    pub oldest_age_ms: Option<i64>,
    /// Mean age of open (not resolved) tickets.
    pub mean_age_ms: Option<f64>,
}

/// Everything the dashboard shows about one tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    /// The tenant.
    pub tenant_id: u64,
    /// The instant the figures are for.
    pub at: Millis,
    /// Open tickets.
    pub open: OpenTickets,
    /// Rolling windows by name (`1h`, `24h`, `7d`, `30d`).
    pub windows: BTreeMap<&'static str, WindowStats>,
    /// Since local midnight in the time zone of the tenant's calendar (UTC for 24x7), at hour
    /// resolution.
    pub today: WindowStats,
}

impl MetricsSnapshot {
    /// Takes a snapshot of a tenant at `now`.
    pub fn of(engine: &TenantEngine, now: Millis) -> MetricsSnapshot {
        // Counted by borrowed names and interned ids; owned names are made once per key.
        let mut open = OpenTickets::default();
        let mut by_priority: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_assignee: BTreeMap<u32, u64> = BTreeMap::new();
        let (mut age_sum, mut age_n) = (0i128, 0i64);
        for t in engine.tickets() {
            open.total += 1;
            *open.by_status.entry(t.status.as_str()).or_default() += 1;
            *by_priority
                .entry(t.policy.priority_name(t.priority))
                .or_default() += 1;
            if t.assignee != u32::MAX {
                *by_assignee.entry(t.assignee).or_default() += 1;
            }
            if t.status != Status::Resolved {
                let age = (now - t.created_at).max(0);
                open.oldest_age_ms = Some(open.oldest_age_ms.map_or(age, |o: i64| o.max(age)));
                age_sum += i128::from(age);
                age_n += 1;
            }
        }
        open.by_priority = by_priority
            .into_iter()
            .map(|(name, n)| (name.to_string(), n))
            .collect();
        open.by_assignee = by_assignee
            .into_iter()
            .map(|(id, n)| (engine.assignee_name(id).to_string(), n))
            .collect();
        open.mean_age_ms = (age_n > 0).then(|| age_sum as f64 / age_n as f64);
        let midnight = engine.policies().latest().base.calendar.start_of_day(now);
        MetricsSnapshot {
            today: engine.metrics().between(now, midnight - 1, now),
            tenant_id: engine.tenant_id(),
            at: now,
            open,
            windows: WINDOWS
                .iter()
                .map(|(name, len)| (*name, engine.metrics().window(now, *len)))
                .collect(),
        }
    }
}
