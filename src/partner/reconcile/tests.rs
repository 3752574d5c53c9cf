use super::reconciler::record_finished;
use super::*;
use crate::store::ReconciliationRun;
use crate::telemetry::recorder::local_recorder;

#[test]
fn run_ids_are_name_based() {
    let a = run_id("exchange-a", "2026-11-23", Trigger::Manual, 1);
    assert_eq!(a, run_id("exchange-a", "2026-11-23", Trigger::Manual, 1));
    assert_ne!(a, run_id("exchange-a", "2026-11-23", Trigger::Nightly, 1));
    assert_ne!(a, run_id("exchange-a", "2026-11-23", Trigger::Manual, 2));
    assert_ne!(a, run_id("exchange-b", "2026-11-23", Trigger::Manual, 1));
    let parsed = uuid::Uuid::parse_str(&a).expect("a uuid");
    assert_eq!(parsed.get_version_num(), 5);
}

#[test]
fn a_finished_run_sets_its_metrics() {
    let (recorder, handle) = local_recorder().expect("recorder");
    let run = ReconciliationRun {
        run_id: "r".into(),
        partner_id: "exchange-a".into(),
        day: "2026-11-23".into(),
        trigger: "nightly".into(),
        state: "finished".into(),
        started_at: 0,
        finished_at: Some(1_795_000_000_500),
        pages_done: 1,
        partner_records: 9,
        our_records: 10,
        matched: 6,
        missing_at_partner: 3,
        missing_at_ours: 2,
        mismatched: 1,
        repaired: 4,
        diffs_kept: 6,
        error: None,
    };
    ::metrics::with_local_recorder(&recorder, || record_finished(&run));
    let text = handle.render();
    for line in [
        "vigil_reconciliation_diffs{partner=\"exchange-a\",kind=\"missing_at_partner\"} 3",
        "vigil_reconciliation_diffs{partner=\"exchange-a\",kind=\"missing_at_ours\"} 2",
        "vigil_reconciliation_diffs{partner=\"exchange-a\",kind=\"mismatched\"} 1",
        "vigil_reconciliation_runs_total{partner=\"exchange-a\",result=\"finished\"} 1",
        "vigil_reconciliation_last_finished_timestamp_seconds{partner=\"exchange-a\"} 1795000000.5",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
}
