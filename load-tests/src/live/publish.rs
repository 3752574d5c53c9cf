//! Generating the workload and publishing it to the events stream.

use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;
use vigil_engine::clock::{Clock, WallClock};
use vigil_peers::workload::Workload;
use vigil_schema::decode;
use vigil_streams::jetstream::PublisherSettings;
use vigil_streams::{partition_of, EventPublisher};

use super::LiveOptions;
use crate::report::note;

/// Publishes awaiting their ack, over all publishers. They share one JetStream context, whose
/// client allows 5,000 unacknowledged publishes: a publisher holding acks it has not awaited
/// while waiting for a permit would wait forever, so the windows together stay below it.
const ACK_BUDGET: usize = 4096;

/// What was published.
pub struct Published {
    /// Events stored.
    pub events: u64,
    /// Wall time of publishing.
    pub seconds: f64,
}

impl Published {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }
}

/// Generates `options.events` events (the benchmark file's mix and density, ending now) and
/// publishes them with `options.publishers` pipelined publishers, each owning a share of the
/// partitions, so that every partition is stored in `occurred_at` order (as the event-time
/// engine expects of upstream: publishers racing each other within a partition would make
/// events later than the allowed lateness).
pub async fn publish_workload(
    js: &async_nats::jetstream::Context,
    options: &LiveOptions,
) -> anyhow::Result<Published> {
    let days = 7.0 * options.events as f64 / 1_000_000.0;
    let span_ms = (days * 86_400_000.0) as i64;
    let workload = Workload {
        events: options.events,
        tenants: options.tenants.max(1),
        first_tenant: 1,
        span_ms,
        start: WallClock.now() - span_ms,
        seed: 42,
        delay_scale: 1.0,
        shuffle_ms: 0,
    };
    note(format_args!(
        "generating {} events for {} tenants",
        options.events, options.tenants
    ));
    let mut text = Vec::new();
    workload.write(&mut text)?;
    let text = Bytes::from(text);
    let publishers = options.publishers.max(1);
    let mut shares: Vec<Vec<(u64, String, Bytes)>> = vec![Vec::new(); publishers];
    let mut start = 0;
    for end in line_ends(&text) {
        let line = text.slice(start..end);
        start = end + 1;
        let event = decode(&line).map_err(|r| anyhow::anyhow!("generated a bad event: {r}"))?;
        let partition = partition_of(event.tenant_id, options.partitions);
        shares[partition as usize % publishers].push((
            event.tenant_id,
            event.event_id.to_string(),
            line,
        ));
    }
    note(format_args!("publishing with {publishers} publishers"));
    let started = Instant::now();
    let events = publish_shares(js, shares).await?;
    Ok(Published {
        events,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Publishes each share of `(tenant, event id, payload)` from a task of its own, with the
/// in-flight ack budget split between them; fails if any event was not stored or was a
/// duplicate. Returns how many were published.
pub(crate) async fn publish_shares(
    js: &async_nats::jetstream::Context,
    shares: Vec<Vec<(u64, String, Bytes)>>,
) -> anyhow::Result<u64> {
    let publishers = shares.len().max(1);
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let js = js.clone();
            tokio::spawn(async move {
                let mut publisher = EventPublisher::new(
                    js,
                    PublisherSettings {
                        window: ACK_BUDGET / publishers,
                        rate: None,
                    },
                );
                for (tenant_id, event_id, payload) in share {
                    publisher.publish(tenant_id, &event_id, payload).await?;
                }
                anyhow::Ok(publisher.flush().await)
            })
        })
        .collect();
    let mut published = 0;
    for task in tasks {
        let stats = task.await.context("a publisher panicked")??;
        anyhow::ensure!(
            stats.failed == 0 && stats.duplicates == 0,
            "{} events were not stored and {} were duplicates",
            stats.failed,
            stats.duplicates
        );
        published += stats.published;
    }
    Ok(published)
}

/// Offsets of the newline ending each line.
fn line_ends(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    text.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
}
