//! `vigil run` on the wall clock (DESIGN.md §2, §4, §5): the real binary against a real
//! nats-server and an SQLite store, configured by a temp config file and `VIGIL__…` variables.
//! Events are published to JetStream the way upstream does (`Nats-Msg-Id` = `event_id`) once
//! the service is ready (it creates the streams).

mod support;

use std::collections::BTreeMap;

use support::*;
use vigil_peers::NatsServer;

/// Config of these tests: the built-in default policy (CRITICAL 30/240 min, warn at 0.8) and a
/// few partitions; NATS, store, HTTP and clock come from the environment.
const CONFIG: &str = r#"
[nats]
partitions = 4

[engine]
allowed_lateness = "5m"
"#;

/// A CRITICAL ticket created three hours ago: its response warning (24 min) and breach
/// (30 min) are long due; its resolution warning (192 min) is not yet.
fn overdue_ticket(tenant: u64, ticket: &str, now: i64) -> (Ev, Vec<AlertKey>) {
    let t0 = now - 3 * HOUR;
    let created = Ev::created(tenant, ticket, t0, "CRITICAL", &format!("{ticket}-created"));
    let expected = vec![
        key(
            tenant,
            ticket,
            "response",
            "warning",
            "0.8",
            "firing",
            &ts(t0 + 24 * MIN),
        ),
        key(
            tenant,
            ticket,
            "response",
            "breach",
            "1",
            "firing",
            &ts(t0 + 30 * MIN),
        ),
    ];
    (created, expected)
}

#[tokio::test]
async fn due_alerts_are_stored_and_published_once_and_sigterm_exits_cleanly() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    assert_eq!(service.get("/healthz").await.map(|r| r.0), Some(200));
    let (_, ready) = service.get("/readyz").await.unwrap();
    assert!(ready.contains(r#""code":200"#), "{ready}");

    let client = nats.connect().await;
    let mut alerts_sub = client.subscribe("vigil.alerts.>").await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let tenant = 42;
    let now = now_ms();
    let (a, mut expected) = overdue_ticket(tenant, "T-A", now);
    let (b, expected_b) = overdue_ticket(tenant + 1, "T-B", now);
    expected.extend(expected_b);
    publish_events(&js, &[a, b]).await;

    let rows = wait_for_store(&setup.db, expected.clone()).await;
    // The store's id is the stable id of the dedupe key (the same as replay's).
    assert!(rows.iter().all(|r| r.alert_id.len() == 36), "{rows:?}");
    eventually("vigil_events_ingested_total = 2", || async {
        (service.metric("vigil_events_ingested_total").await == Some(2.0)).then_some(())
    })
    .await;

    // Every alert change was published exactly once, on its tenant's subject, as the record.
    wait_published(&setup.db, expected.len()).await;
    let messages = drain(&client, &mut alerts_sub).await;
    let mut published: Vec<AlertKey> = Vec::new();
    let mut ids = BTreeMap::<String, usize>::new();
    for m in &messages {
        let record: Alert = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(
            m.subject.as_str(),
            format!("vigil.alerts.{}", record.tenant_id)
        );
        let id = header(m, "Nats-Msg-Id").expect("alert messages carry Nats-Msg-Id");
        assert_eq!(id, record.message_id());
        *ids.entry(id).or_default() += 1;
        published.push(record.key());
    }
    published.sort();
    expected.sort();
    assert_eq!(published, expected);
    assert!(ids.values().all(|n| *n == 1), "published twice: {ids:?}");

    let status = service.stop().await;
    assert!(status.success(), "exit status {status}:\n{}", service.log());
    // Stopped: nothing answers any more, and nothing more was published.
    assert!(service.get("/healthz").await.is_none());
    assert!(drain(&client, &mut alerts_sub).await.is_empty());
}

/// Each kind of bad input goes to `vigil.dlq.<tenant>` with its reason; none of them reaches
/// the store; the stream goes on.
#[tokio::test]
async fn bad_events_are_dead_lettered_with_their_reason_and_change_nothing() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;

    let client = nats.connect().await;
    let tenant = 77;
    let mut dlq = client
        .subscribe(format!("vigil.dlq.{tenant}"))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let now = now_ms();
    let past = now - 3 * HOUR;

    // Had any of these been applied, its ticket would have alerted by now.
    let parse_error =
        r#"{"schema":1,"event_id":"bad-parse","event_type":"ticket.created","tenant_id":77"#;
    let missing =
        Ev::created(tenant, "T-MISS", past, "CRITICAL", "bad-missing").without("priority");
    let unknown_priority = Ev::created(tenant, "T-PRIO", past, "URGENT", "bad-priority");
    let fresh = Ev::created(tenant, "T-TRANS", now - MIN, "CRITICAL", "ok-trans");
    let transition = Ev::status(tenant, "T-TRANS", now - 30_000, "CLOSED", "bad-transition");
    let unknown_ticket = Ev::responded(tenant, "T-GHOST", past, "bad-ghost");
    // A good ticket after the bad ones: the stream goes on.
    let (good, expected) = overdue_ticket(tenant, "T-GOOD", now);

    publish_event(&js, tenant, "bad-parse", parse_error).await;
    publish_events(
        &js,
        &[
            missing.clone(),
            unknown_priority.clone(),
            fresh,
            transition.clone(),
            unknown_ticket.clone(),
            good,
        ],
    )
    .await;

    wait_for_store(&setup.db, expected.clone()).await;
    wait_published(&setup.db, expected.len()).await;
    let reasons = [
        ("parse_error", parse_error.to_string()),
        ("missing_field", missing.line()),
        ("unknown_priority", unknown_priority.line()),
        ("invalid_transition", transition.line()),
        ("unknown_ticket", unknown_ticket.line()),
    ];
    for (reason, _) in &reasons {
        let sample = format!(r#"vigil_events_rejected_total{{reason="{reason}"}}"#);
        eventually(&format!("{sample} = 1"), || async {
            (service.metric(&sample).await == Some(1.0)).then_some(())
        })
        .await;
    }

    // Dead letters are published before an event counts as rejected.
    let letters = drain(&client, &mut dlq).await;
    let mut got: Vec<(String, String)> = letters
        .iter()
        .map(|m| {
            (
                header(m, "Vigil-Reject-Reason").unwrap_or_default(),
                String::from_utf8_lossy(&m.payload).into_owned(),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = reasons
        .iter()
        .map(|(r, p)| (r.to_string(), p.clone()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "dead letters: reason and the event as published");
    assert!(letters
        .iter()
        .all(|m| header(m, "Vigil-Reject-Detail").is_some_and(|d| !d.is_empty())));
    // Only the good ticket's alerts, nothing for the rejected events.
    let mut expected = expected;
    expected.sort();
    assert_eq!(store_keys(&setup.db).await, expected);
    let status = service.stop().await;
    assert!(status.success(), "exit status {status}");
}

/// An `event_id` published again under another `Nats-Msg-Id` (so JetStream stores both) is
/// ignored: not applied twice, not dead-lettered, counted as `duplicate_event`.
#[tokio::test]
async fn a_repeated_event_id_is_ignored_counted_and_not_dead_lettered() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;

    let client = nats.connect().await;
    let tenant = 88;
    let mut dlq = client.subscribe("vigil.dlq.>").await.unwrap();
    let mut alerts_sub = client.subscribe("vigil.alerts.>").await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let now = now_ms();
    let (created, expected) = overdue_ticket(tenant, "T-DUP", now);
    publish_event(&js, tenant, created.id(), created.line()).await;
    // The same event under another message id, and a later event that repeats the first
    // one's id with other content (a repeat is judged by id alone).
    publish_event(&js, tenant, "retry-of-created", created.line()).await;
    let imposter = Ev::status(tenant, "T-DUP", now - HOUR, "CANCELLED", created.id());
    publish_event(&js, tenant, "imposter", imposter.line()).await;

    wait_for_store(&setup.db, expected.clone()).await;
    eventually("duplicate_event counted twice", || async {
        (service
            .metric(r#"vigil_events_rejected_total{reason="duplicate_event"}"#)
            .await
            == Some(2.0))
        .then_some(())
    })
    .await;
    assert_eq!(
        service.metric("vigil_events_ingested_total").await,
        Some(1.0)
    );

    wait_published(&setup.db, expected.len()).await;
    let status = service.stop().await;
    assert!(status.success(), "exit status {status}");
    assert!(
        drain(&client, &mut dlq).await.is_empty(),
        "duplicates are not dead-lettered"
    );
    // Applied once: two alerts, still firing (the imposter's CANCELLED was not applied).
    let mut expected = expected;
    expected.sort();
    assert_eq!(store_keys(&setup.db).await, expected);
    assert_eq!(drain(&client, &mut alerts_sub).await.len(), 2);
}

/// On the wall clock, a stop that arrives after its goal's timers fired, but happened before a
/// threshold it preceded, retracts that alert and resolves the ones crossed before it
/// (DESIGN.md §3 rule 8).
#[tokio::test]
async fn a_late_stop_retracts_the_alerts_it_preceded() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    let client = nats.connect().await;
    let mut wire = client.subscribe("vigil.alerts.>").await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let tenant = 55;
    let t0 = now_ms() - 31 * MIN;
    let at = |m: i64| ts(t0 + m * MIN);
    publish_events(
        &js,
        &[Ev::created(tenant, "T-LATE", t0, "CRITICAL", "late-1")],
    )
    .await;
    wait_for_store(
        &setup.db,
        vec![
            key(
                tenant,
                "T-LATE",
                "response",
                "warning",
                "0.8",
                "firing",
                &at(24),
            ),
            key(
                tenant,
                "T-LATE",
                "response",
                "breach",
                "1",
                "firing",
                &at(30),
            ),
        ],
    )
    .await;

    // The first response happened at 29 minutes, within the lateness: no breach after all.
    publish_events(
        &js,
        &[Ev::responded(tenant, "T-LATE", t0 + 29 * MIN, "late-2")],
    )
    .await;
    let expected = vec![
        key(
            tenant,
            "T-LATE",
            "response",
            "warning",
            "0.8",
            "resolved",
            &at(24),
        ),
        key(
            tenant,
            "T-LATE",
            "response",
            "breach",
            "1",
            "retracted",
            &at(30),
        ),
    ];
    wait_for_store(&setup.db, expected.clone()).await;
    wait_published(&setup.db, 2).await;
    let mut ids: Vec<String> = drain(&client, &mut wire)
        .await
        .iter()
        .map(|m| header(m, "Nats-Msg-Id").unwrap_or_default())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            format!("{tenant}:T-LATE:response:breach:1:firing"),
            format!("{tenant}:T-LATE:response:breach:1:retracted"),
            format!("{tenant}:T-LATE:response:warning:0.8:firing"),
            format!("{tenant}:T-LATE:response:warning:0.8:resolved"),
        ]
    );
    let status = service.stop().await;
    assert!(status.success(), "exit status {status}");
}

/// `event_id` is unique per tenant (DESIGN.md §2), so two tenants may use the same one; both
/// events must be applied.
#[tokio::test]
async fn the_same_event_id_in_two_tenants_is_applied_for_both() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    let now = now_ms();
    let (a, mut expected) = overdue_ticket(31, "T-1", now);
    let (b, expected_b) = overdue_ticket(32, "T-1", now);
    expected.extend(expected_b);
    assert_eq!(a.id(), b.id());
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, ndjson_of(&[a, b])).unwrap();
    let publish = setup.publish(&file);
    assert!(
        publish.stderr.contains("published=2 duplicates=0"),
        "{}",
        publish.stderr
    );
    wait_for_store(&setup.db, expected).await;
    let status = service.stop().await;
    assert!(status.success(), "exit status {status}");
}

/// SIGTERM while tenant actors exist must stop the service promptly (DESIGN.md §6 and STYLE 8:
/// shutdown drains in-flight work, then stops every task). Repeated, with the CPUs busy, since
/// the failure is a race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_tenant_actors_exits_promptly() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let js = nats.jetstream().await;
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let burners: Vec<_> = (0..4)
        .map(|_| {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while busy.load(std::sync::atomic::Ordering::Relaxed) {
                    x = x.wrapping_mul(31).wrapping_add(7);
                }
                x
            })
        })
        .collect();
    let now = now_ms();
    let mut expected = Vec::new();
    for round in 0..10u64 {
        let mut service = setup.start();
        service.ready().await;
        let (created, keys) = overdue_ticket(100 + round, &format!("T-{round}"), now);
        expected.extend(keys);
        publish_events(&js, &[created]).await;
        wait_for_store(&setup.db, expected.clone()).await;
        service.terminate();
        let status = service
            .exited_within(std::time::Duration::from_secs(10))
            .await;
        assert!(status.success(), "round {round}: exit status {status}");
    }
    busy.store(false, std::sync::atomic::Ordering::Relaxed);
    for b in burners {
        let _ = b.join();
    }
}
