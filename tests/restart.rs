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
