//! Fencing of partition writes (DESIGN.md §6): each partition's owner claims it with the
//! revision of its lease, and every write of the partition's alerts, progress and snapshots
//! carries that revision. The store refuses a write whose revision is not the one it holds, so
//! an instance that lost its lease (paused, cut off) cannot write over its successor.
//!
//! Invariant: a claim only ever raises a partition's fence. On PostgreSQL a fenced write reads
//! the fence `FOR SHARE` in its own transaction, so a claim waits for the writes under the old
//! fence to commit, and a write waits for a concurrent claim and then sees it. SQLite runs one
//! writer at a time.

use super::error::{counted, StoreError};
use super::pool::{on_backend, Backend, Store};
use crate::clock::now_ms;

/// The lease revision under which a partition is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The partition.
    pub partition: u32,
    /// The revision of the owner's lease when it took the partition.
    pub revision: u64,
}

impl StoreError {
    /// The fence a write carried when it was refused as [`StoreError::Fenced`].
    pub fn fenced(&self) -> Option<Fence> {
        match self {
            StoreError::Fenced {
                partition, carried, ..
            } => Some(Fence {
                partition: *partition,
                revision: *carried,
            }),
            _ => None,
        }
    }
}

/// Each partition's current fence. A borrowed handle from [`Store::fences`]; copy it freely.
#[derive(Debug, Clone, Copy)]
pub struct PartitionFences<'a> {
    backend: &'a Backend,
}

impl Store {
    /// Each partition's current fence.
    pub fn fences(&self) -> PartitionFences<'_> {
        PartitionFences {
            backend: &self.backend,
        }
    }
}

impl PartitionFences<'_> {
    /// Claims `fence.partition` for `holder` under `fence.revision`. Returns false, changing
    /// nothing, when the store already holds that revision or a newer one (the lease this
    /// revision came from is stale).
    pub async fn claim(self, fence: Fence, holder: &str) -> Result<bool, StoreError> {
        let revision = revision_value(fence)?;
        let now = now_ms();
        let claimed = on_backend!(self, |pool| {
            sqlx::query(
                "INSERT INTO partition_fences (partition_id, fence, holder, claimed_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (partition_id) DO UPDATE \
                 SET fence = excluded.fence, holder = excluded.holder, \
                     claimed_at = excluded.claimed_at \
                 WHERE partition_fences.fence < excluded.fence",
            )
            .bind(i64::from(fence.partition))
            .bind(revision)
            .bind(holder)
            .bind(now)
            .execute(pool)
            .await
            .map_err(counted)?
            .rows_affected()
        });
        Ok(claimed == 1)
    }

    /// The fence the store holds for a partition and who claimed it, if it was ever claimed.
    pub async fn current(self, partition: u32) -> Result<Option<(u64, String)>, StoreError> {
        let row: Option<(i64, String)> = on_backend!(self, |pool| {
            sqlx::query_as("SELECT fence, holder FROM partition_fences WHERE partition_id = $1")
                .bind(i64::from(partition))
                .fetch_optional(pool)
                .await
                .map_err(counted)?
        });
        Ok(row.map(|(fence, holder)| (u64::try_from(fence).unwrap_or(0), holder)))
    }
}

/// A revision as the store binds it.
fn revision_value(fence: Fence) -> Result<i64, StoreError> {
    i64::try_from(fence.revision).map_err(|_| StoreError::InvalidRecord {
        record: format!("fence of partition {}", fence.partition),
        reason: "lease revision above 2^63-1",
    })
}

/// Begins a transaction that will write: on SQLite `BEGIN IMMEDIATE`, so it takes the write
/// lock before it reads the fence (a deferred transaction that reads, then writes, fails with
/// "database is locked" when another process wrote in between, and the busy timeout does not
/// help); on PostgreSQL a plain `BEGIN`.
macro_rules! begin_write {
    ($backend:expr, $pool:expr) => {
        match $backend {
            $crate::store::pool::Backend::Sqlite(_) => $pool.begin_with("BEGIN IMMEDIATE").await,
            $crate::store::pool::Backend::Postgres(_) => $pool.begin().await,
        }
    };
}
pub(crate) use begin_write;

/// Checks, inside a write's transaction, that each of `fences` is the one the store holds;
/// [`StoreError::Fenced`] names the first that is not.
macro_rules! check_fences {
    ($tx:expr, $backend:expr, $fences:expr) => {{
        let sql = $crate::store::fences::select_fence_sql($backend);
        for fence in $fences {
            let current: Option<(i64,)> = sqlx::query_as(sql)
                .bind(i64::from(fence.partition))
                .fetch_optional(&mut *$tx)
                .await?;
            let current = current.map_or(0, |(f,)| u64::try_from(f).unwrap_or(0));
            if current != fence.revision {
                return Err($crate::store::error::StoreError::Fenced {
                    partition: fence.partition,
                    carried: fence.revision,
                    current,
                });
            }
        }
    }};
}
pub(crate) use check_fences;

/// The statement reading one partition's fence inside a fenced write.
pub(crate) fn select_fence_sql(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite(_) => "SELECT fence FROM partition_fences WHERE partition_id = $1",
        Backend::Postgres(_) => {
            "SELECT fence FROM partition_fences WHERE partition_id = $1 FOR SHARE"
        }
    }
}
