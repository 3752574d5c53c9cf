//! A tenant's history as the events stream holds it: read oldest first from JetStream (one
//! tenant's subject, or every partition), for what-if runs and `vigil export`; and the
//! policies a what-if compares: the ones in force and a proposal merged over them.

use std::collections::BTreeMap;

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt;
use vigil_engine::calendar::CalendarSpec;
use vigil_engine::policy::merge;
use vigil_engine::{PolicyBook, PolicySpec};
use vigil_schema::decode;

use super::what_if::{WhatIf, WhatIfRun};

/// Payloads handed over per batch.
const BATCH: usize = 4_096;

/// Reads the stored events of `tenant` (of every tenant when `None`) oldest first within each
/// partition, sending their payloads to `out` in batches; stops early when `out` is closed.
/// Returns how many were read.
pub async fn read_events(
    js: &async_nats::jetstream::Context,
    (stream, partitions): (&str, u32),
    tenant: Option<u64>,
    out: tokio::sync::mpsc::Sender<Vec<Bytes>>,
) -> anyhow::Result<u64> {
    let parts: Vec<u32> = match tenant {
        Some(t) => vec![vigil_streams::partition_of(t, partitions)],
        None => (0..partitions).collect(),
    };
    let mut read = 0u64;
    for partition in parts {
        let last = match tenant {
            Some(t) => {
                vigil_streams::jetstream::last_tenant_sequence(js, stream, partition, t).await?
            }
            None => vigil_streams::jetstream::last_sequence(js, stream, partition).await?,
        };
        let Some(last) = last else { continue };
        let mut messages =
            vigil_streams::jetstream::read_history(js, stream, partition, tenant).await?;
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(message) = messages.next().await {
            let message = message.with_context(|| format!("cannot read partition {partition}"))?;
            batch.push(message.payload);
            read += 1;
            let done = message.stream_sequence >= last;
            if (batch.len() == BATCH || done) && out.send(std::mem::take(&mut batch)).await.is_err()
            {
                return Ok(read);
            }
            if done {
                break;
            }
        }
    }
    Ok(read)
}

/// Runs `run` over the stream's history: read on this task, the engines on a blocking thread.
pub async fn what_if_from_stream(
    js: &async_nats::jetstream::Context,
    (stream, partitions): (&str, u32),
    run: WhatIfRun,
) -> anyhow::Result<WhatIf> {
    let tenant = run.tenant_id;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(8);
    let engines = tokio::task::spawn_blocking(move || {
        let batches = std::iter::from_fn(move || rx.blocking_recv());
        let events = batches
            .flatten()
            .filter_map(|payload| decode(&payload).ok());
        run.over(events)
    });
    read_events(js, (stream, partitions), tenant, tx).await?;
    engines.await.context("the what-if engines failed")
}

/// The policy settings a configuration holds: what a proposal is merged into.
#[derive(Debug, Clone, Default)]
pub struct PolicySources {
    /// `[sla]`: every tenant's default.
    pub default: PolicySpec,
    /// `[calendars]`.
    pub calendars: BTreeMap<String, CalendarSpec>,
    /// The tenant files' `[policy]`, by tenant.
    pub tenants: BTreeMap<u64, PolicySpec>,
}

impl PolicySources {
    /// The policy book in force.
    pub fn current(&self) -> anyhow::Result<PolicyBook> {
        build(
            &self.default,
            &self.calendars,
            &self.tenants,
            "the policy in force",
        )
    }

    /// The policy book a proposal makes: `proposal` merged over the policy file of `tenant`
    /// (of every tenant with a file, and the default, when `None`), the rest unchanged.
    pub fn proposed(
        &self,
        tenant: Option<u64>,
        proposal: &PolicySpec,
    ) -> anyhow::Result<PolicyBook> {
        let mut tenants = self.tenants.clone();
        let mut default = self.default.clone();
        match tenant {
            Some(t) => {
                let own = tenants.get(&t).cloned().unwrap_or_default();
                tenants.insert(t, merge(&own, proposal));
            }
            None => {
                default = merge(&default, proposal);
                for spec in tenants.values_mut() {
                    *spec = merge(spec, proposal);
                }
            }
        }
        build(&default, &self.calendars, &tenants, "the proposed policy")
    }
}

fn build(
    default: &PolicySpec,
    calendars: &BTreeMap<String, CalendarSpec>,
    tenants: &BTreeMap<u64, PolicySpec>,
    what: &str,
) -> anyhow::Result<PolicyBook> {
    PolicyBook::build(default, calendars, tenants).map_err(|errors| {
        anyhow::anyhow!(
            "{what} is invalid: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}
