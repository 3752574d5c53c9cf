//! Live updates across instances (DESIGN.md §6): a dashboard connected to any instance gets
//! every tenant's live updates, wherever the tenant's partition is owned.
//!
//! - **Alerts** are on NATS already (`vigil.alerts.<tenant>`): every hub follows them and
//!   pushes each change it has not pushed yet (the local fan-out is usually first; a change
//!   made on another instance, by its engine or its API, comes only this way).
//! - **Metrics and ticket updates** are coalesced by the hub of the instance that owns the
//!   tenant. It publishes them on `vigil.live.delta.<tenant>` for the tenants other instances
//!   follow, and those instances push them to their clients with their own `seq`.
//! - **Who follows what**: every hub says which tenants its clients follow (or all of them)
//!   on `vigil.live.watching` at once when that changes and every [`WATCHING_EVERY`]; an owner
//!   forgets an instance's interest [`WATCHING_TTL`] after it last heard it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};
use tracing::{debug, warn};
use vigil_engine::AlertRecord;

use super::{lock, Hub};
use crate::views::{AlertView, LiveMetrics, TicketClocks};

/// How often a hub repeats what its clients follow.
pub const WATCHING_EVERY: Duration = Duration::from_secs(2);
/// How long an owner keeps another instance's interest without hearing it again.
pub const WATCHING_TTL: Duration = Duration::from_secs(10);

const ALERTS: &str = "vigil.alerts.>";
const DELTAS: &str = "vigil.live.delta";
const WATCHING: &str = "vigil.live.watching";

/// Coalesced updates of one tenant, from the hub of its owner.
#[derive(Debug, Serialize, Deserialize)]
struct LiveDelta {
    origin: String,
    tenant_id: u64,
    metrics: LiveMetrics,
    tickets: Vec<(String, Option<TicketClocks>)>,
}

/// What one instance's clients follow.
#[derive(Debug, Serialize, Deserialize)]
struct Watching {
    origin: String,
    all: bool,
    tenants: Vec<u64>,
}

/// What another instance's clients follow, and when it was last heard.
struct Interest {
    all: bool,
    tenants: HashSet<u64>,
    heard: Instant,
}

/// A hub's link to the other instances' hubs.
pub(super) struct Relay {
    nats: async_nats::Client,
    origin: String,
    others: Mutex<HashMap<String, Interest>>,
    watching_changed: Notify,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Whether another instance's clients follow `tenant`.
    pub(super) fn wanted(&self, tenant: u64) -> bool {
        lock(&self.others)
            .values()
            .any(|i| i.heard.elapsed() < WATCHING_TTL && (i.all || i.tenants.contains(&tenant)))
    }

    /// Publishes a tenant's coalesced updates for the other instances.
    pub(super) async fn publish(
        &self,
        tenant_id: u64,
        metrics: LiveMetrics,
        tickets: Vec<(String, Option<TicketClocks>)>,
    ) {
        let delta = LiveDelta {
            origin: self.origin.clone(),
            tenant_id,
            metrics,
            tickets,
        };
        let Ok(body) = serde_json::to_vec(&delta) else {
            return;
        };
        if let Err(e) = self
            .nats
            .publish(format!("{DELTAS}.{tenant_id}"), body.into())
            .await
        {
            debug!(tenant_id, error = %e, "cannot relay live updates");
        }
    }

    /// The local clients' interest changed: say so now rather than at the next repeat.
    pub(super) fn watching_changed(&self) {
        self.watching_changed.notify_one();
    }
}

impl Hub {
    /// Links this hub to the other instances' hubs over `nats`, as the instance `origin`,
    /// until `stop`. Returns at once; the relay runs in a task.
    pub async fn join_cluster(
        &self,
        nats: async_nats::Client,
        origin: String,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let alerts = nats.subscribe(ALERTS).await?;
        let deltas = nats.subscribe(format!("{DELTAS}.*")).await?;
        let watching = nats.subscribe(WATCHING).await?;
        let relay = Arc::new(Relay {
            nats,
            origin,
            others: Mutex::new(HashMap::new()),
            watching_changed: Notify::new(),
        });
        if self.inner.relay.set(relay.clone()).is_err() {
            anyhow::bail!("this hub has joined the cluster already");
        }
        let hub = self.clone();
        Ok(tokio::spawn(async move {
            hub.relay_loop(&relay, alerts, deltas, watching, stop).await;
        }))
    }

    async fn relay_loop(
        &self,
        relay: &Relay,
        mut alerts: async_nats::Subscriber,
        mut deltas: async_nats::Subscriber,
        mut watching: async_nats::Subscriber,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut repeat = tokio::time::interval(WATCHING_EVERY);
        repeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = crate::stopped(&mut stop) => break,
                Some(m) = alerts.next() => match serde_json::from_slice::<AlertRecord>(&m.payload) {
                    Ok(record) => self.alert(&AlertView::from(&record), Instant::now()),
                    Err(e) => debug!(error = %e, "an alert this build cannot read"),
                },
                Some(m) = deltas.next() => match serde_json::from_slice::<LiveDelta>(&m.payload) {
                    Ok(d) if d.origin != relay.origin => self.fan_out_live(d.tenant_id, &d.metrics, &d.tickets),
                    Ok(_) => {}
                    Err(e) => debug!(error = %e, "live updates this build cannot read"),
                },
                Some(m) = watching.next() => match serde_json::from_slice::<Watching>(&m.payload) {
                    Ok(w) if w.origin != relay.origin => {
                        lock(&relay.others).insert(w.origin, Interest {
                            all: w.all,
                            tenants: w.tenants.into_iter().collect(),
                            heard: Instant::now(),
                        });
                    }
                    Ok(_) => {}
                    Err(e) => debug!(error = %e, "interest this build cannot read"),
                },
                _ = repeat.tick() => self.say_watching(relay).await,
                () = relay.watching_changed.notified() => self.say_watching(relay).await,
            }
        }
    }

    /// Tells the other instances which tenants this hub's clients follow.
    async fn say_watching(&self, relay: &Relay) {
        lock(&relay.others).retain(|_, i| i.heard.elapsed() < WATCHING_TTL);
        let all = self.everyone_listens();
        let tenants: Vec<u64> = if all {
            Vec::new()
        } else {
            self.inner
                .topics
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .filter(|(_, t)| t.watchers.load(Ordering::Relaxed) > 0)
                .map(|(id, _)| *id)
                .collect()
        };
        let watching = Watching {
            origin: relay.origin.clone(),
            all,
            tenants,
        };
        let Ok(body) = serde_json::to_vec(&watching) else {
            return;
        };
        if let Err(e) = relay.nats.publish(WATCHING, body.into()).await {
            warn!(error = %e, "cannot tell the other instances what this one's clients follow");
        }
    }
}
