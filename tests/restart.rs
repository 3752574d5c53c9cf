//! Restarting `vigil run` (DESIGN.md §4, §6): the service is stopped with SIGTERM while it
//! works through a backlog, more events are published while it is down, and a new process on
//! the same store and stream picks up. The alerts in the store are exactly those of all the
//! events, and no alert change was published twice: not on the wire (a core subscription sees
//! every publish, even those JetStream would drop as duplicates) and not in `VIGIL_ALERTS`.

mod support;

use std::collections::BTreeMap;

use support::*;
use vigil_peers::NatsServer;

const CONFIG: &str = r#"
[nats]
partitions = 4
"#;

/// Tickets whose alerts on the wall clock do not depend on when the engine gets to them:
/// every crossing before now happened before any stop.
struct Batch {
    events: Vec<Ev>,
    /// Final store rows.
    rows: Vec<AlertKey>,
    /// Every `Nats-Msg-Id` the alert changes are published with.
    message_ids: Vec<String>,
}

fn batch(tenants: &[u64], name: &str, open: usize, resolved: usize, now: i64) -> Batch {
    let mut b = Batch {
        events: Vec::new(),
        rows: Vec::new(),
        message_ids: Vec::new(),
    };
    let mut add =
        |tenant: u64, ticket: &str, goal: &str, level: &str, th: &str, state: &str, at: i64| {
            b.rows
                .push(key(tenant, ticket, goal, level, th, state, &ts(at)));
            b.message_ids
                .push(format!("{tenant}:{ticket}:{goal}:{level}:{th}:firing"));
            if state != "firing" {
                b.message_ids
                    .push(format!("{tenant}:{ticket}:{goal}:{level}:{th}:{state}"));
            }
        };
    for &tenant in tenants {
        // Open CRITICAL tickets three hours old: response warning (24 min) and breach (30 min).
        for i in 0..open {
            let ticket = format!("{name}-{tenant}-open-{i}");
            let t0 = now - 3 * HOUR;
            b.events.push(Ev::created(
                tenant,
                &ticket,
                t0,
                "CRITICAL",
                &format!("{ticket}-1"),
            ));
            add(
                tenant,
                &ticket,
                "response",
                "warning",
                "0.8",
                "firing",
                t0 + 24 * MIN,
            );
            add(
                tenant,
                &ticket,
                "response",
                "breach",
                "1",
                "firing",
                t0 + 30 * MIN,
            );
        }
        // CRITICAL tickets 210 minutes old, taken up after 35 min (response breached) and
        // resolved after 200 min (past the resolution warning at 192 min, before the breach
        // at 240): every alert fired and was resolved.
        for i in 0..resolved {
            let ticket = format!("{name}-{tenant}-done-{i}");
            let t0 = now - 210 * MIN;
            b.events.push(Ev::created(
                tenant,
                &ticket,
                t0,
                "CRITICAL",
                &format!("{ticket}-1"),
            ));
            b.events.push(Ev::status(
                tenant,
                &ticket,
                t0 + 35 * MIN,
                "IN_PROGRESS",
                &format!("{ticket}-2"),
            ));
            b.events.push(Ev::status(
                tenant,
                &ticket,
                t0 + 200 * MIN,
                "RESOLVED",
                &format!("{ticket}-3"),
            ));
            add(
                tenant,
                &ticket,
                "response",
                "warning",
                "0.8",
                "resolved",
                t0 + 24 * MIN,
            );
            add(
                tenant,
                &ticket,
                "response",
                "breach",
                "1",
                "resolved",
                t0 + 30 * MIN,
            );
            add(
                tenant,
                &ticket,
                "resolution",
                "warning",
                "0.8",
                "resolved",
                t0 + 192 * MIN,
            );
        }
    }
    b
}

/// Message ids in the `VIGIL_ALERTS` stream, checked against their records, sorted.
async fn stream_ids(js: &async_nats::jetstream::Context) -> Vec<String> {
    let Ok(stream) = js.get_stream("VIGIL_ALERTS").await else {
        return Vec::new();
    };
    let last = stream
        .get_info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut ids = Vec::new();
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.expect("stream message");
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_string())
            .expect("Nats-Msg-Id");
        let record: Alert = serde_json::from_slice(&m.payload).expect("an alert record");
        assert_eq!(record.message_id(), id);
        assert_eq!(
            m.subject.as_str(),
            format!("vigil.alerts.{}", record.tenant_id)
        );
        ids.push(id);
    }
    ids.sort();
    ids
}

/// Reads a subscription until it has seen every id of `expected` (a `Nats-Msg-Id` each),
/// returning how often each id was seen.
async fn wire_until(
    sub: &mut async_nats::Subscriber,
    seen: &mut BTreeMap<String, usize>,
    expected: &[String],
) {
    use futures::StreamExt as _;
    let deadline = std::time::Instant::now() + WAIT;
    while !expected.iter().all(|id| seen.contains_key(id)) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let m = tokio::time::timeout(left, sub.next())
            .await
            .unwrap_or_else(|_| {
                let missing: Vec<_> = expected
                    .iter()
                    .filter(|id| !seen.contains_key(*id))
                    .collect();
                panic!("alert changes never published: {missing:#?}")
            })
            .expect("subscription open");
        *seen
            .entry(header(&m, "Nats-Msg-Id").expect("Nats-Msg-Id"))
            .or_default() += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_stream_ends_with_exactly_the_expected_alerts() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let js = nats.jetstream().await;
    let now = now_ms();
    let tenants = [43, 44, 45];
    let first = batch(&tenants, "b1", 20, 10, now);
    let second = batch(&tenants, "b2", 5, 3, now);

    // Run 1: stopped as soon as the first alert is in the store.
    let mut service = setup.start();
    service.ready().await;
    publish_events(&js, &first.events).await;
    eventually("a first alert row", || async {
        (!store_alerts(&setup.db).await.is_empty()).then_some(())
    })
    .await;
    let status = service.stop().await;
    assert!(
        status.success(),
        "run 1 exit status {status}:\n{}",
        service.log()
    );
    drop(service);

    // Down: more events arrive (through `vigil publish`, as an upstream would send them).
    let file = dir.path().join("second.ndjson");
    std::fs::write(&file, ndjson_of(&second.events)).unwrap();
    let publish = setup.publish(&file);
    assert!(
        publish.stderr.contains(&format!(
            "published={} duplicates=0 failed=0",
            second.events.len()
        )),
        "{}",
        publish.stderr
    );

    // Run 2: picks up where the stream and the store are.
    let mut service = setup.start();
    service.ready().await;
    let mut rows: Vec<AlertKey> = first.rows.iter().chain(&second.rows).cloned().collect();
    rows.sort();
    wait_for_store(&setup.db, rows.clone()).await;

    // In the stream: every change once, nothing else.
    let mut expected_ids: Vec<String> = first
        .message_ids
        .iter()
        .chain(&second.message_ids)
        .cloned()
        .collect();
    expected_ids.sort();
    let ids = eventually("every alert change in VIGIL_ALERTS", || async {
        let ids = stream_ids(&js).await;
        (ids.len() >= expected_ids.len()).then_some(ids)
    })
    .await;
    assert_eq!(ids, expected_ids);

    let status = service.stop().await;
    assert!(status.success(), "run 2 exit status {status}");
    assert_eq!(stream_ids(&js).await, expected_ids);
    assert_eq!(store_keys(&setup.db).await, rows);
}

/// The alert outbox must not publish a change again after a restart. Each resolved ticket
/// here records `firing` and `resolved` of the same alert in one batch; both are published,
/// and the second restart must publish nothing that the first run did not leave unpublished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_alert_change_is_published_twice_across_a_restart() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let client = nats.connect().await;
    let mut wire = client.subscribe("vigil.alerts.>").await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let work = batch(&[46, 47], "w", 0, 40, now_ms());

    let mut service = setup.start();
    service.ready().await;
    publish_events(&js, &work.events).await;
    let mut rows = work.rows.clone();
    rows.sort();
    wait_for_store(&setup.db, rows).await;
    let mut seen = BTreeMap::new();
    wire_until(&mut wire, &mut seen, &work.message_ids).await;
    let status = service.stop().await;
    assert!(status.success(), "run 1 exit status {status}");
    drop(service);

    let mut service = setup.start();
    service.ready().await;
    let status = service.stop().await;
    assert!(status.success(), "run 2 exit status {status}");
    for m in drain(&client, &mut wire).await {
        *seen
            .entry(header(&m, "Nats-Msg-Id").expect("Nats-Msg-Id"))
            .or_default() += 1;
    }

    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "published again after the restart: {twice:#?}"
    );
    let mut expected = work.message_ids.clone();
    expected.sort();
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), expected);
    // The cause, in the outbox: every row's current state marked published.
    wait_published(&setup.db, work.rows.len()).await;
}
