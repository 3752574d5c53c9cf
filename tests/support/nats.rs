//! Publishing events and reading subscriptions on the test's nats-server.

use std::time::Duration;

use async_nats::header::NATS_MESSAGE_ID;
use async_nats::HeaderMap;
use futures::StreamExt as _;

use super::Ev;

/// Publishes one payload to `vigil.events.<tenant>` with `Nats-Msg-Id` = `msg_id` and waits
/// for JetStream's ack.
pub async fn publish_event(
    js: &async_nats::jetstream::Context,
    tenant: u64,
    msg_id: &str,
    payload: impl Into<bytes::Bytes>,
) {
    if let Err(err) = try_publish_event(js, tenant, msg_id, payload.into()).await {
        panic!("publish of {msg_id}: {err}");
    }
}

/// [`publish_event`], returning why the publish or its ack failed.
async fn try_publish_event(
    js: &async_nats::jetstream::Context,
    tenant: u64,
    msg_id: &str,
    payload: bytes::Bytes,
) -> Result<(), String> {
    let mut headers = HeaderMap::new();
    headers.insert(NATS_MESSAGE_ID, msg_id);
    js.publish_with_headers(format!("vigil.events.{tenant}"), headers, payload)
        .await
        .map_err(|err| format!("publish: {err}"))?
        .await
        .map(|_| ())
        .map_err(|err| format!("JetStream ack: {err}"))
}

/// Publishes events the way an upstream system rides out a JetStream fail-over: each with
/// `Nats-Msg-Id` = its `event_id`, and again with the same id (which JetStream de-duplicates)
/// while the publish fails or is not acknowledged, for up to [`WAIT`](super::WAIT) per event.
pub async fn publish_events_retrying(js: &async_nats::jetstream::Context, events: &[Ev]) {
    for e in events {
        let deadline = std::time::Instant::now() + super::WAIT;
        while let Err(err) = try_publish_event(js, e.tenant(), e.id(), e.line().into()).await {
            assert!(
                std::time::Instant::now() < deadline,
                "event {} never acknowledged: {err}",
                e.id()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Publishes events, each with `Nats-Msg-Id` = its `event_id`.
pub async fn publish_events(js: &async_nats::jetstream::Context, events: &[Ev]) {
    for e in events {
        publish_event(js, e.tenant(), e.id(), e.line()).await;
    }
}

/// Everything a subscription has received so far: a round trip to the server first, so every
/// message the server routed to this connection before it is included.
pub async fn drain(
    client: &async_nats::Client,
    sub: &mut async_nats::Subscriber,
) -> Vec<async_nats::Message> {
    client.flush().await.expect("flush");
    let mut out = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
        out.push(m);
    }
    out
}

/// A header of a message, as text.
pub fn header(m: &async_nats::Message, name: &str) -> Option<String> {
    m.headers
        .as_ref()?
        .get(name)
        .map(|v| v.as_str().to_string())
}
