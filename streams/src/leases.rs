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
//!
//! An instance restarted on the same host after a crash does not wait for its predecessor's
//! leases to expire: a holder on this host whose process is gone (or whose pid is this
//! process's own, in a fresh pid namespace) is a **dead predecessor**, and its leases are
//! adopted at once by a compare-and-set on their revision.

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
    /// Where the instance serves HTTP (empty if unknown).
    #[serde(default)]
    pub address: String,
    /// The host it runs on.
    #[serde(default)]
    pub host: String,
    /// Its process id on that host.
    #[serde(default)]
    pub pid: u32,
    /// Unique per process start, so a restarted process never takes itself for its
    /// predecessor.
    #[serde(default)]
    pub nonce: String,
}

impl Holder {
    /// This process as a holder named `name`, serving HTTP at `address`.
    pub fn this_process(name: String, address: String) -> Holder {
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        Holder {
            name,
            address,
            host: host_name(),
            pid: std::process::id(),
            nonce,
        }
    }

    /// Whether `self` is a process on `me`'s host that is gone: a crashed predecessor whose
    /// leases `me` may adopt at once. Conservative: unknown hosts and live pids are not.
    pub fn is_dead_predecessor_of(&self, me: &Holder) -> bool {
        !self.host.is_empty()
            && self.host == me.host
            && self.nonce != me.nonce
            && (self.pid == me.pid || !process_alive(self.pid))
    }
}

/// This machine's host name (empty when it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Whether a process with this pid exists on this host.
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Elsewhere nothing is known to be dead.
#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// A leased partition's owner, and the revision of the lease's latest write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Who holds it.
    pub holder: Holder,
    /// The revision of its latest write (what an adoption compares and sets).
    pub revision: u64,
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

impl Lease {
    /// A lease just taken by a write of `revision`: its fence.
    fn taken(partition: u32, revision: u64) -> Lease {
        Lease {
            partition,
            fence: revision,
            revision,
        }
    }
}

/// The cluster as the bucket shows it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Live instances (a heartbeat younger than the TTL), by name.
    pub instances: BTreeMap<String, Holder>,
    /// Each leased partition's owner.
    pub owners: BTreeMap<u32, Owner>,
}

impl ClusterView {
    /// The most partitions one instance should own: an even share of `partitions` among the
    /// live instances (counting `me`, which may not have sent a heartbeat yet, and not its
    /// dead predecessors).
    pub fn fair_share(&self, partitions: u32, me: &Holder) -> u32 {
        let others = self
            .instances
            .iter()
            .filter(|(name, h)| **name != me.name && !h.is_dead_predecessor_of(me))
            .count();
        let live = u32::try_from(others + 1).unwrap_or(u32::MAX);
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
                host: String::new(),
                pid: 0,
                nonce: String::new(),
            });
            if let Some(name) = key.strip_prefix(INSTANCE_KEY) {
                view.instances.insert(name.to_string(), holder);
            } else if let Some(p) = key.strip_prefix(PARTITION_KEY) {
                if let Ok(p) = p.parse() {
                    view.owners.insert(
                        p,
                        Owner {
                            holder,
                            revision: entry.revision,
                        },
                    );
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
            Ok(revision) => Ok(Some(Lease::taken(partition, revision))),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(self.fail(format!("take the lease of partition {partition}"), e)),
        }
    }

    /// Takes over the lease of `partition` from a dead predecessor whose latest write has
    /// `revision`: `None` if somebody wrote it since (renewed, released, taken).
    pub async fn adopt(&self, partition: u32, revision: u64) -> Result<Option<Lease>, LeaseError> {
        match self
            .kv
            .update(partition_key(partition), self.value.clone(), revision)
            .await
        {
            Ok(revision) => Ok(Some(Lease::taken(partition, revision))),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(self.fail(format!("adopt the lease of partition {partition}"), e)),
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

    fn holder(name: &str, host: &str, pid: u32) -> Holder {
        Holder {
            name: name.to_string(),
            address: String::new(),
            host: host.to_string(),
            pid,
            nonce: format!("{name}-{pid}"),
        }
    }

    fn view(instances: &[Holder]) -> ClusterView {
        ClusterView {
            instances: instances
                .iter()
                .map(|h| (h.name.clone(), h.clone()))
                .collect(),
            owners: BTreeMap::new(),
        }
    }

    #[test]
    fn fair_share_counts_this_instance_once_and_no_dead_predecessor() {
        let me = Holder::this_process("a".into(), String::new());
        let b = holder("b", "elsewhere", 7);
        let c = holder("c", "elsewhere", 8);
        assert_eq!(view(&[]).fair_share(16, &me), 16);
        assert_eq!(view(std::slice::from_ref(&me)).fair_share(16, &me), 16);
        assert_eq!(view(std::slice::from_ref(&b)).fair_share(16, &me), 8);
        assert_eq!(view(&[me.clone(), b.clone(), c]).fair_share(16, &me), 6);
        assert_eq!(view(&[me.clone(), b]).fair_share(2, &me), 1);
        // This process's crashed predecessor on this host (same pid in a new namespace).
        let before = holder("a-old", &me.host, me.pid);
        assert_eq!(view(&[me.clone(), before]).fair_share(16, &me), 16);
    }

    #[test]
    fn only_a_gone_process_on_this_host_is_a_dead_predecessor() {
        let me = Holder::this_process("a".into(), String::new());
        // The same pid, another start: a previous run in a fresh pid namespace.
        assert!(holder("x", &me.host, me.pid).is_dead_predecessor_of(&me));
        // Itself.
        assert!(!me.is_dead_predecessor_of(&me));
        // A live process on this host (pid 1 exists), another host, an unknown host.
        assert!(!holder("x", &me.host, 1).is_dead_predecessor_of(&me));
        assert!(!holder("x", "other-host", me.pid).is_dead_predecessor_of(&me));
        assert!(!holder("x", "", me.pid).is_dead_predecessor_of(&me));
        // A gone process on this host: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        assert!(holder("x", &me.host, gone).is_dead_predecessor_of(&me));
    }
}
