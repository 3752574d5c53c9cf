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
use vigil::telemetry::cluster_metrics;
use vigil_engine::snapshot::{self, SnapshotError, TenantState, FORMAT_VERSION};
use vigil_engine::supervisor::Queued;
use vigil_schema::dedupe::{CorruptImage, DedupeImage};
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
    /// Applied event ids still remembered.
    dedupe: DedupeImage,
    tenants: Vec<TenantState>,
}

/// A partition's state in snapshot format 1, read to migrate it.
#[derive(Debug, Serialize, Deserialize)]
struct PartitionStateV1 {
    partition: u32,
    sequence: u64,
    /// Applied event ids still remembered: `(key, start of its bucket)`.
    dedupe: Vec<(u128, Millis)>,
    tenants: Vec<TenantState>,
}

/// A stored partition state, in whichever format it was read.
enum Decoded {
    Current(PartitionState),
    V1(PartitionStateV1),
}

impl Decoded {
    /// Reads a snapshot of this build's format or of format 1.
    fn read(bytes: &[u8]) -> Result<Decoded, SnapshotError> {
        match snapshot::decode(bytes) {
            Err(SnapshotError::Version { found: 1 }) => {
                snapshot::decode_format(bytes, 1).map(Decoded::V1)
            }
            decoded => decoded.map(Decoded::Current),
        }
    }

    fn partition_and_sequence(&self) -> (u32, u64) {
        match self {
            Decoded::Current(s) => (s.partition, s.sequence),
            Decoded::V1(s) => (s.partition, s.sequence),
        }
    }

    /// The tenants' states, and the dedupe memory restored into a copy of `empty` (which has
    /// this run's window).
    fn into_parts(self, empty: &Dedupe) -> Result<(Vec<TenantState>, Dedupe), CorruptImage> {
        let mut dedupe = empty.clone();
        match self {
            Decoded::Current(state) => {
                dedupe.restore_image(state.dedupe)?;
                Ok((state.tenants, dedupe))
            }
            Decoded::V1(state) => {
                dedupe.reserve(state.dedupe.len());
                for (key, at) in state.dedupe {
                    dedupe.insert_key(EventKey(key), at);
                }
                Ok((state.tenants, dedupe))
            }
        }
    }
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

impl SnapshotEvery {
    /// Whether snapshots are taken at all.
    pub(super) fn enabled(self) -> bool {
        self.events > 0 || !self.interval.is_zero()
    }
}

impl PartitionWorker {
    /// Whether a snapshot is worth taking when the worker stops, with every event read
    /// answered up to `handled`: the partition is still held and read on since the last one.
    pub(super) fn snapshot_on_stop(&self, last: &LastSnapshot, handled: u64) -> bool {
        matches!(self.applier, Applier::Actors(_))
            && self.snapshot_every.enabled()
            && handled > last.sequence
            && self.held.holds(self.partition)
    }

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
                let p = self.partition;
                cluster_metrics::snapshot_write_seconds().record(started.elapsed().as_secs_f64());
                cluster_metrics::snapshot_bytes(p).set(bytes as f64);
                cluster_metrics::snapshot_last_saved(p).set(unix_seconds());
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
                match e
                    .downcast_ref::<vigil::store::StoreError>()
                    .and_then(|e| e.fenced())
                {
                    Some(fence) => self.held.taken_over(fence),
                    None => {
                        cluster_metrics::snapshot_failures(self.partition).increment(1);
                        warn!(sequence, error = %e, "partition snapshot not taken; will try again later");
                    }
                }
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
        if let Some(facts) = &self.facts {
            barrier(facts, "ticket fact").await?;
        }
        let state = PartitionState {
            partition: self.partition,
            sequence,
            dedupe: dedupe.image(),
            tenants,
        };
        let bytes = snapshot::encode(&state)?;
        if !self
            .store
            .snapshots()
            .save(self.fence, sequence, FORMAT_VERSION, &bytes)
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
    /// unless all of it can be. An error (the store cannot be read) fails the run, which is
    /// tried again: rebuilding instead could take hours.
    pub(super) async fn restore_snapshot(&self, dedupe: &mut Dedupe) -> anyhow::Result<u64> {
        let Applier::Actors(pool) = &self.applier else {
            return Ok(0);
        };
        let Some(stored) = self.store.snapshots().load(self.partition).await? else {
            return Ok(0);
        };
        Ok(self.restore_from(pool, stored, dedupe))
    }

    fn restore_from(
        &self,
        pool: &vigil_engine::supervisor::TenantPool,
        stored: vigil::store::StoredSnapshot,
        dedupe: &mut Dedupe,
    ) -> u64 {
        // What the snapshot is, whether or not it can be used: its age is what alerts watch.
        let p = self.partition;
        cluster_metrics::snapshot_bytes(p).set(stored.state.len() as f64);
        cluster_metrics::snapshot_last_saved(p).set(stored.taken_at as f64 / 1000.0);
        let decoded = match Decoded::read(&stored.state) {
            Ok(decoded) => decoded,
            Err(e) => {
                warn!(sequence = stored.sequence, error = %e, "the partition's snapshot cannot be used; rebuilding from the stream");
                return 0;
            }
        };
        if decoded.partition_and_sequence() != (self.partition, stored.sequence) {
            warn!(
                sequence = stored.sequence,
                "the partition's snapshot names another partition or sequence; rebuilding from the stream"
            );
            return 0;
        }
        // The dedupe memory first: it is checked, and nothing is restored unless all can be.
        let (tenants, restored) = match decoded.into_parts(dedupe) {
            Ok(parts) => parts,
            Err(e) => {
                warn!(sequence = stored.sequence, error = %e, "the partition's snapshot cannot be used; rebuilding from the stream");
                return 0;
            }
        };
        match pool.restore(tenants) {
            Ok(tenants) => {
                *dedupe = restored;
                info!(
                    sequence = stored.sequence,
                    format = stored.format,
                    tenants,
                    "partition restored from its snapshot; reading the stream after it"
                );
                stored.sequence
            }
            Err(e) => {
                warn!(sequence = stored.sequence, error = %e, "the partition's snapshot cannot be restored; rebuilding from the stream");
                0
            }
        }
    }
}

/// The wall clock in seconds since the Unix epoch.
fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn remembered(keys: u64) -> Dedupe {
        let mut dedupe = Dedupe::new(48 * 3_600_000);
        for n in 0..keys {
            dedupe.insert(7, &format!("e-{n}"), n as Millis * 1_000);
        }
        dedupe
    }

    #[test]
    fn a_snapshot_restores_the_dedupe_memory_it_was_taken_with() {
        let state = PartitionState {
            partition: 3,
            sequence: 99,
            dedupe: remembered(1_000).image(),
            tenants: Vec::new(),
        };
        let bytes = snapshot::encode(&state).unwrap();
        let decoded = Decoded::read(&bytes).unwrap();
        assert_eq!(decoded.partition_and_sequence(), (3, 99));
        let (_, dedupe) = decoded.into_parts(&remembered(0)).unwrap();
        assert_eq!(dedupe.len(), 1_000);
        assert!(dedupe.contains(7, "e-999") && !dedupe.contains(7, "e-1000"));
    }

    #[test]
    fn a_snapshot_of_format_1_is_migrated() {
        let v1 = PartitionStateV1 {
            partition: 3,
            sequence: 99,
            dedupe: (0..1_000)
                .map(|n| (EventKey::new(7, &format!("e-{n}")).0, n * 1_000))
                .collect(),
            tenants: Vec::new(),
        };
        let bytes = snapshot::encode_format(&v1, 1).unwrap();
        let decoded = Decoded::read(&bytes).unwrap();
        assert!(matches!(decoded, Decoded::V1(_)));
        assert_eq!(decoded.partition_and_sequence(), (3, 99));
        let (_, dedupe) = decoded.into_parts(&remembered(0)).unwrap();
        assert_eq!(dedupe.len(), 1_000);
        assert!(dedupe.contains(7, "e-0") && !dedupe.contains(7, "e-1000"));
    }

    #[test]
    fn a_snapshot_of_another_format_is_refused() {
        let bytes = snapshot::encode_format(&0u32, FORMAT_VERSION + 1).unwrap();
        assert!(matches!(
            Decoded::read(&bytes),
            Err(SnapshotError::Version { found }) if found == FORMAT_VERSION + 1
        ));
    }
}
