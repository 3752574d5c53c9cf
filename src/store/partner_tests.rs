//! Store tests of SLA records and the partner outbox, on a temporary SQLite file, and on
//! PostgreSQL when `VIGIL_TEST_POSTGRES_URL` is set (each test in a schema of its own).

use std::collections::HashSet;

use vigil_engine::{Goal, SlaRecord};

use super::test_support::{on_both_dialects, postgres, sqlite};
use super::*;

const NOW: i64 = 1_795_000_000_000;
const MINUTE: i64 = 60_000;
const LEASE: i64 = 30_000;

/// Tenant 7 exchanges with partners `a` and `b`; tenant 8 with nobody.
fn partners_of(tenant: u64) -> Vec<String> {
    match tenant {
        // Listed twice: the store queues a record once per partner all the same.
        7 => vec!["b".into(), "a".into(), "a".into()],
        _ => Vec::new(),
    }
}

fn record(tenant: u64, ticket: &str, stopped_at: i64, outcome: &str) -> SlaRecord {
    SlaRecord {
        record_id: SlaRecord::id_of(tenant, ticket, Goal::Resolution),
        tenant_id: tenant,
        ticket_id: ticket.into(),
        goal: Goal::Resolution,
        priority: "HIGH".into(),
        service_type: "incident".into(),
        target_ms: 86_400_000,
        actual_ms: 90_000_000,
        outcome: outcome.into(),
        policy_version: 2,
        started_at: stopped_at - 90_000_000,
        stopped_at,
        assignee_id: Some("eng-7".into()),
    }
}

fn id(ticket: &str) -> String {
    SlaRecord::id_of(7, ticket, Goal::Resolution)
}

async fn entry(store: &Store, partner: &str, ticket: &str) -> PartnerOutboxEntry {
    store
        .partner_outbox()
        .get(partner, &id(ticket))
        .await
        .unwrap()
        .unwrap()
}

async fn claim_ids(store: &Store, partner: &str, now: i64, limit: u32) -> Vec<(String, i64)> {
    store
        .partner_outbox()
        .claim(partner, now, limit, LEASE)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.record.record_id, c.version))
        .collect()
}

async fn latest_stop_wins_and_replays_change_nothing(store: &Store) {
    let first = record(7, "T-1", NOW - 10 * MINUTE, "met");
    let other = record(7, "T-2", NOW - 9 * MINUTE, "breached");
    let unpartnered = record(8, "T-9", NOW - 9 * MINUTE, "met");
    let taken = store
        .sla_records()
        .record_stops(
            &[first.clone(), other.clone(), unpartnered.clone()],
            &partners_of,
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(taken, 3);
    for partner in ["a", "b"] {
        let e = entry(store, partner, "T-1").await;
        assert_eq!((e.state.as_str(), e.version, e.attempts), ("pending", 1, 0));
        assert_eq!((e.queued_at, e.due_at, e.tenant_id), (NOW, NOW, 7));
    }
    assert!(store
        .partner_outbox()
        .list("a", None, 100, None)
        .await
        .unwrap()
        .iter()
        .all(|e| e.tenant_id == 7));

    // Replays (the same records, older ones, an equal stop with equal content) take nothing and
    // queue nothing.
    let mut older = first.clone();
    older.stopped_at -= MINUTE;
    older.outcome = "breached".into();
    for replay in [vec![first.clone(), other.clone()], vec![older]] {
        let taken = store
            .sla_records()
            .record_stops(&replay, &partners_of, NOW + MINUTE)
            .await
            .unwrap();
        assert_eq!(taken, 0);
    }
    let e = entry(store, "a", "T-1").await;
    assert_eq!((e.version, e.queued_at, e.updated_at), (1, NOW, NOW));
    assert_eq!(
        store.sla_records().by_id(&[id("T-1")]).await.unwrap(),
        std::slice::from_ref(&first)
    );

    // A later stop (a reopen) wins; so does different content for the same stop.
    let mut reopened = first.clone();
    reopened.stopped_at += MINUTE;
    reopened.outcome = "breached".into();
    assert_eq!(
        store
            .sla_records()
            .record_stops(&[reopened.clone()], &partners_of, NOW + 2 * MINUTE)
            .await
            .unwrap(),
        1
    );
    let mut corrected = reopened.clone();
    corrected.assignee_id = Some("eng-8".into());
    assert_eq!(
        store
            .sla_records()
            .record_stops(&[corrected.clone()], &partners_of, NOW + 3 * MINUTE)
            .await
            .unwrap(),
        1
    );
    let e = entry(store, "b", "T-1").await;
    // Pending all along: it keeps its place in the queue.
    assert_eq!(
        (e.version, e.queued_at, e.due_at),
        (3, NOW, NOW + 3 * MINUTE)
    );

    // Within one call the latest stop of an id wins, whatever the order.
    let early = record(7, "T-3", NOW - 5 * MINUTE, "met");
    let late = record(7, "T-3", NOW - 4 * MINUTE, "breached");
    assert_eq!(
        store
            .sla_records()
            .record_stops(&[late.clone(), early.clone()], &partners_of, NOW)
            .await
            .unwrap(),
        1
    );
    assert_eq!(entry(store, "a", "T-3").await.version, 1);

    // Reading back: [from, to) by stop, ordered by record id.
    let all = store
        .sla_records()
        .stopped_between(NOW - 10 * MINUTE, NOW)
        .await
        .unwrap();
    assert_eq!(
        all,
        [corrected.clone(), other.clone(), late.clone(), unpartnered]
    );
    assert!(store
        .sla_records()
        .stopped_between(NOW - 5 * MINUTE, NOW - 4 * MINUTE)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .sla_records()
            .stopped_between(NOW - 4 * MINUTE, NOW - 4 * MINUTE + 1)
            .await
            .unwrap(),
        std::slice::from_ref(&late)
    );
    assert_eq!(
        store
            .sla_records()
            .by_id(&[id("T-3"), "nope".into(), id("T-1"), id("T-3")])
            .await
            .unwrap(),
        [corrected, late]
    );
}

async fn claims_follow_queue_order_versions_and_leases(store: &Store) {
    for (i, ticket) in ["Q-3", "Q-1", "Q-2"].into_iter().enumerate() {
        let now = NOW + i as i64 * MINUTE;
        let r = record(7, ticket, NOW - MINUTE, "met");
        store
            .sla_records()
            .record_stops(&[r], &partners_of, now)
            .await
            .unwrap();
    }
    let later = NOW + 10 * MINUTE;
    // Queue order is the order records were queued in, not their ids.
    assert_eq!(
        claim_ids(store, "a", later, 2).await,
        [(id("Q-3"), 1), (id("Q-1"), 1)]
    );
    // Claimed rows are taken by nobody else until the lease passes.
    assert_eq!(claim_ids(store, "a", later, 10).await, [(id("Q-2"), 1)]);
    assert!(claim_ids(store, "a", later + LEASE - 1, 10)
        .await
        .is_empty());
    // The other partner has its own queue.
    assert_eq!(claim_ids(store, "b", later, 10).await.len(), 3);

    // A record that changes while claimed stays claimed; the stale delivery only releases it
    // and the new version goes out next.
    let changed = record(7, "Q-1", NOW, "breached");
    store
        .sla_records()
        .record_stops(std::slice::from_ref(&changed), &partners_of, later)
        .await
        .unwrap();
    assert!(claim_ids(store, "a", later, 10).await.is_empty());
    store
        .partner_outbox()
        .finish(
            "a",
            &[
                (id("Q-1"), 1, DeliveryOutcome::Delivered { status: 200 }),
                (id("Q-3"), 1, DeliveryOutcome::Delivered { status: 204 }),
            ],
            later + 1,
        )
        .await
        .unwrap();
    let q1 = entry(store, "a", "Q-1").await;
    assert_eq!(
        (q1.state.as_str(), q1.version, q1.attempts),
        ("pending", 2, 0)
    );
    assert_eq!((q1.delivered_at, q1.queued_at), (None, NOW + MINUTE));
    let q3 = entry(store, "a", "Q-3").await;
    assert_eq!((q3.state.as_str(), q3.attempts), ("delivered", 1));
    assert_eq!(
        (q3.last_status, q3.delivered_at),
        (Some(204), Some(later + 1))
    );
    let claimed = store
        .partner_outbox()
        .claim("a", later + 1, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].version, &claimed[0].record), (2, &changed));
    assert_eq!(claimed[0].queued_at, NOW + MINUTE);

    // A retry waits until it is due, then goes with its attempts counted.
    store
        .partner_outbox()
        .finish(
            "a",
            &[(
                id("Q-1"),
                2,
                DeliveryOutcome::Retry {
                    due_at: later + MINUTE,
                    status: Some(503),
                    error: "503 Service Unavailable".into(),
                },
            )],
            later + 2,
        )
        .await
        .unwrap();
    let q1 = entry(store, "a", "Q-1").await;
    assert_eq!(
        (q1.attempts, q1.due_at, q1.last_status),
        (1, later + MINUTE, Some(503))
    );
    assert_eq!(q1.last_error.as_deref(), Some("503 Service Unavailable"));
    // Q-2's lease ran out meanwhile; Q-1 is not due yet.
    let after_lease = later + LEASE;
    assert_eq!(
        claim_ids(store, "a", after_lease, 10).await,
        [(id("Q-2"), 1)]
    );
    // Due now, and first in the queue (Q-2's lease has run out again too).
    let claimed = store
        .partner_outbox()
        .claim("a", later + MINUTE, 1, LEASE)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].record.record_id, id("Q-1"));
    assert_eq!((claimed[0].version, claimed[0].attempts), (2, 1));

    // Released: back untouched, claimable at once.
    store
        .partner_outbox()
        .finish("a", &[(id("Q-1"), 2, DeliveryOutcome::Released)], later)
        .await
        .unwrap();
    let q1 = entry(store, "a", "Q-1").await;
    assert_eq!((q1.attempts, q1.updated_at), (1, later + 2));
    assert_eq!(
        claim_ids(store, "a", later + MINUTE, 1).await,
        [(id("Q-1"), 2)]
    );

    // A delivered record that changes goes to the back of the queue.
    let q3 = record(7, "Q-3", NOW + MINUTE, "breached");
    store
        .sla_records()
        .record_stops(&[q3], &partners_of, later + 3)
        .await
        .unwrap();
    let e = entry(store, "a", "Q-3").await;
    assert_eq!(
        (e.state.as_str(), e.version, e.queued_at),
        ("pending", 2, later + 3)
    );
    assert_eq!((e.attempts, e.last_status), (0, Some(204)));
}

async fn parked_records_retry_and_requeue(store: &Store) {
    let records: Vec<SlaRecord> = ["P-1", "P-2", "P-3"]
        .into_iter()
        .map(|t| record(7, t, NOW - MINUTE, "met"))
        .collect();
    store
        .sla_records()
        .record_stops(&records, &partners_of, NOW)
        .await
        .unwrap();
    assert_eq!(claim_ids(store, "a", NOW, 10).await.len(), 3);
    let parked = |error: &str| DeliveryOutcome::Parked {
        status: Some(422),
        error: error.into(),
    };
    store
        .partner_outbox()
        .finish(
            "a",
            &[
                (id("P-1"), 1, parked("field outcome: unknown value")),
                (id("P-2"), 1, parked("field goal: unknown value")),
                (id("P-3"), 1, DeliveryOutcome::Delivered { status: 200 }),
            ],
            NOW + 1,
        )
        .await
        .unwrap();
    // Finishing twice changes nothing.
    store
        .partner_outbox()
        .finish(
            "a",
            &[(id("P-3"), 1, DeliveryOutcome::Delivered { status: 201 })],
            NOW + 2,
        )
        .await
        .unwrap();
    assert_eq!(entry(store, "a", "P-3").await.last_status, Some(200));
    let p1 = entry(store, "a", "P-1").await;
    assert_eq!(
        (p1.state.as_str(), p1.attempts, p1.last_status),
        ("parked", 1, Some(422))
    );
    assert!(claim_ids(store, "a", NOW + LEASE, 10).await.is_empty());

    let stats = store.partner_outbox().stats("a").await.unwrap();
    assert_eq!(
        stats,
        PartnerOutboxStats {
            pending: 0,
            parked: 2,
            delivered: 1,
            oldest_pending_queued_at: None,
            next_due_at: None,
        }
    );
    let parked_rows = store
        .partner_outbox()
        .list("a", Some("parked"), 10, None)
        .await
        .unwrap();
    assert_eq!(parked_rows.len(), 2);
    assert!(store
        .partner_outbox()
        .list("a", Some("nonsense"), 10, None)
        .await
        .unwrap()
        .is_empty());

    // Retrying one parked record by hand, then all of them.
    assert!(store
        .partner_outbox()
        .retry("a", &id("P-1"), NOW + 3)
        .await
        .unwrap());
    assert!(!store
        .partner_outbox()
        .retry("a", &id("P-3"), NOW + 3)
        .await
        .unwrap());
    assert!(!store
        .partner_outbox()
        .retry("a", "nope", NOW + 3)
        .await
        .unwrap());
    let p1 = entry(store, "a", "P-1").await;
    assert_eq!(
        (p1.state.as_str(), p1.attempts, p1.version),
        ("pending", 0, 1)
    );
    assert_eq!((p1.queued_at, p1.due_at), (NOW + 3, NOW + 3));
    assert_eq!(
        p1.last_error.as_deref(),
        Some("field outcome: unknown value")
    );
    assert_eq!(
        store
            .partner_outbox()
            .retry_parked("a", NOW + 4)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .partner_outbox()
            .retry_parked("a", NOW + 4)
            .await
            .unwrap(),
        0
    );
    let stats = store.partner_outbox().stats("a").await.unwrap();
    assert_eq!((stats.pending, stats.parked, stats.delivered), (2, 0, 1));
    assert_eq!(
        (stats.oldest_pending_queued_at, stats.next_due_at),
        (Some(NOW + 3), Some(NOW + 3))
    );

    // Requeue: the delivered record goes again with a new version; unknown ids are skipped;
    // a partner without a row gets one.
    let queued = store
        .partner_outbox()
        .requeue("a", &[id("P-3"), "nope".into()], NOW + 5)
        .await
        .unwrap();
    assert_eq!(queued, 1);
    let p3 = entry(store, "a", "P-3").await;
    assert_eq!(
        (p3.state.as_str(), p3.version, p3.queued_at),
        ("pending", 2, NOW + 5)
    );
    let queued = store
        .partner_outbox()
        .requeue("c", &[id("P-1"), id("P-2")], NOW + 5)
        .await
        .unwrap();
    assert_eq!(queued, 2);
    assert_eq!(entry(store, "c", "P-1").await.version, 1);
    // A large list of ids, most of them unknown, in chunks.
    let mut ids: Vec<String> = (0..100_000)
        .map(|i| format!("7:X-{i}:resolution"))
        .collect();
    ids.push(id("P-2"));
    let queued = store
        .partner_outbox()
        .requeue("c", &ids, NOW + 6)
        .await
        .unwrap();
    assert_eq!(queued, 1);
    let p2 = entry(store, "c", "P-2").await;
    // Still pending: same place in the queue.
    assert_eq!((p2.version, p2.queued_at, p2.due_at), (2, NOW + 5, NOW + 6));

    // Listing pages by record id.
    let first = store
        .partner_outbox()
        .list("a", None, 2, None)
        .await
        .unwrap();
    let rest = store
        .partner_outbox()
        .list("a", None, 2, Some(&first[1].record_id))
        .await
        .unwrap();
    let listed: Vec<&str> = first
        .iter()
        .chain(&rest)
        .map(|e| e.record_id.as_str())
        .collect();
    assert_eq!(listed, [id("P-1"), id("P-2"), id("P-3")]);
}

/// Two workers claiming at once take disjoint rows.
async fn concurrent_claims_take_disjoint_rows(store: &Store) {
    let records: Vec<SlaRecord> = (0..200)
        .map(|i| record(7, &format!("C-{i:03}"), NOW - MINUTE, "met"))
        .collect();
    store
        .sla_records()
        .record_stops(&records, &partners_of, NOW)
        .await
        .unwrap();
    let (x, y) = tokio::join!(
        store.partner_outbox().claim("b", NOW, 120, LEASE),
        store.partner_outbox().claim("b", NOW, 120, LEASE),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let ids: HashSet<String> = x
        .iter()
        .chain(&y)
        .map(|c| c.record.record_id.clone())
        .collect();
    assert_eq!(ids.len(), x.len() + y.len());
    assert_eq!(ids.len(), 200);
}

on_both_dialects!(
    latest_stop_wins_and_replays_change_nothing,
    claims_follow_queue_order_versions_and_leases,
    parked_records_retry_and_requeue,
    concurrent_claims_take_disjoint_rows,
);

/// Writes a million records and reads them back with `SlaRecords::stopped_between`, timing
/// both.
async fn reads_a_million_records(store: &Store) {
    let records: Vec<SlaRecord> = (0..1_000_000)
        .map(|i| record(7, &format!("M-{i:07}"), NOW + i, "met"))
        .collect();
    let started = std::time::Instant::now();
    for chunk in records.chunks(50_000) {
        store
            .sla_records()
            .record_stops(chunk, &|_| Vec::new(), NOW)
            .await
            .unwrap();
    }
    eprintln!("wrote 1,000,000 records in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let read = store
        .sla_records()
        .stopped_between(NOW, NOW + 1_000_000)
        .await
        .unwrap();
    eprintln!("read 1,000,000 records in {:?}", started.elapsed());
    assert_eq!(read.len(), 1_000_000);
    assert!(read.windows(2).all(|w| w[0].record_id < w[1].record_id));
}

// Slow (run with `--run-ignored only`, optimized for a meaningful time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: a million rows"]
async fn sqlite_reads_a_million_records() {
    let (_dir, store) = sqlite().await;
    reads_a_million_records(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: a million rows"]
async fn postgres_reads_a_million_records() {
    let Some(store) = postgres("reads_a_million_records").await else {
        return;
    };
    reads_a_million_records(&store).await;
}
