//! What `/readyz` reports: flags the service's components set as their peers come and go.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::telemetry::metrics::ready;

/// Readiness flags, shared in an `Arc` between the components that set them and `/readyz`.
/// All start `false` (not ready) except `draining`.
#[derive(Debug, Default)]
pub struct Readiness {
    nats_connected: AtomicBool,
    partitions_caught_up: AtomicBool,
    store_reachable: AtomicBool,
    draining: AtomicBool,
    partitions: Mutex<PartitionsDetail>,
}

/// Which partitions this instance works on, as `/readyz` reports them in `data.partitions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartitionsDetail {
    /// Partitions this instance owns (holds the lease of).
    pub owned: Vec<u32>,
    /// Owned partitions still catching up with their stream.
    pub catching_up: Vec<u32>,
    /// Partitions without any owner in this instance's latest view of the leases.
    pub unowned: usize,
}

/// A point-in-time view of [`Readiness`]'s checks, as `/readyz` reports them in `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    /// The NATS connection is up.
    pub nats_connected: bool,
    /// Every partition this instance owns has read its stream up to where it was when the
    /// partition was taken, and every partition has an owner.
    pub partitions_caught_up: bool,
    /// The store answered its last check.
    pub store_reachable: bool,
    /// Shutdown has begun; load balancers should stop sending traffic.
    pub draining: bool,
}

impl ReadinessReport {
    /// Whether the instance should receive traffic.
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_empty()
    }

    /// The names of the checks that fail.
    pub fn not_ready(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.nats_connected {
            out.push("nats_connected");
        }
        if !self.partitions_caught_up {
            out.push("partitions_caught_up");
        }
        if !self.store_reachable {
            out.push("store_reachable");
        }
        if self.draining {
            out.push("draining");
        }
        out
    }
}

impl Readiness {
    /// All checks failing until components report in.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// The NATS connection went up (`true`) or down (`false`).
    pub fn set_nats_connected(&self, up: bool) {
        self.nats_connected.store(up, Ordering::Relaxed);
        ready("nats_connected").set(f64::from(u8::from(up)));
    }

    /// Which partitions this instance owns, and which of them are catching up.
    pub fn set_partitions(&self, detail: PartitionsDetail) {
        *self
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = detail;
    }

    /// The partitions detail last set.
    pub fn partitions(&self) -> PartitionsDetail {
        self.partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every owned partition caught up with its stream and every partition has an owner (or
    /// not any more).
    pub fn set_partitions_caught_up(&self, caught_up: bool) {
        self.partitions_caught_up
            .store(caught_up, Ordering::Relaxed);
        ready("partitions_caught_up").set(f64::from(u8::from(caught_up)));
    }

    /// The store answered (or failed) a check such as `Store::ping`.
    pub fn set_store_reachable(&self, reachable: bool) {
        self.store_reachable.store(reachable, Ordering::Relaxed);
        ready("store_reachable").set(f64::from(u8::from(reachable)));
    }

    /// Shutdown has begun: `/readyz` answers 503 from now on.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// The current flags.
    pub fn report(&self) -> ReadinessReport {
        ReadinessReport {
            nats_connected: self.nats_connected.load(Ordering::Relaxed),
            partitions_caught_up: self.partitions_caught_up.load(Ordering::Relaxed),
            store_reachable: self.store_reachable.load(Ordering::Relaxed),
            draining: self.draining.load(Ordering::Relaxed),
        }
    }
}
