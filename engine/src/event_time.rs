//! The event-time driver: applies events in `occurred_at` order through a reorder buffer as
//! wide as the allowed lateness, and fires timers on a clock that is the largest `occurred_at`
//! seen minus the lateness (DESIGN.md §3 rule 10, §3.1). `vigil replay` runs it over a file and
//! the service runs it per partition when `[engine] clock = "event"`, so both give the same
//! alerts.
//!
//! Ordering guarantees: events apply in `(occurred_at, arrival)` order; a timer at `t` fires
//! after every event at `t`; nothing at or after the clock is processed until the clock passes
//! it, and at the end of input everything up to the last applied `occurred_at` (inclusive) is.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use hashbrown::HashMap;
use vigil_schema::{Dedupe, Event, EventKey, Millis, RejectReason, Rejection};

use crate::alert::AlertRecord;
use crate::engine::{EngineSettings, TenantEngine};
use crate::policy::PolicyBook;
use crate::record::TicketFact;

/// What the driver reports as it goes.
pub trait Sink<T> {
    /// An event was applied.
    fn applied(&mut self, event: &Event, tag: T);
    /// An event was not applied.
    fn rejected(&mut self, event: &Event, tag: T, rejection: Rejection);
    /// An alert changed state.
    fn alert(&mut self, record: AlertRecord);
}

/// A [`Sink`] that keeps what the driver reports, for callers that act on it afterwards (an
/// async caller cannot await inside a sink).
#[derive(Debug)]
pub struct Collected<T> {
    /// Each event handled, with its tag and whether it was applied.
    pub outcomes: Vec<(T, Event, Result<(), Rejection>)>,
    /// Alert changes, in order.
    pub alerts: Vec<AlertRecord>,
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Collected {
            outcomes: Vec::new(),
            alerts: Vec::new(),
        }
    }
}

impl<T> Sink<T> for Collected<T> {
    fn applied(&mut self, event: &Event, tag: T) {
        self.outcomes.push((tag, event.clone(), Ok(())));
    }

    fn rejected(&mut self, event: &Event, tag: T, rejection: Rejection) {
        self.outcomes.push((tag, event.clone(), Err(rejection)));
    }

    fn alert(&mut self, record: AlertRecord) {
        self.alerts.push(record);
    }
}

struct Pending<T> {
    at: Millis,
    seq: u64,
    /// The event's dedupe key, computed as it arrives so its lookup can be prefetched.
    key: EventKey,
    event: Event,
    tag: T,
}

/// How many queued events ahead of the one applied the driver prefetches the dedupe lookup
/// and the ticket of: far enough for the loads to arrive before they are needed, near enough
/// to stay in the cache.
const PREFETCH_AHEAD: usize = 4;
/// How far ahead the driver prefetches where the ticket lookups begin, so that the ticket's
/// index entry has arrived when [`PREFETCH_AHEAD`] reads it to find the ticket.
const PREFETCH_LOOKUPS_AHEAD: usize = 2 * PREFETCH_AHEAD;

impl<T> PartialEq for Pending<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<T> Eq for Pending<T> {}
impl<T> PartialOrd for Pending<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Pending<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Event-time engine over any number of tenants.
pub struct EventTimeDriver<T> {
    book: Arc<PolicyBook>,
    settings: Arc<EngineSettings>,
    lateness_ms: i64,
    tenants: Vec<TenantEngine>,
    tenant_index: HashMap<u64, u32>,
    /// The instant each tenant is woken at (its earliest crossing), `Millis::MAX` for none.
    scheduled: Vec<Millis>,
    wakeups: BinaryHeap<Reverse<(Millis, u32)>>,
    /// Events that arrived in order (the common case): a queue, cheap to push and pop.
    in_order: VecDeque<Pending<T>>,
    /// Events that arrived behind the newest one: a heap.
    buffer: BinaryHeap<Reverse<Pending<T>>>,
    seq: u64,
    max_seen: Millis,
    max_applied: Millis,
    applied_ids: Dedupe,
    alerts: Vec<AlertRecord>,
}

impl<T> EventTimeDriver<T> {
    /// A driver with the given allowed lateness.
    pub fn new(book: Arc<PolicyBook>, settings: Arc<EngineSettings>, lateness_ms: i64) -> Self {
        let applied_ids = Dedupe::new(settings.dedupe_window_ms);
        EventTimeDriver {
            applied_ids,
            book,
            settings,
            lateness_ms,
            tenants: Vec::new(),
            tenant_index: HashMap::new(),
            scheduled: Vec::new(),
            wakeups: BinaryHeap::new(),
            in_order: VecDeque::new(),
            buffer: BinaryHeap::new(),
            seq: 0,
            max_seen: Millis::MIN,
            max_applied: Millis::MIN,
            alerts: Vec::new(),
        }
    }

    /// The event-time clock: the largest `occurred_at` seen minus the lateness.
    pub fn clock(&self) -> Millis {
        self.max_seen.saturating_sub(self.lateness_ms)
    }

    /// Tenants seen so far.
    pub fn tenants(&self) -> impl Iterator<Item = &TenantEngine> {
        self.tenants.iter()
    }

    /// The facts of tickets every tenant kept since the last call (only with
    /// [`EngineSettings::keep_facts`]), tenant by tenant.
    pub fn take_facts(&mut self) -> Vec<TicketFact> {
        self.tenants
            .iter_mut()
            .flat_map(TenantEngine::take_facts)
            .collect()
    }

    /// Events waiting in the reorder buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len() + self.in_order.len()
    }

    /// The `occurred_at` of the next event to release.
    fn next_event_at(&self) -> Option<Millis> {
        match (self.in_order.front(), self.buffer.peek()) {
            (Some(a), Some(Reverse(b))) => Some(a.at.min(b.at)),
            (Some(a), None) => Some(a.at),
            (None, Some(Reverse(b))) => Some(b.at),
            (None, None) => None,
        }
    }

    /// Takes the next event in `(occurred_at, arrival)` order.
    fn pop_event(&mut self) -> Option<Pending<T>> {
        let from_queue = match (self.in_order.front(), self.buffer.peek()) {
            (Some(a), Some(Reverse(b))) => a < b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if from_queue {
            self.in_order.pop_front()
        } else {
            self.buffer.pop().map(|Reverse(p)| p)
        }
    }

    /// Takes one event. An event more than the lateness behind the largest `occurred_at` seen
    /// is rejected as `too_late` at once; others wait in the buffer until the clock passes them.
    pub fn offer(&mut self, event: Event, tag: T, sink: &mut impl Sink<T>) {
        if event.occurred_at < self.clock() {
            sink.rejected(
                &event,
                tag,
                Rejection::new(
                    RejectReason::TooLate,
                    "more than the allowed lateness behind the newest event",
                ),
            );
            return;
        }
        self.max_seen = self.max_seen.max(event.occurred_at);
        self.seq += 1;
        let pending = Pending {
            at: event.occurred_at,
            seq: self.seq,
            key: EventKey::new(event.tenant_id, &event.event_id),
            event,
            tag,
        };
        if self
            .in_order
            .back()
            .is_none_or(|last| last.at <= pending.at)
        {
            self.in_order.push_back(pending);
        } else {
            self.buffer.push(Reverse(pending));
        }
        let clock = self.clock();
        self.drain(clock, sink);
    }

    /// End of input: applies everything buffered and advances the clock to the largest
    /// `occurred_at` of an applied event, inclusive, and no further.
    pub fn finish(&mut self, sink: &mut impl Sink<T>) {
        loop {
            let next_event = self.next_event_at();
            let timer = self
                .next_wakeup()
                .filter(|due| *due <= self.max_applied && next_event.is_none_or(|e| *due < e));
            match (timer, next_event) {
                (Some(due), _) => self.wake(due, sink),
                (None, Some(_)) => self.release(sink),
                (None, None) => break,
            }
        }
    }

    /// Processes everything before `until`: events and timers in time order, events first
    /// on ties.
    fn drain(&mut self, until: Millis, sink: &mut impl Sink<T>) {
        loop {
            let next_event = self.next_event_at().filter(|t| *t < until);
            let timer = self.next_wakeup().filter(|t| *t < until);
            match (next_event, timer) {
                (Some(e), Some(due)) if due < e => self.wake(due, sink),
                (Some(_), _) => self.release(sink),
                (None, Some(due)) => self.wake(due, sink),
                (None, None) => break,
            }
        }
    }

    fn next_wakeup(&mut self) -> Option<Millis> {
        while let Some(&Reverse((due, idx))) = self.wakeups.peek() {
            if self.scheduled[idx as usize] == due {
                return Some(due);
            }
            self.wakeups.pop();
        }
        None
    }

    fn wake(&mut self, due: Millis, sink: &mut impl Sink<T>) {
        let Some(Reverse((_, idx))) = self.wakeups.pop() else {
            return;
        };
        let mut alerts = std::mem::take(&mut self.alerts);
        self.tenants[idx as usize].advance(due, true, &mut alerts);
        for a in alerts.drain(..) {
            sink.alert(a);
        }
        self.alerts = alerts;
        self.reschedule(idx);
    }

    fn reschedule(&mut self, idx: u32) {
        let due = self.tenants[idx as usize].next_due().unwrap_or(Millis::MAX);
        if self.scheduled[idx as usize] != due {
            self.scheduled[idx as usize] = due;
            if due != Millis::MAX {
                self.wakeups.push(Reverse((due, idx)));
            }
        }
    }

    fn tenant(&mut self, tenant_id: u64) -> u32 {
        if let Some(i) = self.tenant_index.get(&tenant_id) {
            return *i;
        }
        let idx = self.tenants.len() as u32;
        self.tenants.push(TenantEngine::new(
            tenant_id,
            self.book.clone(),
            self.settings.clone(),
        ));
        self.scheduled.push(Millis::MAX);
        self.tenant_index.insert(tenant_id, idx);
        idx
    }

    /// Starts loading what the queued events ahead will read: where their ticket lookups
    /// begin, then (once those have arrived) their tickets and dedupe lookups.
    fn prefetch_ahead(&self) {
        let tenant = |p: &Pending<T>| {
            let idx = self.tenant_index.get(&p.event.tenant_id)?;
            self.tenants.get(*idx as usize)
        };
        if let Some(ahead) = self.in_order.get(PREFETCH_LOOKUPS_AHEAD) {
            if let Some(engine) = tenant(ahead) {
                engine.prefetch_lookups(&ahead.event);
            }
        }
        if let Some(ahead) = self.in_order.get(PREFETCH_AHEAD) {
            self.applied_ids.prefetch(ahead.key);
            if let Some(engine) = tenant(ahead) {
                engine.prefetch_ticket(&ahead.event);
            }
        }
    }

    fn release(&mut self, sink: &mut impl Sink<T>) {
        let Some(p) = self.pop_event() else {
            return;
        };
        self.prefetch_ahead();
        let id_key = p.key;
        let idx = self.tenant(p.event.tenant_id);
        let engine = &mut self.tenants[idx as usize];
        // Judged on its own, then as a repeat, then against its ticket (DESIGN.md §3.1).
        if self.applied_ids.contains_key(id_key) {
            let verdict = engine.judge(&p.event).and(Err::<(), _>(Rejection::new(
                RejectReason::DuplicateEvent,
                "event_id was already applied",
            )));
            if let Err(r) = verdict {
                sink.rejected(&p.event, p.tag, r);
            }
            return;
        }
        let mut alerts = std::mem::take(&mut self.alerts);
        let result = engine.apply(&p.event, &mut alerts);
        for a in alerts.drain(..) {
            sink.alert(a);
        }
        self.alerts = alerts;
        match result {
            Ok(()) => {
                if p.at >= self.applied_ids.next_expiry() {
                    self.applied_ids.expire_before(p.at);
                }
                self.applied_ids.insert_key(id_key, p.at);
                self.max_applied = self.max_applied.max(p.at);
                sink.applied(&p.event, p.tag);
            }
            Err(r) => sink.rejected(&p.event, p.tag, r),
        }
        self.reschedule(idx);
    }
}
