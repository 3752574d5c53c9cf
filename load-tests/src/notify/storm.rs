//! The alert storm workload: overdue tickets that raise every alert at once, in front of a
//! calm backlog whose tickets raise none, so that the engine keeps ingesting while the storm
//! drains through the notifier.
//!
//! Under the default policy (24x7, warn at 80%, CRITICAL 30 min / 4 h):
//! - a storm ticket is CRITICAL, PENDING and created `age` ago (default 5 h): its response
//!   warning (24 min) and breach (30 min) and its resolution warning (3 h 12 min) and breach
//!   (4 h) are all past, so it raises [`ALERTS_PER_STORM_TICKET`] alerts on arrival;
//! - a calm ticket is MEDIUM (8 h / 72 h), created 2–3 h ago, taken in 20 min, resolved in an
//!   hour and closed: [`EVENTS_PER_CALM_TICKET`] events, no alert, and nothing left open that
//!   could fire while the benchmark runs.

use bytes::Bytes;
use vigil_schema::{format_instant, Millis};

/// Alerts one storm ticket raises on arrival (response and resolution, warning and breach).
pub const ALERTS_PER_STORM_TICKET: u64 = 4;
/// Events of one calm ticket: created, assigned, in progress, resolved, closed.
pub const EVENTS_PER_CALM_TICKET: u64 = 5;

const MINUTE: Millis = 60_000;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Storm {
    /// Tenants, ids `1..=tenants`; tickets go round-robin over them.
    pub tenants: u64,
    /// Overdue tickets (each raises [`ALERTS_PER_STORM_TICKET`] alerts).
    pub storm_tickets: u64,
    /// Events of calm tickets after the storm (rounded down to whole tickets).
    pub calm_events: u64,
    /// How long before `now` the storm tickets were created (more than 4 h: every alert is
    /// due).
    pub age_ms: Millis,
    /// The instant the workload is generated for (the service's wall clock).
    pub now: Millis,
}

/// One event ready to publish.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Its tenant (the subject and the partition).
    pub tenant_id: u64,
    /// Its id (`Nats-Msg-Id`).
    pub event_id: String,
    /// The NDJSON line, without the newline.
    pub payload: Bytes,
}

impl Storm {
    /// Alerts the storm raises.
    pub fn alerts(&self) -> u64 {
        self.storm_tickets * ALERTS_PER_STORM_TICKET
    }

    /// Every event: the storm tickets first, then the calm backlog, each ticket's events in
    /// order.
    pub fn events(&self) -> Vec<Planned> {
        let tenants = self.tenants.max(1);
        let calm_tickets = self.calm_events / EVENTS_PER_CALM_TICKET;
        let mut out = Vec::with_capacity(
            (self.storm_tickets + calm_tickets * EVENTS_PER_CALM_TICKET) as usize,
        );
        for k in 0..self.storm_tickets {
            let tenant = 1 + k % tenants;
            let ticket = format!("STORM-{k:07}");
            // Spread over a second so that tickets are not all created in the same instant.
            let created = self.now - self.age_ms - (k % 1000) as Millis;
            out.push(event(
                tenant,
                &ticket,
                1,
                created,
                "ticket.created",
                r#","priority":"CRITICAL","service_type":"incident","status":"PENDING""#,
            ));
        }
        for k in 0..calm_tickets {
            let tenant = 1 + k % tenants;
            let ticket = format!("CALM-{k:07}");
            let created = self.now - 180 * MINUTE + (k % 3600) as Millis * 1000;
            let steps: [(Millis, &str, &str); 5] = [
                (
                    0,
                    "ticket.created",
                    r#","priority":"MEDIUM","service_type":"request","status":"PENDING""#,
                ),
                (5 * MINUTE, "ticket.assigned", r#","assignee_id":"eng-7""#),
                (
                    20 * MINUTE,
                    "ticket.status_changed",
                    r#","status":"IN_PROGRESS""#,
                ),
                (
                    60 * MINUTE,
                    "ticket.status_changed",
                    r#","status":"RESOLVED""#,
                ),
                (
                    61 * MINUTE,
                    "ticket.status_changed",
                    r#","status":"CLOSED""#,
                ),
            ];
            for (n, (after, kind, extra)) in steps.into_iter().enumerate() {
                out.push(event(tenant, &ticket, n + 1, created + after, kind, extra));
            }
        }
        out
    }
}

fn event(tenant: u64, ticket: &str, n: usize, at: Millis, kind: &str, extra: &str) -> Planned {
    let event_id = format!("{tenant}-{ticket}-{n}");
    let json = format!(
        r#"{{"schema":1,"event_id":"{event_id}","event_type":"{kind}","tenant_id":{tenant},"ticket_id":"{ticket}","occurred_at":"{}"{extra}}}"#,
        format_instant(at)
    );
    Planned {
        tenant_id: tenant,
        event_id,
        payload: Bytes::from(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storm_tickets_come_first_and_calm_tickets_keep_their_order() {
        let s = Storm {
            tenants: 3,
            storm_tickets: 4,
            calm_events: 12,
            age_ms: 300 * MINUTE,
            now: 1_800_000_000_000,
        };
        let events = s.events();
        // Two whole calm tickets fit in 12 events.
        assert_eq!(events.len(), 4 + 2 * 5);
        assert_eq!(s.alerts(), 16);
        let tenants: Vec<u64> = events[..4].iter().map(|e| e.tenant_id).collect();
        assert_eq!(tenants, [1, 2, 3, 1]);
        let first_calm: Vec<&str> = events[4..9].iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(
            first_calm,
            [
                "1-CALM-0000000-1",
                "1-CALM-0000000-2",
                "1-CALM-0000000-3",
                "1-CALM-0000000-4",
                "1-CALM-0000000-5"
            ]
        );
        for e in &events {
            let line = std::str::from_utf8(&e.payload).unwrap();
            let ev = vigil_schema::decode(line.as_bytes()).unwrap();
            assert_eq!(ev.tenant_id, e.tenant_id);
            assert!(ev.occurred_at < s.now);
        }
    }
}
