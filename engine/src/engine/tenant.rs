//! One tenant's engine: its open tickets, their timers, alert state and rolling metrics.
//! Pure: no I/O, no actors, no wall clock. Callers feed events and advance time.
//!
//! # Layout
//! - this file: the engine's state, judging and applying events, the ticket lifecycle.
//! - `alerting`: the timer heap of goal deadlines, firing due crossings, alert records.
//! - `state`: the engine to and from its snapshot state (`state_tests`: a restored engine goes
//!   on as the uninterrupted one).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use vigil_schema::prefetch::prefetch;
use vigil_schema::{Event, EventKind, Millis, RejectReason, Rejection, Status};

use super::finals::FinalTickets;
use super::goal::{GoalClock, GoalOutcome};
use super::interner::Interner;
use super::probe::ProbeIndex;
use super::ticket::Ticket;
use crate::alert::{AlertRecord, AlertState, Goal};
use crate::calendar::NEVER;
use crate::metrics::{GroupedCompliance, RollingMetrics, StoppedGoal};
use crate::policy::{PolicyBook, TenantPolicies};
use crate::record::{FactKind, SlaRecord, TicketFact};

mod alerting;
mod state;
#[cfg(test)]
mod state_tests;

/// Settings every tenant engine shares.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How long final tickets are remembered (events for them are accepted and ignored).
    pub final_retention_ms: i64,
    /// How long applied `(tenant_id, event_id)` pairs are remembered to reject repeats, in
    /// event time.
    pub dedupe_window_ms: i64,
    /// Whether [`TicketFact`]s (creations, stopped goals with their [`SlaRecord`]s, reopens,
    /// ratings) are kept for [`TenantEngine::take_facts`] (for SLA reports and exchange
    /// partners).
    pub keep_facts: bool,
    /// Whether the rolling service metrics and the compliance by priority and service type
    /// ([`TenantEngine::metrics`], [`TenantEngine::compliance`]) are kept. Only their readers
    /// need them (the service's API, dashboards and snapshots); a replay or what-if run, whose
    /// output is alerts and goal outcomes, turns them off. Alerts never depend on them.
    pub keep_metrics: bool,
    /// Whether alert records leave the engine with their `alert_id`. A replay turns it off and
    /// its writer thread derives each id ([`AlertRecord::derive_alert_id`]), off the engine's
    /// thread: an id is a SHA-1 of the dedupe key. Records without one have it empty.
    pub alert_ids: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            final_retention_ms: 35 * 86_400_000,
            dedupe_window_ms: 35 * 86_400_000,
            keep_facts: false,
            keep_metrics: true,
            alert_ids: true,
        }
    }
}

/// A scheduled look at one goal: `(due, slot, goal)`, earliest first.
type Timer = Reverse<(Millis, u32, u8)>;

/// The engine of one tenant.
pub struct TenantEngine {
    tenant_id: u64,
    book: Arc<PolicyBook>,
    settings: Arc<EngineSettings>,
    policies: TenantPolicies,
    slots: Vec<Option<Ticket>>,
    free: Vec<u32>,
    /// Open tickets' slots by the hash of their ids.
    index: ProbeIndex,
    hasher: foldhash::fast::FixedState,
    finals: FinalTickets,
    timers: BinaryHeap<Timer>,
    /// The top timer as [`next_due`](Self::next_due) last found it live, so that the next call
    /// need not read its ticket again; forgotten when that goal's `due` changes or its ticket
    /// goes. It only ever spares a check: a timer that fires is checked again.
    live_top: Option<(Millis, u32, u8)>,
    service_types: Interner,
    assignees: Interner,
    metrics: RollingMetrics,
    compliance: GroupedCompliance,
    open: usize,
    facts: Vec<TicketFact>,
}

impl TenantEngine {
    /// An empty engine for a tenant, under its configured policy.
    pub fn new(tenant_id: u64, book: Arc<PolicyBook>, settings: Arc<EngineSettings>) -> Self {
        let policies = TenantPolicies::new(book.initial(tenant_id));
        TenantEngine {
            tenant_id,
            book,
            settings,
            policies,
            slots: Vec::new(),
            free: Vec::new(),
            index: ProbeIndex::default(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
            finals: FinalTickets::default(),
            timers: BinaryHeap::new(),
            live_top: None,
            service_types: Interner::default(),
            assignees: Interner::default(),
            metrics: RollingMetrics::default(),
            compliance: GroupedCompliance::default(),
            open: 0,
            facts: Vec::new(),
        }
    }

    /// The tenant.
    pub fn tenant_id(&self) -> u64 {
        self.tenant_id
    }

    /// Tickets not yet final.
    pub fn open_tickets(&self) -> usize {
        self.open
    }

    /// The tenant's policy versions.
    pub fn policies(&self) -> &TenantPolicies {
        &self.policies
    }

    /// The rolling metrics.
    pub fn metrics(&self) -> &RollingMetrics {
        &self.metrics
    }

    /// The facts of tickets since the last call, in order (always empty unless
    /// [`EngineSettings::keep_facts`]).
    pub fn take_facts(&mut self) -> Vec<TicketFact> {
        std::mem::take(&mut self.facts)
    }

    /// Keeps a fact of the ticket in `slot` at `t` (when facts are kept).
    fn keep_fact(&mut self, slot: u32, t: Millis, kind: FactKind) {
        if !self.settings.keep_facts {
            return;
        }
        let tk = self.ticket(slot);
        let fact = TicketFact {
            tenant_id: self.tenant_id,
            ticket_id: tk.id.to_string(),
            priority: tk.policy.priority_name(tk.priority).to_string(),
            service_type: self.service_types.name(tk.service_type).to_string(),
            at: t,
            kind,
        };
        self.facts.push(fact);
    }

    /// Goal outcomes by priority and by service type.
    pub fn compliance(&self) -> &GroupedCompliance {
        &self.compliance
    }

    fn hash(&self, id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(id)
    }

    /// Indexes the ticket in `slot` under `hash` (its id's [`hash`](Self::hash)).
    pub(super) fn index_slot(&mut self, hash: u64, slot: u32) {
        self.index.insert(hash, slot);
    }

    pub(super) fn find(&self, id: &str) -> Option<u32> {
        self.index.find(self.hash(id), |slot| {
            self.slots[slot as usize]
                .as_ref()
                .is_some_and(|t| t.id == id)
        })
    }

    /// Starts loading what applying `ev` reads first: where its ticket's and its assignee's
    /// lookups begin. For a caller that knows its next events: with many tenants each is a
    /// cache miss, and these overlap with the work on the events before.
    pub fn prefetch_lookups(&self, ev: &Event) {
        self.index.prefetch(self.hash(&ev.ticket_id));
        if let Some(assignee) = &ev.assignee_id {
            self.assignees.prefetch(assignee);
        }
    }

    /// Starts loading the ticket `ev` names and its assignee's name, once what
    /// [`prefetch_lookups`](Self::prefetch_lookups) asked for has arrived.
    pub fn prefetch_ticket(&self, ev: &Event) {
        if let Some(slot) = self.index.prefetch_value(self.hash(&ev.ticket_id)) {
            if let Some(slot) = self.slots.get(slot as usize) {
                prefetch(slot);
            }
        }
        if let Some(assignee) = &ev.assignee_id {
            self.assignees.prefetch_name(assignee);
        }
    }

    pub(super) fn ticket(&self, slot: u32) -> &Ticket {
        match &self.slots[slot as usize] {
            Some(t) => t,
            None => unreachable!("slot {slot} is indexed but empty"),
        }
    }

    fn ticket_mut(&mut self, slot: u32) -> &mut Ticket {
        match &mut self.slots[slot as usize] {
            Some(t) => t,
            None => unreachable!("slot {slot} is indexed but empty"),
        }
    }

    /// Judges an event on its own, as far as that needs the tenant's state (DESIGN.md §3.1):
    /// its priority must be known to the tenant and its policy must compile. Changes nothing.
    /// The caller's dedupe memory comes next (`duplicate_event`), then [`apply`](Self::apply)
    /// judges it against its ticket.
    pub fn judge(&self, ev: &Event) -> Result<(), Rejection> {
        match &ev.kind {
            EventKind::PolicyUpdated { policy } => self
                .policies
                .prepare_update(&self.book, self.tenant_id, policy)
                .map(drop)
                .map_err(|_| invalid_policy()),
            EventKind::Created { priority } | EventKind::PriorityChanged { priority } => self
                .priority_of(ev, priority, self.find(&ev.ticket_id))
                .map(drop),
            _ => Ok(()),
        }
    }

    /// Applies one decoded event that is not a repeat: it is judged on its own first (as
    /// [`judge`](Self::judge) does), then against its ticket. Alert state changes it causes
    /// are appended to `out`. A rejected event changes nothing.
    pub fn apply(&mut self, ev: &Event, out: &mut Vec<AlertRecord>) -> Result<(), Rejection> {
        let t = ev.occurred_at;
        self.finals.expire(t - self.settings.final_retention_ms);
        match &ev.kind {
            EventKind::PolicyUpdated { policy } => {
                let version = self
                    .policies
                    .prepare_update(&self.book, self.tenant_id, policy)
                    .map_err(|_| invalid_policy())?;
                self.policies.push(version);
                Ok(())
            }
            EventKind::Created { priority } => self.create(ev, priority),
            kind => {
                let slot = self.find(&ev.ticket_id);
                let new_priority = match kind {
                    EventKind::PriorityChanged { priority } => {
                        Some(self.priority_of(ev, priority, slot)?)
                    }
                    _ => None,
                };
                let Some(slot) = slot else {
                    if !self.finals.contains(self.hash(&ev.ticket_id)) {
                        return Err(Rejection::new(
                            RejectReason::UnknownTicket,
                            "no open ticket with this ticket_id",
                        ));
                    }
                    // Final means no move out; any other valid event is accepted and ignored.
                    if matches!(kind, EventKind::StatusChanged { .. }) {
                        return Err(Rejection::new(
                            RejectReason::InvalidTransition,
                            "the ticket is final (CLOSED or CANCELLED)",
                        ));
                    }
                    return Ok(());
                };
                self.update(slot, ev, new_priority, out)
            }
        }
    }

    /// The index of a priority an event names, if it is a key of the targets in force: the
    /// ticket's own policy version and service rules while the ticket is open, otherwise the
    /// tenant's policy in force at the event's `occurred_at` under the event's service type.
    fn priority_of(&self, ev: &Event, name: &str, open: Option<u32>) -> Result<u8, Rejection> {
        let known = match open {
            Some(slot) => {
                let tk = self.ticket(slot);
                tk.policy
                    .priority_index(name)
                    .filter(|p| tk.policy.targets(tk.rules, *p).is_some())
            }
            None => {
                let policy = self.policies.in_force_at(ev.occurred_at);
                let rules = policy.rules_index(service_type_of(ev));
                policy
                    .priority_index(name)
                    .filter(|p| policy.targets(rules, *p).is_some())
            }
        };
        known.ok_or(Rejection::new(
            RejectReason::UnknownPriority,
            "priority is not a key of the targets in force",
        ))
    }

    fn create(&mut self, ev: &Event, priority: &str) -> Result<(), Rejection> {
        let t = ev.occurred_at;
        // Judged on its own first: an unknown priority wins over a repeated ticket.
        let prio = self.priority_of(ev, priority, None)?;
        let hash = self.hash(&ev.ticket_id);
        if self.find(&ev.ticket_id).is_some() || self.finals.contains(hash) {
            return Err(Rejection::new(
                RejectReason::DuplicateTicket,
                "the ticket was already created",
            ));
        }
        let policy = self.policies.in_force_at(t).clone();
        let service = service_type_of(ev);
        let rules = policy.rules_index(service);
        let ticket = Ticket {
            id: ev.ticket_id.clone(),
            created_at: t,
            policy,
            rules,
            service_type: self.service_types.intern(service),
            assignee: ev
                .assignee_id
                .as_deref()
                .map_or(u32::MAX, |a| self.assignees.intern(a)),
            priority: prio,
            status: Status::Pending,
            goals: [GoalClock::started(), GoalClock::started()],
            alerts: None,
            since: t,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(ticket);
                s
            }
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Grow by a quarter, not double: slots are most of a tenant's memory.
                    self.slots.reserve_exact((self.slots.len() / 4).max(4));
                }
                self.slots.push(Some(ticket));
                (self.slots.len() - 1) as u32
            }
        };
        self.index_slot(hash, slot);
        self.open += 1;
        if self.settings.keep_metrics {
            self.metrics.ticket_created(t);
        }
        self.keep_fact(slot, t, FactKind::Created);
        self.reschedule(slot);
        Ok(())
    }

    /// Applies an event to an open ticket; `new_priority` is the index of the priority a
    /// `ticket.priority_changed` names, already judged.
    fn update(
        &mut self,
        slot: u32,
        ev: &Event,
        new_priority: Option<u8>,
        out: &mut Vec<AlertRecord>,
    ) -> Result<(), Rejection> {
        let t = ev.occurred_at;
        // Validate before touching anything: a rejected event changes nothing.
        let current = self.ticket(slot).status;
        if let EventKind::StatusChanged { status } = &ev.kind {
            if !current.can_move_to(*status) {
                return Err(Rejection::new(
                    RejectReason::InvalidTransition,
                    "the status machine does not allow this move",
                ));
            }
        }
        // Crossings before the event happened first (rule 7); those at `t` come after it.
        self.fire_due(slot, t, false, out);
        if let EventKind::StatusChanged { status } = &ev.kind {
            let tk = self.ticket(slot);
            if tk.policy.pauses[status.index()] && !tk.paused() && t >= tk.since {
                // A pause that arrives after the wall clock fired alerts it precedes: those
                // thresholds were not crossed after all (rule 8); like any alert they never
                // fire again (rule 6).
                for goal in Goal::ALL {
                    self.retract_from(slot, goal, t, out);
                }
            }
        }
        let assignee = ev.assignee_id.as_deref().map(|a| self.assignees.intern(a));
        let tk = self.ticket_mut(slot);
        let t = t.max(tk.since);
        tk.fold(t);
        if let Some(a) = assignee {
            tk.assignee = a;
        }
        let mut stops: [Option<GoalOutcome>; 2] = [None, None];
        let mut fact = None;
        match &ev.kind {
            EventKind::Responded => stops[0] = Some(GoalOutcome::Met),
            EventKind::StatusChanged { status } => {
                let from = tk.status;
                tk.status = *status;
                match status {
                    Status::InProgress => {
                        stops[0] = Some(GoalOutcome::Met);
                        if from == Status::Resolved {
                            tk.goals[Goal::Resolution.index()].outcome = None;
                            fact = Some(FactKind::Reopened);
                        }
                    }
                    Status::Resolved => stops[1] = Some(GoalOutcome::Met),
                    Status::Cancelled => stops = [Some(GoalOutcome::Cancelled); 2],
                    _ => {}
                }
            }
            EventKind::PriorityChanged { .. } => {
                if let Some(p) = new_priority {
                    tk.priority = p;
                }
            }
            EventKind::SatisfactionRated { satisfaction } => {
                if self.settings.keep_metrics {
                    self.metrics.satisfaction(t, *satisfaction);
                }
                let centi = (satisfaction * 100.0).round() as u16;
                fact = Some(FactKind::Rated { centi });
            }
            _ => {}
        }
        if let Some(kind) = fact {
            self.keep_fact(slot, t, kind);
        }
        for goal in Goal::ALL {
            if let Some(outcome) = stops[goal.index()] {
                self.stop_goal(slot, goal, (t, ev.occurred_at), outcome, out);
            }
        }
        if self.ticket(slot).status.is_final() {
            self.finalize(slot, t);
        } else {
            self.reschedule(slot);
        }
        Ok(())
    }

    /// Stops a goal at `t`; `stopped_at` is the stop's own `occurred_at` (earlier than `t`
    /// only for an event that arrived after later ones of its ticket).
    fn stop_goal(
        &mut self,
        slot: u32,
        goal: Goal,
        (t, stopped_at): (Millis, Millis),
        outcome: GoalOutcome,
        out: &mut Vec<AlertRecord>,
    ) {
        let tk = self.ticket_mut(slot);
        let g = &tk.goals[goal.index()];
        if !g.is_running() {
            return;
        }
        let elapsed = g.acc;
        let target = tk.target(goal);
        let outcome = match outcome {
            GoalOutcome::Cancelled => GoalOutcome::Cancelled,
            _ if elapsed <= target => GoalOutcome::Met,
            _ => GoalOutcome::Breached,
        };
        let g = &mut tk.goals[goal.index()];
        g.outcome = Some(outcome);
        g.due = NEVER;
        let open = std::mem::take(&mut g.open);
        let stopped = StoppedGoal {
            goal,
            outcome,
            elapsed_ms: elapsed,
            wall_ms: t - tk.created_at,
        };
        self.due_changed(slot, goal);
        if self.settings.keep_metrics {
            self.metrics.goal_stopped(t, stopped);
        }
        if let Some(tk) = self.slots[slot as usize].as_ref() {
            let priority = tk.policy.priority_name(tk.priority);
            let service_type = self.service_types.name(tk.service_type);
            if self.settings.keep_metrics {
                self.compliance
                    .goal_stopped(t, stopped, priority, service_type);
            }
            if self.settings.keep_facts {
                let assignee = (tk.assignee != u32::MAX).then(|| self.assignees.name(tk.assignee));
                let record = SlaRecord::stopped(
                    self.tenant_id,
                    &tk.id,
                    goal,
                    outcome,
                    (target, elapsed),
                    (tk.created_at, stopped_at),
                    (priority, service_type, tk.policy.version),
                    assignee,
                );
                self.keep_fact(slot, t, FactKind::Stopped(record));
            }
        }
        if open != 0 {
            // With timers on the wall clock, a stop that arrives late may show that a threshold
            // it preceded was never crossed: those alerts are retracted, the rest resolved.
            let retracted = self.fired_from(slot, goal, open, stopped_at);
            self.announce(slot, goal, open & !retracted, AlertState::Resolved, out);
            self.announce(slot, goal, retracted, AlertState::Retracted, out);
        }
    }

    fn finalize(&mut self, slot: u32, t: Millis) {
        let hash = self.hash(&self.ticket(slot).id);
        self.index.remove(hash, slot);
        self.slots[slot as usize] = None;
        self.free.push(slot);
        if self.live_top.is_some_and(|(_, s, _)| s == slot) {
            self.live_top = None;
        }
        self.finals.insert(hash, t);
        self.open -= 1;
    }

    /// Every open ticket, for snapshots of metrics that are cheaper to scan than to maintain.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.slots.iter().flatten()
    }

    /// The interned name of a service type.
    pub fn service_type_name(&self, id: u32) -> &str {
        self.service_types.name(id)
    }

    /// The interned name of an assignee.
    pub fn assignee_name(&self, id: u32) -> &str {
        self.assignees.name(id)
    }
}

/// The service type an event names, or the default.
fn service_type_of(ev: &Event) -> &str {
    ev.service_type
        .as_deref()
        .unwrap_or(vigil_schema::event::DEFAULT_SERVICE_TYPE)
}

fn invalid_policy() -> Rejection {
    Rejection::new(
        RejectReason::InvalidPolicy,
        "policy has an unknown calendar, a bad target or a bad field",
    )
}
