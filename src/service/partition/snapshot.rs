//! Snapshots of a partition's state (DESIGN.md §6), with tenant actors: the state of every
//! tenant of the partition, the dedupe memory and the stream sequence they reflect, saved in
//! the store as one row; on start the worker restores them and reads the stream from the next
//! sequence, so a restart does not replay the partition's history.
//!
//! A snapshot is taken between rounds, with no answer outstanding, and saved only once every
//! alert change and SLA record emitted before it is written: the tenants hand over alert
//! changes still waiting in them, then a barrier goes through the alert and record queues and
//! the snapshot waits for the writers to answer it. A crash after the save therefore loses
//! nothing the snapshot says was emitted. The event-time engine (`[engine] clock = "event"`)
//! takes no snapshots and rebuilds from the stream.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};
use vigil_engine::snapshot::{self, TenantState, FORMAT_VERSION};
use vigil_engine::supervisor::Queued;
use vigil_schema::{Dedupe, EventKey, Millis};

use super::PartitionWorker;
use crate::service::applier::Applier;

/// How long a snapshot waits for the alert and record writers before it is given up (they
/// are behind a store that does not answer; the next one tries again).
const BARRIER_TIMEOUT: Duration = Duration::from_secs(30);

/// When a partition is snapshotted: after `events` events or `interval` since the last
/// snapshot, whichever comes first (0 turns either off; both 0: never).
#[derive(Debug, Clone, Copy)]
pub struct SnapshotEvery {
    /// Events since the last snapshot.
    pub events: u64,
    /// Time since the last snapshot (while events come).
    pub interval: Duration,
}

/// A partition's state as the store keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct PartitionState {
    partition: u32,
    /// The last stream sequence whose event the state includes.
    sequence: u64,
    /// Applied event ids still remembered: `(key, start of its bucket)`.
    dedupe: Vec<(u128, Millis)>,
    tenants: Vec<TenantState>,
}

/// When this run last took (or tried to take) a snapshot, of which sequence, and how many of
/// the partition's events were read since (stream sequences count every partition's).
pub(super) struct LastSnapshot {
    sequence: u64,
    at: Instant,
    /// Events of this partition read since.
    pub events_since: u64,
}

impl LastSnapshot {
    /// A run that starts from a snapshot of `sequence` (0: none).
    pub(super) fn at(sequence: u64) -> LastSnapshot {
        LastSnapshot {
            sequence,
            at: Instant::now(),
            events_since: 0,
        }
    }
}

impl PartitionWorker {
    /// Whether a snapshot of the state after `handled` is due.
    pub(super) fn snapshot_due(&self, last: &LastSnapshot, handled: u64) -> bool {
        let every = self.snapshot_every;
        matches!(self.applier, Applier::Actors(_))
            && handled > last.sequence
            && ((every.events > 0 && last.events_since >= every.events)
                || (!every.interval.is_zero() && last.at.elapsed() >= every.interval))
    }

    /// Takes and saves the snapshot of the state after `sequence` (every event up to it
    /// applied and answered). A failure is logged and the run goes on: the next one tries
    /// again, and until then a restart replays more of the stream.
    pub(super) async fn snapshot(&self, sequence: u64, dedupe: &Dedupe, last: &mut LastSnapshot) {
        let started = Instant::now();
        match self.write_snapshot(sequence, dedupe).await {
            Ok((tenants, bytes)) => {
                *last = LastSnapshot::at(sequence);
                info!(
                    sequence,
                    tenants,
                    bytes,
                    millis = started.elapsed().as_millis() as u64,
                    "partition snapshot saved"
                );
            }
            Err(e) => {
                // The next attempt waits as long as after a snapshot: a writer that cannot
                // keep up is not asked again every second.
                *last = LastSnapshot::at(sequence);
                warn!(sequence, error = %e, "partition snapshot not taken; will try again later");
            }
        }
    }

    async fn write_snapshot(
        &self,
        sequence: u64,
        dedupe: &Dedupe,
    ) -> anyhow::Result<(usize, usize)> {
        let Applier::Actors(pool) = &self.applier else {
            anyhow::bail!("the event-time engine takes no snapshots");
        };
        let mut tenants = Vec::new();
        for tenant_id in pool.tenant_ids() {
            if vigil_streams::partition_of(tenant_id, self.partitions) != self.partition {
                continue;
            }
            let Some((state, unsent)) = pool.take_snapshot(tenant_id).await else {
                anyhow::bail!("tenant {tenant_id} is restarting");
            };
            for batch in unsent {
                self.alerts
                    .send(Queued::Batch(batch))
                    .await
                    .map_err(|_| anyhow::anyhow!("the alert writer has stopped"))?;
            }
            tenants.push(state);
        }
        barrier(&self.alerts, "alert").await?;
        if let Some(records) = &self.records {
            barrier(records, "SLA record").await?;
        }
        let state = PartitionState {
            partition: self.partition,
            sequence,
            dedupe: dedupe.entries().map(|(k, t)| (k.0, t)).collect(),
            tenants,
        };
        let bytes = snapshot::encode(&state)?;
        if !self
            .store
            .snapshots()
            .save(self.partition, sequence, FORMAT_VERSION, &bytes)
            .await?
        {
            anyhow::bail!("the store holds a newer snapshot of this partition");
        }
        Ok((state.tenants.len(), bytes.len()))
    }

    /// Restores the partition from its latest snapshot, if there is one this build can use:
    /// its tenants' actors, and the dedupe memory. Returns the sequence to read on after, or
    /// 0 (rebuild from the stream's start) when there is none or it cannot be used (said in a
    /// warning: another format, corrupt, another configured policy). Nothing is restored
    /// unless all of it can be.
    pub(super) async fn restore_snapshot(&self, dedupe: &mut Dedupe) -> u64 {
        let Applier::Actors(pool) = &self.applier else {
            return 0;
        };
        let stored = match self.store.snapshots().load(self.partition).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return 0,
            Err(e) => {
                warn!(error = %e, "cannot read the partition's snapshot; rebuilding from the stream");
                return 0;
            }
        };
        let state: PartitionState = match snapshot::decode(&stored.state) {
            Ok(state) => state,
            Err(e) => {
                warn!(sequence = stored.sequence, error = %e, "the partition's snapshot cannot be used; rebuilding from the stream");
                return 0;
            }
        };
        if state.partition != self.partition || state.sequence != stored.sequence {
            warn!(
                sequence = stored.sequence,
                "the partition's snapshot names another partition or sequence; rebuilding from the stream"
            );
            return 0;
        }
        match pool.restore(state.tenants) {
            Ok(tenants) => {
                for (key, at) in state.dedupe {
                    dedupe.insert_key(EventKey(key), at);
                }
                info!(
                    sequence = state.sequence,
                    tenants, "partition restored from its snapshot; reading the stream after it"
                );
                state.sequence
            }
            Err(e) => {
                warn!(sequence = state.sequence, error = %e, "the partition's snapshot cannot be restored; rebuilding from the stream");
                0
            }
        }
    }
}

/// Waits until the writer behind `queue` has written everything queued before now.
async fn barrier<T>(queue: &mpsc::Sender<Queued<T>>, what: &str) -> anyhow::Result<()> {
    let (done, written) = oneshot::channel();
    let stopped = || anyhow::anyhow!("the {what} writer has stopped");
    tokio::time::timeout(BARRIER_TIMEOUT, async {
        queue
            .send(Queued::Barrier(done))
            .await
            .map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())
    })
    .await
    .map_err(|_| anyhow::anyhow!("the {what} writer did not catch up within {BARRIER_TIMEOUT:?}"))?
}
