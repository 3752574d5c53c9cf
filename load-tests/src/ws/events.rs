//! The events `vigil-load ws` publishes: `ticket.created` with a unique ticket id each, spread
//! over the tenants, a share of which breach at once.
//!
//! Everything about event `seq` (its tenant, ticket id, whether it breaches) is a pure function
//! of the plan and `seq`, so a client can tell from an alert's `tenant_id` and `ticket_id`
//! alone which published event it answers.

use bytes::Bytes;
use vigil_schema::{format_instant, Millis};

/// How far in the past a breaching ticket was created: beyond every target of the default
/// policy (CRITICAL: response 30 min, resolution 4 h), so both goals breach when it is applied.
pub const BREACH_AGE_MS: Millis = 3 * 86_400_000;
/// The priority of breaching tickets.
pub const BREACH_PRIORITY: &str = "CRITICAL";
/// Priorities of the other tickets, created now: none of them warns within an hour.
const PRIORITIES: [&str; 3] = ["HIGH", "MEDIUM", "LOW"];
const SERVICES: [&str; 4] = ["incident", "request", "change", "default"];

/// What is published.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPlan {
    /// Prefix of every ticket id of this run (e.g. `LW1f3a9c`), so that tickets of earlier runs
    /// against the same stream are not duplicates and their alerts are not taken for ours.
    pub run: String,
    /// Tenants, ids `1..=tenants`.
    pub tenants: u64,
    /// Fraction of events that breach at once (0..=1), spread evenly over the sequence.
    pub breach_share: f64,
    /// Events in the plan (`rate × duration`).
    pub events: u64,
}

/// One event of the plan.
#[derive(Debug, Clone)]
pub struct PlannedEvent {
    /// Position in the plan.
    pub seq: u64,
    /// Tenant.
    pub tenant_id: u64,
    /// `event_id` (also the `Nats-Msg-Id`).
    pub event_id: String,
    /// Whether it breaches at once.
    pub breaching: bool,
    /// The event's JSON.
    pub payload: Bytes,
}

impl EventPlan {
    /// A plan whose run tag is derived from `run_id` (e.g. the start time in seconds).
    pub fn new(run_id: u64, tenants: u64, breach_share: f64, events: u64) -> EventPlan {
        EventPlan {
            run: format!("LW{:x}", run_id & 0xff_ffff_ffff),
            tenants: tenants.max(1),
            breach_share: breach_share.clamp(0.0, 1.0),
            events,
        }
    }

    /// The tenant of event `seq`: uniformly spread, and independent of whether it breaches.
    pub fn tenant_of(&self, seq: u64) -> u64 {
        1 + mix(seq) % self.tenants
    }

    /// Whether event `seq` breaches: exactly `floor(n × breach_share)` of the first `n` do.
    pub fn is_breaching(&self, seq: u64) -> bool {
        let share = self.breach_share;
        ((seq + 1) as f64 * share).floor() > (seq as f64 * share).floor()
    }

    /// The ticket id of event `seq`.
    pub fn ticket_id(&self, seq: u64) -> String {
        format!("{}-{seq:09}", self.run)
    }

    /// The `seq` of one of this run's ticket ids; `None` for any other id.
    pub fn seq_of(&self, ticket_id: &str) -> Option<u64> {
        let digits = ticket_id.strip_prefix(&self.run)?.strip_prefix('-')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().filter(|seq| *seq < self.events)
    }

    /// Event `seq` published at wall-clock instant `now`: a breaching ticket is CRITICAL and
    /// created [`BREACH_AGE_MS`] ago; the others are created `now` with a lower priority.
    pub fn event(&self, seq: u64, now: Millis) -> PlannedEvent {
        let tenant_id = self.tenant_of(seq);
        let breaching = self.is_breaching(seq);
        let ticket_id = self.ticket_id(seq);
        let event_id = format!("{ticket_id}-created");
        let h = mix(seq ^ 0x5eed);
        let (occurred_at, priority) = if breaching {
            (now - BREACH_AGE_MS, BREACH_PRIORITY)
        } else {
            (now, PRIORITIES[(h % PRIORITIES.len() as u64) as usize])
        };
        let service = SERVICES[((h >> 8) % SERVICES.len() as u64) as usize];
        let payload = format!(
            r#"{{"schema":1,"event_id":"{event_id}","event_type":"ticket.created","tenant_id":{tenant_id},"ticket_id":"{ticket_id}","occurred_at":"{}","priority":"{priority}","service_type":"{service}","status":"PENDING"}}"#,
            format_instant(occurred_at)
        );
        PlannedEvent {
            seq,
            tenant_id,
            event_id,
            breaching,
            payload: Bytes::from(payload),
        }
    }
}

/// SplitMix64's finaliser: spreads consecutive numbers over the whole range.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_schema::{decode, parse_instant, EventKind};

    fn plan() -> EventPlan {
        EventPlan::new(0x1234_5678, 100, 0.05, 100_000)
    }

    #[test]
    fn breaching_share_is_exact_and_even() {
        let p = plan();
        let first: Vec<u64> = (0..100).filter(|s| p.is_breaching(*s)).collect();
        assert_eq!(first, vec![19, 39, 59, 79, 99]);
        let all = (0..p.events).filter(|s| p.is_breaching(*s)).count();
        assert_eq!(all, 5000);
        let none = EventPlan::new(1, 10, 0.0, 1000);
        assert!((0..1000).all(|s| !none.is_breaching(s)));
        let every = EventPlan::new(1, 10, 1.0, 1000);
        assert!((0..1000).all(|s| every.is_breaching(s)));
    }

    #[test]
    fn tenants_are_spread_evenly_also_among_breaching_tickets() {
        let p = plan();
        let mut all = vec![0u64; 101];
        let mut breaching = vec![0u64; 101];
        for s in 0..p.events {
            let t = p.tenant_of(s);
            assert!((1..=100).contains(&t));
            all[t as usize] += 1;
            if p.is_breaching(s) {
                breaching[t as usize] += 1;
            }
        }
        // 1,000 events and 50 breaching ones per tenant on average.
        assert!(all[1..].iter().all(|n| (800..1200).contains(n)), "{all:?}");
        assert!(
            breaching[1..].iter().all(|n| (20..90).contains(n)),
            "{breaching:?}"
        );
    }

    #[test]
    fn ticket_ids_are_unique_and_map_back() {
        let p = plan();
        assert_eq!(p.run, "LW12345678");
        assert_eq!(p.ticket_id(42), "LW12345678-000000042");
        assert_eq!(p.seq_of("LW12345678-000000042"), Some(42));
        assert_eq!(p.seq_of(&p.ticket_id(99_999)), Some(99_999));
        // Beyond the plan, another run, other shapes.
        assert_eq!(p.seq_of("LW12345678-000100000"), None);
        assert_eq!(p.seq_of("LW12345679-000000042"), None);
        assert_eq!(p.seq_of("LW12345678-"), None);
        assert_eq!(p.seq_of("LW12345678-12a"), None);
        assert_eq!(p.seq_of("LW12345678-+12"), None);
        assert_eq!(p.seq_of("TKT-001"), None);
    }

    #[test]
    fn events_decode_as_the_service_reads_them() {
        let p = plan();
        let now = parse_instant("2026-11-22T06:24:00.250Z").unwrap();
        for seq in [0, 19] {
            let e = p.event(seq, now);
            let decoded = decode(&e.payload).unwrap();
            assert_eq!(decoded.tenant_id, e.tenant_id);
            assert_eq!(decoded.tenant_id, p.tenant_of(seq));
            assert_eq!(&*decoded.event_id, e.event_id.as_str());
            assert_eq!(&*decoded.ticket_id, p.ticket_id(seq).as_str());
            let EventKind::Created { priority } = &decoded.kind else {
                panic!("not a ticket.created: {:?}", decoded.kind);
            };
            if e.breaching {
                assert_eq!(seq, 19);
                assert_eq!(&**priority, "CRITICAL");
                assert_eq!(decoded.occurred_at, now - 3 * 86_400_000);
            } else {
                assert_ne!(&**priority, "CRITICAL");
                assert_eq!(decoded.occurred_at, now);
            }
        }
    }
}
