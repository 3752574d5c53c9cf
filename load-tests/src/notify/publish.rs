//! `vigil-load storm`: creates the streams as `vigil run` does and publishes the storm
//! workload before the service starts, so the service meets a backlog (its ingest rate is then
//! its own, not the publisher's). With `--purge-events` it empties the events stream first.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use vigil_engine::clock::{Clock, WallClock};
use vigil_streams::{ensure_streams, partition_of, StreamSettings};

use super::storm::Storm;
use crate::live::publish_shares;
use crate::report::{figure, note, rate};

/// What `vigil-load storm` does.
#[derive(Debug, Clone)]
pub struct StormOptions {
    /// NATS URL of the service's server.
    pub nats: String,
    /// Partitions of the events stream (as `[nats] partitions` of the service).
    pub partitions: u32,
    /// Concurrent publishers, each owning a share of the partitions.
    pub publishers: usize,
    /// Tenants.
    pub tenants: u64,
    /// Overdue tickets.
    pub storm_tickets: u64,
    /// Calm backlog events.
    pub calm_events: u64,
    /// Age of the storm tickets.
    pub age: Duration,
    /// Empty the events stream first, so that a restarted service has nothing to replay (its
    /// engine rebuilds state from the log on start).
    pub purge_events: bool,
}

/// Generates and publishes the workload; prints `events_published`, `storm_alerts` and the
/// publish rate.
pub fn run(options: StormOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(publish(options))
}

async fn publish(options: StormOptions) -> anyhow::Result<()> {
    let storm = Storm {
        tenants: options.tenants,
        storm_tickets: options.storm_tickets,
        calm_events: options.calm_events,
        age_ms: i64::try_from(options.age.as_millis()).context("--age is too long")?,
        now: WallClock.now(),
    };
    let events = storm.events();
    let total = events.len() as u64;
    note(format_args!(
        "{} storm tickets ({} alerts) and {} calm events over {} tenants",
        storm.storm_tickets,
        storm.alerts(),
        total - storm.storm_tickets,
        storm.tenants
    ));
    let client = async_nats::connect(&options.nats)
        .await
        .with_context(|| format!("cannot connect to {}", options.nats))?;
    let js = async_nats::jetstream::new(client.clone());
    let settings = StreamSettings {
        partitions: options.partitions,
        ..StreamSettings::default()
    };
    ensure_streams(&js, &settings)
        .await
        .context("cannot create the streams")?;
    if options.purge_events {
        let purged = js
            .get_stream(&settings.name)
            .await
            .context("cannot open the events stream")?
            .purge()
            .await
            .context("cannot purge the events stream")?;
        note(format_args!("purged {} events", purged.purged));
    }
    let publishers = options.publishers.max(1);
    let mut shares: Vec<Vec<(u64, String, bytes::Bytes)>> = vec![Vec::new(); publishers];
    for e in events {
        let p = partition_of(e.tenant_id, options.partitions) as usize;
        shares[p % publishers].push((e.tenant_id, e.event_id, e.payload));
    }
    let started = Instant::now();
    let published = publish_shares(&js, shares).await?;
    let seconds = started.elapsed().as_secs_f64();
    client.flush().await.ok();
    figure("events_published", published);
    figure("storm_tickets", storm.storm_tickets);
    figure("storm_alerts", storm.alerts());
    rate("publish_events_per_sec", published, seconds);
    Ok(())
}
