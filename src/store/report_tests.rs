//! Store tests of the reporting history and the report jobs, on a temporary SQLite file, and on
//! PostgreSQL when `VIGIL_TEST_POSTGRES_URL` is set (each test in a schema of its own).

use vigil_engine::{FactKind, Goal, SlaRecord, TicketFact};

use super::report_facts::{Dimension, FactCounts};
use super::test_support::{on_both_dialects, postgres, sqlite};
use super::*;

const NOW: i64 = 1_795_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn fact(ticket: &str, at: i64, kind: FactKind) -> TicketFact {
    TicketFact {
        tenant_id: 5,
        ticket_id: ticket.into(),
        priority: "HIGH".into(),
        service_type: "incident".into(),
        at,
        kind,
    }
}

fn stop(ticket: &str, goal: Goal, at: i64, elapsed_ms: i64, engineer: Option<&str>) -> TicketFact {
    let target = HOUR;
    let outcome = if elapsed_ms <= target {
        vigil_engine::engine::GoalOutcome::Met
    } else {
        vigil_engine::engine::GoalOutcome::Breached
    };
    let record = SlaRecord::stopped(
        5,
        ticket,
        goal,
        outcome,
        (target, elapsed_ms),
        (at - elapsed_ms, at),
        ("HIGH", "incident", 1),
        engineer,
    );
    fact(ticket, at, FactKind::Stopped(record))
}

/// UTC days for these tests.
fn utc_day(_tenant: u64, at: i64) -> i32 {
    at.div_euclid(DAY) as i32
}

async fn facts_are_kept_once_and_summed_into_daily_rollups(store: &Store) {
    let facts = [
        fact("T1", NOW, FactKind::Created),
        fact("T2", NOW + HOUR, FactKind::Created),
        stop(
            "T1",
            Goal::Response,
            NOW + 2 * HOUR,
            30 * 60_000,
            Some("eng-1"),
        ),
        stop("T2", Goal::Response, NOW + DAY, 3 * HOUR, None),
        fact("T1", NOW + DAY, FactKind::Rated { centi: 450 }),
        fact("T1", NOW + DAY + 1, FactKind::Reopened),
    ];
    let f = store.report_facts();
    assert_eq!(f.record(&facts, &utc_day).await.unwrap(), 6);
    // A replay (the same facts again, with one new): only the new one counts.
    let mut again = facts.to_vec();
    again.push(fact("T3", NOW + DAY, FactKind::Created));
    assert_eq!(f.record(&again, &utc_day).await.unwrap(), 1);

    let first = utc_day(5, NOW);
    let rollups = f
        .rollups(5, Dimension::Group, first..first + 2)
        .await
        .unwrap();
    let mut total = FactCounts::default();
    for (_, c) in &rollups {
        total.add(c);
    }
    assert_eq!((total.created, total.reopened), (3, 1));
    assert_eq!((total.goals[0].met, total.goals[0].breached), (1, 1));
    assert_eq!(total.goals[0].sum_ms as i64, 30 * 60_000 + 3 * HOUR);
    // 4.5 rounds up to five stars.
    assert_eq!(
        (total.rating_n, total.rating_centi, total.stars),
        (1, 450, [0, 0, 0, 0, 1])
    );
    // The same counts from the facts themselves.
    let mut counted = FactCounts::default();
    for row in f.between(5, NOW, NOW + 2 * DAY).await.unwrap() {
        counted.count(&row);
    }
    assert_eq!(counted, total);
    let engineers = f
        .rollups(5, Dimension::Engineer, first..first + 2)
        .await
        .unwrap();
    let mut names: Vec<&str> = engineers.iter().map(|(k, _)| k.engineer.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["", "eng-1"]);
    assert_eq!(f.totals_before(5, first + 2).await.unwrap(), total);
    assert_eq!(
        f.totals_before(5, first).await.unwrap(),
        FactCounts::default()
    );
    assert_eq!(
        f.totals_before(6, first + 2).await.unwrap(),
        FactCounts::default()
    );

    let (breaches, n) = f.breaches(5, (NOW, NOW + 2 * DAY), 10).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(breaches[0].ticket_id, "T2");
    assert_eq!(breaches[0].elapsed_ms, Some(3 * HOUR));

    assert_eq!(f.prune(NOW + HOUR + 1, first).await.unwrap(), 2);
    assert_eq!(f.between(5, 0, NOW + 2 * DAY).await.unwrap().len(), 5);
}

fn job(task: &str) -> NewReportJob {
    NewReportJob {
        task_id: task.into(),
        tenant_id: 5,
        requested_by: "mia".into(),
        format: "csv".into(),
        period: (NOW - DAY, NOW),
        language: "en".into(),
        timezone: "UTC".into(),
        breakdowns: "priority".into(),
        schedule_id: None,
        deliver_to: Vec::new(),
    }
}

async fn jobs_are_bounded_claimed_once_and_taken_over_after_their_lease(store: &Store) {
    let jobs = store.report_jobs();
    jobs.enqueue(&job("a"), 2, NOW).await.unwrap();
    jobs.enqueue(&job("b"), 2, NOW + 1).await.unwrap();
    match jobs.enqueue(&job("c"), 2, NOW + 2).await {
        Err(EnqueueError::Full { queued }) => assert_eq!(queued, 2),
        other => panic!("expected a full queue, got {other:?}"),
    }
    assert!(jobs.get("c").await.unwrap().is_none());

    let a = jobs.claim("w1", 30_000, NOW).await.unwrap().unwrap();
    assert_eq!(
        (a.request.task_id.as_str(), a.state.as_str(), a.attempts),
        ("a", "running", 1)
    );
    let b = jobs.claim("w2", 30_000, NOW).await.unwrap().unwrap();
    assert_eq!(b.request.task_id, "b");
    assert!(jobs.claim("w3", 30_000, NOW).await.unwrap().is_none());
    assert!(jobs.progress("a", "w1", 40, NOW + 30_000).await.unwrap());
    assert!(!jobs.progress("a", "w2", 40, NOW + 30_000).await.unwrap());
    assert_eq!(jobs.get("a").await.unwrap().unwrap().percent, 40);

    // w1's lease runs out: w3 takes the job over, and w1 can no longer finish it.
    let taken = jobs
        .claim("w3", 30_000, NOW + 31_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.request.task_id.as_str(), taken.attempts), ("a", 2));
    let window = (NOW + 32_000, NOW + DAY);
    assert!(!jobs
        .finish("a", "w1", ("a.csv", b"x", ""), 1, window)
        .await
        .unwrap());
    assert!(jobs
        .finish("a", "w3", ("a.csv", b"section", "42 met"), 7, window)
        .await
        .unwrap());
    let done = jobs.get("a").await.unwrap().unwrap();
    assert_eq!(
        (done.state.as_str(), done.percent, done.records),
        ("done", 100, Some(7))
    );
    assert_eq!(done.size_bytes, Some(7));
    let file = jobs.file("a.csv", NOW + 40_000).await.unwrap().unwrap();
    assert_eq!(
        (file.tenant_id, file.content.as_slice()),
        (5, &b"section"[..])
    );
    // Room again for a new job once one is done.
    jobs.enqueue(&job("c"), 2, NOW + 3).await.unwrap();

    jobs.fail("b", "w2", "the store went away", NOW + 50_000)
        .await
        .unwrap();
    assert_eq!(jobs.get("b").await.unwrap().unwrap().state, "failed");
    // Expired files go with their jobs; failed jobs after a day.
    assert_eq!(jobs.expire(NOW + DAY, NOW + 50_001).await.unwrap(), 1);
    assert!(jobs.file("a.csv", NOW).await.unwrap().is_none());
    assert!(jobs.get("a").await.unwrap().is_none());
    assert!(jobs.get("b").await.unwrap().is_none());
    assert!(jobs.get("c").await.unwrap().is_some());
}

async fn a_scheduled_run_is_queued_once_and_its_emails_are_claimed_once(store: &Store) {
    let jobs = store.report_jobs();
    let mut run = job("sched-5-monthly-1");
    run.schedule_id = Some("monthly".into());
    run.deliver_to = vec!["cm@example.com".into(), "boss@example.com".into()];
    assert!(jobs
        .enqueue_scheduled(&run, NOW - HOUR, 20, NOW)
        .await
        .unwrap());
    // Another instance (or a restart) finds the run queued.
    let mut again = run.clone();
    again.task_id = "sched-5-monthly-1-other".into();
    assert!(!jobs
        .enqueue_scheduled(&again, NOW - HOUR, 20, NOW)
        .await
        .unwrap());
    assert!(jobs.get("sched-5-monthly-1-other").await.unwrap().is_none());
    // A full queue writes nothing: the run is queued later.
    let mut later = job("sched-5-monthly-2");
    later.schedule_id = Some("monthly".into());
    later.period = (NOW, NOW + DAY);
    assert!(matches!(
        jobs.enqueue_scheduled(&later, NOW, 1, NOW).await,
        Err(EnqueueError::Full { .. })
    ));
    assert!(jobs.enqueue_scheduled(&later, NOW, 20, NOW).await.unwrap());

    let claimed = jobs.claim("w1", 30_000, NOW).await.unwrap().unwrap();
    assert_eq!(claimed.request.deliver_to, run.deliver_to);
    let window = (NOW + 1, NOW + DAY);
    let file = ("r.pdf", &b"%PDF"[..], "Response compliance 90%");
    assert!(jobs
        .finish(&run.task_id, "w1", file, 3, window)
        .await
        .unwrap());
    let deliveries = store.report_deliveries();
    let due = deliveries.claim(10, 60_000, NOW + 2).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].scheduled_at, NOW - HOUR);
    assert_eq!(due[0].file_name.as_deref(), Some("r.pdf"));
    assert_eq!(due[0].summary.as_deref(), Some("Response compliance 90%"));
    // Claimed: nobody else gets them until the lease runs out.
    assert!(deliveries
        .claim(10, 60_000, NOW + 3)
        .await
        .unwrap()
        .is_empty());
    deliveries
        .settle(&due[0].delivery_id, Ok(()), NOW + 4)
        .await
        .unwrap();
    let retry_at = NOW + 10_000;
    deliveries
        .settle(
            &due[1].delivery_id,
            Err(("relay down", Some(retry_at))),
            NOW + 4,
        )
        .await
        .unwrap();
    assert!(deliveries
        .claim(10, 60_000, retry_at - 1)
        .await
        .unwrap()
        .is_empty());
    let retried = deliveries.claim(10, 60_000, retry_at).await.unwrap();
    assert_eq!((retried.len(), retried[0].attempts), (1, 1));
    deliveries
        .settle(&retried[0].delivery_id, Err(("refused", None)), retry_at)
        .await
        .unwrap();
    let states: Vec<(String, String)> = deliveries
        .of_job(&run.task_id)
        .await
        .unwrap()
        .into_iter()
        .map(|(to, state, _, _)| (to, state))
        .collect();
    assert_eq!(
        states,
        [
            ("boss@example.com".to_string(), "sent".to_string()),
            ("cm@example.com".to_string(), "failed".to_string())
        ]
    );
}

/// The tables named `name` in the SQLite file at `path`, opened on its own (nothing attached).
async fn tables_named(path: &std::path::Path, name: &str) -> i64 {
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let n =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .bind(name)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    n
}

#[tokio::test]
async fn sqlite_keeps_the_reporting_history_in_a_file_of_its_own() {
    let (dir, store) = sqlite().await;
    let facts = [fact("T1", NOW, FactKind::Created)];
    assert_eq!(
        store.report_facts().record(&facts, &utc_day).await.unwrap(),
        1
    );
    for table in ["ticket_facts", "report_daily"] {
        assert_eq!(
            tables_named(&dir.path().join("vigil.db"), table).await,
            0,
            "{table}"
        );
        assert_eq!(
            tables_named(&dir.path().join("vigil-reports.db"), table).await,
            1,
            "{table}"
        );
    }

    // While a fact transaction is open, the store's own tables take writes: the files have a
    // writer each (were they one, the alert would wait for the lock and fail as busy).
    let Backend::Sqlite(history) = &store.history else {
        unreachable!("an SQLite store")
    };
    let mut facts_tx = history.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO ticket_facts (tenant_id, ticket_id, kind, at, priority, service_type) \
                 VALUES (5, 'T2', 'created', ?1, 'HIGH', 'incident')",
    )
    .bind(NOW)
    .execute(&mut *facts_tx)
    .await
    .unwrap();
    let alert = super::tests::record(
        "TKT-1",
        vigil_engine::Level::Breach,
        vigil_engine::AlertState::Firing,
    );
    store.alerts().record_change(&alert).await.unwrap();
    facts_tx.commit().await.unwrap();
    assert_eq!(
        store
            .report_facts()
            .between(5, NOW, NOW + 1)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn an_in_memory_sqlite_store_keeps_a_reporting_history_too() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let facts = [fact("T1", NOW, FactKind::Created)];
    let f = store.report_facts();
    assert_eq!(f.record(&facts, &utc_day).await.unwrap(), 1);
    assert_eq!(f.between(5, NOW, NOW + 1).await.unwrap().len(), 1);
    assert_eq!(f.record(&facts, &utc_day).await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_moves_a_reporting_history_kept_in_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/vigil.db", dir.path().display());
    // The schema before the reporting history had a file of its own, with a fact and a rollup.
    let options = super::pool::sqlite_options(&url).unwrap();
    let pool = super::pool::sqlite_pool(options, 1, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    super::pool::SQLITE_MIGRATIONS
        .run_to(13, &pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO main.ticket_facts (tenant_id, ticket_id, kind, at, priority, service_type) \
                 VALUES (5, 'T1', 'created', ?1, 'HIGH', 'incident')",
    )
    .bind(NOW)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO main.report_daily (tenant_id, day, dimension, priority, service_type, engineer, created) \
                 VALUES (5, ?1, 'group', 'HIGH', 'incident', '', 1)")
        .bind(utc_day(5, NOW))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let store = Store::connect(&url).await.unwrap();
    let f = store.report_facts();
    assert_eq!(f.between(5, NOW, NOW + 1).await.unwrap().len(), 1);
    let day = utc_day(5, NOW);
    assert_eq!(f.totals_before(5, day + 1).await.unwrap().created, 1);
    // Recorded again after the move, the fact is known: nothing is counted twice.
    let facts = [fact("T1", NOW, FactKind::Created)];
    assert_eq!(f.record(&facts, &utc_day).await.unwrap(), 0);
    assert_eq!(
        tables_named(&dir.path().join("vigil.db"), "ticket_facts").await,
        0
    );
}

on_both_dialects!(
    facts_are_kept_once_and_summed_into_daily_rollups,
    jobs_are_bounded_claimed_once_and_taken_over_after_their_lease,
    a_scheduled_run_is_queued_once_and_its_emails_are_claimed_once,
);
