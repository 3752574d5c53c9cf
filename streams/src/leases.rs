//! Partition leases in a NATS KV bucket (DESIGN.md §6): who owns which partition of the
//! events stream, and which instances are alive.
//!
//! The bucket (`<stream>_LEASES`) keeps one value per key and drops a value `ttl` after it was
//! written, so every key expires on its own unless it is written again: `partition.<p>` is
//! the lease of partition `p`, rewritten by its owner every third of the TTL; `instance.<name>`
//! is an instance's heartbeat. A lease is taken by creating its key (refused while it exists),
//! renewed by a compare-and-set on its last revision (refused once someone else holds it), and
//! given back by a delete on that revision.
//!
//! The revision of the write that took a lease is its **fence**: revisions only grow, so a
//! later owner always carries a higher fence, and the store refuses writes under an older one.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use async_nats::jetstream::stream::StorageType;
use async_nats::jetstream::Context;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::jetstream::BoxError;

/// Key prefix of partition leases.
const PARTITION_KEY: &str = "partition.";
/// Key prefix of instance heartbeats.
const INSTANCE_KEY: &str = "instance.";

/// Why the lease bucket could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("lease bucket {bucket}: cannot {action}: {source}")]
pub struct LeaseError {
    /// The bucket.
    pub bucket: String,
    /// What was tried, e.g. `renew the lease of partition 3`.
    pub action: String,
    /// The server's or client's error.
    #[source]
    pub source: BoxError,
}

/// What a lease or heartbeat key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The instance's name (`[cluster] name`).
    pub name: String,
    /// Where the instance serves HTTP, for reads of its tenants (empty if unknown).
    #[serde(default)]
    pub address: String,
}

/// A lease this instance holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The partition.
    pub partition: u32,
    /// The revision of the write that took it: what every write of the partition carries.
    pub fence: u64,
    /// The revision of its latest write (the next renewal's compare-and-set).
    pub revision: u64,
}

/// The cluster as the bucket shows it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Live instances (a heartbeat younger than the TTL), by name.
    pub instances: BTreeMap<String, Holder>,
    /// Each leased partition's owner.
    pub owners: BTreeMap<u32, Holder>,
}

impl ClusterView {
    /// The most partitions one instance should own: an even share of `partitions` among the
    /// live instances (counting this one, which may not have sent a heartbeat yet).
    pub fn fair_share(&self, partitions: u32, me: &str) -> u32 {
        let live = self.instances.len() + usize::from(!self.instances.contains_key(me));
        let live = u32::try_from(live).unwrap_or(u32::MAX).max(1);
        partitions.div_ceil(live)
    }
}

/// The lease bucket of one events stream, as one instance uses it.
#[derive(Clone)]
pub struct LeaseBucket {
    kv: kv::Store,
    bucket: String,
    me: Holder,
    value: bytes::Bytes,
}

impl std::fmt::Debug for LeaseBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseBucket")
            .field("bucket", &self.bucket)
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// The bucket holding the leases of `stream`'s partitions.
pub fn bucket_name(stream: &str) -> String {
    format!("{stream}_LEASES")
}

impl LeaseBucket {
    /// Opens (creating it if needed) the lease bucket of `stream`, whose keys expire `ttl`
    /// after their last write, as the instance `me`. `replicas` is the bucket's replica count
    /// (1 on a single nats-server; 3 on a JetStream cluster).
    pub async fn open(
        js: &Context,
        stream: &str,
        ttl: Duration,
        replicas: usize,
        me: Holder,
    ) -> Result<LeaseBucket, LeaseError> {
        let bucket = bucket_name(stream);
        let fail = |action: &str, source: BoxError| LeaseError {
            bucket: bucket.clone(),
            action: action.to_string(),
            source,
        };
        let kv = js
            .create_or_update_key_value(kv::Config {
                bucket: bucket.clone(),
                description: format!("Vigil: who owns which partition of {stream}"),
                history: 1,
                max_age: ttl,
                storage: StorageType::File,
                num_replicas: replicas.max(1),
                ..kv::Config::default()
            })
            .await
            .map_err(|e| fail("create it", e.into()))?;
        let value = serde_json::to_vec(&me)
            .map_err(|e| fail("encode this instance's name", e.into()))?
            .into();
        Ok(LeaseBucket {
            kv,
            bucket,
            me,
            value,
        })
    }

    /// This instance.
    pub fn me(&self) -> &Holder {
        &self.me
    }

    fn fail(&self, action: String, source: impl Into<BoxError>) -> LeaseError {
        LeaseError {
            bucket: self.bucket.clone(),
            action,
            source: source.into(),
        }
    }

    /// Says this instance is alive for another TTL.
    pub async fn heartbeat(&self) -> Result<(), LeaseError> {
        self.kv
            .put(
                format!("{INSTANCE_KEY}{}", self.me.name),
                self.value.clone(),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.fail("send this instance's heartbeat".into(), e))
    }

    /// Says this instance has left (it stopped after giving back its leases).
    pub async fn leave(&self) -> Result<(), LeaseError> {
        self.kv
            .delete(format!("{INSTANCE_KEY}{}", self.me.name))
            .await
            .map_err(|e| self.fail("remove this instance's heartbeat".into(), e))
    }

    /// The live instances and the owner of every leased partition.
    pub async fn view(&self) -> Result<ClusterView, LeaseError> {
        let fail = |e: BoxError| self.fail("read the leases".into(), e);
        let keys: Vec<String> = self
            .kv
            .keys()
            .await
            .map_err(|e| fail(e.into()))?
            .try_collect()
            .await
            .map_err(|e| fail(e.into()))?;
        let mut view = ClusterView::default();
        for key in keys {
            let Some(entry) = self
                .kv
                .entry(key.as_str())
                .await
                .map_err(|e| fail(e.into()))?
            else {
                continue;
            };
            if entry.operation != Operation::Put {
                continue;
            }
            // A value this build cannot read is somebody's (an older build's): it still counts.
            let holder = serde_json::from_slice(&entry.value).unwrap_or_else(|_| Holder {
                name: String::from_utf8_lossy(&entry.value).into_owned(),
                address: String::new(),
            });
            if let Some(name) = key.strip_prefix(INSTANCE_KEY) {
                view.instances.insert(name.to_string(), holder);
            } else if let Some(p) = key.strip_prefix(PARTITION_KEY) {
                if let Ok(p) = p.parse() {
                    view.owners.insert(p, holder);
                }
            }
        }
        Ok(view)
    }

    /// Takes the lease of `partition` if nobody holds it; `None` if somebody does.
    pub async fn acquire(&self, partition: u32) -> Result<Option<Lease>, LeaseError> {
        match self
            .kv
            .create(partition_key(partition), self.value.clone())
            .await
        {
            Ok(revision) => Ok(Some(Lease {
                partition,
                fence: revision,
                revision,
            })),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(self.fail(format!("take the lease of partition {partition}"), e)),
        }
    }

    /// Renews a lease for another TTL. Returns false when it was lost (it expired and
    /// somebody else took it, or it was deleted): the partition is no longer this instance's.
    pub async fn renew(&self, lease: &mut Lease) -> Result<bool, LeaseError> {
        match self
            .kv
            .update(
                partition_key(lease.partition),
                self.value.clone(),
                lease.revision,
            )
            .await
        {
            Ok(revision) => {
                lease.revision = revision;
                Ok(true)
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(self.fail(
                format!("renew the lease of partition {}", lease.partition),
                e,
            )),
        }
    }

    /// Gives a lease back, so another instance can take the partition at once. A lease that
    /// was lost meanwhile is left to its new owner.
    pub async fn release(&self, lease: Lease) -> Result<(), LeaseError> {
        self.kv
            .delete_expect_revision(partition_key(lease.partition), Some(lease.revision))
            .await
            .or_else(|e| {
                if e.kind() == kv::DeleteErrorKind::WrongLastRevision {
                    Ok(())
                } else {
                    Err(self.fail(
                        format!("give back the lease of partition {}", lease.partition),
                        e,
                    ))
                }
            })
    }
}

fn partition_key(partition: u32) -> String {
    format!("{PARTITION_KEY}{partition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(instances: &[&str]) -> ClusterView {
        ClusterView {
            instances: instances
                .iter()
                .map(|n| {
                    (
                        n.to_string(),
                        Holder {
                            name: n.to_string(),
                            address: String::new(),
                        },
                    )
                })
                .collect(),
            owners: BTreeMap::new(),
        }
    }

    #[test]
    fn fair_share_counts_this_instance_once() {
        assert_eq!(view(&[]).fair_share(16, "a"), 16);
        assert_eq!(view(&["a"]).fair_share(16, "a"), 16);
        assert_eq!(view(&["b"]).fair_share(16, "a"), 8);
        assert_eq!(view(&["a", "b", "c"]).fair_share(16, "a"), 6);
        assert_eq!(view(&["a", "b", "c"]).fair_share(2, "a"), 1);
    }
}
