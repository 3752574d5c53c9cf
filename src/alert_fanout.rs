//! Where recorded alert changes go: the WebSocket hub at once, then `vigil.alerts.<tenant>` on
//! JetStream (the notifier and outside consumers follow it) from a publisher task of its own,
//! so a slow publish never delays live updates. The store is the outbox: changes are marked
//! published only after JetStream acknowledged them, and changes left unpublished by a crash
//! are published first on the next start. When a change could not be published or marked
//! (JetStream or the store unreachable), the publisher goes through the outbox again every
//! [`SWEEP_AFTER_FAILURE`] until it is empty, so nothing waits for a restart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::mpsc;
use tracing::warn;
use vigil_engine::{AlertRecord, AlertState};

use crate::hub::Hub;
use crate::retry::Backoff;
use crate::store::{Store, StoredAlert};
use crate::telemetry::metrics;
use crate::views::AlertView;

/// First wait between publish retries (before jitter).
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between publish retries (before jitter).
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Unpublished alerts read at a time on start.
const LEFTOVER_BATCH: u32 = 500;
/// How long after a failed publish or mark the outbox is gone through again.
const SWEEP_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// Batches waiting for the publisher; past this, recording waits (back-pressure).
const PUBLISH_QUEUE: usize = 256;
/// Changes the publisher takes from its queue at most per round.
const PUBLISH_ROUND: usize = 4096;

/// Sends recorded alert changes on; cheap to clone.
#[derive(Debug, Clone)]
pub struct AlertFanout {
    hub: Hub,
    to_publish: mpsc::Sender<Vec<AlertRecord>>,
}

/// Publishes alert changes on JetStream and marks them published; run it with
/// [`Publisher::run`] until every [`AlertFanout`] is gone.
#[derive(Debug)]
pub struct Publisher {
    out: AlertPublishing,
    queue: mpsc::Receiver<Vec<AlertRecord>>,
}

/// Publishing alert changes on JetStream from the store's outbox; cheap to clone.
#[derive(Debug, Clone)]
pub struct AlertPublishing {
    store: Store,
    js: async_nats::jetstream::Context,
}

impl AlertFanout {
    /// A fan-out to this hub, and the publisher to JetStream that goes with it.
    pub fn new(
        store: Store,
        js: async_nats::jetstream::Context,
        hub: Hub,
    ) -> (AlertFanout, Publisher) {
        let (to_publish, queue) = mpsc::channel(PUBLISH_QUEUE);
        (
            AlertFanout { hub, to_publish },
            Publisher {
                out: AlertPublishing { store, js },
                queue,
            },
        )
    }

    /// Engine-made changes the store took as new: to the hub now, to the publisher next
    /// (waiting while its queue is full).
    pub async fn engine_changes(&self, records: Vec<AlertRecord>, noticed: Instant) {
        if records.is_empty() {
            return;
        }
        for r in &records {
            self.hub.alert(&AlertView::from(r), noticed);
        }
        if self.to_publish.send(records).await.is_err() {
            warn!("the alert publisher stopped; the changes are published on the next start");
        }
    }

    /// A change made through the API (acknowledged, resolved by hand).
    pub async fn api_change(&self, alert: &StoredAlert) {
        self.hub.alert(&AlertView::from(alert), Instant::now());
        if self
            .to_publish
            .send(vec![alert.record.clone()])
            .await
            .is_err()
        {
            warn!("the alert publisher stopped; the change is published on the next start");
        }
    }
}

impl Publisher {
    /// Publishing from the outbox, for changes another instance left unpublished.
    pub fn publishing(&self) -> AlertPublishing {
        self.out.clone()
    }

    /// Publishes what a previous run left unpublished, then every batch handed over, until
    /// every fan-out is gone and the queue is empty. After a failure it also goes through the
    /// outbox every [`SWEEP_AFTER_FAILURE`] until that is empty again.
    pub async fn run(mut self) {
        let mut owed = !self.out.publish_leftovers().await;
        loop {
            let batch = if owed {
                tokio::select! {
                    batch = self.queue.recv() => batch,
                    () = tokio::time::sleep(SWEEP_AFTER_FAILURE) => {
                        owed = !self.out.publish_leftovers().await;
                        continue;
                    }
                }
            } else {
                self.queue.recv().await
            };
            let Some(first) = batch else { break };
            let batches = self.with_queued(first);
            let records: Vec<&AlertRecord> = batches.iter().flatten().collect();
            owed |= !self.out.publish_in_order(&records).await;
        }
    }

    /// `first` and the batches queued behind it, up to [`PUBLISH_ROUND`] changes: published
    /// together, their acknowledgements awaited together and marked in one statement.
    fn with_queued(&mut self, first: Vec<AlertRecord>) -> Vec<Vec<AlertRecord>> {
        let mut changes = first.len();
        let mut batches = vec![first];
        while changes < PUBLISH_ROUND {
            match self.queue.try_recv() {
                Ok(batch) => {
                    changes += batch.len();
                    batches.push(batch);
                }
                Err(_) => break,
            }
        }
        batches
    }
}

impl AlertPublishing {
    /// Publishes changes concurrently across alerts but in order within one alert (firing
    /// before resolved), then marks those that went out. Returns whether all went out and
    /// were marked.
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
        let sent = join_all(per_alert.iter().map(|changes| async move {
            let mut last = None;
            for r in changes {
                if !self.publish(r).await {
                    return (last, false);
                }
                last = Some((r.alert_id.as_str(), r.state));
            }
            (last, true)
        }))
        .await;
        let published: Vec<(&str, AlertState)> =
            sent.iter().filter_map(|(last, _)| *last).collect();
        let marked = match self.store.alert_outbox().mark_published(&published).await {
            Ok(()) => true,
            Err(e) => {
                warn!(error = %e, alerts = published.len(), "cannot mark alerts published; the outbox is gone through again (JetStream drops what it already has)");
                false
            }
        };
        marked && sent.iter().all(|(_, ok)| *ok)
    }

    /// Publishes the changes the outbox still holds: those a previous run of this instance,
    /// or the instance that owned a partition before this one, recorded but did not publish.
    /// A change published twice this way is dropped by JetStream (same `Nats-Msg-Id`).
    /// Returns whether the outbox was emptied.
    pub async fn publish_leftovers(&self) -> bool {
        loop {
            match self.store.alert_outbox().unpublished(LEFTOVER_BATCH).await {
                Ok(records) if records.is_empty() => return true,
                Ok(records) => {
                    let all: Vec<&AlertRecord> = records.iter().collect();
                    let published = self.publish_in_order(&all).await;
                    // Stop at a short page, or when a page could not all go out (no progress).
                    if records.len() < LEFTOVER_BATCH as usize || !published {
                        return published;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "cannot read unpublished alerts; trying again");
                    return false;
                }
            }
        }
    }

    /// Publishes one change, retrying while JetStream is unavailable; false if it could not
    /// be published.
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
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            match vigil_streams::publish_alert(&self.js, record.tenant_id, &msg_id, payload.clone())
                .await
            {
                Ok(_) => return true,
                Err(e) if e.is_retryable() => {
                    warn!(tenant_id = record.tenant_id, ticket_id = %record.ticket_id, error = %e, "alert publish failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => {
                    warn!(tenant_id = record.tenant_id, ticket_id = %record.ticket_id, error = %e, "alert publish failed");
                    return false;
                }
            }
        }
    }
}
