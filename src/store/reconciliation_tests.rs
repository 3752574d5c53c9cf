//! Store tests of reconciliation runs (their pages and diffs) and leases, on a temporary SQLite
//! file, and on PostgreSQL when `VIGIL_TEST_POSTGRES_URL` is set (each test in a schema of its
//! own).

use super::test_support::{on_both_dialects, postgres, sqlite};
use super::*;

const NOW: i64 = 1_795_000_000_000;

fn diff(n: usize, kind: DiffKind) -> NewDiff {
    NewDiff {
        record_id: format!("7:D-{n}:resolution"),
        kind,
        ours: Some(format!(
            r#"{{"ticket_id":"D-{n}","assignee_id":"en***-7"}}"#
        )),
        theirs: None,
    }
}

async fn reconciliation_runs_resume_and_count_pages_once(store: &Store) {
    let day = "2026-11-18";
    let opened = store
        .reconciliations()
        .open("a", day, "nightly", "run-1", NOW)
        .await
        .unwrap();
    assert!(!opened.resumed);
    assert_eq!(
        (opened.run.run_id.as_str(), opened.run.state.as_str()),
        ("run-1", "running")
    );
    // Whoever opens it next resumes it, whatever started it.
    let again = store
        .reconciliations()
        .open("a", day, "manual", "run-2", NOW + 1)
        .await
        .unwrap();
    assert!(again.resumed);
    assert_eq!(
        (again.run.run_id.as_str(), again.run.trigger.as_str()),
        ("run-1", "nightly")
    );

    let page_1 = RunCounts {
        partner_records: 500,
        matched: 495,
        missing_at_ours: 2,
        mismatched: 3,
    };
    let diffs_1: Vec<NewDiff> = (0..3).map(|n| diff(n, DiffKind::Mismatched)).collect();
    for _ in 0..2 {
        store
            .reconciliations()
            .save_page("run-1", 1, "seen-1", &page_1, &diffs_1, 5)
            .await
            .unwrap();
    }
    let run = store.reconciliations().run("run-1").await.unwrap().unwrap();
    assert_eq!(
        (run.partner_records, run.matched, run.mismatched),
        (500, 495, 3)
    );
    assert_eq!((run.pages_done, run.diffs_kept), (1, 3));

    // The cap keeps the first diffs; the counts stay complete.
    let page_2 = RunCounts {
        partner_records: 120,
        matched: 116,
        missing_at_ours: 4,
        mismatched: 0,
    };
    let diffs_2: Vec<NewDiff> = (3..7).map(|n| diff(n, DiffKind::MissingAtOurs)).collect();
    store
        .reconciliations()
        .save_page("run-1", 2, "seen-2", &page_2, &diffs_2, 5)
        .await
        .unwrap();
    let run = store.reconciliations().run("run-1").await.unwrap().unwrap();
    assert_eq!((run.partner_records, run.missing_at_ours), (620, 6));
    assert_eq!((run.pages_done, run.diffs_kept), (2, 5));
    assert_eq!(
        store.reconciliations().pages("run-1").await.unwrap(),
        [(1, "seen-1".to_string()), (2, "seen-2".to_string())]
    );

    store
        .reconciliations()
        .fail_attempt("run-1", "partner answered 503 on page 3")
        .await
        .unwrap();
    let resumed = store
        .reconciliations()
        .open("a", day, "nightly", "run-3", NOW + 2)
        .await
        .unwrap();
    assert!(resumed.resumed);
    assert_eq!(resumed.run.pages_done, 2);
    assert_eq!(
        resumed.run.error.as_deref(),
        Some("partner answered 503 on page 3")
    );

    let tail = [diff(7, DiffKind::MissingAtPartner)];
    for at in [NOW + 3, NOW + 4] {
        store
            .reconciliations()
            .finish("run-1", 630, 10, &tail, 5, 13, at)
            .await
            .unwrap();
    }
    let run = store.reconciliations().run("run-1").await.unwrap().unwrap();
    assert_eq!(
        (run.state.as_str(), run.finished_at),
        ("finished", Some(NOW + 3))
    );
    assert_eq!(
        (run.our_records, run.missing_at_partner, run.repaired),
        (630, 10, 13)
    );
    assert_eq!(run.diffs_kept, 5);
    assert!(store
        .reconciliations()
        .pages("run-1")
        .await
        .unwrap()
        .is_empty());
    // A late retry of a page after the end counts nothing.
    store
        .reconciliations()
        .save_page("run-1", 3, "seen-3", &page_2, &[], 5)
        .await
        .unwrap();
    assert_eq!(
        store.reconciliations().run("run-1").await.unwrap().unwrap(),
        run
    );
    assert!(store
        .reconciliations()
        .pages("run-1")
        .await
        .unwrap()
        .is_empty());

    let diffs = store.reconciliations().diffs("run-1").await.unwrap();
    let seqs: Vec<u32> = diffs.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(diffs[0].kind, DiffKind::Mismatched);
    assert_eq!(diffs[4].kind, DiffKind::MissingAtOurs);
    assert_eq!(
        diffs[0].ours,
        Some(serde_json::json!({"ticket_id": "D-0", "assignee_id": "en***-7"}))
    );
    assert_eq!(diffs[0].theirs, None);

    assert_eq!(
        store
            .reconciliations()
            .finished("a", day, "nightly")
            .await
            .unwrap()
            .map(|r| r.run_id),
        Some("run-1".into())
    );
    assert_eq!(
        store
            .reconciliations()
            .finished("a", day, "manual")
            .await
            .unwrap(),
        None
    );

    // After the end, opening starts a new run; an id already used is refused.
    let next = store
        .reconciliations()
        .open("a", day, "manual", "run-4", NOW + 5)
        .await
        .unwrap();
    assert!(!next.resumed);
    assert_eq!(next.run.run_id, "run-4");
    let other_day = store
        .reconciliations()
        .open("a", "2026-11-19", "nightly", "run-1", NOW + 6)
        .await
        .unwrap_err();
    assert!(!other_day.is_retryable());
    store
        .reconciliations()
        .open("a", "2026-11-19", "nightly", "run-5", NOW + 7)
        .await
        .unwrap();

    let runs: Vec<String> = store
        .reconciliations()
        .runs("a", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(runs, ["run-5", "run-4", "run-1"]);
    let of_day: Vec<String> = store
        .reconciliations()
        .runs("a", Some(day), 1)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(of_day, ["run-4"]);
    assert!(store
        .reconciliations()
        .runs("b", None, 10)
        .await
        .unwrap()
        .is_empty());

    let unknown = store
        .reconciliations()
        .save_page("no-run", 1, "", &page_1, &[], 5)
        .await
        .unwrap_err();
    assert!(!unknown.is_retryable());
    assert!(store
        .reconciliations()
        .pages("no-run")
        .await
        .unwrap()
        .is_empty());
}

async fn leases_are_exclusive_until_they_expire(store: &Store) {
    let name = "reconcile:a";
    assert!(store
        .leases()
        .try_take(name, "i-1", 1_000, NOW)
        .await
        .unwrap());
    assert!(!store
        .leases()
        .try_take(name, "i-2", 1_000, NOW)
        .await
        .unwrap());
    // The holder extends it.
    assert!(store
        .leases()
        .try_take(name, "i-1", 1_000, NOW + 500)
        .await
        .unwrap());
    assert!(!store
        .leases()
        .try_take(name, "i-2", 1_000, NOW + 1_200)
        .await
        .unwrap());
    // Expired: taken over.
    assert!(store
        .leases()
        .try_take(name, "i-2", 1_000, NOW + 1_500)
        .await
        .unwrap());
    assert!(!store
        .leases()
        .try_take(name, "i-1", 1_000, NOW + 1_600)
        .await
        .unwrap());
    assert!(!store.leases().release(name, "i-1").await.unwrap());
    assert!(store.leases().release(name, "i-2").await.unwrap());
    assert!(store
        .leases()
        .try_take(name, "i-1", 1_000, NOW + 1_700)
        .await
        .unwrap());
    // Leases are independent of each other.
    assert!(store
        .leases()
        .try_take("reconcile:b", "i-2", 1_000, NOW + 1_700)
        .await
        .unwrap());
}

on_both_dialects!(
    reconciliation_runs_resume_and_count_pages_once,
    leases_are_exclusive_until_they_expire,
);
