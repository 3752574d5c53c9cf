//! The lease keeper (DESIGN.md §6): holds this instance's fair share of the partitions through
//! leases in NATS KV and runs one partition worker per lease.
//!
//! Every third of the lease TTL it sends the instance's heartbeat, renews its leases, and
//! compares what it holds with an even share among the live instances: above it, it hands the
//! extra partitions over (their workers stop, snapshot and save progress, their tenants are
//! retired here, and the lease is given back so another instance takes it at once); below it,
//! it takes free partitions (a dead instance's, once their leases expired), claims each in the
//! store under the lease's revision (the fence), and starts its worker, which restores the
//! partition's snapshot and reads the stream after it.
//!
//! A partition is dropped without a hand-over when its lease is lost: a renewal finds another
//! owner, renewals failed for a whole TTL, or the store refused a write as fenced.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use vigil::store::{Fence, Store};
use vigil::telemetry::cluster_metrics as metrics;
use vigil_engine::supervisor::TenantPool;
use vigil_streams::{ClusterView, Lease, LeaseBucket};

use super::held::HeldPartitions;
use super::partition::CaughtUp;

/// Starts the worker of a partition under its fence; it runs until its stop signal.
pub type StartWorker =
    Box<dyn Fn(Fence, watch::Receiver<bool>) -> JoinHandle<anyhow::Result<()>> + Send + Sync>;

/// A partition this instance works on.
struct Running {
    lease: Lease,
    /// When the lease was last written (taken or renewed).
    renewed: Instant,
    stop: watch::Sender<bool>,
    worker: JoinHandle<anyhow::Result<()>>,
}

/// Why a partition is let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LetGo {
    /// Another instance should take it (hand-over, or this instance stops): give the lease back.
    HandOver,
    /// The lease was lost: somebody else may own it already.
    Lost,
}

/// Keeps this instance's share of the partition leases.
pub struct LeaseKeeper {
    /// The lease bucket.
    pub leases: LeaseBucket,
    /// Where partitions are claimed under their fences.
    pub store: Store,
    /// The partitions held, shared with the workers and the alert writer.
    pub held: Arc<HeldPartitions>,
    /// Readiness bookkeeping.
    pub caught_up: Arc<CaughtUp>,
    /// The tenant actors (`None` with the event-time engine).
    pub pool: Option<Arc<TenantPool>>,
    /// The stream's partition count.
    pub partitions: u32,
    /// The lease TTL (`[cluster] lease_ttl`).
    pub ttl: Duration,
    /// Starts a partition's worker.
    pub start_worker: StartWorker,
}

impl LeaseKeeper {
    /// Keeps the leases until `stop`, then hands every partition over and leaves.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut keeper = Keeper {
            k: self,
            running: BTreeMap::new(),
        };
        let mut tick = tokio::time::interval(keeper.k.ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = vigil::stopped(&mut stop) => break,
                _ = tick.tick() => keeper.round().await,
                _ = keeper.k.held.lost() => keeper.drop_taken_over().await,
            }
        }
        let all: Vec<u32> = keeper.running.keys().copied().collect();
        keeper.let_go(&all, LetGo::HandOver).await;
        if let Err(e) = keeper.k.leases.leave().await {
            warn!(error = %e, "cannot remove this instance's heartbeat; it expires by itself");
        }
    }
}

/// The keeper's working state.
struct Keeper {
    k: LeaseKeeper,
    running: BTreeMap<u32, Running>,
}

impl Keeper {
    /// One round: heartbeat, renewals, then the share evened out.
    async fn round(&mut self) {
        if let Err(e) = self.k.leases.heartbeat().await {
            warn!(error = %e, "cannot send this instance's heartbeat");
        }
        self.renew().await;
        let view = match self.k.leases.view().await {
            Ok(view) => view,
            Err(e) => {
                warn!(error = %e, "cannot read the partition leases; keeping what is held");
                return;
            }
        };
        let share = view.fair_share(self.k.partitions, self.k.leases.me()) as usize;
        if self.running.len() > share {
            // The highest partitions go: any rule works, as long as it is stable.
            let extra: Vec<u32> = self
                .running
                .keys()
                .rev()
                .take(self.running.len() - share)
                .copied()
                .collect();
            info!(partitions = ?extra, share, "handing partitions over to even out the share");
            self.let_go(&extra, LetGo::HandOver).await;
        } else if self.running.len() < share {
            self.take_free(&view, share).await;
        } else if self.yields_one(&view) {
            // Even out ⌈P/N⌉ shares to ⌊P/N⌋ or ⌈P/N⌉ each (6/5/5, not 6/6/4): one
            // partition per round from the instance holding most.
            let last: Vec<u32> = self.running.keys().rev().take(1).copied().collect();
            info!(partitions = ?last, "handing a partition to an instance below its share");
            self.let_go(&last, LetGo::HandOver).await;
        }
        let unowned = (0..self.k.partitions)
            .filter(|p| !view.owners.contains_key(p) && !self.running.contains_key(p))
            .count();
        metrics::partitions_owned().set(self.running.len() as f64);
        metrics::partitions_unowned().set(unowned as f64);
        self.k.caught_up.settled(unowned);
    }

    /// Whether this instance should hand one partition over so that an instance holding
    /// fewer than ⌊P/N⌋ gets it: it is the live instance holding most (the greatest name among
    /// equals), and holds more than ⌊P/N⌋.
    fn yields_one(&self, view: &ClusterView) -> bool {
        let me = self.k.leases.me();
        let mut counts: BTreeMap<&str, usize> = view
            .instances
            .iter()
            .filter(|(name, h)| **name != me.name && !h.is_dead_predecessor_of(me))
            .map(|(name, _)| (name.as_str(), 0))
            .collect();
        for owner in view.owners.values() {
            if let Some(n) = counts.get_mut(owner.holder.name.as_str()) {
                *n += 1;
            }
        }
        counts.insert(me.name.as_str(), self.running.len());
        let floor = self.k.partitions as usize / counts.len().max(1);
        let somebody_short = counts.values().any(|&n| n < floor);
        let most = counts
            .iter()
            .max_by_key(|(name, n)| (**n, **name))
            .map(|(name, _)| *name);
        somebody_short && self.running.len() > floor && most == Some(me.name.as_str())
    }

    /// Renews every lease; lets go of those lost or not renewed for a whole TTL.
    async fn renew(&mut self) {
        let mut lost = Vec::new();
        for (&p, running) in &mut self.running {
            match self.k.leases.renew(&mut running.lease).await {
                Ok(true) => running.renewed = Instant::now(),
                Ok(false) => {
                    warn!(
                        partition = p,
                        "the partition's lease was taken by another instance"
                    );
                    lost.push(p);
                }
                Err(e) if running.renewed.elapsed() >= self.k.ttl => {
                    warn!(partition = p, error = %e, "the partition's lease expired before it could be renewed");
                    lost.push(p);
                }
                Err(e) => {
                    warn!(partition = p, error = %e, "cannot renew the partition's lease; will try again")
                }
            }
        }
        if !lost.is_empty() {
            metrics::lease_transitions("lost").increment(lost.len() as u64);
            self.let_go(&lost, LetGo::Lost).await;
        }
    }

    /// Lets go of the partitions whose writes the store refused as fenced.
    async fn drop_taken_over(&mut self) {
        let gone: Vec<u32> = self
            .running
            .keys()
            .copied()
            .filter(|&p| !self.k.held.holds(p))
            .collect();
        if !gone.is_empty() {
            metrics::lease_transitions("fenced").increment(gone.len() as u64);
            self.let_go(&gone, LetGo::Lost).await;
        }
    }

    /// Takes free partitions, and those of a dead predecessor on this host, until this
    /// instance holds `share`, starting at a place that depends on its name, so instances
    /// starting together try different partitions first.
    async fn take_free(&mut self, view: &ClusterView, share: usize) {
        let n = self.k.partitions;
        let start = name_offset(&self.k.leases.me().name, n);
        for p in (0..n).map(|i| (start + i) % n) {
            if self.running.len() >= share {
                break;
            }
            if self.running.contains_key(&p) {
                continue;
            }
            let taking = match view.owners.get(&p) {
                None => self.k.leases.acquire(p).await,
                Some(owner) if owner.holder.is_dead_predecessor_of(self.k.leases.me()) => {
                    info!(partition = p, predecessor = %owner.holder.name, "adopting the lease of a crashed predecessor on this host");
                    self.k.leases.adopt(p, owner.revision).await
                }
                Some(_) => continue,
            };
            let lease = match taking {
                Ok(Some(lease)) => lease,
                Ok(None) => continue,
                Err(e) => {
                    warn!(partition = p, error = %e, "cannot take the partition's lease");
                    return;
                }
            };
            let fence = Fence {
                partition: p,
                revision: lease.fence,
            };
            match self
                .k
                .store
                .fences()
                .claim(fence, &self.k.leases.me().name)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    warn!(
                        partition = p,
                        revision = lease.fence,
                        "the store holds a newer fence than this lease (was the lease bucket recreated?); leaving the partition"
                    );
                    self.give_back(lease).await;
                    continue;
                }
                Err(e) => {
                    warn!(partition = p, error = %e, "cannot claim the partition in the store; giving its lease back");
                    self.give_back(lease).await;
                    return;
                }
            }
            self.k.held.insert(fence);
            self.k.caught_up.fell_behind(p);
            let (stop, stop_rx) = watch::channel(false);
            let worker = (self.k.start_worker)(fence, stop_rx);
            info!(partition = p, fence = lease.fence, "took the partition");
            metrics::lease_transitions("taken").increment(1);
            self.running.insert(
                p,
                Running {
                    lease,
                    renewed: Instant::now(),
                    stop,
                    worker,
                },
            );
        }
    }

    /// Stops the workers of `partitions` together, retires their tenants, and gives their
    /// leases back when handing them over.
    async fn let_go(&mut self, partitions: &[u32], why: LetGo) {
        let mut stopping = Vec::new();
        for p in partitions {
            let Some(running) = self.running.remove(p) else {
                continue;
            };
            if why == LetGo::Lost {
                // Nothing more of it is written from here.
                self.k.held.remove(*p);
            }
            let _ = running.stop.send(true);
            stopping.push((*p, running));
        }
        for (p, running) in stopping {
            match running.worker.await {
                Ok(Err(e)) => {
                    warn!(partition = p, error = %e, "partition worker ended with an error")
                }
                Err(e) => warn!(partition = p, error = %e, "partition worker panicked"),
                Ok(Ok(())) => {}
            }
            if let Some(pool) = &self.k.pool {
                let n = self.k.partitions;
                let retired = pool.retire(|t| vigil_streams::partition_of(t, n) == p);
                info!(
                    partition = p,
                    tenants = retired,
                    ?why,
                    "let the partition go"
                );
            }
            self.k.held.remove(p);
            self.k.caught_up.forget(p);
            if why == LetGo::HandOver {
                metrics::lease_transitions("handed_over").increment(1);
                self.give_back(running.lease).await;
            }
        }
        metrics::partitions_owned().set(self.running.len() as f64);
    }

    async fn give_back(&self, lease: Lease) {
        if let Err(e) = self.k.leases.release(lease).await {
            warn!(partition = lease.partition, error = %e, "cannot give the lease back; it expires by itself");
        }
    }
}

/// Where an instance named `name` starts looking for free partitions.
fn name_offset(name: &str, partitions: u32) -> u32 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (hash % u64::from(partitions.max(1))) as u32
}
