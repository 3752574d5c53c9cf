//! Applying the runtime layer on this instance: at start, on every notice on
//! `vigil.config.changes` (within milliseconds of the change), and every [`RESYNC`] in case a
//! notice was missed (NATS away). Each round reads the layer from the store, the system of
//! record, so notices carry no state an instance could get wrong: a lost or repeated notice
//! changes nothing but when the round runs.
//!
//! What applying means per key: flags are swapped whole in [`Flags`] (read in process by every
//! component); `log.filter` replaces the process's log filter. A tenant's SLA keys need nothing
//! here: they reached the engine as `sla.policy_updated` events in the stream. Every
//! [`ROLLBACK_CHECK`] the flags' automatic rollback conditions are checked too
//! ([`super::rollback`]).

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tracing::{info, warn};

use super::center::{layer_of, ConfigCenter, CHANGES_SUBJECT};
use crate::clock::now_ms;
use crate::flags::Flags;
use crate::store::Store;
use crate::telemetry::metrics::{config_applied_seq, config_apply_errors, config_apply_seconds};

/// How often the layer is read again without a notice.
pub const RESYNC: Duration = Duration::from_secs(10);

/// How often the flags' automatic rollback conditions are checked.
pub const ROLLBACK_CHECK: Duration = Duration::from_secs(2);

/// What this instance has applied, for `/readyz` detail and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// The highest `seq` of the changes in force (0: none).
    pub seq: i64,
}

/// Follows the runtime layer until `stop`: applies it at once, then on every notice and every
/// [`RESYNC`]. `applied` says what is in force.
/// With `center`, each round also checks the flags' automatic rollback conditions.
pub async fn follow(
    store: Store,
    nats: async_nats::Client,
    flags: Flags,
    center: Option<ConfigCenter>,
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
        flags,
        center,
        applied,
        log_filter: None,
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
    flags: Flags,
    center: Option<ConfigCenter>,
    applied: watch::Sender<Applied>,
    /// The runtime log filter in force (`None`: the start-up one).
    log_filter: Option<String>,
}

impl Follower {
    /// Reads the layer and applies what changed.
    async fn round(&mut self) {
        let changes = self.store.config_changes();
        // Read first: a change landing between the two reads is in `rows` and counted next
        // round, never the other way round.
        let read = async {
            Ok::<_, crate::store::StoreError>((changes.last_seq().await?, changes.current().await?))
        };
        let (seq, rows) = match read.await {
            Ok(read) => read,
            Err(e) => {
                config_apply_errors().increment(1);
                warn!(error = %e, "cannot read the runtime configuration; the last applied stays in force");
                return;
            }
        };
        let layer = layer_of(&rows);
        self.flags.replace(layer.flags());
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
        let before = self.applied.borrow().seq;
        if seq != before {
            let now = now_ms();
            for row in rows.iter().filter(|r| r.seq > before) {
                config_apply_seconds().record((now - row.changed_at).max(0) as f64 / 1000.0);
            }
            config_applied_seq().set(seq as f64);
            self.applied.send_replace(Applied { seq });
        }
    }

    /// Rolls back the flags whose condition tripped (a rollback is a change like any other:
    /// its notice starts the next round everywhere).
    async fn check_rollbacks(&self) {
        let Some(center) = &self.center else {
            return;
        };
        match self.store.config_changes().current().await {
            Ok(rows) => {
                super::rollback::check(center, &rows).await;
            }
            Err(e) => warn!(error = %e, "cannot read the flags to check their rollback conditions"),
        }
    }
}
