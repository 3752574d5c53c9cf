//! Placement of tenant actors on arbiters and routing of messages to them.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use actix::{Addr, Arbiter, Supervisor};
use hashbrown::HashMap;
use tokio::sync::mpsc;
use vigil_schema::{Event, Millis};

use super::messages::{
    Applied, ApplyBatch, ApplyEvent, BatchApplied, Inspect, Queued, Retire, TakeSnapshot,
};
use super::tenant::{AlertBatch, TenantStats, TenantSupervisor};
use crate::alert::AlertRecord;
use crate::clock::Clock;
use crate::engine::{EngineSettings, TenantEngine, TicketView};
use crate::metrics::MetricsSnapshot;
use crate::policy::PolicyBook;
use crate::snapshot::{SnapshotError, TenantState};

/// Figures of all tenant actors, for the service's metrics.
#[derive(Debug, Clone, Default)]
pub struct PoolStats {
    /// Open tickets per tenant with an actor.
    pub open_tickets: Vec<(u64, usize)>,
    /// Restarts of all actors after poison events.
    pub restarts: u64,
    /// Panics contained in timer ticks, over all actors.
    pub timer_panics: u64,
    /// Panics contained in reads, over all actors.
    pub read_panics: u64,
}

/// Why a message could not reach a tenant actor.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The actor stopped (e.g. after a poison event) before answering; retrying can help.
    #[error("tenant {0} actor is restarting; retry")]
    Restarting(u64),
}

/// A tenant's actor and the figures it publishes.
struct Tenant {
    addr: Addr<TenantSupervisor>,
    stats: Arc<TenantStats>,
}

/// Tenant actors spread over one arbiter per core. Shared by the partition workers and the API;
/// the directory lock is taken only to look up or create an actor, never across an await.
pub struct TenantPool {
    arbiters: Vec<Arbiter>,
    tenants: RwLock<HashMap<u64, Tenant>>,
    book: Arc<PolicyBook>,
    settings: Arc<EngineSettings>,
    clock: Arc<dyn Clock>,
    /// Taken by [`TenantPool::stop`], so the alert channel closes once the actors are gone
    /// even while others still hold the pool.
    alerts: std::sync::Mutex<Option<mpsc::Sender<Queued<AlertBatch>>>>,
}

impl std::fmt::Debug for TenantPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantPool")
            .field("arbiters", &self.arbiters.len())
            .field("tenants", &self.read().len())
            .finish_non_exhaustive()
    }
}

impl TenantPool {
    /// Starts `arbiters` arbiter threads (must run inside an actix `System`).
    pub fn new(
        arbiters: usize,
        book: Arc<PolicyBook>,
        settings: Arc<EngineSettings>,
        clock: Arc<dyn Clock>,
        alerts: mpsc::Sender<Queued<AlertBatch>>,
    ) -> TenantPool {
        TenantPool {
            arbiters: (0..arbiters.max(1)).map(|_| Arbiter::new()).collect(),
            tenants: RwLock::new(HashMap::new()),
            book,
            settings,
            clock,
            alerts: std::sync::Mutex::new(Some(alerts)),
        }
    }

    /// The actor of a tenant, started on its arbiter if it has none yet.
    pub fn actor(&self, tenant_id: u64) -> Addr<TenantSupervisor> {
        if let Some(t) = self.read().get(&tenant_id) {
            if t.addr.connected() {
                return t.addr.clone();
            }
        }
        let mut tenants = self.write();
        if let Some(t) = tenants.get(&tenant_id) {
            if t.addr.connected() {
                return t.addr.clone();
            }
        }
        let engine = TenantEngine::new(tenant_id, self.book.clone(), self.settings.clone());
        self.start(&mut tenants, engine)
    }

    /// Starts a tenant's actor around `engine` on the tenant's arbiter, replacing any entry.
    fn start(
        &self,
        tenants: &mut HashMap<u64, Tenant>,
        engine: TenantEngine,
    ) -> Addr<TenantSupervisor> {
        let tenant_id = engine.tenant_id();
        let stats = Arc::new(TenantStats::default());
        let arbiter = &self.arbiters[(tenant_id % self.arbiters.len() as u64) as usize];
        let (clock, alerts, actor_stats) = (self.clock.clone(), self.alert_sender(), stats.clone());
        let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
            TenantSupervisor::with_engine(engine, clock, alerts, actor_stats)
        });
        tenants.insert(
            tenant_id,
            Tenant {
                addr: addr.clone(),
                stats,
            },
        );
        addr
    }

    /// Starts the actors of a partition's tenants from their snapshot states, before any event
    /// of them is applied here: all or none (refused, changing nothing, when a tenant already
    /// has an actor or a state does not fit the configured policies; the caller then rebuilds
    /// them from the stream). Returns how many tenants were restored.
    pub fn restore(&self, states: Vec<TenantState>) -> Result<usize, SnapshotError> {
        let mut tenants = self.write();
        let mut engines = Vec::with_capacity(states.len());
        for state in states {
            let tenant_id = state.tenant_id;
            if tenants.get(&tenant_id).is_some_and(|t| t.addr.connected()) {
                return Err(SnapshotError::Restore(format!(
                    "tenant {tenant_id} already has a running engine"
                )));
            }
            engines.push(TenantEngine::from_state(
                state,
                self.book.clone(),
                self.settings.clone(),
            )?);
        }
        let restored = engines.len();
        for engine in engines {
            self.start(&mut tenants, engine);
        }
        Ok(restored)
    }

    /// A tenant's state for a snapshot, and the alert changes still waiting in its actor,
    /// read between events; `None` if no actor of this tenant runs here or it is restarting.
    pub async fn take_snapshot(&self, tenant_id: u64) -> Option<(TenantState, Vec<AlertBatch>)> {
        let addr = self.read().get(&tenant_id)?.addr.clone();
        addr.send(TakeSnapshot).await.ok()
    }

    /// Stops the actors of the tenants for which `leaving` is true (their partition moved to
    /// another instance) and forgets them, so a later [`TenantPool::restore`] can start them
    /// again. Returns how many were stopped.
    pub fn retire(&self, leaving: impl Fn(u64) -> bool) -> usize {
        let mut tenants = self.write();
        let ids: Vec<u64> = tenants.keys().copied().filter(|&t| leaving(t)).collect();
        for id in &ids {
            if let Some(tenant) = tenants.remove(id) {
                tenant.addr.do_send(Retire);
            }
        }
        ids.len()
    }

    /// The tenants with an actor here.
    pub fn tenant_ids(&self) -> Vec<u64> {
        self.read().keys().copied().collect()
    }

    /// The alert channel, or a closed one once the pool was stopped.
    fn alert_sender(&self) -> mpsc::Sender<Queued<AlertBatch>> {
        let alerts = self
            .alerts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        alerts.clone().unwrap_or_else(|| mpsc::channel(1).0)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u64, Tenant>> {
        self.tenants
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends an event to its tenant's actor; the future resolves when it was applied or
    /// rejected, with the alert changes it caused. Sending waits while the actor's mailbox is
    /// full (back-pressure to the consumer); requests to one tenant are answered in order.
    pub fn apply(
        &self,
        event: Event,
    ) -> impl std::future::Future<Output = Result<(Applied, Vec<AlertRecord>), PoolError>> {
        let tenant = event.tenant_id;
        let request = self.actor(tenant).send(ApplyEvent { event });
        async move { request.await.map_err(|_| PoolError::Restarting(tenant)) }
    }

    /// Sends several events of one tenant to its actor in one message; the future resolves
    /// when all were applied or rejected.
    /// `repeats` flags the events whose id the caller's dedupe memory holds (see
    /// [`ApplyBatch::repeats`]).
    pub fn apply_batch(
        &self,
        tenant_id: u64,
        events: Vec<Event>,
        repeats: Vec<bool>,
    ) -> impl std::future::Future<Output = Result<BatchApplied, PoolError>> {
        let request = self.actor(tenant_id).send(ApplyBatch { events, repeats });
        async move { request.await.map_err(|_| PoolError::Restarting(tenant_id)) }
    }

    /// Runs a read of a tenant's engine on its actor, at the actor's `now`; `None` if no
    /// actor of this tenant runs here (no events seen), it is restarting, or the read panicked.
    pub async fn inspect<R, F>(&self, tenant_id: u64, read: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&TenantEngine, Millis) -> R + Send + 'static,
    {
        let addr = self.read().get(&tenant_id)?.addr.clone();
        addr.send(Inspect(Box::new(read))).await.ok().flatten()
    }

    /// The live clocks of a ticket, if its tenant and ticket are known here.
    pub async fn ticket(&self, tenant_id: u64, ticket_id: String) -> Option<TicketView> {
        self.inspect(tenant_id, move |engine, now| {
            engine.ticket_view(&ticket_id, now)
        })
        .await
        .flatten()
    }

    /// A metrics snapshot of a tenant, if known here.
    pub async fn snapshot(&self, tenant_id: u64) -> Option<MetricsSnapshot> {
        self.inspect(tenant_id, MetricsSnapshot::of).await
    }

    /// Per tenant with an actor: its open tickets; and restarts of all actors.
    pub fn stats(&self) -> PoolStats {
        let tenants = self.read();
        PoolStats {
            open_tickets: tenants
                .iter()
                .map(|(id, t)| (*id, t.stats.open_tickets.load(Ordering::Relaxed)))
                .collect(),
            restarts: tenants
                .values()
                .map(|t| t.stats.restarts.load(Ordering::Relaxed))
                .sum(),
            timer_panics: tenants
                .values()
                .map(|t| t.stats.timer_panics.load(Ordering::Relaxed))
                .sum(),
            read_panics: tenants
                .values()
                .map(|t| t.stats.read_panics.load(Ordering::Relaxed))
                .sum(),
        }
    }

    /// Stops every arbiter after its queued messages; the alert channel closes when the last
    /// actor is gone, whoever still holds the pool (the API reads nothing more from it).
    pub fn stop(&self) {
        self.alerts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        for a in &self.arbiters {
            a.stop();
        }
    }
}
