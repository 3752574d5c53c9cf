//! Per-partition progress: the last stream sequence whose event was handled, saved
//! periodically by each partition's consumer.

use super::error::{counted, StoreError};
use super::fences::{begin_write, check_fences, Fence};
use super::pool::{on_backend, Backend, Store};
use crate::clock::now_ms;

/// Each partition's last handled stream sequence. A borrowed handle from [`Store::progress`];
/// copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct PartitionProgress<'a> {
    backend: &'a Backend,
}

impl Store {
    /// Each partition's progress.
    pub fn progress(&self) -> PartitionProgress<'_> {
        PartitionProgress {
            backend: &self.backend,
        }
    }
}

impl PartitionProgress<'_> {
    /// The last saved sequence of a partition, if any was saved.
    pub async fn load(self, partition: u32) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> = on_backend!(self, |pool| {
            sqlx::query_as("SELECT sequence FROM partition_progress WHERE partition_id = $1")
                .bind(i64::from(partition))
                .fetch_optional(pool)
                .await
                .map_err(counted)?
        });
        row.map(|(seq,)| {
            u64::try_from(seq).map_err(|_| StoreError::CorruptRow {
                table: "partition_progress",
                message: format!("negative sequence {seq}"),
            })
        })
        .transpose()
    }

    /// Saves a partition's last handled sequence (the latest save wins), under `fence`:
    /// [`StoreError::Fenced`] when another instance has taken the partition over.
    pub async fn save(self, fence: Fence, sequence: u64) -> Result<(), StoreError> {
        let partition = fence.partition;
        let sequence = i64::try_from(sequence).map_err(|_| StoreError::InvalidRecord {
            record: format!("partition {partition}"),
            reason: "stream sequence above 2^63-1",
        })?;
        let now = now_ms();
        on_backend!(self, |pool| {
            let mut tx = begin_write!(self.backend, pool).map_err(counted)?;
            check_fences!(tx, self.backend, [fence]);
            sqlx::query(
                "INSERT INTO partition_progress (partition_id, sequence, updated_at) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (partition_id) DO UPDATE \
                 SET sequence = excluded.sequence, updated_at = excluded.updated_at",
            )
            .bind(i64::from(partition))
            .bind(sequence)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(counted)?;
            tx.commit().await.map_err(counted)?;
        });
        Ok(())
    }
}
