//! Single synthetic events for the memory and latency benchmarks, built directly (no JSON), and
//! the engine's default policy book.

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_engine::{PolicyBook, PolicySpec};
use vigil_peers::rng::Rng;
use vigil_schema::{Event, EventKind, Millis};

/// Priorities of the default policy with their share of tickets and response target, in ms.
pub const PRIORITIES: [(&str, f64, i64); 4] = [
    ("CRITICAL", 0.05, 30 * 60_000),
    ("HIGH", 0.2, 120 * 60_000),
    ("MEDIUM", 0.45, 480 * 60_000),
    ("LOW", 0.3, 1440 * 60_000),
];
/// The default policy's warning threshold, as a fraction of the target.
pub const WARN_AT: f64 = 0.8;
/// Service types tickets are spread over.
const SERVICES: [&str; 4] = ["incident", "request", "change", "default"];

/// The built-in default policy (24x7, warn at 80%), as `vigil run` has with no `[sla]`.
pub fn default_book() -> anyhow::Result<Arc<PolicyBook>> {
    PolicyBook::build(&PolicySpec::default(), &BTreeMap::new(), &BTreeMap::new())
        .map(Arc::new)
        .map_err(|e| anyhow::anyhow!("the built-in policy does not compile: {e:?}"))
}

/// A priority index drawn with the workload's mix.
pub fn pick_priority(rng: &mut Rng) -> usize {
    let mut x = rng.unit();
    for (i, (_, share, _)) in PRIORITIES.iter().enumerate() {
        if x < *share {
            return i;
        }
        x -= share;
    }
    PRIORITIES.len() - 1
}

/// `ticket.created` of ticket `TKT-<no, 7 digits>` with two goals under the default policy.
pub fn created(tenant_id: u64, no: u64, at: Millis, priority: usize, rng: &mut Rng) -> Event {
    let ticket_id = format!("TKT-{no:07}");
    Event {
        event_id: format!("{tenant_id}-{ticket_id}-1").into(),
        tenant_id,
        ticket_id: ticket_id.into(),
        occurred_at: at,
        kind: EventKind::Created {
            priority: PRIORITIES[priority].0.into(),
        },
        service_type: Some(SERVICES[rng.below(SERVICES.len() as u64) as usize].into()),
        assignee_id: None,
    }
}

/// The smallest event that reaches a tenant: a response to a ticket it does not have, which
/// the engine rejects without changing anything.
pub fn tiny(tenant_id: u64, at: Millis) -> Event {
    Event {
        event_id: format!("{tenant_id}-idle").into(),
        tenant_id,
        ticket_id: "TKT-0000000".into(),
        occurred_at: at,
        kind: EventKind::Responded,
        service_type: None,
        assignee_id: None,
    }
}
