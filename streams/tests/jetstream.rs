//! JetStream plumbing against a real nats-server (see `vigil-peers`).

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::Context;
use bytes::Bytes;
use futures::StreamExt;
use vigil_peers::NatsServer;
use vigil_schema::{RejectReason, Rejection};
use vigil_streams::jetstream::subjects::{
    ALERTS_STREAM, DLQ_STREAM, EVENTS_STREAM, REJECT_DETAIL_HEADER, REJECT_REASON_HEADER,
};
use vigil_streams::jetstream::{
    ensure_streams, last_sequence, partition_of, publish_alert, publish_dead_letter,
    publish_events, replay_partition, EventPublisher, PublishError, PublisherSettings, SetupError,
    StreamSettings,
};

const P: u32 = 16;

/// Fails the test instead of hanging when the server does not answer.
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

async fn setup() -> (NatsServer, Context) {
    let server = NatsServer::start();
    let js = server.jetstream().await;
    within(
        "ensure_streams",
        ensure_streams(&js, &StreamSettings::default()),
    )
    .await
    .expect("streams set up");
    (server, js)
}

fn event(tenant: u64, id: &str) -> (u64, String, Bytes) {
    let body = format!(r#"{{"schema":1,"event_id":"{id}","tenant_id":{tenant}}}"#);
    (tenant, id.to_string(), Bytes::from(body))
}

async fn stored_subject(js: &Context, stream: &str, seq: u64) -> String {
    let stream = js.get_stream(stream).await.expect("stream exists");
    let message = stream.get_raw_message(seq).await.expect("message stored");
    message.subject.to_string()
}

#[tokio::test]
async fn streams_are_created_idempotently_and_keep_their_partition_count() {
    let (_server, js) = setup().await;
    // A second call verifies instead of failing.
    ensure_streams(&js, &StreamSettings::default())
        .await
        .unwrap();

    let events = js.get_stream(EVENTS_STREAM).await.unwrap();
    let config = &events.cached_info().config;
    assert_eq!(config.subjects, ["vigil.events.*"]);
    let transform = config.subject_transform.as_ref().unwrap();
    assert_eq!(transform.source, "vigil.events.*");
    assert_eq!(
        transform.destination,
        "vigil.p.{{partition(16,1)}}.{{wildcard(1)}}"
    );
    assert_eq!(config.max_age, Duration::from_secs(35 * 86_400));
    assert_eq!(config.duplicate_window, Duration::from_secs(120));
    for name in [DLQ_STREAM, ALERTS_STREAM] {
        js.get_stream(name).await.unwrap();
    }

    let other = StreamSettings {
        partitions: 8,
        ..StreamSettings::default()
    };
    match ensure_streams(&js, &other).await {
        Err(SetupError::PartitionMismatch {
            existing: 16,
            configured: 8,
            ..
        }) => {}
        other => panic!("expected a partition mismatch, got {other:?}"),
    }

    // A changed retention is applied to the existing stream.
    let shorter = StreamSettings {
        retention: Duration::from_secs(86_400),
        ..StreamSettings::default()
    };
    ensure_streams(&js, &shorter).await.unwrap();
    let mut events = js.get_stream(EVENTS_STREAM).await.unwrap();
    assert_eq!(
        events.info().await.unwrap().config.max_age,
        Duration::from_secs(86_400)
    );
}

#[tokio::test]
async fn partition_of_matches_the_servers_transform() {
    let (_server, js) = setup().await;
    let tenants: Vec<u64> = (1..=300).chain([12_345, 987_654_321, u64::MAX]).collect();
    let results = within(
        "publish",
        publish_events(
            &js,
            tenants.iter().map(|&t| event(t, &format!("e-{t}"))),
            64,
        ),
    )
    .await;
    let stream = js.get_stream(EVENTS_STREAM).await.unwrap();
    for (tenant, result) in tenants.iter().zip(results) {
        let seq = result.unwrap().sequence;
        let stored = stream.get_raw_message(seq).await.unwrap().subject;
        assert_eq!(
            stored.as_str(),
            format!("vigil.p.{}.{tenant}", partition_of(*tenant, P)),
            "tenant {tenant}"
        );
    }
}

#[tokio::test]
async fn a_partition_replay_sees_its_tenants_events() {
    let (_server, js) = setup().await;
    let partition = partition_of(42, P);
    let outcome = &publish_events(&js, [event(42, "a"), event(42, "b")], 8).await;
    let last = outcome[1].as_ref().unwrap().sequence;
    assert_eq!(
        stored_subject(&js, EVENTS_STREAM, last).await,
        format!("vigil.p.{partition}.42")
    );

    let mut messages = within(
        "start the replay",
        replay_partition(&js, EVENTS_STREAM, partition, 1),
    )
    .await
    .unwrap();
    let first = within("first", messages.next()).await.unwrap().unwrap();
    assert_eq!(first.tenant_id, Some(42));
    assert_eq!(first.pending, 1);
    assert!(std::str::from_utf8(&first.payload)
        .unwrap()
        .contains(r#""event_id":"a""#));
    let second = within("second", messages.next()).await.unwrap().unwrap();
    assert_eq!(second.stream_sequence, last);
    assert_eq!(second.pending, 0);
}

#[tokio::test]
async fn dead_letters_carry_the_reason() {
    let (_server, js) = setup().await;
    let rejection = Rejection::field(RejectReason::UnknownPriority, "priority", "is not known");
    let payload = Bytes::from_static(br#"{"priority":"URGENT"}"#);
    let stored = publish_dead_letter(&js, Some(42), payload.clone(), &rejection)
        .await
        .unwrap();
    let unknown = publish_dead_letter(&js, None, Bytes::from_static(b"not json"), &rejection)
        .await
        .unwrap();

    let stream = js.get_stream(DLQ_STREAM).await.unwrap();
    let message = stream.get_raw_message(stored.sequence).await.unwrap();
    assert_eq!(message.subject.as_str(), "vigil.dlq.42");
    assert_eq!(message.payload, payload);
    let header = |name| message.headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(
        header(REJECT_REASON_HEADER).as_deref(),
        Some("unknown_priority")
    );
    assert_eq!(
        header(REJECT_DETAIL_HEADER).as_deref(),
        Some("priority is not known")
    );
    assert_eq!(
        stored_subject(&js, DLQ_STREAM, unknown.sequence).await,
        "vigil.dlq.unknown"
    );
}

#[tokio::test]
async fn message_ids_drop_republished_events_and_alerts() {
    let (_server, js) = setup().await;
    let mut publisher = EventPublisher::new(js.clone(), PublisherSettings::default());
    for id in ["x", "y", "x"] {
        let (tenant, id, payload) = event(5, id);
        publisher.publish(tenant, &id, payload).await.unwrap();
    }
    let stats = within("flush", publisher.flush()).await;
    assert_eq!((stats.published, stats.duplicates, stats.failed), (2, 1, 0));
    // An id that cannot be a header value is refused, not sent (and never panics).
    let refused = publisher.publish(5, "bad\nid", Bytes::new()).await;
    assert!(matches!(refused, Err(PublishError::BadMessageId { .. })));

    let alert = Bytes::from_static(br#"{"state":"firing"}"#);
    let first = publish_alert(&js, 5, "5:T1:response:warning:0.8:firing", alert.clone())
        .await
        .unwrap();
    let again = publish_alert(&js, 5, "5:T1:response:warning:0.8:firing", alert)
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.sequence, first.sequence);
    assert_eq!(
        stored_subject(&js, ALERTS_STREAM, first.sequence).await,
        "vigil.alerts.5"
    );
}

#[tokio::test]
async fn a_rate_limited_publisher_paces_itself() {
    let (_server, js) = setup().await;
    let settings = PublisherSettings {
        window: 16,
        rate: std::num::NonZeroU32::new(200),
    };
    let mut publisher = EventPublisher::new(js, settings);
    let started = std::time::Instant::now();
    for i in 0..100 {
        let (tenant, id, payload) = event(9, &format!("r{i}"));
        publisher.publish(tenant, &id, payload).await.unwrap();
    }
    let stats = within("flush", publisher.flush()).await;
    assert_eq!(stats.published, 100);
    // 100 events at 200/s with a burst of 20 take at least 0.4 s.
    assert!(
        started.elapsed() >= Duration::from_millis(390),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn replay_reads_a_partition_from_any_sequence() {
    let (_server, js) = setup().await;
    let partition = partition_of(77, P);
    assert_eq!(
        last_sequence(&js, EVENTS_STREAM, partition).await.unwrap(),
        None
    );
    let acks = publish_events(&js, (0..5).map(|i| event(77, &format!("e{i}"))), 8).await;
    let seqs: Vec<u64> = acks.into_iter().map(|a| a.unwrap().sequence).collect();
    let last = last_sequence(&js, EVENTS_STREAM, partition).await.unwrap();
    assert_eq!(last, seqs.last().copied());

    let mut replay = replay_partition(&js, EVENTS_STREAM, partition, 0)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.last() != last.as_ref() {
        let message = within("replay", replay.next()).await.unwrap().unwrap();
        assert_eq!(message.tenant_id, Some(77));
        seen.push(message.stream_sequence);
    }
    assert_eq!(seen, seqs);

    let mut from_third = replay_partition(&js, EVENTS_STREAM, partition, seqs[2])
        .await
        .unwrap();
    let message = within("replay", from_third.next()).await.unwrap().unwrap();
    assert_eq!(message.stream_sequence, seqs[2]);
    assert_eq!(message.pending, 2);
}

#[tokio::test]
async fn streams_and_events_survive_a_restart() {
    let (mut server, js) = setup().await;
    let partition = partition_of(42, P);
    let seq = publish_events(&js, [event(42, "kept")], 1).await[0]
        .as_ref()
        .unwrap()
        .sequence;
    drop(js);

    server.restart();
    let js = server.jetstream().await;
    within(
        "ensure after restart",
        ensure_streams(&js, &StreamSettings::default()),
    )
    .await
    .unwrap();
    assert_eq!(
        last_sequence(&js, EVENTS_STREAM, partition).await.unwrap(),
        Some(seq)
    );
    let mut replay = replay_partition(&js, EVENTS_STREAM, partition, 0)
        .await
        .unwrap();
    let message = within("replay", replay.next()).await.unwrap().unwrap();
    assert_eq!(message.stream_sequence, seq);

    // The duplicate window survives too.
    let again = publish_events(&js, [event(42, "kept")], 1).await;
    assert!(again[0].as_ref().unwrap().duplicate);
}
