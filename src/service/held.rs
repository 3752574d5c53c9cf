//! The partitions this instance holds now, each with the fence its writes carry: filled and
//! emptied by the lease keeper, read by the partition workers and the alert writer. A write
//! the store refuses as fenced says the partition was taken over: it is forgotten here at
//! once (nothing more of it is written) and the lease keeper is woken to stop its worker.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use tokio::sync::Notify;
use tracing::warn;
use vigil::store::Fence;

/// The partitions held, by partition, with their fences.
#[derive(Debug, Default)]
pub struct HeldPartitions {
    fences: RwLock<BTreeMap<u32, u64>>,
    taken_over: Notify,
}

impl HeldPartitions {
    /// The fence of `partition`, if this instance holds it.
    pub fn fence(&self, partition: u32) -> Option<Fence> {
        self.read().get(&partition).map(|&revision| Fence {
            partition,
            revision,
        })
    }

    /// Whether `partition` is held.
    pub fn holds(&self, partition: u32) -> bool {
        self.read().contains_key(&partition)
    }

    /// This instance took the partition under `fence`.
    pub fn insert(&self, fence: Fence) {
        self.write().insert(fence.partition, fence.revision);
    }

    /// This instance gave the partition up (or lost its lease).
    pub fn remove(&self, partition: u32) {
        self.write().remove(&partition);
    }

    /// The store refused a write under `fence`: another instance owns the partition now.
    pub fn taken_over(&self, fence: Fence) {
        let mut fences = self.write();
        if fences.get(&fence.partition) == Some(&fence.revision) {
            fences.remove(&fence.partition);
            warn!(
                partition = fence.partition,
                "another instance took this partition over; stopping work on it"
            );
            self.taken_over.notify_one();
        }
    }

    /// Resolves once a partition was taken over since the last call.
    pub async fn lost(&self) {
        self.taken_over.notified().await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, u64>> {
        self.fences.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u32, u64>> {
        self.fences.write().unwrap_or_else(PoisonError::into_inner)
    }
}
