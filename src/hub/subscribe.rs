//! Subscriptions: which tenants a client may follow, the snapshot of each channel, and
//! resumption from a `seq` with the alerts missed in between.

use serde_json::json;
use tracing::warn;

use super::protocol::{self, Channels, ResumeFrom, TenantIds};
use super::queue::Outgoing;
use super::topic::Subscriber;
use super::{lock, Client, Hub, Subscribed};
use crate::tenant_reads::{Answer, Read};
use crate::views::{open_alerts, LiveMetrics, TicketClocks};

/// Open alerts in an `alerts` snapshot, at most.
pub const SNAPSHOT_ALERTS: u32 = 100;

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A bad request (40001); the connection stays open.
    Invalid(String),
    /// Another tenant's data (40003); the connection is closed.
    Forbidden(String),
}

/// What one tenant's part of a subscription starts from.
struct Start {
    tenant: u64,
    seq: u64,
    missed: Option<Vec<Outgoing>>,
    resume_from: Option<u64>,
}

impl Client {
    /// Subscribes (replacing an earlier subscription) and queues the snapshots, or the
    /// missed alerts when resuming.
    pub(super) async fn subscribe(
        &self,
        channels: Channels,
        tenant_ids: Option<TenantIds>,
        resume_from: Option<ResumeFrom>,
    ) -> Result<(), Refusal> {
        let tenants = match tenant_ids {
            Some(TenantIds::All(word)) if word == "all" => {
                if !self.caller.claims.role.all_tenants() {
                    return Err(self.forbidden("only ops tokens may follow all tenants".into()));
                }
                self.unsubscribe();
                return self.subscribe_everyone(channels).await;
            }
            Some(TenantIds::All(word)) => {
                return Err(Refusal::Invalid(format!(
                    "tenant_ids: expected a list of tenant ids or \"all\", got {word:?}"
                )))
            }
            Some(TenantIds::List(list)) if list.is_empty() => {
                return Err(Refusal::Invalid("tenant_ids: the list is empty".into()))
            }
            Some(TenantIds::List(list)) => list,
            None if self.caller.claims.role.all_tenants() => {
                return Err(Refusal::Invalid(
                    "tenant_ids: ops tokens name the tenants to follow (a list, or \"all\")".into(),
                ))
            }
            None => vec![self.caller.claims.tenant_id],
        };
        if let Some(other) = tenants.iter().find(|t| !self.caller.may_see(**t)) {
            return Err(self.forbidden(format!(
                "tenant {} may not follow tenant {other}",
                self.caller.claims.tenant_id
            )));
        }
        if channels.tickets {
            let user = self.caller.claims.sub.as_str();
            if let Some(off) = tenants.iter().find(|t| !self.hub.tickets_on_for(**t, user)) {
                return Err(Refusal::Invalid(format!(
                    "channels: the tickets channel is switched off for tenant {off} and this user (flag ws.tickets); subscribe without it"
                )));
            }
        }
        self.unsubscribe();
        let only = tenants.len() == 1;
        self.queue.hold();
        let mut starts = Vec::with_capacity(tenants.len());
        for &tenant in &tenants {
            let topic = self.hub.topic_or_create(tenant);
            let mut st = topic.lock();
            let resume = resume_from.as_ref().and_then(|r| r.of(tenant, only));
            starts.push(Start {
                tenant,
                seq: st.seq,
                missed: resume.and_then(|seq| st.missed_since(seq)),
                resume_from: resume,
            });
            topic.subscribe(
                &mut st,
                Subscriber {
                    client: self.id,
                    queue: self.queue.clone(),
                    channels,
                    user: self.caller.claims.sub.as_str().into(),
                },
            );
        }
        *lock(&self.subscribed) = Subscribed::Tenants(tenants);
        self.hub.watching_changed();
        let mut first = Vec::new();
        for start in starts {
            first.extend(self.hub.opening(channels, start).await);
        }
        self.queue.release(first);
        Ok(())
    }

    async fn subscribe_everyone(&self, channels: Channels) -> Result<(), Refusal> {
        self.queue.hold();
        lock(&self.hub.inner.everyone).push(Subscriber {
            client: self.id,
            queue: self.queue.clone(),
            channels,
            user: self.caller.claims.sub.as_str().into(),
        });
        *lock(&self.subscribed) = Subscribed::Everyone;
        self.hub.watching_changed();
        let mut first = Vec::new();
        if channels.alerts {
            first.push(self.hub.alerts_snapshot(None, 0).await);
        }
        self.queue.release(first);
        Ok(())
    }

    fn forbidden(&self, message: String) -> Refusal {
        crate::auth::caller::security_event(
            "cross_tenant",
            self.caller.ip,
            &format!(
                "refused WebSocket subscription of {}: {message}",
                self.caller.claims.sub
            ),
        );
        Refusal::Forbidden(message)
    }
}

impl Hub {
    /// The first messages of one tenant's subscription: snapshots, or on a successful resume
    /// `resumed`, the missed alerts and fresh metrics and tickets.
    async fn opening(&self, channels: Channels, start: Start) -> Vec<Outgoing> {
        let Start {
            tenant,
            seq,
            missed,
            resume_from,
        } = start;
        let mut out = Vec::new();
        match missed {
            Some(missed) => {
                out.push(protocol::control(
                    "resumed",
                    json!({ "tenant_id": tenant, "seq": seq, "from": resume_from }),
                ));
                if channels.alerts {
                    out.extend(missed);
                }
            }
            None if channels.alerts => out.push(self.alerts_snapshot(Some(tenant), seq).await),
            None => {}
        }
        if channels.metrics {
            let metrics = self.metrics_now(tenant).await;
            out.push(protocol::snapshot("metrics", seq, Some(tenant), &metrics));
        }
        if channels.tickets {
            let tickets = self.at_risk(tenant).await;
            out.push(protocol::snapshot(
                "tickets",
                seq,
                Some(tenant),
                &json!({ "tickets": tickets }),
            ));
        }
        out
    }

    /// The tenant's live figures, wherever its engine runs; empty figures when it has none
    /// yet or its owner does not answer (said in the log).
    async fn metrics_now(&self, tenant: u64) -> LiveMetrics {
        match self.inner.reads.read(tenant, Read::Live).await {
            Ok(Some(Answer::Live(metrics))) => metrics,
            Ok(_) => LiveMetrics::empty(crate::clock::now_ms()),
            Err(e) => {
                warn!(tenant_id = tenant, error = %e, "live figures for a snapshot");
                LiveMetrics::empty(crate::clock::now_ms())
            }
        }
    }

    /// The tenant's open tickets closest to a breach, wherever its engine runs.
    async fn at_risk(&self, tenant: u64) -> Vec<TicketClocks> {
        let limit = self.inner.config.at_risk_tickets;
        match self.inner.reads.read(tenant, Read::AtRisk { limit }).await {
            Ok(Some(Answer::AtRisk(tickets))) => tickets,
            Ok(_) => Vec::new(),
            Err(e) => {
                warn!(tenant_id = tenant, error = %e, "tickets at risk for a snapshot");
                Vec::new()
            }
        }
    }

    async fn alerts_snapshot(&self, tenant: Option<u64>, seq: u64) -> Outgoing {
        match open_alerts(&self.inner.store, tenant, SNAPSHOT_ALERTS).await {
            Ok(alerts) => protocol::snapshot("alerts", seq, tenant, &json!({ "alerts": alerts })),
            Err(e) => protocol::error(
                crate::http::envelope::STORE_UNAVAILABLE,
                &format!("open alerts are unavailable: {e}"),
            ),
        }
    }
}
