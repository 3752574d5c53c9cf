//! Readiness bookkeeping: the service is ready once every partition has caught up with the
//! stream as it was at start-up, and not ready again while a restarted worker catches up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tracing::info;
use vigil::http::Readiness;

/// Counts partitions that have caught up with the stream as it was at start-up.
pub struct CaughtUp {
    remaining: AtomicUsize,
    readiness: Arc<Readiness>,
}

impl CaughtUp {
    /// Waits for `partitions` partitions.
    pub fn new(partitions: usize, readiness: Arc<Readiness>) -> CaughtUp {
        if partitions == 0 {
            readiness.set_partitions_caught_up(true);
        }
        CaughtUp {
            remaining: AtomicUsize::new(partitions),
            readiness,
        }
    }

    pub(super) fn mark(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.readiness.set_partitions_caught_up(true);
            info!("all partitions caught up");
        }
    }

    /// A partition that had caught up must catch up again (its worker is restarting): the
    /// service is not ready until it has.
    pub(super) fn fell_behind(&self) {
        self.remaining.fetch_add(1, Ordering::AcqRel);
        self.readiness.set_partitions_caught_up(false);
    }
}
