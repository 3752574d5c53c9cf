//! `vigil-load live`: the live path against a real `nats-server` child.
//!
//! 1. Starts `nats-server` ([`NatsChild`]), creates the streams ([`ensure_streams`]) and
//!    publishes a generated workload to `vigil.events.<tenant>` with pipelined publishers.
//! 2. Reads every partition with the consumer the service uses ([`replay_partition`]: ordered,
//!    no acks), once without decoding (the raw consume rate), and once decoding, deduping and
//!    applying every event as `vigil run` does (the applied rate), in the same run.
//! 3. Loads open tickets into tenant actors on the wall clock and measures how late warnings
//!    reach the alert writer (and JetStream) after their `fired_at`.
//!
//! The runtime is the service's: an actix `System` on a multi-threaded tokio runtime.
//!
//! # Layout
//! - `publish`: generating and publishing the workload.
//! - `consume`: the raw and the applied consumption of all partitions.
//! - `warn`: warning latency with many open goals.
//!
//! [`replay_partition`]: vigil_streams::jetstream::replay_partition

mod consume;
mod publish;
pub(crate) use publish::publish_shares;
mod warn;

use std::time::Duration;

use anyhow::Context as _;
use vigil_streams::{ensure_streams, NatsChild, StreamSettings};

use crate::report::{figure, note};

pub use consume::EngineKind;

/// What `vigil-load live` runs.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Events to publish and consume (0 skips the throughput part).
    pub events: u64,
    /// Tenants of the workload.
    pub tenants: u64,
    /// Partitions of the events stream.
    pub partitions: u32,
    /// Which engine the applied consumption feeds.
    pub engine: EngineKind,
    /// Raw/applied measurement pairs; the best of each is reported.
    pub rounds: u32,
    /// Concurrent publishers (each takes a share of the partitions, so each partition is in
    /// event-time order).
    pub publishers: usize,
    /// Open tickets (two goals each) for the warning latency part (0 skips it).
    pub warn_tickets: u64,
    /// Of those, tickets whose response warning becomes due during the measurement.
    pub warnings: u64,
    /// Tenants the warning-latency tickets are spread over.
    pub warn_tenants: u64,
    /// Window over which the due warnings are spread.
    pub warn_window: Duration,
    /// Whether to publish fired warnings to JetStream (as the alert writer does) and measure
    /// the latency up to the ack too.
    pub publish_alerts: bool,
}

/// Runs the live benchmark and prints its figures.
pub fn run(options: LiveOptions) -> anyhow::Result<()> {
    let nats = NatsChild::start().context("cannot start nats-server")?;
    note(format_args!("nats-server at {}", nats.url()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let url = nats.url();
    let result = actix_rt::System::with_tokio_rt(move || runtime).block_on(measure(url, options));
    drop(nats);
    result
}

async fn measure(url: String, options: LiveOptions) -> anyhow::Result<()> {
    let client = async_nats::connect(&url)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let js = async_nats::jetstream::new(client.clone());
    let settings = StreamSettings {
        partitions: options.partitions,
        ..StreamSettings::default()
    };
    ensure_streams(&js, &settings)
        .await
        .context("cannot create the streams")?;

    if options.events > 0 {
        let published = publish::publish_workload(&js, &options).await?;
        figure("events_published", published.events);
        figure("publish_events_per_sec", format!("{:.0}", published.rate()));
        let mut best_raw = 0.0f64;
        let mut best_applied = 0.0f64;
        for round in 1..=options.rounds.max(1) {
            note(format_args!("round {round}: raw consume"));
            let raw = consume::raw(&js, &settings).await?;
            note(format_args!(
                "round {round}: {} events in {:.2} s raw; applying ({:?})",
                raw.events, raw.seconds, options.engine
            ));
            let applied = consume::applied(&js, &settings, options.engine).await?;
            note(format_args!(
                "round {round}: {} applied, {} rejected, {} alert changes in {:.2} s",
                applied.applied, applied.rejected, applied.alerts, applied.seconds
            ));
            anyhow::ensure!(
                raw.events == published.events && applied.events == published.events,
                "consumed {} raw and {} applied of {} published events",
                raw.events,
                applied.events,
                published.events
            );
            best_raw = best_raw.max(raw.rate());
            best_applied = best_applied.max(applied.rate());
            if round == 1 {
                figure("events_applied", applied.applied);
                figure("events_rejected", applied.rejected);
                figure("alert_changes", applied.alerts);
            }
        }
        figure("raw_consume_events_per_sec", format!("{best_raw:.0}"));
        figure("applied_events_per_sec", format!("{best_applied:.0}"));
        figure(
            "applied_to_raw_ratio",
            format!("{:.3}", best_applied / best_raw.max(1e-9)),
        );
    }

    if options.warn_tickets > 0 {
        warn::measure(&js, &options).await?;
    }
    client.flush().await.ok();
    Ok(())
}
