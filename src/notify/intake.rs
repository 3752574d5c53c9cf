//! The intake side of the outbox: every alert change published on `vigil.alerts.*` becomes
//! outbox rows (the pages of its escalation, resolution messages) or cancels the pages still
//! pending, before the change is acknowledged to JetStream. A crash in between redelivers the
//! change, and the stable row ids make the second write a no-op.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::Context;
use futures::StreamExt;
use tokio::sync::{watch, Notify};
use tracing::{debug, warn};
use vigil_engine::clock::Clock;
use vigil_engine::{AlertRecord, AlertState};
use vigil_streams::jetstream::subjects::{ALERTS_STREAM, ALERTS_SUBJECTS};

use super::RoutingHandle;
use crate::store::notifications::NewNotification;
use crate::store::{Store, StoreError};

/// The durable consumer every instance shares: each change reaches one of them.
pub const DURABLE: &str = "vigil-notifier";
/// Changes taken per fetch.
const BATCH: usize = 500;

/// Turns alert changes into outbox work.
#[derive(Clone)]
pub struct Intake {
    routing: RoutingHandle,
    store: Store,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl Intake {
    /// Intake into `store`'s outbox; `wake` is notified when there is new work to send.
    pub fn new(
        routing: RoutingHandle,
        store: Store,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
    ) -> Intake {
        Intake {
            routing,
            store,
            clock,
            wake,
        }
    }

    /// Writes the outbox work of `changes`, in order; returns how many rows were new.
    pub async fn take(&self, changes: &[AlertRecord]) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let mut pending: Vec<NewNotification> = Vec::new();
        let mut added = 0;
        for change in changes {
            let ended = matches!(change.state, AlertState::Resolved | AlertState::Retracted);
            let notified = if ended {
                // Resolution messages go to whoever was paged: write earlier pages first.
                added += self.store.notifications().enqueue(&pending).await?;
                pending.clear();
                self.store
                    .notifications()
                    .of_alert(&change.alert_id)
                    .await?
            } else {
                Vec::new()
            };
            let work = self
                .routing
                .load()
                .of(change.tenant_id)
                .outbox_work(change, now, &notified);
            if work.cancel_pages {
                added += self.store.notifications().enqueue(&pending).await?;
                pending.clear();
                let cancelled = self
                    .store
                    .notifications()
                    .cancel_pages(&change.alert_id)
                    .await?;
                debug!(tenant_id = change.tenant_id, ticket_id = %change.ticket_id, alert_id = %change.alert_id, state = change.state.as_str(), cancelled, "pending pages cancelled");
            }
            pending.extend(work.enqueue);
        }
        added += self.store.notifications().enqueue(&pending).await?;
        if added > 0 {
            self.wake.notify_one();
        }
        Ok(added)
    }

    /// Follows `vigil.alerts.*` through `consumer` (see [`consumer`]) until `stop`: each
    /// fetched batch is written to the outbox, then acknowledged.
    pub async fn follow(self, consumer: AlertConsumer, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*stop.borrow() {
            let fetched = consumer
                .fetch()
                .max_messages(BATCH)
                .expires(Duration::from_secs(1))
                .messages()
                .await;
            let mut batch = match fetched {
                Ok(b) => b,
                Err(e) => {
                    warn!(error = %e, "cannot fetch alert changes; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return,
                    }
                    continue;
                }
            };
            let mut messages = Vec::new();
            let mut changes = Vec::new();
            loop {
                tokio::select! {
                    next = batch.next() => match next {
                        Some(Ok(m)) => {
                            match serde_json::from_slice::<AlertRecord>(&m.payload) {
                                Ok(r) => changes.push(r),
                                Err(e) => warn!(subject = %m.subject, error = %e, "an alert change that is not an alert record; skipped"),
                            }
                            messages.push(m);
                        }
                        Some(Err(e)) => {
                            warn!(error = %e, "alert change fetch failed");
                            break;
                        }
                        None => break,
                    },
                    // Stopping: what was fetched is still written and acknowledged, so no
                    // change waits for ack_wait to reach another instance.
                    _ = stop.changed() => break,
                }
            }
            if messages.is_empty() {
                continue;
            }
            match self.take(&changes).await {
                Ok(_) => {
                    failures = 0;
                    for m in &messages {
                        if let Err(e) = m.ack().await {
                            // Redelivered later: the outbox ignores what it already has.
                            warn!(error = %e, "cannot acknowledge an alert change");
                        }
                    }
                }
                Err(e) => {
                    // Not acknowledged: JetStream redelivers after ack_wait.
                    failures += 1;
                    warn!(error = %e, changes = changes.len(), "cannot write notifications; the changes are redelivered");
                    let wait = super::dispatch::retry_delay(failures.min(6), None);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
    }
}

/// How long a fetched change waits for its acknowledgement before JetStream hands it to
/// another instance.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// The notifier's durable consumer of alert changes.
pub type AlertConsumer = async_nats::jetstream::consumer::Consumer<pull::Config>;

/// Creates (or opens) the durable consumer [`DURABLE`]. Create it before anything publishes
/// alert changes: a new consumer starts with the changes published after it.
pub async fn consumer(js: &Context) -> Result<AlertConsumer, async_nats::Error> {
    let stream = js.get_stream(ALERTS_STREAM).await?;
    let config = pull::Config {
        durable_name: Some(DURABLE.to_string()),
        description: Some("Vigil notifier: alert changes into the notification outbox".into()),
        filter_subject: ALERTS_SUBJECTS.to_string(),
        // A new deployment pages for what happens from now on, not for the stream's history.
        deliver_policy: DeliverPolicy::New,
        ack_policy: AckPolicy::Explicit,
        // What an instance fetched and did not acknowledge (it died) goes to another one after
        // this: a page waits at most this long for a crash. The outbox ignores repeats.
        ack_wait: ACK_WAIT,
        max_ack_pending: 10_000,
        ..pull::Config::default()
    };
    Ok(stream.get_or_create_consumer(DURABLE, config).await?)
}
