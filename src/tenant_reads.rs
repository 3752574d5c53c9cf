//! Reads of a tenant's engine that any instance answers (DESIGN.md §6): the API's overview,
//! compliance and ticket clocks, and the WebSocket snapshots. A tenant's engine lives only on
//! the instance that owns its partition; a read there runs on its actor, and a read anywhere
//! else is sent to the owner over NATS request-reply, on the partition's subject
//! `vigil.reads.<stream>.<partition>`, which only the owner subscribes to (see
//! [`TenantReads::serve`]). Requests and answers are JSON.
//!
//! Chosen over a read model in Redis: the engine already holds the figures, a request costs
//! one round trip to NATS and back (well under a millisecond on a LAN), answers are never
//! stale, and nothing has to be written per event.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, warn};
use vigil_engine::engine::TenantEngine;
use vigil_engine::metrics::{Compliance, GroupBy, MetricsSnapshot, WindowStats};
use vigil_engine::supervisor::TenantPool;
use vigil_schema::Millis;

use crate::views::{LiveMetrics, TicketClocks};

/// How long a read waits for the owner of a tenant's partition.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// A read of one tenant's engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub enum Read {
    /// The live figures, the window of `len_ms` and its trend series.
    Overview {
        /// The window's length.
        len_ms: i64,
    },
    /// Outcomes over `(from, to]`, in total and optionally grouped.
    Compliance {
        /// Exclusive start.
        from: Millis,
        /// Inclusive end.
        to: Millis,
        /// How to group, if at all.
        group_by: Option<GroupBy>,
    },
    /// One open ticket's clocks.
    Ticket {
        /// The ticket.
        ticket_id: String,
    },
    /// The live figures.
    Live,
    /// The open tickets closest to a breach.
    AtRisk {
        /// At most this many.
        limit: usize,
    },
}

/// The answer to a [`Read`], of the same kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", content = "data", rename_all = "snake_case")]
pub enum Answer {
    /// [`Read::Overview`].
    Overview(LiveMetrics, WindowStats, Vec<(Millis, WindowStats)>),
    /// [`Read::Compliance`].
    Compliance(WindowStats, Vec<(String, Compliance)>),
    /// [`Read::Ticket`]: when, and the clocks, if the ticket is open.
    Ticket(Option<(Millis, TicketClocks)>),
    /// [`Read::Live`].
    Live(LiveMetrics),
    /// [`Read::AtRisk`].
    AtRisk(Vec<TicketClocks>),
}

impl Read {
    /// Runs the read on a tenant's engine at `now`.
    pub fn run(self, e: &TenantEngine, now: Millis) -> Answer {
        match self {
            Read::Overview { len_ms } => Answer::Overview(
                LiveMetrics::of(&MetricsSnapshot::of(e, now)),
                e.metrics().window(now, len_ms),
                e.metrics().series(now, len_ms),
            ),
            Read::Compliance { from, to, group_by } => Answer::Compliance(
                e.metrics().between(now, from, to),
                group_by
                    .map(|by| e.compliance().by(by, now, from, to))
                    .unwrap_or_default(),
            ),
            Read::Ticket { ticket_id } => Answer::Ticket(
                e.ticket_view(&ticket_id, now)
                    .map(|v| (now, TicketClocks::from(&v))),
            ),
            Read::Live => Answer::Live(LiveMetrics::of(&MetricsSnapshot::of(e, now))),
            Read::AtRisk { limit } => Answer::AtRisk(
                e.at_risk(now, limit)
                    .iter()
                    .map(TicketClocks::from)
                    .collect(),
            ),
        }
    }
}

/// A request on a partition's read subject.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    tenant_id: u64,
    #[serde(flatten)]
    read: Read,
}

/// The owner's reply: the answer, or `null` when no engine of the tenant runs there (no event
/// of it yet, or the read failed).
type Reply = Option<Answer>;

/// Why a read could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nobody answered for the tenant's partition: it has no owner right now (a failover
    /// takes up to the lease TTL), or the owner is overloaded.
    #[error("partition {partition} (tenant {tenant_id}) has no owner answering right now ({reason}); retry in a few seconds")]
    NoOwner {
        /// The tenant.
        tenant_id: u64,
        /// Its partition.
        partition: u32,
        /// What NATS said.
        reason: String,
    },
}

/// Which partitions this instance owns now.
pub type Owns = Arc<dyn Fn(u32) -> bool + Send + Sync>;

/// Reads of any tenant: on the local actors, or asked of the owner.
#[derive(Clone)]
pub struct TenantReads {
    pool: Option<Arc<TenantPool>>,
    remote: Option<Remote>,
}

#[derive(Clone)]
struct Remote {
    nats: async_nats::Client,
    subject: String,
    partitions: u32,
    owns: Owns,
}

impl std::fmt::Debug for TenantReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantReads")
            .field("pool", &self.pool.is_some())
            .field("remote", &self.remote.as_ref().map(|r| &r.subject))
            .finish()
    }
}

impl TenantReads {
    /// Reads of the local actors only (one process holds every tenant, or none with the
    /// event-time engine).
    pub fn local(pool: Option<Arc<TenantPool>>) -> TenantReads {
        TenantReads { pool, remote: None }
    }

    /// Reads of the tenants of the partitions `owns` says this instance owns on the local
    /// actors, and of the others asked of their owners over `nats`, for the events stream
    /// `stream` of `partitions` partitions.
    pub fn clustered(
        pool: Option<Arc<TenantPool>>,
        nats: async_nats::Client,
        stream: &str,
        partitions: u32,
        owns: Owns,
    ) -> TenantReads {
        TenantReads {
            pool,
            remote: Some(Remote {
                nats,
                subject: format!("vigil.reads.{stream}"),
                partitions,
                owns,
            }),
        }
    }

    /// The local tenant actors, for reads that only the owner makes (the hub's coalesced
    /// updates of the tenants it owns).
    pub fn pool(&self) -> Option<&Arc<TenantPool>> {
        self.pool.as_ref()
    }

    /// Runs `read` on the tenant's engine, wherever it lives. `Ok(None)`: no engine of the
    /// tenant runs (no event of it yet, or the engine runs on the event clock).
    pub async fn read(&self, tenant_id: u64, read: Read) -> Result<Option<Answer>, ReadError> {
        match &self.remote {
            Some(remote) => {
                let partition = vigil_streams::partition_of(tenant_id, remote.partitions);
                if (remote.owns)(partition) {
                    Ok(self.read_here(tenant_id, read).await)
                } else {
                    remote.ask(tenant_id, partition, read).await
                }
            }
            None => Ok(self.read_here(tenant_id, read).await),
        }
    }

    /// Runs `read` on the local actor of the tenant, if there is one.
    async fn read_here(&self, tenant_id: u64, read: Read) -> Option<Answer> {
        let pool = self.pool.as_ref()?;
        pool.inspect(tenant_id, move |e, now| read.run(e, now))
            .await
    }

    /// Answers reads of `partition`'s tenants from the local actors until `stop`; run while
    /// this instance owns the partition. Nothing to do without a NATS connection.
    pub async fn serve(self, partition: u32, mut stop: watch::Receiver<bool>) {
        let Some(remote) = &self.remote else { return };
        let subject = format!("{}.{partition}", remote.subject);
        let mut requests = match remote.nats.subscribe(subject.clone()).await {
            Ok(s) => s,
            Err(e) => {
                warn!(partition, error = %e, "cannot answer reads of the partition's tenants");
                return;
            }
        };
        loop {
            let message = tokio::select! {
                _ = crate::stopped(&mut stop) => break,
                m = requests.next() => match m { Some(m) => m, None => break },
            };
            let Some(reply_to) = message.reply.clone() else {
                continue;
            };
            let reply: Reply = match serde_json::from_slice::<Request>(&message.payload) {
                Ok(request) => self.read_here(request.tenant_id, request.read).await,
                Err(e) => {
                    debug!(partition, error = %e, "a read request this build cannot decode");
                    None
                }
            };
            let body = serde_json::to_vec(&reply).unwrap_or_else(|_| b"null".to_vec());
            if let Err(e) = remote.nats.publish(reply_to, body.into()).await {
                debug!(partition, error = %e, "cannot answer a read");
            }
        }
        let _ = requests.unsubscribe().await;
    }
}

impl Remote {
    async fn ask(
        &self,
        tenant_id: u64,
        partition: u32,
        read: Read,
    ) -> Result<Option<Answer>, ReadError> {
        let no_owner = |reason: String| ReadError::NoOwner {
            tenant_id,
            partition,
            reason,
        };
        let body = serde_json::to_vec(&Request { tenant_id, read })
            .map_err(|e| no_owner(format!("cannot encode the read: {e}")))?;
        let subject = format!("{}.{partition}", self.subject);
        let answer = tokio::time::timeout(READ_TIMEOUT, self.nats.request(subject, body.into()))
            .await
            .map_err(|_| no_owner(format!("no answer within {READ_TIMEOUT:?}")))?
            .map_err(|e| no_owner(e.to_string()))?;
        serde_json::from_slice::<Reply>(&answer.payload)
            .map_err(|e| no_owner(format!("an answer this build cannot read: {e}")))
    }
}
