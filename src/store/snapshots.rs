//! Each partition's latest snapshot of engine state, with the stream sequence it reflects
//! (DESIGN.md §6). The bytes are the engine's snapshot format (`vigil_engine::snapshot`); the
//! store keeps them as they are, one row per partition, and never lets an older snapshot
//! replace a newer one.

use super::error::{counted, StoreError};
use super::fences::{begin_write, check_fences, Fence};
use super::pool::{on_backend, Backend, Store};
use crate::clock::now_ms;

/// A stored snapshot of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The last stream sequence whose event the state includes.
    pub sequence: u64,
    /// The engine's snapshot format version it was written in.
    pub format: u16,
    /// The snapshot (header, checksum, payload).
    pub state: Vec<u8>,
    /// When it was saved (Unix milliseconds).
    pub taken_at: i64,
}

/// Each partition's latest snapshot. A borrowed handle from [`Store::snapshots`]; copy it
/// freely.
#[derive(Debug, Clone, Copy)]
pub struct Snapshots<'a> {
    backend: &'a Backend,
}

impl Store {
    /// Each partition's latest snapshot.
    pub fn snapshots(&self) -> Snapshots<'_> {
        Snapshots {
            backend: &self.backend,
        }
    }
}

impl Snapshots<'_> {
    /// The latest snapshot of a partition, if one was saved.
    pub async fn load(self, partition: u32) -> Result<Option<StoredSnapshot>, StoreError> {
        let row: Option<(i64, i64, Vec<u8>, i64)> = on_backend!(self, |pool| {
            sqlx::query_as(
                "SELECT sequence, format, state, taken_at FROM partition_snapshots \
                 WHERE partition_id = $1",
            )
            .bind(i64::from(partition))
            .fetch_optional(pool)
            .await
            .map_err(counted)?
        });
        let Some((sequence, format, state, taken_at)) = row else {
            return Ok(None);
        };
        let corrupt = |message: String| StoreError::CorruptRow {
            table: "partition_snapshots",
            message,
        };
        Ok(Some(StoredSnapshot {
            sequence: u64::try_from(sequence)
                .map_err(|_| corrupt(format!("negative sequence {sequence}")))?,
            format: u16::try_from(format).map_err(|_| corrupt(format!("format {format}")))?,
            state,
            taken_at,
        }))
    }

    /// Saves a partition's snapshot taken after `sequence` under `fence`, replacing an older
    /// one in the same statement. Returns false, changing nothing, when the stored one is newer
    /// (a slow writer must not roll a partition back); [`StoreError::Fenced`] when another
    /// instance has taken the partition over.
    pub async fn save(
        self,
        fence: Fence,
        sequence: u64,
        format: u16,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        let partition = fence.partition;
        let sequence = i64::try_from(sequence).map_err(|_| StoreError::InvalidRecord {
            record: format!("snapshot of partition {partition}"),
            reason: "stream sequence above 2^63-1",
        })?;
        let now = now_ms();
        let saved = on_backend!(self, |pool| {
            let mut tx = begin_write!(self.backend, pool).map_err(counted)?;
            check_fences!(tx, self.backend, [fence]);
            let saved = sqlx::query(
                "INSERT INTO partition_snapshots (partition_id, sequence, format, state, taken_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (partition_id) DO UPDATE \
                 SET sequence = excluded.sequence, format = excluded.format, \
                     state = excluded.state, taken_at = excluded.taken_at \
                 WHERE partition_snapshots.sequence <= excluded.sequence",
            )
            .bind(i64::from(partition))
            .bind(sequence)
            .bind(i64::from(format))
            .bind(state)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(counted)?
            .rows_affected();
            tx.commit().await.map_err(counted)?;
            saved
        });
        Ok(saved == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{on_both_dialects, postgres, sqlite};
    use super::*;

    async fn newest_snapshot_wins_and_reads_back_as_written(store: &Store) {
        let snapshots = store.snapshots();
        assert_eq!(snapshots.load(2).await.unwrap(), None);
        let mut fences = Vec::new();
        for partition in 2..=4 {
            let fence = Fence {
                partition,
                revision: 1,
            };
            assert!(store.fences().claim(fence, "test").await.unwrap());
            fences.push(fence);
        }
        let [two, three, four] = fences[..] else {
            unreachable!()
        };

        let first = vec![0u8, 1, 2, 255];
        assert!(snapshots.save(two, 100, 1, &first).await.unwrap());
        let stored = snapshots.load(2).await.unwrap().unwrap();
        assert_eq!((stored.sequence, stored.format), (100, 1));
        assert_eq!(stored.state, first);

        let newer = vec![9u8; 70_000];
        assert!(snapshots.save(two, 250, 1, &newer).await.unwrap());
        // A slow writer's older snapshot changes nothing.
        assert!(!snapshots.save(two, 200, 1, &first).await.unwrap());
        let stored = snapshots.load(2).await.unwrap().unwrap();
        assert_eq!(stored.sequence, 250);
        assert_eq!(stored.state, newer);

        // Partitions are apart.
        assert!(snapshots.save(three, 1, 1, &first).await.unwrap());
        assert_eq!(snapshots.load(2).await.unwrap().unwrap().sequence, 250);

        let err = snapshots.save(four, u64::MAX, 1, &first).await.unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(snapshots.load(4).await.unwrap(), None);
    }

    on_both_dialects!(newest_snapshot_wins_and_reads_back_as_written);
}
