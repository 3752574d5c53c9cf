//! The alert writer: records every alert change in the store exactly once (the store is unique
//! on the dedupe key and only moves a row forward), and hands on only the changes the store
//! took as new (to the hub and JetStream, through the [`AlertFanout`]). Replays and restarts
//! re-derive alerts; the store turns the repeats into no-ops, so nothing is recorded, pushed
//! or published twice.
//!
//! Each change is written under the fence of its tenant's partition: changes of a partition
//! this instance no longer holds are dropped (its new owner derives them again from the
//! snapshot and stream), and a write the store refuses as fenced drops the partition.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tracing::debug;
use vigil_engine::supervisor::Queued;
use vigil_engine::AlertRecord;

use vigil::alert_fanout::AlertFanout;
use vigil::store::Store;

use super::dead_letters;
use super::held::HeldPartitions;
use super::store_retry::until_stored_isolating;

/// Records alert changes and hands them on.
pub struct AlertWriter {
    store: Store,
    fanout: AlertFanout,
    js: async_nats::jetstream::Context,
    held: Arc<HeldPartitions>,
    partitions: u32,
}

impl AlertWriter {
    /// A writer to this store and fan-out; a change the store refuses for good is
    /// dead-lettered through `js`. Changes are written under the fences of `held` (of a stream
    /// with `partitions` partitions).
    pub fn new(
        store: Store,
        fanout: AlertFanout,
        js: async_nats::jetstream::Context,
        held: Arc<HeldPartitions>,
        partitions: u32,
    ) -> AlertWriter {
        AlertWriter {
            store,
            fanout,
            js,
            held,
            partitions,
        }
    }

    /// Runs until every sender is gone and the queue is empty; answers each barrier once
    /// every batch queued before it is written.
    pub async fn run(self, mut queue: mpsc::Receiver<Queued<Vec<AlertRecord>>>) {
        while let Some(queued) = queue.recv().await {
            match queued {
                Queued::Batch(batch) => self.write(batch).await,
                Queued::Barrier(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    async fn write(&self, mut batch: Vec<AlertRecord>) {
        let noticed = Instant::now();
        // One write per partition (a batch is mostly one tenant's), in order within each.
        batch.sort_by_key(|r| vigil_streams::partition_of(r.tenant_id, self.partitions));
        let mut rest = batch.as_slice();
        while let Some(first) = rest.first() {
            let partition = vigil_streams::partition_of(first.tenant_id, self.partitions);
            let len = rest
                .iter()
                .take_while(|r| {
                    vigil_streams::partition_of(r.tenant_id, self.partitions) == partition
                })
                .count();
            let (records, tail) = rest.split_at(len);
            rest = tail;
            match self.held.fence(partition) {
                Some(fence) => self.write_partition(fence, records, noticed).await,
                None => debug!(
                    partition,
                    changes = records.len(),
                    "alert changes of a partition this instance no longer holds; its owner records them"
                ),
            }
        }
    }

    async fn write_partition(
        &self,
        fence: vigil::store::Fence,
        batch: &[AlertRecord],
        noticed: Instant,
    ) {
        let fences = [fence];
        let stored = until_stored_isolating("alert changes", batch.len(), |rows| {
            self.store.alerts().record_changes(&fences, &batch[rows])
        })
        .await;
        if let Some(fence) = stored.fenced {
            self.held.taken_over(fence);
        }
        for (i, reason) in &stored.refused {
            let record = &batch[*i];
            dead_letters::store_refused(&self.js, "alert", record.tenant_id, record, reason).await;
        }
        let new: Vec<AlertRecord> = stored
            .written
            .into_iter()
            .flat_map(|(rows, writes)| batch[rows].iter().zip(writes))
            .filter(|(_, w)| w.is_new())
            .map(|(record, _)| record.clone())
            .collect();
        self.fanout.engine_changes(new, noticed).await;
    }
}
