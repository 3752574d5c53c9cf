//! `vigil publish`: sends an NDJSON file of events to JetStream, as an upstream would: each
//! event on `vigil.events.<tenant_id>` with `Nats-Msg-Id` = its `event_id`, many acks in
//! flight, optionally rate-limited. Lines without a readable tenant are skipped and counted;
//! anything else is published as it is (the service judges it, and dead-letters bad events).

use std::num::NonZeroU32;
use std::path::Path;

use anyhow::Context;
use bytes::Bytes;
use serde::Deserialize;
use vigil_streams::jetstream::{PublishStats, PublisherSettings};
use vigil_streams::ndjson::{Line, NdjsonReader};
use vigil_streams::EventPublisher;

/// What `vigil publish` did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublishSummary {
    /// Acknowledged by JetStream (duplicates included).
    pub stats: PublishStats,
    /// Lines skipped because they name no tenant.
    pub skipped: u64,
}

/// Just what routing needs from a line.
#[derive(Deserialize)]
struct Routing<'a> {
    tenant_id: Option<u64>,
    #[serde(borrow)]
    event_id: Option<std::borrow::Cow<'a, str>>,
}

/// Publishes every line of `input` (`-` for stdin).
pub async fn run(
    nats_url: &str,
    input: &Path,
    rate: Option<u32>,
) -> anyhow::Result<PublishSummary> {
    let servers = vigil_streams::server_addrs(nats_url)
        .map_err(|problem| anyhow::anyhow!("nats.url: {problem}"))?;
    let client = async_nats::connect(servers)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", vigil::redact::url(nats_url)))?;
    let js = async_nats::jetstream::new(client);
    let mut reader =
        NdjsonReader::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let mut publisher = EventPublisher::new(
        js,
        PublisherSettings {
            rate: rate.and_then(NonZeroU32::new),
            ..PublisherSettings::default()
        },
    );
    let mut summary = PublishSummary::default();
    while let Some(line) = reader.next_line().context("cannot read the input")? {
        let Line::Data { bytes, number } = line else {
            continue;
        };
        let routing = serde_json::from_slice::<Routing<'_>>(bytes).ok();
        let Some((tenant, event_id)) = routing.and_then(|r| Some((r.tenant_id?, r.event_id?)))
        else {
            tracing::warn!(
                line = number,
                "skipped: no tenant_id or event_id to route it by"
            );
            summary.skipped += 1;
            continue;
        };
        let event_id = event_id.into_owned();
        publisher
            .publish(tenant, &event_id, Bytes::copy_from_slice(bytes))
            .await
            .with_context(|| format!("line {number}: cannot publish"))?;
    }
    summary.stats = publisher.flush().await;
    Ok(summary)
}
