//! When a tenant's goals cross their thresholds: the timer heap of goal deadlines, firing the
//! crossings that are due, and the alert records of a goal's alerts (fired, retracted,
//! re-announced in a new state).

use std::cmp::Reverse;

use vigil_schema::Millis;

use super::TenantEngine;
use crate::alert::{AlertRecord, AlertState, Goal};
use crate::calendar::NEVER;
use crate::engine::ticket::{FiredAlert, Ticket};

impl TenantEngine {
    /// Threshold bits among `bits` of a goal whose alert fired at or after `t`.
    pub(super) fn fired_from(&self, slot: u32, goal: Goal, bits: u16, t: Millis) -> u16 {
        let mut from = 0u16;
        for a in self.ticket(slot).alerts.iter().flat_map(|v| v.iter()) {
            if a.goal == goal && bits & (1 << a.bit) != 0 && a.fired_at >= t {
                from |= 1 << a.bit;
            }
        }
        from
    }

    /// Retracts a goal's firing alerts that fired at or after `t`.
    pub(super) fn retract_from(
        &mut self,
        slot: u32,
        goal: Goal,
        t: Millis,
        out: &mut Vec<AlertRecord>,
    ) {
        let open = self.ticket(slot).goals[goal.index()].open;
        let retracted = self.fired_from(slot, goal, open, t);
        if retracted != 0 {
            self.ticket_mut(slot).goals[goal.index()].open &= !retracted;
            self.announce(slot, goal, retracted, AlertState::Retracted, out);
        }
    }

    /// Re-announces alerts (by threshold bits) of a goal in a new state.
    pub(super) fn announce(
        &self,
        slot: u32,
        goal: Goal,
        bits: u16,
        state: AlertState,
        out: &mut Vec<AlertRecord>,
    ) {
        if bits == 0 {
            return;
        }
        let tk = self.ticket(slot);
        for a in tk.alerts.iter().flat_map(|v| v.iter()) {
            if a.goal == goal && bits & (1 << a.bit) != 0 {
                out.push(self.record(tk, a, state));
            }
        }
    }

    pub(super) fn record(&self, tk: &Ticket, a: &FiredAlert, state: AlertState) -> AlertRecord {
        let (level, threshold) = tk.threshold_of(u32::from(a.bit));
        let mut record = AlertRecord {
            alert_id: String::new(),
            state,
            tenant_id: self.tenant_id,
            ticket_id: tk.id.to_string(),
            goal: a.goal,
            level,
            threshold,
            target_ms: a.target_ms,
            elapsed_ms: a.elapsed_ms,
            fired_at: a.fired_at,
            deadline: a.deadline,
            priority: tk.policy.priority_name(a.priority).to_string(),
            service_type: self.service_types.name(tk.service_type).to_string(),
            policy_version: tk.policy.version,
        };
        if self.settings.alert_ids {
            record.derive_alert_id();
        }
        record
    }

    /// Fires every crossing of a ticket before `until` (or at it, if `inclusive`).
    pub(super) fn fire_due(
        &mut self,
        slot: u32,
        until: Millis,
        inclusive: bool,
        out: &mut Vec<AlertRecord>,
    ) {
        for goal in Goal::ALL {
            loop {
                let tk = self.ticket(slot);
                let Some((bit, _, at)) = tk.next_crossing(goal) else {
                    break;
                };
                if at > until || (at == until && !inclusive) {
                    break;
                }
                let cal = tk.calendar();
                let elapsed = tk.elapsed_at(goal, at);
                let target = tk.target(goal);
                let deadline = if elapsed >= target {
                    at
                } else {
                    cal.add_business(at, target - elapsed)
                };
                let fired = FiredAlert {
                    goal,
                    bit: bit as u8,
                    fired_at: at,
                    elapsed_ms: elapsed,
                    target_ms: target,
                    deadline,
                    priority: tk.priority,
                };
                let record = self.record(tk, &fired, AlertState::Firing);
                if self.settings.keep_metrics {
                    self.metrics.alert_fired(at, record.level);
                }
                out.push(record);
                let tk = self.ticket_mut(slot);
                let g = &mut tk.goals[goal.index()];
                g.fired |= 1 << bit;
                g.open |= 1 << bit;
                // A ticket raises a handful of alerts at most: room for exactly one more, not
                // the four a growing `Vec` would reserve for every ticket that alerts.
                let alerts = tk.alerts.get_or_insert_with(Default::default);
                alerts.reserve_exact(1);
                alerts.push(fired);
            }
        }
    }

    /// Recomputes a ticket's next crossings and schedules them.
    pub(super) fn reschedule(&mut self, slot: u32) {
        for goal in Goal::ALL {
            let due = self
                .ticket(slot)
                .next_crossing(goal)
                .map_or(NEVER, |(_, _, at)| at);
            let tk = self.ticket_mut(slot);
            let g = &mut tk.goals[goal.index()];
            if g.due != due {
                g.due = due;
                self.due_changed(slot, goal);
                if due != NEVER {
                    self.timers.push(Reverse((due, slot, goal.index() as u8)));
                }
            }
        }
        self.compact_timers();
    }

    pub(super) fn compact_timers(&mut self) {
        if self.timers.len() > 64 && self.timers.len() > 4 * self.open + 64 {
            let slots = &self.slots;
            self.timers.retain(|Reverse((due, slot, goal))| {
                slots[*slot as usize]
                    .as_ref()
                    .is_some_and(|t| t.goals[usize::from(*goal)].due == *due)
            });
        }
    }

    pub(super) fn timer_is_live(&self, (due, slot, goal): (Millis, u32, u8)) -> bool {
        self.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .is_some_and(|t| t.goals[usize::from(goal)].due == due)
    }

    /// Forgets that the timer of a goal was found live, once its `due` changed.
    pub(super) fn due_changed(&mut self, slot: u32, goal: Goal) {
        if self
            .live_top
            .is_some_and(|(_, s, g)| s == slot && usize::from(g) == goal.index())
        {
            self.live_top = None;
        }
    }

    /// The earliest pending crossing of any ticket. Called after every event, so the top
    /// timer's ticket (a cache miss, most often for nothing new) is read only when the top or
    /// its goal changed since it was last found live.
    pub fn next_due(&mut self) -> Option<Millis> {
        while let Some(Reverse(top)) = self.timers.peek().copied() {
            if self.live_top == Some(top) || self.timer_is_live(top) {
                self.live_top = Some(top);
                return Some(top.0);
            }
            self.timers.pop();
        }
        None
    }

    /// Fires every crossing before `now` (or at it, if `inclusive`), in time order.
    pub fn advance(&mut self, now: Millis, inclusive: bool, out: &mut Vec<AlertRecord>) {
        while let Some(Reverse(top)) = self.timers.peek().copied() {
            let (due, slot, _) = top;
            if due > now || (due == now && !inclusive) {
                break;
            }
            self.timers.pop();
            if !self.timer_is_live(top) {
                continue;
            }
            self.fire_due(slot, due, true, out);
            self.reschedule(slot);
        }
    }
}
