//! The alert writer: records every alert change in the store exactly once (the store is unique
//! on the dedupe key and only moves a row forward), and hands on only the changes the store
//! took as new (to the hub and JetStream, through the [`AlertOutlet`]). Replays and restarts
//! re-derive alerts; the store turns the repeats into no-ops, so nothing is recorded, pushed
//! or published twice.

use std::time::Instant;

use tokio::sync::mpsc;
use vigil_actors::AlertRecord;

use vigil::outlet::AlertOutlet;
use vigil::store::Store;

use super::store_retry::until_stored;

/// Records alert changes and hands them on.
pub struct AlertWriter {
    store: Store,
    outlet: AlertOutlet,
}

impl AlertWriter {
    /// A writer to this store and outlet.
    pub fn new(store: Store, outlet: AlertOutlet) -> AlertWriter {
        AlertWriter { store, outlet }
    }

    /// Runs until every sender is gone and the queue is empty.
    pub async fn run(self, mut batches: mpsc::Receiver<Vec<AlertRecord>>) {
        while let Some(batch) = batches.recv().await {
            self.write(batch).await;
        }
    }

    async fn write(&self, batch: Vec<AlertRecord>) {
        let noticed = Instant::now();
        let Some(writes) = until_stored("alert changes", batch.len(), || {
            self.store.record_alert_changes(&batch)
        })
        .await
        else {
            return;
        };
        let new: Vec<AlertRecord> = batch
            .into_iter()
            .zip(writes)
            .filter(|(_, w)| w.is_new())
            .map(|(record, _)| record)
            .collect();
        self.outlet.engine_changes(new, noticed).await;
    }
}
