//! `vigil-load open-tickets`: a workload that leaves many tickets open, for the recovery
//! benchmark: `tickets` LOW tickets created over the hour before `now` (no goal is near a
//! warning for 19 hours, so no alert is raised), followed by `history - tickets` assignments of
//! those tickets, in turn, each later than the last, so the stream holds `history` events and
//! every ticket is still open at the end.

use std::io::Write;

use vigil_schema::{format_instant, Millis};

/// What `vigil-load open-tickets` writes.
#[derive(Debug, Clone, Copy)]
pub struct OpenTickets {
    /// Tickets opened (and left open).
    pub tickets: u64,
    /// Events in all, at least `tickets`.
    pub history: u64,
    /// Tenants the tickets are spread over.
    pub tenants: u64,
    /// The instant the last event happens at (Unix ms); the first is an hour before.
    pub now: Millis,
}

/// One hour, in milliseconds.
const HOUR: Millis = 3_600_000;

impl OpenTickets {
    /// Writes the events as NDJSON, in the order they happen.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let tenants = self.tenants.max(1);
        let tickets = self.tickets.max(1);
        let history = self.history.max(tickets);
        let start = self.now - HOUR;
        // Every event one step later than the one before, over the hour.
        let step = (HOUR as f64 / history as f64).max(0.0);
        let at = |i: u64| start + (i as f64 * step) as Millis;
        for i in 0..tickets {
            let tenant = 1 + i % tenants;
            writeln!(
                out,
                r#"{{"schema":1,"event_id":"c-{i}","event_type":"ticket.created","tenant_id":{tenant},"ticket_id":"T-{i}","occurred_at":"{}","priority":"LOW","service_type":"request","status":"PENDING"}}"#,
                format_instant(at(i))
            )?;
        }
        for j in tickets..history {
            let i = (j - tickets) % tickets;
            let tenant = 1 + i % tenants;
            writeln!(
                out,
                r#"{{"schema":1,"event_id":"a-{j}","event_type":"ticket.assigned","tenant_id":{tenant},"ticket_id":"T-{i}","occurred_at":"{}","assignee_id":"eng-{}"}}"#,
                format_instant(at(j)),
                j % 97
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ticket_is_created_then_assigned_in_turn_and_stays_open() {
        let w = OpenTickets {
            tickets: 3,
            history: 8,
            tenants: 2,
            now: 1_800_000_000_000,
        };
        let mut out = Vec::new();
        w.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 8);
        let kinds: Vec<&str> = lines
            .iter()
            .map(|l| l["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(&kinds[..3], ["ticket.created"; 3]);
        assert!(kinds[3..].iter().all(|k| *k == "ticket.assigned"));
        let tickets: Vec<&str> = lines[3..]
            .iter()
            .map(|l| l["ticket_id"].as_str().unwrap())
            .collect();
        assert_eq!(tickets, ["T-0", "T-1", "T-2", "T-0", "T-1"]);
        assert_eq!(lines[1]["tenant_id"], 2);
        // Each event decodes and none is later than `now`.
        for l in &lines {
            let line = l.to_string();
            let event = vigil_schema::decode(line.as_bytes()).unwrap();
            assert!(event.occurred_at <= w.now);
        }
        let times: Vec<&str> = lines
            .iter()
            .map(|l| l["occurred_at"].as_str().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }
}
