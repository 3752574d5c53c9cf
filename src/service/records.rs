//! The record writer: puts the SLA records of stopped goals into the store (our side of every
//! partner's reconciliation) and queues each new or changed one in the outbox of every
//! partner serving its tenant, then wakes those partners' workers. Restarts re-derive the
//! records from the stream; the store keeps only the latest stop of each goal, so repeats
//! queue nothing.

use std::sync::Arc;

use tokio::sync::{mpsc, Notify};
use vigil_engine::clock::Clock;
use vigil_engine::supervisor::Queued;
use vigil_engine::SlaRecord;

use vigil::partner::PartnerConfig;
use vigil::store::Store;

use super::dead_letters;
use super::store_retry::until_stored_isolating;

/// Records stopped goals and queues them for partners.
pub struct RecordWriter {
    store: Store,
    partners: Vec<PartnerConfig>,
    wakers: Vec<Arc<Notify>>,
    clock: Arc<dyn Clock>,
    js: async_nats::jetstream::Context,
}

impl RecordWriter {
    /// A writer to `store` for these partners; `wakers` are told when records were queued;
    /// a record the store refuses for good is dead-lettered through `js`.
    pub fn new(
        store: Store,
        partners: Vec<PartnerConfig>,
        wakers: Vec<Arc<Notify>>,
        clock: Arc<dyn Clock>,
        js: async_nats::jetstream::Context,
    ) -> RecordWriter {
        RecordWriter {
            store,
            partners,
            wakers,
            clock,
            js,
        }
    }

    /// Runs until every sender is gone and the queue is empty; answers each barrier once
    /// every batch queued before it is written.
    pub async fn run(self, mut queue: mpsc::Receiver<Queued<Vec<SlaRecord>>>) {
        let mut barrier = None;
        while let Some(queued) = queue.recv().await {
            let mut batch = match queued {
                Queued::Batch(batch) => batch,
                Queued::Barrier(done) => {
                    let _ = done.send(());
                    continue;
                }
            };
            // Take what else is queued, up to a barrier: one transaction for many records.
            while batch.len() < 4_096 {
                match queue.try_recv() {
                    Ok(Queued::Batch(more)) => batch.extend(more),
                    Ok(Queued::Barrier(done)) => {
                        barrier = Some(done);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.write(&batch).await;
            if let Some(done) = barrier.take() {
                let _ = done.send(());
            }
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
        let now = self.clock.now();
        let stored = until_stored_isolating("SLA records", batch.len(), |rows| {
            self.store
                .sla_records()
                .record_stops(&batch[rows], &partners_of, now)
        })
        .await;
        for (i, reason) in &stored.refused {
            let record = &batch[*i];
            dead_letters::store_refused(&self.js, "sla_record", record.tenant_id, record, reason)
                .await;
        }
        if stored.written.iter().any(|(_, taken)| *taken > 0) {
            for w in &self.wakers {
                w.notify_one();
            }
        }
    }
}
