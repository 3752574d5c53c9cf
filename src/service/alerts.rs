//! The alert writer: records every alert change in the store exactly once (the store is unique
//! on the dedupe key and only moves a row forward), and hands on only the changes the store
//! took as new (to the hub and JetStream, through the [`AlertFanout`]). Replays and restarts
//! re-derive alerts; the store turns the repeats into no-ops, so nothing is recorded, pushed
//! or published twice.

use std::time::Instant;

use tokio::sync::mpsc;
use vigil_engine::supervisor::Queued;
use vigil_engine::AlertRecord;

use vigil::alert_fanout::AlertFanout;
use vigil::store::Store;

use super::dead_letters;
use super::store_retry::until_stored_isolating;

/// Records alert changes and hands them on.
pub struct AlertWriter {
    store: Store,
    fanout: AlertFanout,
    js: async_nats::jetstream::Context,
}

impl AlertWriter {
    /// A writer to this store and fan-out; a change the store refuses for good is
    /// dead-lettered through `js`.
    pub fn new(
        store: Store,
        fanout: AlertFanout,
        js: async_nats::jetstream::Context,
    ) -> AlertWriter {
        AlertWriter { store, fanout, js }
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

    async fn write(&self, batch: Vec<AlertRecord>) {
        let noticed = Instant::now();
        let stored = until_stored_isolating("alert changes", batch.len(), |rows| {
            self.store.alerts().record_changes(&batch[rows])
        })
        .await;
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
