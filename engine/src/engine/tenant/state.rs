//! A tenant's engine to and from its snapshot state ([`TenantState`]): everything it holds but
//! what it can rebuild (the id index, the timer heap, free slots) and the stopped goals not yet
//! taken by [`TenantEngine::take_facts`] (taken before every snapshot).

use std::cmp::Reverse;
use std::sync::Arc;

use vigil_schema::Status;

use super::TenantEngine;
use crate::calendar::NEVER;
use crate::engine::finals::FinalTickets;
use crate::engine::interner::Interner;
use crate::engine::probe::ProbeIndex;
use crate::engine::ticket::Ticket;
use crate::engine::EngineSettings;
use crate::policy::{PolicyBook, PolicySpec, TenantPolicies};
use crate::snapshot::{PolicyVersionState, SnapshotError, TenantState, TicketState};

impl TenantEngine {
    /// This engine's state, for a snapshot.
    pub fn to_state(&self) -> TenantState {
        TenantState {
            tenant_id: self.tenant_id,
            policies: self
                .policies
                .versions()
                .iter()
                .map(|v| PolicyVersionState {
                    version: v.version,
                    effective_from: v.effective_from,
                    // A spec always serializes as JSON: plain data with string keys.
                    spec_json: serde_json::to_string(&v.spec).unwrap_or_default(),
                })
                .collect(),
            tickets: self
                .slots
                .iter()
                .flatten()
                .map(|t| TicketState {
                    id: t.id.as_str().into(),
                    created_at: t.created_at,
                    policy_version: t.policy.version,
                    rules: t.rules,
                    service_type: t.service_type,
                    assignee: t.assignee,
                    priority: t.priority,
                    status: t.status.index() as u8,
                    goals: t.goals.clone(),
                    alerts: t.alerts.as_deref().cloned().unwrap_or_default(),
                    since: t.since,
                })
                .collect(),
            finals: self.finals.entries().collect(),
            service_types: self.service_types.names().map(Box::from).collect(),
            assignees: self.assignees.names().map(Box::from).collect(),
            metrics: self.metrics.clone(),
            compliance: self.compliance.clone(),
        }
    }

    /// The engine a snapshot's state describes, under the configured policy book (its policy
    /// versions are compiled again). Refused when the state does not fit this configuration:
    /// the caller then rebuilds the tenant from the stream.
    pub fn from_state(
        state: TenantState,
        book: Arc<PolicyBook>,
        settings: Arc<EngineSettings>,
    ) -> Result<TenantEngine, SnapshotError> {
        let tenant = state.tenant_id;
        let refuse = |why: String| SnapshotError::Restore(format!("tenant {tenant}: {why}"));
        let saved = state
            .policies
            .iter()
            .map(|p| {
                serde_json::from_str::<PolicySpec>(&p.spec_json)
                    .map(|spec| (p.version, p.effective_from, spec))
                    .map_err(|e| refuse(format!("policy version {}: {e}", p.version)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let policies = TenantPolicies::restore(&book, tenant, &saved).map_err(refuse)?;
        let mut engine = TenantEngine::new(tenant, book, settings);
        engine.policies = policies;
        engine.finals = FinalTickets::from_entries(state.finals);
        engine.service_types = Interner::from_names(state.service_types);
        engine.assignees = Interner::from_names(state.assignees);
        engine.metrics = state.metrics;
        engine.compliance = state.compliance;
        engine.slots.reserve(state.tickets.len());
        engine.index = ProbeIndex::with_capacity(state.tickets.len());
        for t in state.tickets {
            let policy = engine
                .policies
                .get(t.policy_version)
                .cloned()
                .ok_or_else(|| refuse(format!("ticket {}: no policy version", t.id)))?;
            let status = Status::ALL
                .get(usize::from(t.status))
                .copied()
                .ok_or_else(|| refuse(format!("ticket {}: no status {}", t.id, t.status)))?;
            let ticket = Ticket {
                id: t.id.into(),
                created_at: t.created_at,
                policy,
                rules: t.rules,
                service_type: t.service_type,
                assignee: t.assignee,
                priority: t.priority,
                status,
                goals: t.goals,
                alerts: (!t.alerts.is_empty()).then(|| Box::new(t.alerts)),
                since: t.since,
            };
            engine.insert_restored(ticket);
        }
        Ok(engine)
    }

    /// Puts a restored ticket into the next slot, indexed, with timers for its goals' next
    /// crossings (their `due` was saved with them).
    fn insert_restored(&mut self, ticket: Ticket) {
        let slot = self.slots.len() as u32;
        let hash = self.hash(&ticket.id);
        for (goal, clock) in ticket.goals.iter().enumerate() {
            if clock.due != NEVER {
                self.timers.push(Reverse((clock.due, slot, goal as u8)));
            }
        }
        self.slots.push(Some(ticket));
        self.index_slot(hash, slot);
        self.open += 1;
    }
}
