//! The metrics of partition ownership and durability (DESIGN.md §6): leases, snapshots and
//! recovery. Same rules as [`super::metrics`]: one helper per metric, bounded labels (lease
//! transition kinds, partition numbers).

use metrics::{
    describe_counter, describe_gauge, describe_histogram, Counter, Gauge, Histogram, Unit,
};

/// Partitions this instance owns (holds the lease of).
pub const PARTITIONS_OWNED: &str = "vigil_partitions_owned";
/// Partitions without an owner in this instance's latest view of the leases.
pub const PARTITIONS_UNOWNED: &str = "vigil_partitions_unowned";
/// Changes of this instance's leases, by `kind` (`taken`, `handed_over`, `lost`, `fenced`).
pub const LEASE_TRANSITIONS: &str = "vigil_lease_transitions_total";
/// Size of a partition's latest snapshot, by `partition`.
pub const SNAPSHOT_BYTES: &str = "vigil_snapshot_bytes";
/// When a partition's latest snapshot was saved (Unix seconds), by `partition`.
pub const SNAPSHOT_LAST_SAVED: &str = "vigil_snapshot_last_saved_timestamp_seconds";
/// Events of a partition applied since its latest snapshot (what a restart would read
/// again), by `partition`; 0 once the partition is let go.
pub const SNAPSHOT_PENDING_EVENTS: &str = "vigil_snapshot_pending_events";
/// Time to take and save a snapshot (barrier through the writers included).
pub const SNAPSHOT_WRITE_SECONDS: &str = "vigil_snapshot_write_seconds";
/// Snapshots not taken (a writer did not catch up, the store refused), by `partition`.
pub const SNAPSHOT_FAILURES: &str = "vigil_snapshot_failures_total";
/// Time from taking a partition to having caught up with its stream, by `partition`.
pub const RECOVERY_SECONDS: &str = "vigil_recovery_seconds";
/// Events read after the snapshot to catch up when a partition was taken, by `partition`.
pub const RECOVERY_TAIL_EVENTS: &str = "vigil_recovery_tail_events";

/// Registers the descriptions of these metrics (called by [`super::metrics::describe`]).
pub fn describe() {
    describe_gauge!(
        PARTITIONS_OWNED,
        Unit::Count,
        "Partitions this instance owns (holds the lease of)."
    );
    describe_gauge!(
        PARTITIONS_UNOWNED,
        Unit::Count,
        "Partitions without an owner in this instance's latest view of the leases."
    );
    describe_counter!(
        LEASE_TRANSITIONS,
        Unit::Count,
        "Changes of this instance's partition leases, by kind (taken, handed_over, lost, fenced)."
    );
    describe_gauge!(
        SNAPSHOT_BYTES,
        Unit::Bytes,
        "Size of the partition's latest snapshot."
    );
    describe_gauge!(
        SNAPSHOT_LAST_SAVED,
        Unit::Seconds,
        "When the partition's latest snapshot was saved (Unix time)."
    );
    describe_gauge!(
        SNAPSHOT_PENDING_EVENTS,
        Unit::Count,
        "Events of the partition applied since its latest snapshot (what a restart reads again)."
    );
    describe_histogram!(
        SNAPSHOT_WRITE_SECONDS,
        Unit::Seconds,
        "Time to take and save a partition snapshot, waiting for the alert and record writers included."
    );
    describe_counter!(
        SNAPSHOT_FAILURES,
        Unit::Count,
        "Partition snapshots not taken (retried at the next interval)."
    );
    describe_gauge!(
        RECOVERY_SECONDS,
        Unit::Seconds,
        "Time from taking the partition (snapshot restore included) to catching up with its stream."
    );
    describe_gauge!(
        RECOVERY_TAIL_EVENTS,
        Unit::Count,
        "Events read after the snapshot to catch up when the partition was taken."
    );
}

/// [`PARTITIONS_OWNED`].
pub fn partitions_owned() -> Gauge {
    metrics::gauge!(PARTITIONS_OWNED)
}

/// [`PARTITIONS_UNOWNED`].
pub fn partitions_unowned() -> Gauge {
    metrics::gauge!(PARTITIONS_UNOWNED)
}

/// [`LEASE_TRANSITIONS`] of one kind.
pub fn lease_transitions(kind: &'static str) -> Counter {
    metrics::counter!(LEASE_TRANSITIONS, "kind" => kind)
}

/// [`SNAPSHOT_BYTES`] of a partition.
pub fn snapshot_bytes(partition: u32) -> Gauge {
    metrics::gauge!(SNAPSHOT_BYTES, "partition" => partition.to_string())
}

/// [`SNAPSHOT_LAST_SAVED`] of a partition.
pub fn snapshot_last_saved(partition: u32) -> Gauge {
    metrics::gauge!(SNAPSHOT_LAST_SAVED, "partition" => partition.to_string())
}

/// [`SNAPSHOT_PENDING_EVENTS`] of a partition.
pub fn snapshot_pending_events(partition: u32) -> Gauge {
    metrics::gauge!(SNAPSHOT_PENDING_EVENTS, "partition" => partition.to_string())
}

/// [`SNAPSHOT_WRITE_SECONDS`].
pub fn snapshot_write_seconds() -> Histogram {
    metrics::histogram!(SNAPSHOT_WRITE_SECONDS)
}

/// [`SNAPSHOT_FAILURES`] of a partition.
pub fn snapshot_failures(partition: u32) -> Counter {
    metrics::counter!(SNAPSHOT_FAILURES, "partition" => partition.to_string())
}

/// [`RECOVERY_SECONDS`] of a partition.
pub fn recovery_seconds(partition: u32) -> Gauge {
    metrics::gauge!(RECOVERY_SECONDS, "partition" => partition.to_string())
}

/// [`RECOVERY_TAIL_EVENTS`] of a partition.
pub fn recovery_tail_events(partition: u32) -> Gauge {
    metrics::gauge!(RECOVERY_TAIL_EVENTS, "partition" => partition.to_string())
}
