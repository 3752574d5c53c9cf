//! The alert writer: records every alert change in the store exactly once (the store is unique
//! on the dedupe key and only moves a row forward), and publishes on `vigil.alerts.<tenant>`
//! only the changes the store took as new. Replays and restarts re-derive alerts; the store
//! turns the repeats into no-ops, so nothing is recorded or published twice.
//!
//! The store is also the outbox: a change is marked published only after JetStream
//! acknowledged it, and changes left unpublished by a crash are published first on start
//! (JetStream's duplicate window drops a repeat of one that did go out).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::mpsc;
use tracing::warn;
use vigil_actors::AlertRecord;

use vigil::store::Store;
use vigil::telemetry::metrics;

/// Unpublished alerts read at a time on start.
const LEFTOVER_BATCH: u32 = 500;
/// Longest wait between store retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Records and publishes alert changes.
pub struct AlertWriter {
    store: Store,
    js: async_nats::jetstream::Context,
}

impl AlertWriter {
    /// A writer to this store and JetStream.
    pub fn new(store: Store, js: async_nats::jetstream::Context) -> AlertWriter {
        AlertWriter { store, js }
    }

    /// Publishes what a previous run left unpublished, then runs until every sender is gone
    /// and the queue is empty.
    pub async fn run(self, mut batches: mpsc::Receiver<Vec<AlertRecord>>) {
        self.publish_leftovers().await;
        while let Some(batch) = batches.recv().await {
            self.write(batch).await;
        }
    }

    async fn write(&self, batch: Vec<AlertRecord>) {
        let mut backoff = Duration::from_millis(50);
        let writes = loop {
            match self.store.record_alert_changes(&batch).await {
                Ok(w) => break w,
                Err(e) if e.is_retryable() => {
                    warn!(error = %e, records = batch.len(), "store unavailable; alert changes wait");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    warn!(error = %e, records = batch.len(), "alert changes could not be recorded");
                    return;
                }
            }
        };
        let new: Vec<&AlertRecord> = batch
            .iter()
            .zip(writes)
            .filter(|(_, w)| w.is_new())
            .map(|(record, _)| record)
            .collect();
        self.publish_in_order(&new).await;
    }

    /// Publishes changes concurrently across alerts but in order within one alert (firing
    /// before resolved), so consumers and the published mark never see them reversed.
    /// Returns whether all went out.
    async fn publish_in_order(&self, records: &[&AlertRecord]) -> bool {
        let mut per_alert: Vec<Vec<&AlertRecord>> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for r in records {
            let i = *index.entry(r.alert_id.as_str()).or_insert_with(|| {
                per_alert.push(Vec::new());
                per_alert.len() - 1
            });
            per_alert[i].push(r);
        }
        let done = join_all(per_alert.iter().map(|changes| async move {
            for r in changes {
                if !self.publish(r).await {
                    return false;
                }
            }
            true
        }))
        .await;
        !done.contains(&false)
    }

    async fn publish_leftovers(&self) {
        loop {
            match self.store.unpublished_alerts(LEFTOVER_BATCH).await {
                Ok(records) if records.is_empty() => return,
                Ok(records) => {
                    let all: Vec<&AlertRecord> = records.iter().collect();
                    let published = self.publish_in_order(&all).await;
                    // Stop at a short page, or when a page could not all go out (no progress).
                    if records.len() < LEFTOVER_BATCH as usize || !published {
                        return;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "cannot read unpublished alerts; they go out on the next start");
                    return;
                }
            }
        }
    }

    /// Publishes one change and marks it published; false if it could not be published.
    async fn publish(&self, record: &AlertRecord) -> bool {
        metrics::alerts(record.goal, record.level, record.state).increment(1);
        let payload = match serde_json::to_vec(record) {
            Ok(p) => Bytes::from(p),
            Err(e) => {
                warn!(error = %e, "alert record could not be encoded");
                return false;
            }
        };
        let msg_id = record.message_id();
        let mut backoff = Duration::from_millis(50);
        loop {
            match vigil_streams::publish_alert(&self.js, record.tenant_id, &msg_id, payload.clone())
                .await
            {
                Ok(_) => {
                    if let Err(e) = self
                        .store
                        .mark_published(&record.alert_id, record.state)
                        .await
                    {
                        warn!(error = %e, "cannot mark an alert published; it may be published again on start");
                    }
                    return true;
                }
                Err(e) if e.is_retryable() => {
                    warn!(tenant_id = record.tenant_id, ticket_id = %record.ticket_id, error = %e, "alert publish failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    warn!(tenant_id = record.tenant_id, ticket_id = %record.ticket_id, error = %e, "alert publish failed");
                    return false;
                }
            }
        }
    }
}
