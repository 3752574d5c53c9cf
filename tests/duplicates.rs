//! Distinct events are never taken for duplicates, and a repeat is judged on its own before it
//! is judged as a repeat (DESIGN.md §3.1), in `vigil run` (real binary, real nats-server) and
//! in `vigil replay` alike.

mod support;

use support::*;
use vigil_peers::NatsServer;

const CONFIG: &str = r#"
[nats]
partitions = 4
"#;

/// The reported case: 1,000 valid events, one LOW ticket per five events over 200 tenants,
/// with ids `e0`…`e999` (short ids of neighbouring tenants, which a tenant-seeded 64-bit key
/// confused).
fn neighbouring_tenants(now: i64) -> Vec<Ev> {
    (0..1_000u64)
        .map(|i| {
            let tenant = 1 + (i / 5) % 200;
            let ticket = format!("T{}", i / 5 / 200 * 10 + (i / 5) % 200);
            let id = format!("e{i}");
            let at = now - 60 * MIN + i as i64;
            match i % 5 {
                0 => Ev::created(tenant, &ticket, at, "LOW", &id),
                _ => Ev::assigned(tenant, &ticket, at, &format!("eng-{}", i % 5), &id),
            }
        })
        .collect()
}

#[tokio::test]
async fn distinct_events_of_neighbouring_tenants_are_all_applied_live() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    let js = async_nats::jetstream::new(nats.connect().await);
    let events = neighbouring_tenants(now_ms());
    publish_events(&js, &events).await;
    eventually("all 1,000 events applied", || async {
        (service.metric("vigil_events_ingested_total").await == Some(1_000.0)).then_some(())
    })
    .await;
    let (_, metrics) = service.get("/metrics").await.unwrap();
    assert!(
        !metrics.contains("vigil_events_rejected_total{"),
        "no event may be rejected:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("rejected"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    service.stop().await;
}

#[test]
fn distinct_events_of_neighbouring_tenants_are_all_applied_in_replay() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.ndjson");
    std::fs::write(&input, ndjson_of(&neighbouring_tenants(now_ms()))).unwrap();
    let (_, summary) = replay(dir.path(), &input, &[]);
    assert_eq!(
        (summary.events, summary.rejected),
        (1_000, 0),
        "{summary:?}"
    );
}

/// A repeat that is invalid on its own keeps its own reason; a valid one is a duplicate; a
/// status change out of a final status is an invalid transition. Repeats are published without
/// `Nats-Msg-Id`, as an upstream that retries with a new message id would.
#[tokio::test]
async fn repeats_are_judged_on_their_own_first_live() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    let js = async_nats::jetstream::new(nats.connect().await);
    let now = now_ms();
    let tenant = 77;
    let created = Ev::created(tenant, "T-1", now - MIN, "HIGH", "c-1");
    publish_events(&js, std::slice::from_ref(&created)).await;
    let repeats = [
        // The same id with a priority the tenant does not know: unknown_priority.
        Ev::created(tenant, "T-2", now - MIN, "URGENT", "c-1"),
        // The same event again: duplicate_event.
        created.clone(),
        // Cancel it, then try to move it out of CANCELLED: invalid_transition.
        Ev::status(tenant, "T-1", now, "CANCELLED", "x-1"),
        Ev::status(tenant, "T-1", now, "IN_PROGRESS", "x-2"),
        // A valid event for the final ticket is accepted and changes nothing.
        Ev::assigned(tenant, "T-1", now, "eng-9", "a-1"),
        // An unknown priority for an unknown ticket: unknown_priority, not unknown_ticket.
        Ev::priority(tenant, "T-404", now, "URGENT", "p-1"),
    ];
    for (i, e) in repeats.iter().enumerate() {
        publish_event(&js, tenant, &format!("retry-{i}"), e.line()).await;
    }
    let rejected = |reason: &'static str| {
        let service = &service;
        async move {
            service
                .metric(&format!(
                    r#"vigil_events_rejected_total{{reason="{reason}"}}"#
                ))
                .await
        }
    };
    eventually("every event handled", || async {
        (service.metric("vigil_events_ingested_total").await == Some(3.0)
            && rejected("invalid_transition").await == Some(1.0))
        .then_some(())
    })
    .await;
    assert_eq!(rejected("unknown_priority").await, Some(2.0));
    assert_eq!(rejected("duplicate_event").await, Some(1.0));
    assert_eq!(rejected("unknown_ticket").await, None);
    service.stop().await;
}
