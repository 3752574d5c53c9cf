//! The SLA workload: tickets of many tenants going through realistic lifecycles.
//!
//! Each ticket is created, usually assigned, responded to (or moved to IN_PROGRESS), sometimes
//! put ON_HOLD and resumed, sometimes re-prioritised, resolved, sometimes reopened, and closed
//! or cancelled. Delays are drawn so that a share of goals breach under the default policy.
//! Output is NDJSON in `occurred_at` order, optionally shuffled within a window.

use std::io::{self, Write};

use vigil_schema::{format_instant, Millis};

use crate::rng::Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Total events (approximate: whole tickets are generated until it is reached).
    pub events: u64,
    /// Number of tenants, ids `1..=tenants` offset by `first_tenant`.
    pub tenants: u64,
    /// First tenant id.
    pub first_tenant: u64,
    /// Tickets are created uniformly over this span.
    pub span_ms: i64,
    /// First creation instant.
    pub start: Millis,
    /// Seed of the generator.
    pub seed: u64,
    /// Time scale of the lifecycle delays (1.0: the default policy's hours and days).
    pub delay_scale: f64,
    /// Shuffle events within this window (0: sorted).
    pub shuffle_ms: i64,
}

const PRIORITIES: [(&str, f64); 4] = [
    ("CRITICAL", 0.05),
    ("HIGH", 0.2),
    ("MEDIUM", 0.45),
    ("LOW", 0.3),
];
const SERVICES: [&str; 4] = ["incident", "request", "change", "default"];
/// Mean response delay per priority, minutes (targets 30, 120, 480, 1440).
const RESPONSE_MEAN_MIN: [f64; 4] = [18.0, 70.0, 260.0, 700.0];
/// Mean resolution delay per priority, minutes (targets 240, 1440, 4320, 10080).
const RESOLUTION_MEAN_MIN: [f64; 4] = [150.0, 800.0, 2400.0, 5000.0];

struct Line {
    at: Millis,
    seq: u64,
    json: String,
}

impl Workload {
    /// Writes the workload as NDJSON; returns the number of events written.
    pub fn write(&self, out: &mut impl Write) -> io::Result<u64> {
        let mut rng = Rng::new(self.seed);
        let mut lines: Vec<Line> = Vec::with_capacity(self.events as usize + 16);
        let mut ticket_no = 0u64;
        let minute = 60_000.0 * self.delay_scale;
        while (lines.len() as u64) < self.events {
            ticket_no += 1;
            let tenant = self.first_tenant + rng.below(self.tenants);
            let ticket = format!("TKT-{ticket_no:07}");
            let p = pick_priority(&mut rng);
            let service = SERVICES[rng.below(SERVICES.len() as u64) as usize];
            let created = self.start + (rng.unit() * self.span_ms as f64) as i64;
            let mut n = 0u32;
            let mut push = |lines: &mut Vec<Line>, at: Millis, kind: &str, extra: String| {
                n += 1;
                let seq = lines.len() as u64;
                lines.push(Line {
                    at,
                    seq,
                    json: format!(
                        r#"{{"schema":1,"event_id":"{tenant}-{ticket}-{n}","event_type":"{kind}","tenant_id":{tenant},"ticket_id":"{ticket}","occurred_at":"{}"{extra}}}"#,
                        format_instant(at)
                    ),
                });
            };
            push(
                &mut lines,
                created,
                "ticket.created",
                format!(
                    r#","priority":"{}","service_type":"{service}","status":"PENDING""#,
                    PRIORITIES[p].0
                ),
            );
            let mut t = created;
            if rng.chance(0.8) {
                t += (rng.exp(5.0) * minute) as i64;
                push(
                    &mut lines,
                    t,
                    "ticket.assigned",
                    format!(r#","assignee_id":"eng-{}""#, rng.below(50)),
                );
            }
            t = t.max(created + (rng.exp(RESPONSE_MEAN_MIN[p]) * minute) as i64);
            if rng.chance(0.5) {
                push(&mut lines, t, "ticket.responded", String::new());
                t += (rng.exp(10.0) * minute) as i64;
            }
            push(
                &mut lines,
                t,
                "ticket.status_changed",
                r#","status":"IN_PROGRESS""#.into(),
            );
            if rng.chance(0.03) {
                push(
                    &mut lines,
                    t + 1000,
                    "ticket.status_changed",
                    r#","status":"CANCELLED""#.into(),
                );
                continue;
            }
            if rng.chance(0.1) {
                t += (rng.exp(60.0) * minute) as i64;
                push(
                    &mut lines,
                    t,
                    "ticket.status_changed",
                    r#","status":"ON_HOLD""#.into(),
                );
                t += (rng.exp(120.0) * minute) as i64;
                push(
                    &mut lines,
                    t,
                    "ticket.status_changed",
                    r#","status":"IN_PROGRESS""#.into(),
                );
            }
            if rng.chance(0.05) {
                let np = pick_priority(&mut rng);
                t += (rng.exp(30.0) * minute) as i64;
                push(
                    &mut lines,
                    t,
                    "ticket.priority_changed",
                    format!(r#","priority":"{}""#, PRIORITIES[np].0),
                );
            }
            t = t.max(created + (rng.exp(RESOLUTION_MEAN_MIN[p]) * minute) as i64);
            push(
                &mut lines,
                t,
                "ticket.status_changed",
                r#","status":"RESOLVED""#.into(),
            );
            if rng.chance(0.04) {
                t += (rng.exp(120.0) * minute) as i64;
                push(
                    &mut lines,
                    t,
                    "ticket.status_changed",
                    r#","status":"IN_PROGRESS""#.into(),
                );
                t += (rng.exp(240.0) * minute) as i64;
                push(
                    &mut lines,
                    t,
                    "ticket.status_changed",
                    r#","status":"RESOLVED""#.into(),
                );
            }
            if rng.chance(0.3) {
                push(
                    &mut lines,
                    t + 60_000,
                    "ticket.satisfaction_rated",
                    format!(r#","satisfaction":{}"#, 1 + rng.below(5)),
                );
            }
            if rng.chance(0.9) {
                t += (rng.exp(1440.0) * minute) as i64;
                push(
                    &mut lines,
                    t,
                    "ticket.status_changed",
                    r#","status":"CLOSED""#.into(),
                );
            }
        }
        lines.sort_unstable_by_key(|l| (l.at, l.seq));
        if self.shuffle_ms > 0 {
            // Swap each line with a random later one less than the window ahead of it.
            for i in 0..lines.len() {
                let limit = lines[i].at + self.shuffle_ms;
                let mut j = i;
                while j + 1 < lines.len() && lines[j + 1].at < limit && j - i < 64 {
                    j += 1;
                }
                let k = i + rng.below((j - i + 1) as u64) as usize;
                lines.swap(i, k);
            }
        }
        for l in &lines {
            out.write_all(l.json.as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(lines.len() as u64)
    }
}

fn pick_priority(rng: &mut Rng) -> usize {
    let mut x = rng.unit();
    for (i, (_, p)) in PRIORITIES.iter().enumerate() {
        if x < *p {
            return i;
        }
        x -= p;
    }
    PRIORITIES.len() - 1
}
