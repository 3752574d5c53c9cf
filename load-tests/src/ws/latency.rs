//! Push-latency bookkeeping: when each breaching ticket was published, looked up by the
//! clients when its alerts arrive. Lock-free: one slot per planned event.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::events::EventPlan;

/// Publish instants of the breaching tickets of a plan.
#[derive(Debug)]
pub struct PublishLog {
    plan: EventPlan,
    origin: Instant,
    /// Nanoseconds after `origin` + 1 of each event's publish; 0 while not published.
    sent: Box<[AtomicU64]>,
    /// Whether an alert of the ticket has arrived yet.
    alerted: Box<[AtomicBool]>,
}

/// What an alert's `tenant_id` and `ticket_id` refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A breaching ticket of this run: the time since its publish, and whether this is the
    /// first alert of that ticket to arrive at any client.
    Latency {
        /// Receive instant − publish instant.
        latency: Duration,
        /// First alert of the ticket.
        first: bool,
    },
    /// A ticket of this run that was not meant to breach (or not yet published).
    Unexpected,
    /// Not a ticket of this run (an earlier run, another tenant id than planned, another
    /// producer).
    Foreign,
}

impl PublishLog {
    /// An empty log for `plan`; instants are kept relative to `origin`.
    pub fn new(plan: EventPlan, origin: Instant) -> PublishLog {
        let n = usize::try_from(plan.events).unwrap_or(usize::MAX);
        PublishLog {
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            alerted: (0..n).map(|_| AtomicBool::new(false)).collect(),
            plan,
            origin,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &EventPlan {
        &self.plan
    }

    /// Notes that event `seq` was published at `at`.
    pub fn record(&self, seq: u64, at: Instant) {
        if let Some(slot) = self.sent.get(seq as usize) {
            let nanos = at.saturating_duration_since(self.origin).as_nanos();
            slot.store(
                u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1,
                Ordering::Release,
            );
        }
    }

    /// The publish instant of event `seq`, if it was recorded.
    pub fn published_at(&self, seq: u64) -> Option<Instant> {
        match self.sent.get(seq as usize)?.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.origin + Duration::from_nanos(n - 1)),
        }
    }

    /// Looks up a firing alert of `ticket_id` for `tenant_id` received at `received`.
    pub fn lookup(&self, tenant_id: u64, ticket_id: &str, received: Instant) -> Lookup {
        let Some(seq) = self.plan.seq_of(ticket_id) else {
            return Lookup::Foreign;
        };
        if self.plan.tenant_of(seq) != tenant_id {
            return Lookup::Foreign;
        }
        if !self.plan.is_breaching(seq) {
            return Lookup::Unexpected;
        }
        let Some(published) = self.published_at(seq) else {
            return Lookup::Unexpected;
        };
        let first = !self.alerted[seq as usize].swap(true, Ordering::Relaxed);
        Lookup::Latency {
            latency: received.saturating_duration_since(published),
            first,
        }
    }

    /// Breaching tickets with at least one alert received.
    pub fn alerted_tickets(&self) -> u64 {
        self.alerted
            .iter()
            .filter(|a| a.load(Ordering::Relaxed))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (PublishLog, Instant) {
        let origin = Instant::now();
        let plan = EventPlan::new(7, 10, 0.5, 100);
        (PublishLog::new(plan, origin), origin)
    }

    #[test]
    fn latency_is_receive_minus_publish_and_first_is_once_per_ticket() {
        let (log, origin) = setup();
        let plan = log.plan().clone();
        let seq = (0..100).find(|s| plan.is_breaching(*s)).unwrap();
        let tenant = plan.tenant_of(seq);
        let ticket = plan.ticket_id(seq);
        let published = origin + Duration::from_millis(5);
        log.record(seq, published);
        assert_eq!(log.published_at(seq), Some(published));
        assert_eq!(log.alerted_tickets(), 0);
        let at = published + Duration::from_micros(1500);
        assert_eq!(
            log.lookup(tenant, &ticket, at),
            Lookup::Latency {
                latency: Duration::from_micros(1500),
                first: true
            }
        );
        assert_eq!(
            log.lookup(tenant, &ticket, at + Duration::from_millis(1)),
            Lookup::Latency {
                latency: Duration::from_micros(2500),
                first: false
            }
        );
        assert_eq!(log.alerted_tickets(), 1);
        // A receive instant before the publish (clock skew between tasks) counts as 0.
        assert_eq!(
            log.lookup(tenant, &ticket, origin),
            Lookup::Latency {
                latency: Duration::ZERO,
                first: false
            }
        );
    }

    #[test]
    fn other_tickets_are_told_apart() {
        let (log, origin) = setup();
        let plan = log.plan().clone();
        let calm = (0..100).find(|s| !plan.is_breaching(*s)).unwrap();
        let hot = (0..100).find(|s| plan.is_breaching(*s)).unwrap();
        log.record(calm, origin);
        let t = |s| plan.tenant_of(s);
        assert_eq!(
            log.lookup(t(calm), &plan.ticket_id(calm), origin),
            Lookup::Unexpected
        );
        // Breaching but not published yet.
        assert_eq!(
            log.lookup(t(hot), &plan.ticket_id(hot), origin),
            Lookup::Unexpected
        );
        // Right ticket, wrong tenant; another run; not ours at all.
        let other_tenant = t(hot) % 10 + 1;
        assert_eq!(
            log.lookup(other_tenant, &plan.ticket_id(hot), origin),
            Lookup::Foreign
        );
        let earlier = EventPlan::new(6, 10, 0.5, 100);
        assert_eq!(
            log.lookup(t(hot), &earlier.ticket_id(hot), origin),
            Lookup::Foreign
        );
        assert_eq!(log.lookup(1, "TKT-001", origin), Lookup::Foreign);
        // Recording beyond the plan is ignored.
        log.record(1000, origin);
        assert_eq!(log.published_at(1000), None);
    }
}
