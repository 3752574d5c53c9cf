//! The alert writer: records every alert change in the store exactly once (the store is unique
//! on the dedupe key and only moves a row forward), and publishes on `vigil.alerts.<tenant>`
//! only the changes the store took as new. Replays and restarts re-derive alerts; the store
//! turns the repeats into no-ops, so nothing is recorded or published twice.

use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::mpsc;
use tracing::warn;
use vigil_actors::AlertRecord;

use vigil::store::Store;
use vigil::telemetry::metrics;

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

    /// Runs until every sender is gone and the queue is empty.
    pub async fn run(self, mut batches: mpsc::Receiver<Vec<AlertRecord>>) {
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
        let publishes = batch
            .iter()
            .zip(writes)
            .filter(|(_, w)| w.is_new())
            .map(|(record, _)| self.publish(record));
        join_all(publishes).await;
    }

    async fn publish(&self, record: &AlertRecord) {
        metrics::alerts(record.goal, record.level, record.state).increment(1);
        let payload = match serde_json::to_vec(record) {
            Ok(p) => Bytes::from(p),
            Err(e) => {
                warn!(error = %e, "alert record could not be encoded");
                return;
            }
        };
        let msg_id = record.message_id();
        let mut backoff = Duration::from_millis(50);
        loop {
            match vigil_streams::publish_alert(&self.js, record.tenant_id, &msg_id, payload.clone())
                .await
            {
                Ok(_) => return,
                Err(e) if e.is_retryable() => {
                    warn!(tenant_id = record.tenant_id, ticket_id = %record.ticket_id, error = %e, "alert publish failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    warn!(tenant_id = record.tenant_id, ticket_id = %record.ticket_id, error = %e, "alert publish failed");
                    return;
                }
            }
        }
    }
}
