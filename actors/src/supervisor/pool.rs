//! Placement of tenant actors on arbiters and routing of messages to them.

use std::sync::{Arc, RwLock};

use actix::{Addr, Arbiter, Supervisor};
use hashbrown::HashMap;
use tokio::sync::mpsc;
use vigil_streams::Event;

use super::messages::{Applied, ApplyEvent, TakeSnapshot, TicketQuery};
use super::tenant::{AlertBatch, TenantSupervisor};
use crate::alert::AlertRecord;
use crate::clock::Clock;
use crate::engine::{EngineSettings, TicketView};
use crate::metrics::MetricsSnapshot;
use crate::policy::PolicyBook;

/// Why a message could not reach a tenant actor.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The actor stopped (e.g. after a poison event) before answering; retrying can help.
    #[error("tenant {0} actor is restarting; retry")]
    Restarting(u64),
}

/// Tenant actors spread over one arbiter per core. Shared by the partition workers and the API;
/// the directory lock is taken only to look up or create an actor, never across an await.
pub struct TenantPool {
    arbiters: Vec<Arbiter>,
    tenants: RwLock<HashMap<u64, Addr<TenantSupervisor>>>,
    book: Arc<PolicyBook>,
    settings: Arc<EngineSettings>,
    clock: Arc<dyn Clock>,
    alerts: mpsc::Sender<AlertBatch>,
}

impl TenantPool {
    /// Starts `arbiters` arbiter threads (must run inside an actix `System`).
    pub fn new(
        arbiters: usize,
        book: Arc<PolicyBook>,
        settings: Arc<EngineSettings>,
        clock: Arc<dyn Clock>,
        alerts: mpsc::Sender<AlertBatch>,
    ) -> TenantPool {
        TenantPool {
            arbiters: (0..arbiters.max(1)).map(|_| Arbiter::new()).collect(),
            tenants: RwLock::new(HashMap::new()),
            book,
            settings,
            clock,
            alerts,
        }
    }

    /// The actor of a tenant, started on its arbiter if it has none yet.
    pub fn actor(&self, tenant_id: u64) -> Addr<TenantSupervisor> {
        if let Some(a) = self.read().get(&tenant_id) {
            if a.connected() {
                return a.clone();
            }
        }
        let mut tenants = self.write();
        if let Some(a) = tenants.get(&tenant_id) {
            if a.connected() {
                return a.clone();
            }
        }
        let arbiter = &self.arbiters[(tenant_id % self.arbiters.len() as u64) as usize];
        let (book, settings, clock, alerts) = (
            self.book.clone(),
            self.settings.clone(),
            self.clock.clone(),
            self.alerts.clone(),
        );
        let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
            TenantSupervisor::new(tenant_id, book, settings, clock, alerts)
        });
        tenants.insert(tenant_id, addr.clone());
        addr
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Addr<TenantSupervisor>>> {
        self.tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u64, Addr<TenantSupervisor>>> {
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

    /// The live clocks of a ticket, if its tenant and ticket are known here.
    pub async fn ticket(&self, tenant_id: u64, ticket_id: String) -> Option<TicketView> {
        let addr = self.read().get(&tenant_id)?.clone();
        addr.send(TicketQuery { ticket_id }).await.ok().flatten()
    }

    /// A metrics snapshot of a tenant, if known here.
    pub async fn snapshot(&self, tenant_id: u64) -> Option<MetricsSnapshot> {
        let addr = self.read().get(&tenant_id)?.clone();
        addr.send(TakeSnapshot).await.ok()
    }

    /// Tenants with an actor.
    pub fn tenant_ids(&self) -> Vec<u64> {
        self.read().keys().copied().collect()
    }

    /// Stops every arbiter after its queued messages.
    pub fn stop(self) {
        for a in self.arbiters {
            a.stop();
        }
    }
}
