//! The WebSocket hub: live updates for dashboards (DESIGN.md §5).
//!
//! The engine never writes to sockets. Alert changes are handed to [`Hub::alert`] once the
//! store has recorded them, and engine changes mark a tenant dirty with [`Hub::touched`]; a
//! coalescer ([`Hub::run_coalescer`]) reads the dirty tenants' metrics and tickets from their
//! actors at most `metrics_per_second` times a second. Either way a message is serialised
//! once, given the tenant's next `seq`, and pushed onto each subscriber's bounded queue; each
//! connection's writer drains its own queue.
//!
//! # Layout
//! - `config`: `[ws]`.
//! - `protocol`: requests and message texts.
//! - `queue`: a client's bounded queue (superseding, shedding, 1013).
//! - `topic`: a tenant's seq, resume buffer and subscribers.
//! - `subscribe`: subscriptions, snapshots and resumption.
//! - `socket`: one connection: reader, writer, pings and idle timeout.
//! - `relay`: live updates across instances: alerts from NATS, metrics and ticket updates
//!   from the tenant's owner, and who follows what.
//! - `limits`: what a connection may send (message size, message rate) and the close codes
//!   of its limits.

pub mod config;
pub mod limits;
pub mod protocol;
pub mod queue;
mod relay;
mod socket;
mod subscribe;
pub mod topic;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::tenant_reads::TenantReads;
use tokio::sync::watch;
use vigil_engine::metrics::MetricsSnapshot;

use crate::auth::Caller;
use crate::flags::{Flags, Switch};
use crate::http::ApiError;
use crate::store::Store;
use crate::telemetry::metrics::{http_rate_limited, ws_clients, ws_push_latency_seconds};
use crate::views::{AlertView, LiveMetrics, TicketClocks};
pub use config::WsConfig;
use queue::{ClientQueue, Supersedes};
use topic::{Subscriber, Topic};

/// Tickets remembered as changed per tenant between two coalescer ticks; beyond this the
/// tick sends only the first ones (the rest come with their next change or a snapshot).
const MAX_DIRTY_TICKETS: usize = 1024;

/// The coalescer's period is cut into this many slots, each flushing the tenants whose id
/// falls in it: the same rate per tenant, but no burst of every tenant's updates at once for
/// alerts to queue behind.
const FLUSH_SLOTS: u64 = 8;

/// What changed in a tenant since the last coalescer tick.
#[derive(Debug, Default)]
struct Dirty {
    tickets: HashSet<String>,
}

/// The hub; cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: WsConfig,
    reads: TenantReads,
    store: Store,
    topics: RwLock<HashMap<u64, Arc<Topic>>>,
    everyone: Mutex<Vec<Subscriber>>,
    dirty: Mutex<HashMap<u64, Dirty>>,
    clients: AtomicUsize,
    per_tenant: Mutex<HashMap<u64, usize>>,
    next_client: AtomicU64,
    seq_base: u64,
    shutdown: watch::Sender<bool>,
    /// The link to the other instances' hubs, once joined.
    relay: OnceLock<Arc<relay::Relay>>,
    /// The feature flags (`ws.tickets`), once the service hands them over; all on before.
    flags: OnceLock<Flags>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Hub {
    /// A hub reading live views through `reads` and open alerts from `store`.
    pub fn new(config: WsConfig, reads: TenantReads, store: Store) -> Hub {
        // Seqs start at the start time in microseconds, so they keep increasing across
        // restarts and a client's resume_from from an earlier run is never mistaken for one
        // of this run's.
        let seq_base = u64::try_from(crate::clock::now_ms()).unwrap_or(0) * 1000;
        Hub {
            inner: Arc::new(Inner {
                config,
                reads,
                store,
                topics: RwLock::new(HashMap::new()),
                everyone: Mutex::new(Vec::new()),
                dirty: Mutex::new(HashMap::new()),
                clients: AtomicUsize::new(0),
                per_tenant: Mutex::new(HashMap::new()),
                next_client: AtomicU64::new(1),
                seq_base,
                shutdown: watch::channel(false).0,
                relay: OnceLock::new(),
                flags: OnceLock::new(),
            }),
        }
    }

    /// Follows `flags` from now on: `ws.tickets` switches the tickets channel per tenant.
    pub fn follow_flags(&self, flags: Flags) {
        let _ = self.inner.flags.set(flags);
    }

    /// Whether the tickets channel is switched on for `tenant` (flag `ws.tickets`).
    pub fn tickets_on(&self, tenant: u64) -> bool {
        self.inner
            .flags
            .get()
            .is_none_or(|f| f.is_on(&Switch::WsTickets, tenant))
    }

    /// Whether the tickets channel is switched on for `user` of `tenant` (flag `ws.tickets`,
    /// which may list users).
    pub fn tickets_on_for(&self, tenant: u64, user: &str) -> bool {
        self.inner
            .flags
            .get()
            .is_none_or(|f| f.snapshot().is_on_for(&Switch::WsTickets, tenant, user))
    }

    fn topic(&self, tenant_id: u64) -> Option<Arc<Topic>> {
        self.inner
            .topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&tenant_id)
            .cloned()
    }

    fn topic_or_create(&self, tenant_id: u64) -> Arc<Topic> {
        if let Some(t) = self.topic(tenant_id) {
            return t;
        }
        self.inner
            .topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(tenant_id)
            .or_insert_with(|| {
                Arc::new(Topic::new(
                    self.inner.seq_base,
                    self.inner.config.resume_buffer,
                ))
            })
            .clone()
    }

    /// The tenants this hub's clients follow changed: the other instances are told.
    fn watching_changed(&self) {
        if let Some(relay) = self.inner.relay.get() {
            relay.watching_changed();
        }
    }

    fn everyone_listens(&self) -> bool {
        !lock(&self.inner.everyone).is_empty()
    }

    /// An alert change the store recorded; `noticed` is when the engine handed it over.
    pub fn alert(&self, alert: &AlertView, noticed: Instant) {
        let tenant = alert.tenant_id;
        let topic = if self.everyone_listens() {
            Some(self.topic_or_create(tenant))
        } else {
            self.topic(tenant)
        };
        let Some(topic) = topic else {
            return; // Nobody follows this tenant.
        };
        {
            let mut st = topic.lock();
            if !st.first_delivery(&alert.alert_id, &alert.state) {
                return; // Pushed already (locally, or relayed from another instance).
            }
            let seq = st.next_seq();
            let message = protocol::delta("alert", seq, tenant, alert, None);
            st.fan_out(&message, |s| s.channels.alerts);
            for s in lock(&self.inner.everyone).iter() {
                if s.channels.alerts {
                    s.queue.push(message.clone());
                }
            }
            st.remember(seq, message);
        }
        ws_push_latency_seconds().record(noticed.elapsed().as_secs_f64());
        self.touched(tenant, [alert.ticket_id.as_str()]);
    }

    /// The engine changed `tenant_id` (these tickets among others): its next coalesced
    /// metrics and ticket updates are due. Cheap when nobody follows the tenant.
    pub fn touched<'a>(&self, tenant_id: u64, tickets: impl IntoIterator<Item = &'a str>) {
        let topic = self.topic(tenant_id);
        // Other instances' clients follow tickets and metrics alike.
        let elsewhere = self.inner.relay.get().is_some_and(|r| r.wanted(tenant_id));
        let everyone = self.everyone_listens() || elsewhere;
        let watched = everyone
            || topic
                .as_ref()
                .is_some_and(|t| t.watchers.load(Ordering::Relaxed) > 0);
        if !watched {
            return;
        }
        // Which tickets changed matters only to those who follow tickets.
        let tickets_watched =
            everyone || topic.is_some_and(|t| t.ticket_watchers.load(Ordering::Relaxed) > 0);
        let mut dirty = lock(&self.inner.dirty);
        let d = dirty.entry(tenant_id).or_default();
        for t in tickets.into_iter().take_while(|_| tickets_watched) {
            if d.tickets.len() >= MAX_DIRTY_TICKETS {
                break;
            }
            if !d.tickets.contains(t) {
                d.tickets.insert(t.to_string());
            }
        }
    }

    /// Sends coalesced metrics and ticket updates of dirty tenants, at most
    /// `metrics_per_second` times a second per tenant, until `stop` turns true.
    pub async fn run_coalescer(self, mut stop: watch::Receiver<bool>) {
        let per_second = self.inner.config.metrics_per_second.max(1);
        let period = Duration::from_secs(1) / per_second;
        let mut tick = tokio::time::interval(period / FLUSH_SLOTS as u32);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut slot = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.flush(slot).await;
                    slot = (slot + 1) % FLUSH_SLOTS;
                }
                () = async { let _ = stop.wait_for(|s| *s).await; } => return,
            }
        }
    }

    /// Flushes the dirty tenants of one slot.
    async fn flush(&self, slot: u64) {
        let dirty: Vec<(u64, Dirty)> = lock(&self.inner.dirty)
            .extract_if(|tenant, _| tenant % FLUSH_SLOTS == slot)
            .collect();
        if dirty.is_empty() {
            return;
        }
        futures::future::join_all(
            dirty
                .into_iter()
                .map(|(tenant, d)| self.flush_tenant(tenant, d)),
        )
        .await;
    }

    async fn flush_tenant(&self, tenant: u64, dirty: Dirty) {
        let Some(engine) = self.inner.reads.pool() else {
            return;
        };
        let topic = self.topic_or_create(tenant);
        let elsewhere = self.inner.relay.get().is_some_and(|r| r.wanted(tenant));
        let everyone_tickets = elsewhere
            || lock(&self.inner.everyone)
                .iter()
                .any(|s| s.channels.tickets);
        // Ticket clocks are read only when somebody follows them.
        let ids: Vec<String> =
            if everyone_tickets || topic.ticket_watchers.load(Ordering::Relaxed) > 0 {
                dirty.tickets.into_iter().collect()
            } else {
                Vec::new()
            };
        let read = engine
            .inspect(tenant, move |e, now| {
                let metrics = LiveMetrics::of(&MetricsSnapshot::of(e, now));
                let tickets: Vec<(String, Option<TicketClocks>)> = ids
                    .into_iter()
                    .map(|id| {
                        let view = e.ticket_view(&id, now).map(|v| TicketClocks::from(&v));
                        (id, view)
                    })
                    .collect();
                (metrics, tickets)
            })
            .await;
        let Some((metrics, tickets)) = read else {
            return;
        };
        self.fan_out_live(tenant, &metrics, &tickets);
        if let Some(relay) = self.inner.relay.get() {
            if relay.wanted(tenant) {
                relay.publish(tenant, metrics, tickets).await;
            }
        }
    }

    /// Pushes a tenant's coalesced metrics and ticket updates to its subscribers (and to
    /// those following every tenant), each with the tenant's next `seq`.
    fn fan_out_live(
        &self,
        tenant: u64,
        metrics: &LiveMetrics,
        tickets: &[(String, Option<TicketClocks>)],
    ) {
        let topic = if self.everyone_listens() {
            Some(self.topic_or_create(tenant))
        } else {
            self.topic(tenant)
        };
        let Some(topic) = topic else {
            return; // Nobody here follows this tenant.
        };
        let mut st = topic.lock();
        let everyone = lock(&self.inner.everyone);
        let seq = st.next_seq();
        let m = protocol::delta(
            "metrics",
            seq,
            tenant,
            metrics,
            Some(Supersedes::Metrics(tenant)),
        );
        st.fan_out(&m, |s| s.channels.metrics);
        everyone
            .iter()
            .filter(|s| s.channels.metrics)
            .for_each(|s| s.queue.push(m.clone()));
        // Switched off for this tenant: ticket deltas stop at once, for everyone but the users
        // the flag lists by name.
        let flags = self.inner.flags.get().map(Flags::snapshot);
        let for_tenant = flags
            .as_ref()
            .is_none_or(|f| f.is_on(&Switch::WsTickets, tenant));
        let for_users = !for_tenant
            && flags
                .as_ref()
                .is_some_and(|f| f.lists_users(&Switch::WsTickets));
        let tickets = if for_tenant || for_users {
            tickets
        } else {
            &[]
        };
        let wants = |s: &Subscriber| {
            s.channels.tickets
                && (for_tenant
                    || flags
                        .as_ref()
                        .is_some_and(|f| f.is_on_for(&Switch::WsTickets, tenant, &s.user)))
        };
        for (id, view) in tickets {
            let seq = st.next_seq();
            let key = Some(Supersedes::Ticket(tenant, id.as_str().into()));
            let message = match &view {
                Some(v) => protocol::delta("ticket", seq, tenant, v, key),
                None => protocol::delta(
                    "ticket",
                    seq,
                    tenant,
                    &serde_json::json!({ "ticket_id": id, "closed": true }),
                    key,
                ),
            };
            st.fan_out(&message, wants);
            everyone
                .iter()
                .filter(|s| wants(s))
                .for_each(|s| s.queue.push(message.clone()));
        }
    }

    /// Admits a new connection of `caller`, within the total and per-tenant caps.
    pub fn admit(&self, caller: &Caller) -> Result<Client, ApiError> {
        let c = &self.inner.config;
        let tenant = caller.claims.tenant_id;
        let mut per_tenant = lock(&self.inner.per_tenant);
        let mine = per_tenant.get(&tenant).copied().unwrap_or(0);
        if self.inner.clients.load(Ordering::Relaxed) >= c.max_clients {
            http_rate_limited("ws").increment(1);
            return Err(ApiError::rate_limited(
                format!("WebSocket connections are at the limit ({})", c.max_clients),
                5,
            ));
        }
        if mine >= c.max_clients_per_tenant {
            http_rate_limited("ws").increment(1);
            return Err(ApiError::rate_limited(
                format!(
                    "tenant {tenant} has {mine} WebSocket connections, the most allowed \
                     (ws.max_clients_per_tenant)"
                ),
                5,
            ));
        }
        per_tenant.insert(tenant, mine + 1);
        let open = self.inner.clients.fetch_add(1, Ordering::Relaxed) + 1;
        ws_clients().set(open as f64);
        Ok(Client {
            hub: self.clone(),
            id: self.inner.next_client.fetch_add(1, Ordering::Relaxed),
            caller: caller.clone(),
            queue: Arc::new(ClientQueue::new(
                c.client_queue,
                c.slow_client_timeout.as_std(),
            )),
            subscribed: Mutex::new(Subscribed::Nothing),
        })
    }

    /// The message and frame size the WebSocket library refuses outright (see
    /// [`limits::library_limit`]).
    pub fn library_message_limit(&self) -> usize {
        limits::library_limit(self.inner.config.max_message_bytes)
    }

    /// Closes every connection (code 1001) for shutdown.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }
}

/// What a client follows.
#[derive(Debug)]
enum Subscribed {
    Nothing,
    Tenants(Vec<u64>),
    Everyone,
}

/// One admitted connection; dropping it unsubscribes and frees its place.
#[derive(Debug)]
pub struct Client {
    hub: Hub,
    id: u64,
    caller: Caller,
    queue: Arc<ClientQueue>,
    subscribed: Mutex<Subscribed>,
}

impl Client {
    fn unsubscribe(&self) {
        let previous = std::mem::replace(&mut *lock(&self.subscribed), Subscribed::Nothing);
        match previous {
            Subscribed::Nothing => {}
            Subscribed::Tenants(tenants) => {
                for t in tenants {
                    if let Some(topic) = self.hub.topic(t) {
                        topic.unsubscribe(self.id);
                    }
                }
            }
            Subscribed::Everyone => lock(&self.hub.inner.everyone).retain(|s| s.client != self.id),
        }
        self.hub.watching_changed();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.unsubscribe();
        let tenant = self.caller.claims.tenant_id;
        let mut per_tenant = lock(&self.hub.inner.per_tenant);
        if let Some(n) = per_tenant.get_mut(&tenant) {
            *n -= 1;
            if *n == 0 {
                per_tenant.remove(&tenant);
            }
        }
        let open = self.hub.inner.clients.fetch_sub(1, Ordering::Relaxed) - 1;
        ws_clients().set(open as f64);
    }
}

#[cfg(test)]
mod tests;
