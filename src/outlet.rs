//! Where recorded alert changes go: the WebSocket hub at once, then `vigil.alerts.<tenant>` on
//! JetStream (the notifier and outside consumers follow it). The store is the outbox: a change
//! is marked published only after JetStream acknowledged it, and changes left unpublished by a
//! crash are published first on the next start.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::join_all;
use tracing::warn;
use vigil_actors::AlertRecord;

use crate::api::views::AlertView;
use crate::hub::Hub;
use crate::store::{Store, StoredAlert};
use crate::telemetry::metrics;

/// Longest wait between publish retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Unpublished alerts read at a time on start.
const LEFTOVER_BATCH: u32 = 500;

/// Sends recorded alert changes on; cheap to clone.
#[derive(Debug, Clone)]
pub struct AlertOutlet {
    store: Store,
    js: async_nats::jetstream::Context,
    hub: Hub,
}

impl AlertOutlet {
    /// An outlet to this hub and JetStream, marking progress in `store`.
    pub fn new(store: Store, js: async_nats::jetstream::Context, hub: Hub) -> AlertOutlet {
        AlertOutlet { store, js, hub }
    }

    /// Engine-made changes the store took as new: to the hub, then published in order.
    pub async fn engine_changes(&self, records: &[&AlertRecord], noticed: Instant) {
        for r in records {
            self.hub.alert(&AlertView::from(*r), noticed);
        }
        self.publish_in_order(records).await;
    }

    /// A change made through the API (acknowledged, resolved by hand): to the hub at once,
    /// published in the background.
    pub fn api_change(&self, alert: &StoredAlert) {
        self.hub.alert(&AlertView::from(alert), Instant::now());
        let outlet = self.clone();
        let record = alert.record.clone();
        tokio::spawn(async move {
            outlet.publish(&record).await;
        });
    }

    /// Publishes changes concurrently across alerts but in order within one alert (firing
    /// before resolved), so consumers and the published mark never see them reversed.
    /// Returns whether all went out.
    pub async fn publish_in_order(&self, records: &[&AlertRecord]) -> bool {
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

    /// Publishes what a previous run left unpublished.
    pub async fn publish_leftovers(&self) {
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
