//! A snapshot taken anywhere in a tenant's stream, restored and fed the rest, ends where the
//! uninterrupted engine ends: the same alerts, tickets, metrics and compliance.

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_peers::workload::Workload;
use vigil_schema::{decode, parse_instant, Event, Millis};

use super::TenantEngine;
use crate::alert::AlertRecord;
use crate::engine::EngineSettings;
use crate::policy::spec::Fraction;
use crate::policy::{builtin_default, PolicyBook, PolicySpec};
use crate::snapshot::{self, SnapshotError, TenantState};

const TENANT: u64 = 1;

fn book_with(policy: PolicySpec) -> Arc<PolicyBook> {
    Arc::new(PolicyBook::build(&policy, &BTreeMap::new(), &BTreeMap::new()).unwrap())
}

/// One tenant's realistic stream, in `occurred_at` order.
fn events(n: u64, seed: u64) -> Vec<Event> {
    let workload = Workload {
        events: n,
        tenants: 1,
        first_tenant: TENANT,
        span_ms: 3 * 86_400_000,
        start: parse_instant("2026-11-23T00:00:00Z").unwrap(),
        seed,
        delay_scale: 1.0,
        shuffle_ms: 0,
    };
    let mut out = Vec::new();
    workload.write(&mut out).unwrap();
    out.split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| decode(line).unwrap())
        .collect()
}

/// Alerts with the number of events fed before each was raised: a timer that fires late
/// (at a later event instead of on time) shows as a different number.
type Raised = Vec<(usize, String)>;

/// Feeds events as the event-time driver does: timers due before an event fire first. `done`
/// is how many events of the whole stream were fed before `events`.
fn feed(engine: &mut TenantEngine, events: &[Event], done: usize, raised: &mut Raised) {
    let mut out = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        engine.advance(ev.occurred_at, false, &mut out);
        note(&mut out, done + i, raised);
        let _ = engine.apply(ev, &mut out);
        note(&mut out, done + i + 1, raised);
    }
}

fn finish(engine: &mut TenantEngine, end: Millis, fed: usize, raised: &mut Raised) {
    let mut out = Vec::new();
    engine.advance(end, true, &mut out);
    note(&mut out, fed, raised);
}

fn note(out: &mut Vec<AlertRecord>, fed: usize, raised: &mut Raised) {
    raised.extend(out.drain(..).map(|a| (fed, format!("{a:?}"))));
}

fn sorted(mut raised: Raised) -> Raised {
    raised.sort();
    raised
}

/// A state with its tickets in id order (slots are not part of what a tenant is).
fn canonical(mut state: TenantState) -> TenantState {
    state.tickets.sort_by(|a, b| a.id.cmp(&b.id));
    state
}

fn round_trip(engine: &TenantEngine, book: &Arc<PolicyBook>) -> TenantEngine {
    let bytes = snapshot::encode(&vec![engine.to_state()]).unwrap();
    let mut states: Vec<TenantState> = snapshot::decode(&bytes).unwrap();
    let state = states.pop().unwrap();
    TenantEngine::from_state(state, book.clone(), Arc::new(EngineSettings::default())).unwrap()
}

#[test]
fn a_restored_engine_goes_on_exactly_as_the_uninterrupted_one() {
    let book = book_with(builtin_default());
    let settings = Arc::new(EngineSettings::default());
    let stream = events(3_000, 7);
    let end = stream.last().unwrap().occurred_at + 40 * 86_400_000;

    let mut whole = TenantEngine::new(TENANT, book.clone(), settings.clone());
    let mut whole_alerts = Vec::new();
    feed(&mut whole, &stream, 0, &mut whole_alerts);
    finish(&mut whole, end, stream.len(), &mut whole_alerts);
    assert!(
        whole_alerts.len() > 50,
        "the workload raised {} alerts",
        whole_alerts.len()
    );

    let cuts = (0..stream.len())
        .step_by(stream.len() / 12)
        .chain([1, stream.len() - 1]);
    for cut in cuts {
        let mut first = TenantEngine::new(TENANT, book.clone(), settings.clone());
        let mut alerts = Vec::new();
        feed(&mut first, &stream[..cut], 0, &mut alerts);
        let mut restored = round_trip(&first, &book);
        assert_eq!(restored.open_tickets(), first.open_tickets(), "cut {cut}");
        assert_eq!(
            canonical(restored.to_state()),
            canonical(first.to_state()),
            "cut {cut}"
        );
        feed(&mut restored, &stream[cut..], cut, &mut alerts);
        finish(&mut restored, end, stream.len(), &mut alerts);
        assert_eq!(
            sorted(alerts),
            sorted(whole_alerts.clone()),
            "alerts after a snapshot at event {cut}"
        );
        assert_eq!(
            canonical(restored.to_state()),
            canonical(whole.to_state()),
            "state after a snapshot at event {cut}"
        );
    }
}

#[test]
fn a_snapshot_under_another_configured_policy_is_refused() {
    let book = book_with(builtin_default());
    let mut engine = TenantEngine::new(TENANT, book.clone(), Arc::new(EngineSettings::default()));
    feed(&mut engine, &events(200, 3), 0, &mut Vec::new());
    let state = engine.to_state();

    let mut changed = builtin_default();
    changed.warn_at = Some(vec![Fraction::parse("0.5").unwrap()]);
    let refused = TenantEngine::from_state(
        state,
        book_with(changed),
        Arc::new(EngineSettings::default()),
    );
    assert!(
        matches!(refused, Err(SnapshotError::Restore(why)) if why.contains("configured policy changed"))
    );
}

#[test]
fn the_hash_of_final_ticket_ids_is_stable() {
    // Final tickets are kept by this hash in snapshots: if an upgrade of the hasher changes
    // it, bump `snapshot::FORMAT_VERSION` (and this figure), or restored finals are lost.
    let engine = TenantEngine::new(TENANT, book_with(builtin_default()), Arc::default());
    assert_eq!(engine.hash("ticket-42"), 9_924_218_336_952_420_674);
}
