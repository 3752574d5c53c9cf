//! Applying the runtime layer on this instance: at start, on every notice on
//! `vigil.config.changes` (within milliseconds of the change), and every [`RESYNC`] in case a
//! notice was missed (NATS away). Each round reads from the store, the system of record (the
//! whole layer at start, then the changes after the last one applied), so notices carry no
//! state an instance could get wrong: a lost or repeated notice changes nothing but when the
//! round runs.
//!
//! What applying means per key: flags are swapped whole in [`Flags`] (read in process by every
//! component); `log.filter` replaces the process's log filter. A tenant's SLA keys need nothing
//! here: they reached the engine as `sla.policy_updated` events in the stream. Secrets are
//! opened and put in [`Secrets`]; the providers reading them are rebuilt at their next use. The
//! request limits are put in force in [`RateLimits`] (each limit changed starts afresh). Every
//! [`ROLLBACK_CHECK`] the flags' automatic rollback conditions are checked too
//! ([`super::rollback`]).

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tracing::{info, warn};

use super::center::{ConfigCenter, CHANGES_SUBJECT};
use super::keys::RuntimeKey;
use super::layer::RuntimeLayer;
use crate::clock::now_ms;
use crate::flags::Flags;
use crate::http::RateLimits;
use crate::notify::RoutingHandle;
use crate::secrets::{SealKey, Secrets};
use crate::store::config_changes::AuditFilter;
use crate::store::{Store, StoreError};
use crate::telemetry::metrics::{config_applied_seq, config_apply_errors, config_apply_seconds};

/// How often the layer is read again without a notice.
pub const RESYNC: Duration = Duration::from_secs(10);

/// How often the flags' automatic rollback conditions are checked.
pub const ROLLBACK_CHECK: Duration = Duration::from_secs(2);

/// What this instance has applied (the follower keeps its place with it; `/metrics` shows it as
/// `vigil_config_applied_seq`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// The highest `seq` of the changes in force (0: none).
    pub seq: i64,
}

/// Follows the runtime layer until `stop`: applies it at once, then on every notice and every
/// [`RESYNC`]. `applied` says what is in force.
/// What the layer is applied to on this instance.
#[derive(Debug, Clone)]
pub struct Targets {
    /// The feature flags every component reads.
    pub flags: Flags,
    /// The notifier's routing (`None`: notifications are off here).
    pub routing: Option<RoutingHandle>,
    /// The API's request limits (`None` in tests without an API).
    pub limits: Option<Arc<RateLimits>>,
    /// The center: the files the routing is built over, and the changes automatic rollbacks
    /// make (`None` in tests that follow without changing).
    pub center: Option<ConfigCenter>,
}

/// The secrets of this process at start: the sealing key from the environment and the
/// secrets of the layer stored now, opened with it, over the environment. Called before the
/// providers that read them are built (a secret set at run time need not be in the
/// environment of an instance that starts later). Fails on a key that is not a key, or a
/// store that does not answer.
pub async fn secrets_at_start(
    store: &Store,
) -> Result<(Secrets, Option<Arc<SealKey>>), anyhow::Error> {
    let seal = SealKey::from_env()?.map(Arc::new);
    let secrets = Secrets::from_process_env();
    let rows = store
        .config_changes()
        .current_prefixed(crate::secrets::KEY_PREFIX)
        .await?;
    apply_secrets(&super::center::layer_of(&rows), seal.as_deref(), &secrets);
    Ok((secrets, seal))
}

/// Puts the layer's secrets in force; one that cannot be opened is left out (the environment's
/// value applies) and said in the log, without its value.
fn apply_secrets(layer: &RuntimeLayer, seal: Option<&SealKey>, secrets: &Secrets) {
    let (open, failed) = layer.secrets(seal);
    for (name, e) in failed {
        config_apply_errors().increment(1);
        warn!(secret = %name, error = %e, "cannot open a secret of the runtime layer; the environment's value applies");
    }
    let names: Vec<String> = open.keys().cloned().collect();
    if secrets.replace(open) {
        info!(secrets = ?names, "secrets changed; providers reading them are rebuilt at their next use");
    }
}

/// Follows the runtime layer until `stop`, applying it to `targets`.
pub async fn follow(
    store: Store,
    nats: async_nats::Client,
    targets: Targets,
    applied: watch::Sender<Applied>,
    mut stop: watch::Receiver<bool>,
) {
    // Subscribed before the first read: a change stored in between rings afterwards.
    let mut notices = match nats.subscribe(CHANGES_SUBJECT).await {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot follow configuration notices; applying changes every {}s", RESYNC.as_secs());
            None
        }
    };
    let mut state = Follower {
        store,
        targets,
        applied,
        log_filter: None,
        layer: None,
        routing_from: None,
    };
    state.round().await;
    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    let mut rollback_check = tokio::time::interval(ROLLBACK_CHECK);
    rollback_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let notice = async {
            match notices.as_mut() {
                Some(sub) => sub.next().await,
                None => std::future::pending().await,
            }
        };
        let mut rollbacks_only = false;
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = resync.tick() => {}
            _ = rollback_check.tick() => {
                rollbacks_only = true;
            }
            got = notice => {
                if got.is_none() {
                    notices = None;
                }
                // A burst of notices is one round.
                if let Some(sub) = notices.as_mut() {
                    while let Some(Some(_)) = sub.next().now_or_never() {}
                }
            }
        }
        if rollbacks_only {
            state.check_rollbacks().await;
            continue;
        }
        state.round().await;
    }
}

struct Follower {
    store: Store,
    targets: Targets,
    applied: watch::Sender<Applied>,
    /// The runtime log filter in force (`None`: the start-up one).
    log_filter: Option<String>,
    /// The layer as applied; `None` until the first full read.
    layer: Option<RuntimeLayer>,
    /// The on-call lists the routing in force was built from (rebuilt only when they change).
    routing_from: Option<Vec<(RuntimeKey, serde_json::Value)>>,
}

/// Changes read per query when catching up.
const CATCH_UP_PAGE: u32 = 1000;

/// What one read brought: the keys it changed (`None`: the whole layer was read), the last
/// `seq` read, and when each change read was made.
struct Read {
    changed: Option<Vec<RuntimeKey>>,
    seq: i64,
    made: Vec<i64>,
}

impl Follower {
    /// Reads what changed since the last round (the whole layer the first time) and applies
    /// what it touches: flags, routing, secrets and the log filter each only when one of
    /// their keys changed (a round of tenant SLA changes only moves the applied `seq`).
    /// Appends are serialized in the store, so rows become visible in `seq` order and reading
    /// on from the last `seq` misses none.
    async fn round(&mut self) {
        let before = self.applied.borrow().seq;
        let mut layer = self.layer.take();
        let read = match layer.as_mut() {
            None => self.read_all().await.map(|(all, read)| {
                layer = Some(all);
                read
            }),
            Some(layer) => self.read_since(layer, before).await,
        };
        self.layer = layer;
        let read = match read {
            Ok(read) => read,
            Err(e) => {
                config_apply_errors().increment(1);
                warn!(error = %e, "cannot read the runtime configuration; the last applied stays in force");
                return;
            }
        };
        let Some(layer) = self.layer.as_ref() else {
            return;
        };
        let touched = |wanted: fn(&RuntimeKey) -> bool| match &read.changed {
            None => true,
            Some(keys) => keys.iter().any(wanted),
        };
        if touched(|k| matches!(k, RuntimeKey::Flag(_))) {
            self.targets.flags.replace(layer.flags());
        }
        if touched(|k| matches!(k, RuntimeKey::HttpLimit(_))) {
            if let (Some(limits), Some(center)) = (&self.targets.limits, &self.targets.center) {
                let (per_ip, per_tenant) = layer.http_limits(&center.config().http);
                if limits.set_per_minute(per_ip, per_tenant) {
                    info!(per_ip, per_tenant, "request limits changed (per minute)");
                }
            }
        }
        if touched(RuntimeKey::is_secret) {
            if let Some(center) = &self.targets.center {
                apply_secrets(layer, center.seal_key().map(|k| &**k), center.secrets());
            }
        }
        if touched(RuntimeKey::is_notify) {
            if let (Some(routing), Some(center)) = (&self.targets.routing, &self.targets.center) {
                let lists: Vec<(RuntimeKey, serde_json::Value)> = layer
                    .iter()
                    .filter(|(k, _)| k.is_notify())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if self.routing_from.as_ref() != Some(&lists) {
                    // Checked when it was changed; built whole (a tenant's routing merges the
                    // main).
                    routing.replace(super::notify::routing_of(layer, center.config()));
                    self.routing_from = Some(lists);
                }
            }
        }
        let filter = layer.log_filter().map(str::to_string);
        if filter != self.log_filter {
            match crate::telemetry::reload_filter(filter.as_deref()) {
                Ok(()) => {
                    info!(
                        filter = filter.as_deref().unwrap_or("(as started)"),
                        "log filter changed"
                    );
                    self.log_filter = filter;
                }
                Err(e) => warn!(error = %e, "cannot change the log filter"),
            }
        }
        if read.seq != before {
            let now = now_ms();
            for changed_at in read.made {
                config_apply_seconds().record((now - changed_at).max(0) as f64 / 1000.0);
            }
            config_applied_seq().set(read.seq as f64);
            self.applied.send_replace(Applied { seq: read.seq });
        }
    }

    /// The whole layer and the `seq` it reflects.
    async fn read_all(&self) -> Result<(RuntimeLayer, Read), StoreError> {
        let changes = self.store.config_changes();
        // The seq first: a change landing between the two reads is in the layer and read
        // again next round (applying it twice changes nothing).
        let seq = changes.last_seq().await?;
        let rows = changes.current().await?;
        let read = Read {
            changed: None,
            seq,
            made: Vec::new(),
        };
        Ok((super::center::layer_of(&rows), read))
    }

    /// Applies the changes after `seq` to `layer`: only their values are parsed. On a failed
    /// read, the changes read before it stay applied and the next round reads on from the
    /// last one.
    async fn read_since(&self, layer: &mut RuntimeLayer, mut seq: i64) -> Result<Read, StoreError> {
        let changes = self.store.config_changes();
        let mut read = Read {
            changed: Some(Vec::new()),
            seq,
            made: Vec::new(),
        };
        loop {
            let filter = AuditFilter {
                after_seq: Some(seq),
                limit: CATCH_UP_PAGE,
                ..AuditFilter::default()
            };
            let rows = changes.audit(&filter).await?;
            let full = rows.len() == CATCH_UP_PAGE as usize;
            for row in rows {
                seq = row.seq;
                read.seq = seq;
                read.made.push(row.changed_at);
                let Ok(key) = RuntimeKey::parse(&row.key) else {
                    continue; // A key the service stopped knowing changes nothing.
                };
                let value = row
                    .value
                    .as_deref()
                    .and_then(|v| serde_json::from_str(v).ok());
                layer.set(key.clone(), value);
                if let Some(changed) = read.changed.as_mut() {
                    changed.push(key);
                }
            }
            if !full {
                return Ok(read);
            }
        }
    }

    /// Rolls back the flags whose condition tripped (a rollback is a change like any other:
    /// its notice starts the next round everywhere).
    async fn check_rollbacks(&self) {
        let Some(center) = &self.targets.center else {
            return;
        };
        let flags: Vec<String> = super::keys::known_switches(center.config())
            .into_iter()
            .map(|s| RuntimeKey::Flag(s).to_string())
            .collect();
        match self.store.config_changes().latest_of(&flags).await {
            Ok(rows) => {
                super::rollback::check(center, &rows).await;
            }
            Err(e) => warn!(error = %e, "cannot read the flags to check their rollback conditions"),
        }
    }
}
