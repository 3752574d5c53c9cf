//! The record writer: puts the SLA records of stopped goals into the store (our side of every
//! partner's reconciliation) and queues each new or changed one in the outbox of every
//! partner serving its tenant, then wakes those partners' workers. Restarts re-derive the
//! records from the stream; the store keeps only the latest stop of each goal, so repeats
//! queue nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tracing::warn;
use vigil_actors::clock::Clock;
use vigil_actors::SlaRecord;

use vigil::partner::PartnerConfig;
use vigil::store::Store;

/// Longest wait between store retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Records stopped goals and queues them for partners.
pub struct RecordWriter {
    store: Store,
    partners: Vec<PartnerConfig>,
    wakers: Vec<Arc<Notify>>,
    clock: Arc<dyn Clock>,
}

impl RecordWriter {
    /// A writer to `store` for these partners; `wakers` are told when records were queued.
    pub fn new(
        store: Store,
        partners: Vec<PartnerConfig>,
        wakers: Vec<Arc<Notify>>,
        clock: Arc<dyn Clock>,
    ) -> RecordWriter {
        RecordWriter {
            store,
            partners,
            wakers,
            clock,
        }
    }

    /// Runs until every sender is gone and the queue is empty.
    pub async fn run(self, mut batches: mpsc::Receiver<Vec<SlaRecord>>) {
        while let Some(mut batch) = batches.recv().await {
            // Take what else is queued: one transaction for many records.
            while batch.len() < 4_096 {
                match batches.try_recv() {
                    Ok(more) => batch.extend(more),
                    Err(_) => break,
                }
            }
            self.write(&batch).await;
        }
    }

    async fn write(&self, batch: &[SlaRecord]) {
        let partners_of = |tenant: u64| -> Vec<String> {
            self.partners
                .iter()
                .filter(|p| p.serves(tenant))
                .map(|p| p.id.clone())
                .collect()
        };
        let mut backoff = Duration::from_millis(50);
        loop {
            match self
                .store
                .record_sla_stops(batch, &partners_of, self.clock.now())
                .await
            {
                Ok(0) => return,
                Ok(_) => {
                    for w in &self.wakers {
                        w.notify_one();
                    }
                    return;
                }
                Err(e) if e.is_retryable() => {
                    warn!(error = %e, records = batch.len(), "store unavailable; SLA records wait");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    warn!(error = %e, records = batch.len(),
                        "SLA records could not be recorded; the next restart derives them again");
                    return;
                }
            }
        }
    }
}
