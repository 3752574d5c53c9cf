//! Upstream events as JSON, and deterministic workloads of them.

use serde_json::{json, Value};

use super::{ms, ts};

/// One upstream event (DESIGN.md §2), built field by field.
#[derive(Debug, Clone)]
pub struct Ev {
    /// The JSON object.
    pub json: Value,
}

impl Ev {
    fn base(kind: &str, tenant: u64, ticket: &str, at: i64, id: &str) -> Ev {
        Ev {
            json: json!({
                "schema": 1, "event_id": id, "event_type": kind, "tenant_id": tenant,
                "ticket_id": ticket, "occurred_at": ts(at),
            }),
        }
    }

    /// `ticket.created` (status PENDING, service type "incident").
    pub fn created(tenant: u64, ticket: &str, at: i64, priority: &str, id: &str) -> Ev {
        Ev::base("ticket.created", tenant, ticket, at, id)
            .with("priority", priority)
            .with("status", "PENDING")
            .with("service_type", "incident")
    }

    /// A CRITICAL ticket created 3.5 hours before now, with event id `<ticket>-c`: under the
    /// default policy its response warning and breach and its resolution warning (192 of 240
    /// min) are due at once.
    pub fn overdue(tenant: u64, ticket: &str) -> Ev {
        Ev::created(
            tenant,
            ticket,
            super::now_ms() - 210 * super::MIN,
            "CRITICAL",
            &format!("{ticket}-c"),
        )
    }

    /// `ticket.responded`.
    pub fn responded(tenant: u64, ticket: &str, at: i64, id: &str) -> Ev {
        Ev::base("ticket.responded", tenant, ticket, at, id)
    }

    /// `ticket.status_changed`.
    pub fn status(tenant: u64, ticket: &str, at: i64, status: &str, id: &str) -> Ev {
        Ev::base("ticket.status_changed", tenant, ticket, at, id).with("status", status)
    }

    /// `ticket.priority_changed`.
    pub fn priority(tenant: u64, ticket: &str, at: i64, priority: &str, id: &str) -> Ev {
        Ev::base("ticket.priority_changed", tenant, ticket, at, id).with("priority", priority)
    }

    /// `ticket.assigned`.
    pub fn assigned(tenant: u64, ticket: &str, at: i64, assignee: &str, id: &str) -> Ev {
        Ev::base("ticket.assigned", tenant, ticket, at, id).with("assignee_id", assignee)
    }

    /// Any event type, for unknown ones.
    pub fn of_type(kind: &str, tenant: u64, ticket: &str, at: i64, id: &str) -> Ev {
        Ev::base(kind, tenant, ticket, at, id)
    }

    /// Sets a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Ev {
        self.json[key] = value.into();
        self
    }

    /// Removes a field.
    pub fn without(mut self, key: &str) -> Ev {
        if let Some(o) = self.json.as_object_mut() {
            o.remove(key);
        }
        self
    }

    /// The event id.
    pub fn id(&self) -> &str {
        self.json["event_id"].as_str().unwrap_or_default()
    }

    /// The tenant.
    pub fn tenant(&self) -> u64 {
        self.json["tenant_id"].as_u64().unwrap_or_default()
    }

    /// `occurred_at` in milliseconds.
    pub fn at(&self) -> i64 {
        ms(self.json["occurred_at"].as_str().unwrap_or_default())
    }

    /// One NDJSON line (without the newline).
    pub fn line(&self) -> String {
        self.json.to_string()
    }
}

/// Lines joined as NDJSON.
pub fn ndjson<S: AsRef<str>>(lines: &[S]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(l.as_ref());
        out.push('\n');
    }
    out
}

/// Events as NDJSON.
pub fn ndjson_of(events: &[Ev]) -> String {
    ndjson(&events.iter().map(Ev::line).collect::<Vec<_>>())
}

/// A small deterministic pseudo-random generator (64-bit LCG), so workloads are the same on
/// every run without a dependency.
#[derive(Debug, Clone)]
pub struct Lcg(u64);

impl Lcg {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1))
    }

    /// The next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// A deterministic workload in `occurred_at` order: `tickets` tickets per tenant, created from
/// `base` on, with every lifecycle the engine knows (left open, responded, resolved and closed,
/// paused and resumed, reopened, cancelled, priority raised). Each ticket's events are at
/// distinct instants at least a second apart. Every event is within two days of `base`.
pub fn workload(tenants: &[u64], tickets: usize, base: i64, seed: u64) -> Vec<Ev> {
    const PRIORITIES: [&str; 4] = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
    let mut rng = Lcg::new(seed);
    let mut events = Vec::new();
    for &tenant in tenants {
        for i in 0..tickets {
            let ticket = format!("W-{tenant}-{i:03}");
            let mut n = 0;
            let mut id = || {
                n += 1;
                format!("{ticket}-e{n}")
            };
            let t0 = base + (i as i64) * 97_000 + rng.below(60) as i64 * 1000;
            let priority = PRIORITIES[rng.below(4) as usize];
            events.push(Ev::created(tenant, &ticket, t0, priority, &id()));
            // Offsets in whole seconds, increasing.
            let mut t = t0;
            let mut step = |rng: &mut Lcg, max_minutes: u64| {
                t += 1000 + rng.below(max_minutes * 60) as i64 * 1000;
                t
            };
            match rng.below(7) {
                0 => {} // left open
                1 => {
                    let at = step(&mut rng, 150);
                    events.push(Ev::responded(tenant, &ticket, at, &id()));
                }
                2 => {
                    let at = step(&mut rng, 60);
                    events.push(Ev::status(tenant, &ticket, at, "IN_PROGRESS", &id()));
                    let at = step(&mut rng, 400);
                    events.push(Ev::status(tenant, &ticket, at, "RESOLVED", &id()));
                    let at = step(&mut rng, 60);
                    events.push(Ev::status(tenant, &ticket, at, "CLOSED", &id()));
                }
                3 => {
                    let at = step(&mut rng, 60);
                    events.push(Ev::status(tenant, &ticket, at, "IN_PROGRESS", &id()));
                    let at = step(&mut rng, 120);
                    events.push(Ev::status(tenant, &ticket, at, "ON_HOLD", &id()));
                    let at = step(&mut rng, 300);
                    events.push(Ev::status(tenant, &ticket, at, "IN_PROGRESS", &id()));
                    let at = step(&mut rng, 300);
                    events.push(Ev::status(tenant, &ticket, at, "RESOLVED", &id()));
                }
                4 => {
                    let at = step(&mut rng, 30);
                    events.push(Ev::assigned(tenant, &ticket, at, "eng-1", &id()));
                    let at = step(&mut rng, 200);
                    events.push(Ev::status(tenant, &ticket, at, "CANCELLED", &id()));
                }
                5 => {
                    let at = step(&mut rng, 200);
                    events.push(Ev::priority(tenant, &ticket, at, "CRITICAL", &id()));
                }
                _ => {
                    let at = step(&mut rng, 30);
                    events.push(Ev::status(tenant, &ticket, at, "IN_PROGRESS", &id()));
                    let at = step(&mut rng, 200);
                    events.push(Ev::status(tenant, &ticket, at, "RESOLVED", &id()));
                    let at = step(&mut rng, 200);
                    events.push(Ev::status(tenant, &ticket, at, "IN_PROGRESS", &id()));
                }
            }
        }
    }
    events.sort_by_key(Ev::at);
    events
}

/// A copy of `events` (in `occurred_at` order) shuffled so that no event comes after another
/// one more than `max_ms` newer than it: each is sorted by `occurred_at` plus a pseudo-random
/// delay in `0..=max_ms`. Returns the copy and how many events changed place.
pub fn shuffle_within(events: &[Ev], max_ms: i64, seed: u64) -> (Vec<Ev>, usize) {
    let mut rng = Lcg::new(seed);
    let mut keyed: Vec<(i64, usize, Ev)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.at() + rng.below(max_ms as u64 + 1) as i64, i, e.clone()))
        .collect();
    keyed.sort_by_key(|(k, i, _)| (*k, *i));
    let moved = keyed
        .iter()
        .enumerate()
        .filter(|(pos, (_, i, _))| pos != i)
        .count();
    (keyed.into_iter().map(|(_, _, e)| e).collect(), moved)
}
