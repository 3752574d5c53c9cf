//! Readiness bookkeeping: the service is ready once its first round of leases is settled,
//! every partition it owns has caught up with the stream as it was when the worker started,
//! and every partition of the stream has an owner; not ready again while a restarted or newly
//! taken partition catches up, or while a partition waits for an owner.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::info;
use vigil::http::readiness::PartitionsDetail;
use vigil::http::Readiness;

/// Which owned partitions have not caught up yet, and whether any partition lacks an owner.
pub struct CaughtUp {
    state: Mutex<State>,
    readiness: Arc<Readiness>,
}

#[derive(Default)]
struct State {
    /// The first round of leases is done (until then this instance does not know its share).
    settled: bool,
    /// Owned partitions.
    owned: BTreeSet<u32>,
    /// Owned partitions still catching up.
    behind: BTreeSet<u32>,
    /// Partitions without an owner in the latest view of the leases.
    unowned: usize,
    /// What readiness was last told.
    ready: bool,
}

impl CaughtUp {
    /// Not ready until [`CaughtUp::settled`] is called.
    pub fn new(readiness: Arc<Readiness>) -> CaughtUp {
        readiness.set_partitions_caught_up(false);
        CaughtUp {
            state: Mutex::new(State::default()),
            readiness,
        }
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut state);
        self.readiness.set_partitions(PartitionsDetail {
            owned: state.owned.iter().copied().collect(),
            catching_up: state.behind.iter().copied().collect(),
            unowned: state.unowned,
        });
        let ready = state.settled && state.behind.is_empty() && state.unowned == 0;
        if ready != state.ready {
            state.ready = ready;
            self.readiness.set_partitions_caught_up(ready);
            if ready {
                info!("every owned partition caught up, every partition owned");
            }
        }
    }

    /// A round of leases is done; `unowned` partitions have no owner in its view.
    pub fn settled(&self, unowned: usize) {
        self.update(|s| {
            s.settled = true;
            s.unowned = unowned;
        });
    }

    /// `partition` has caught up with the stream.
    pub(super) fn mark(&self, partition: u32) {
        self.update(|s| {
            s.behind.remove(&partition);
        });
    }

    /// `partition` is owned here and must catch up (its worker starts or restarts): the
    /// service is not ready until it has.
    pub fn fell_behind(&self, partition: u32) {
        self.update(|s| {
            s.owned.insert(partition);
            s.behind.insert(partition);
        });
    }

    /// This instance no longer owns `partition`.
    pub fn forget(&self, partition: u32) {
        self.update(|s| {
            s.owned.remove(&partition);
            s.behind.remove(&partition);
        });
    }
}
