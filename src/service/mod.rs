//! `vigil run`: the service. Connects to the store and NATS, makes sure the streams exist,
//! keeps a fair share of the partitions through leases and runs one worker per partition it
//! holds, feeding the engine, one alert writer, and the HTTP server, and shuts all of it down
//! in order on SIGTERM or Ctrl-C (handing its partitions over).
//!
//! # Layout
//! - `lease_keeper`: this instance's share of the partition leases, a worker per lease,
//!   hand-over and take-over.
//! - `held`: the partitions held now with their fences, shared with the writers.
//! - `partition`: a partition worker: decode, validate, dedupe, apply, dead-letter.
//! - `applier`: where a partition's events are applied: tenant actors (wall clock) or an
//!   event-time driver.
//! - `alerts`: the alert writer: record each change once in the store, then publish it.
//! - `facts`: the fact writer: what the engine tells of tickets, kept for SLA reports, and
//!   the SLA records of stopped goals, queued for partners.
//! - `store_retry`: store writes retried while the store is unavailable, refused rows isolated.
//! - `dead_letters`: rows the store refused for good, dead-lettered with the reason.
//! - `stats`: engine gauges for `/metrics`, read from the actors' counters.

mod alerts;
mod applier;
mod dead_letters;
mod facts;
mod held;
mod lease_keeper;
mod partition;
mod stats;
mod store_retry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};
use vigil_engine::clock::WallClock;
use vigil_engine::supervisor::TenantPool;
use vigil_engine::PolicyBook;
use vigil_streams::jetstream::StreamSettings;

use alerts::AlertWriter;
use applier::Applier;
use facts::FactWriter;
use held::HeldPartitions;
use lease_keeper::LeaseKeeper;
use partition::PartitionWorker;
use vigil::alert_fanout::{AlertFanout, AlertPublishing};
use vigil::api::{self, ApiState};
use vigil::auth::Verifier;
use vigil::config::{ClockMode, VigilConfig};
use vigil::http::{self, OpsState, RateLimits, Readiness};
use vigil::hub::Hub;
use vigil::limits::SharedLimits;
use vigil::notify::ack_token::LinkSigner;
use vigil::notify::{Notifier, Routing, RoutingHandle};
use vigil::partner::worker::PartnerWorker;
use vigil::report::zone::ReportZones;
use vigil::report::{Reports, WhatIfSource};
use vigil::runtime_config::{follow, ConfigCenter, Flags};
use vigil::store::Store;
use vigil::telemetry::{self, MetricsHandle, TenantLabels};
use vigil::tenant_reads::TenantReads;

/// Alert batches waiting for the writer; past this the engine waits (back-pressure).
const ALERT_QUEUE: usize = 1024;
/// How long a partition taken over waits before trying its predecessor's unpublished alert
/// changes again.
const LEFTOVER_RETRY: Duration = Duration::from_secs(1);
/// Ticket fact batches waiting for the fact writer; partitions wait when it is full.
const FACT_QUEUE: usize = 1024;

/// Runs the service until `shutdown` completes, then drains in-flight work and returns.
pub async fn run(
    config: VigilConfig,
    metrics: MetricsHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let readiness = Arc::new(Readiness::new());
    let store = Store::connect_with(&config.store)
        .await
        .context("cannot open the store")?;
    readiness.set_store_reachable(true);
    let shared_limits = SharedLimits::from_setting(&config.cluster.redis_url)
        .await
        .context("cannot set up the shared rate limits")?;
    let (nats, js, streams) = connect_nats(&config).await?;
    readiness.set_nats_connected(true);
    let (book, engine_settings) = engine_parts(&config)?;
    let verifier = Arc::new(
        Verifier::from_config(&config.auth, &config.base_dir)
            .context("cannot set up token verification")?,
    );
    let routing = RoutingHandle::new(Routing::new(config.notify.clone(), &config.tenant_notify));
    let links = ack_links(&config, &routing.load(), &store).await?;
    if config.engine.clock == ClockMode::Event
        && (!config.partners.is_empty() || config.reports.enabled)
    {
        warn!("engine.clock = \"event\" keeps no ticket facts: exchange partners and SLA reports receive nothing from this instance");
    }
    // Runtime secrets over the environment, before the providers that read them are built.
    let (secrets, seal) = follow::secrets_at_start(&store)
        .await
        .context("cannot read the secrets")?;
    let partner_links = vigil::partner::connect_all(
        &config.partners,
        Arc::new(WallClock),
        shared_limits.as_ref(),
        &secrets,
    )
    .map_err(|e| anyhow::anyhow!("cannot set up exchange partners: {e}"))?;
    let (alerts_tx, alerts_rx) = mpsc::channel(ALERT_QUEUE);
    let pool = tenant_pool(&config, &book, &engine_settings, &alerts_tx);
    let held = Arc::new(HeldPartitions::default());
    let reads = {
        let held = held.clone();
        TenantReads::clustered(
            pool.clone(),
            nats.clone(),
            &streams.name,
            streams.partitions,
            Arc::new(move |p| held.holds(p)),
        )
    };
    let hub = Hub::new(config.ws.clone(), reads.clone(), store.clone());
    // Every component reads the flags the configuration center applies (below).
    let flags = Flags::default();
    hub.follow_flags(flags.clone());
    let listeners = http::Listeners::bind(&config.http).await?;
    let local = listeners.main_addr()?;
    info!(listen = %local, metrics_listen = ?listeners.metrics_addr(), "serving HTTP");
    let (stop_tx, stop_rx) = watch::channel(false);
    // Before the publisher starts: the notifier's consumer takes what is published after it.
    let notifier = Notifier::start(
        routing.clone(),
        store.clone(),
        &js,
        links.clone(),
        Arc::new(WallClock),
        &public_url(&config, local),
        shared_limits.as_ref(),
        flags.clone(),
        secrets.clone(),
        stop_rx.clone(),
    )
    .await?;
    let (fanout, publisher) = AlertFanout::new(store.clone(), js.clone(), hub.clone());
    let publishing = publisher.publishing();
    let publisher = tokio::spawn(publisher.run());
    let writer = tokio::spawn(
        AlertWriter::new(
            store.clone(),
            fanout.clone(),
            js.clone(),
            held.clone(),
            streams.partitions,
        )
        .run(alerts_rx),
    );
    let partners = PartnerTasks::start(&config, &partner_links, &store, &js, &flags, &stop_rx);
    let keeper = lease_keeper(
        &config,
        local,
        PartitionShared {
            js: js.clone(),
            streams: streams.clone(),
            store: store.clone(),
            pool: pool.clone(),
            book: book.clone(),
            engine_settings: engine_settings.clone(),
            alerts: alerts_tx,
            facts: partners.facts.clone(),
            hub: hub.clone(),
            held,
            reads: reads.clone(),
            publishing,
            caught_up: Arc::new(partition::CaughtUp::new(readiness.clone())),
        },
    )
    .await?;
    let keeper = tokio::spawn(keeper.run(stop_rx.clone()));
    let stats_task = pool.as_ref().map(|pool| {
        let labels = TenantLabels::new(config.metrics.tenant_labels);
        tokio::spawn(stats::publish(pool.clone(), labels, stop_rx.clone()))
    });
    tokio::spawn(telemetry::upkeep(metrics.clone()));
    tokio::spawn(probe_store(store.clone(), readiness.clone()));
    tokio::spawn(probe_nats(nats.clone(), readiness.clone()));
    let coalescer = tokio::spawn(hub.clone().run_coalescer(stop_rx.clone()));
    let relay = hub
        .join_cluster(nats.clone(), instance_name(&config), stop_rx.clone())
        .await
        .context("cannot relay live updates between instances")?;
    let limits = Arc::new(RateLimits::new(&config.http, shared_limits.as_ref()));
    tokio::spawn(limits.clone().upkeep(Duration::from_secs(60)));
    let report_mailer = report_mailer(&config, &secrets)?;
    let config_center = ConfigCenter::new(
        store.clone(),
        js.clone(),
        Arc::new(config.clone()),
        book.clone(),
    )
    .with_secrets(secrets, seal);
    let (applied_tx, _) = watch::channel(follow::Applied::default());
    let targets = follow::Targets {
        flags,
        // Contacts, schedules, policies and routes change at run time where a notifier runs.
        routing: notifier.is_some().then(|| routing.clone()),
        limits: Some(limits.clone()),
        center: Some(config_center.clone()),
    };
    let config_follower = tokio::spawn(follow::follow(
        store.clone(),
        nats.clone(),
        targets,
        applied_tx,
        stop_rx.clone(),
    ));
    let reports = Reports::new(
        store.clone(),
        &config.reports,
        config.tenant_reports.clone(),
    )
    .serving(
        WhatIfSource {
            js: js.clone(),
            stream: (streams.name.clone(), streams.partitions),
            policies: config.policy_sources(),
            settings: config.engine_settings(),
            lateness_ms: config.engine.allowed_lateness.as_millis(),
        },
        report_mailer,
    );
    let report_tasks = reports.spawn(&instance_name(&config), stop_rx.clone());
    let api = api::routes(ApiState {
        verifier,
        limits,
        store: store.clone(),
        reads,
        hub: hub.clone(),
        fanout,
        js: js.clone(),
        links,
        partners: partner_links,
        config_center,
        reports,
    });
    let ops = OpsState {
        metrics,
        readiness: readiness.clone(),
    };
    let (http_stop_tx, http_stop_rx) = watch::channel(false);
    let http_config = config.http.clone();
    let server = tokio::spawn(async move {
        listeners
            .serve(&http_config, ops, api, async move {
                let mut rx = http_stop_rx;
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
    });

    shutdown.await;
    info!("shutting down: draining in-flight events");
    readiness.set_draining();
    hub.shutdown();
    let _ = stop_tx.send(true);
    let _ = coalescer.await;
    let _ = relay.await;
    let _ = config_follower.await;
    // Its workers finish what is in flight, snapshot, and give their leases back.
    if let Err(e) = keeper.await {
        warn!(error = %e, "the lease keeper panicked; its leases expire by themselves");
    }
    if let Some(task) = stats_task {
        // It holds the pool; it ends on the stop signal.
        let _ = task.await;
    }
    if let Some(pool) = &pool {
        // Arbiters finish what is queued; the last alert senders go with them.
        pool.stop();
    }
    if tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .is_err()
    {
        warn!("alert writer did not finish within 30 s");
    }
    partners.finish().await;
    let _ = http_stop_tx.send(true);
    let _ = server.await;
    // A report under way is claimed again by any instance once its lease runs out.
    for task in report_tasks {
        task.abort();
    }
    // The writer and the API are gone, and with them every fan-out: the publisher drains.
    if tokio::time::timeout(Duration::from_secs(30), publisher)
        .await
        .is_err()
    {
        warn!(
            "alert publisher did not finish within 30 s; the rest is published on the next start"
        );
    }
    if let Some(notifier) = notifier {
        notifier.join().await;
    }
    store.close().await;
    nats.flush().await.ok();
    info!("stopped");
    Ok(())
}

/// Connects to NATS (waiting for it at start) and makes sure the streams exist.
async fn connect_nats(
    config: &VigilConfig,
) -> anyhow::Result<(
    async_nats::Client,
    async_nats::jetstream::Context,
    StreamSettings,
)> {
    let servers = vigil_streams::server_addrs(&config.nats.url)
        .map_err(|problem| anyhow::anyhow!("nats.url: {problem}"))?;
    let nats = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .name("vigil")
        .connect(servers)
        .await
        .with_context(|| {
            format!(
                "cannot connect to NATS at {}",
                vigil::redact::url(&config.nats.url)
            )
        })?;
    let js = async_nats::jetstream::new(nats.clone());
    let streams = StreamSettings {
        name: config.nats.stream.clone(),
        partitions: u32::from(config.nats.partitions),
        retention: config.nats.retention.as_std(),
        replicas: usize::from(config.nats.replicas),
        ..StreamSettings::default()
    };
    vigil_streams::ensure_streams(&js, &streams)
        .await
        .context("cannot set up the JetStream streams")?;
    Ok((nats, js, streams))
}

/// The compiled policies and the engine settings every tenant shares.
fn engine_parts(
    config: &VigilConfig,
) -> anyhow::Result<(Arc<PolicyBook>, Arc<vigil_engine::EngineSettings>)> {
    let book = Arc::new(config.policy_book().map_err(|e| {
        anyhow::anyhow!(
            "invalid policy: {}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?);
    let settings = Arc::new(vigil_engine::EngineSettings {
        // Reports and partners take the facts of tickets from the tenant actors (wall clock).
        keep_facts: keeps_facts(config),
        ..config.engine_settings()
    });
    Ok((book, settings))
}

/// What emails scheduled reports: the SMTP relay of `[notify.smtp]` (rebuilt when its secret
/// changes), under `[notify.delivery]`'s give-up time and breaker; `None` without a relay (or
/// without schedules, when nothing is to be sent).
fn report_mailer(
    config: &VigilConfig,
    secrets: &vigil::secrets::Secrets,
) -> anyhow::Result<Option<vigil::report::mailer::Mailer>> {
    let scheduled = config
        .tenant_reports
        .values()
        .any(|r| !r.schedules.is_empty());
    if config.notify.smtp.is_none() || !scheduled {
        if scheduled {
            warn!("report schedules are configured but [notify.smtp] is not: their reports are generated and their emails wait");
        }
        return Ok(None);
    }
    use vigil::notify::channel::Providers;
    let first = Providers::from_secrets(&config.notify, secrets)
        .context("cannot set up the email of scheduled reports")?;
    let notify = config.notify.clone();
    let providers = vigil::secrets::Rebuilt::new("report email", secrets, first, move |s| {
        Providers::from_secrets(&notify, s).map_err(|e| e.to_string())
    });
    let delivery = &config.notify.delivery;
    Ok(Some(vigil::report::mailer::Mailer::new(
        providers,
        delivery.give_up_after.as_std(),
        (
            delivery.breaker_failures,
            delivery.breaker_cooldown.as_std(),
        ),
    )))
}

/// Whether the tenant actors keep the facts of tickets: for reports or partners, on the wall
/// clock.
fn keeps_facts(config: &VigilConfig) -> bool {
    (config.reports.enabled || !config.partners.is_empty())
        && config.engine.clock == ClockMode::Wall
}

/// The signer of ack links, when notifications (or links alone) are configured.
async fn ack_links(
    config: &VigilConfig,
    routing: &Routing,
    store: &Store,
) -> anyhow::Result<Option<Arc<LinkSigner>>> {
    if !routing.enabled() && !LinkSigner::enabled(&config.notify) {
        return Ok(None);
    }
    let signer = LinkSigner::load(&config.notify, store)
        .await
        .context("cannot set up ack links")?;
    Ok(Some(Arc::new(signer)))
}

/// Tenant actors on their arbiters, on the wall clock; `None` with `engine.clock = "event"`
/// (each partition worker then runs its own event-time driver).
fn tenant_pool(
    config: &VigilConfig,
    book: &Arc<PolicyBook>,
    settings: &Arc<vigil_engine::EngineSettings>,
    alerts: &mpsc::Sender<vigil_engine::supervisor::Queued<Vec<vigil_engine::AlertRecord>>>,
) -> Option<Arc<TenantPool>> {
    if config.engine.clock == ClockMode::Event {
        return None;
    }
    let arbiters = if config.engine.arbiters == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        config.engine.arbiters
    };
    Some(Arc::new(TenantPool::new(
        arbiters,
        book.clone(),
        settings.clone(),
        Arc::new(WallClock),
        alerts.clone(),
    )))
}

/// The fact writer (reports' history, and the records feeding the partners' outboxes), and
/// the exchange partners' tasks: one outbox worker each, and the nightly reconciliation.
struct PartnerTasks {
    /// Where partition workers send ticket facts (`None` when neither reports nor partners
    /// take them).
    facts: Option<mpsc::Sender<vigil_engine::supervisor::Queued<Vec<vigil_engine::TicketFact>>>>,
    writer: Option<tokio::task::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PartnerTasks {
    fn start(
        config: &VigilConfig,
        links: &[Arc<vigil::partner::link::PartnerLink>],
        store: &Store,
        js: &async_nats::jetstream::Context,
        flags: &Flags,
        stop: &watch::Receiver<bool>,
    ) -> PartnerTasks {
        let workers: Vec<PartnerWorker> = links
            .iter()
            .map(|link| PartnerWorker::new(link.clone(), store.clone()).with_flags(flags.clone()))
            .collect();
        let (facts, writer) = if !keeps_facts(config) {
            (None, None)
        } else {
            let (tx, rx) = mpsc::channel(FACT_QUEUE);
            let reports = config
                .reports
                .enabled
                .then(|| ReportZones::new(&config.tenant_reports));
            let partners = if workers.is_empty() {
                (Vec::new(), Vec::new())
            } else {
                let wakers = workers.iter().map(PartnerWorker::waker).collect();
                (config.partners.clone(), wakers)
            };
            let writer = FactWriter::new(
                store.clone(),
                reports,
                partners,
                Arc::new(WallClock),
                js.clone(),
            );
            (Some(tx), Some(tokio::spawn(writer.run(rx))))
        };
        let mut tasks: Vec<_> = workers
            .into_iter()
            .map(|w| tokio::spawn(w.run(stop.clone())))
            .collect();
        if !links.is_empty() {
            // Names this process in the reconciliation leases.
            let holder = instance_name(config);
            tasks.push(tokio::spawn(vigil::partner::nightly::run_nightly(
                links.to_vec(),
                store.clone(),
                holder,
                Arc::new(WallClock),
                stop.clone(),
            )));
        }
        PartnerTasks {
            facts,
            writer,
            tasks,
        }
    }

    /// After the partition workers and actors are gone: lets the fact writer store what is
    /// queued, then waits for the workers (they end on the stop signal).
    async fn finish(mut self) {
        self.facts.take();
        if let Some(writer) = self.writer {
            if tokio::time::timeout(Duration::from_secs(30), writer)
                .await
                .is_err()
            {
                warn!("fact writer did not finish within 30 s; facts are derived again on the next start");
            }
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// What every partition worker of this instance shares.
#[derive(Clone)]
struct PartitionShared {
    js: async_nats::jetstream::Context,
    streams: StreamSettings,
    store: Store,
    pool: Option<Arc<TenantPool>>,
    book: Arc<PolicyBook>,
    engine_settings: Arc<vigil_engine::EngineSettings>,
    alerts: mpsc::Sender<vigil_engine::supervisor::Queued<Vec<vigil_engine::AlertRecord>>>,
    facts: Option<mpsc::Sender<vigil_engine::supervisor::Queued<Vec<vigil_engine::TicketFact>>>>,
    hub: Hub,
    held: Arc<HeldPartitions>,
    reads: TenantReads,
    publishing: AlertPublishing,
    caught_up: Arc<partition::CaughtUp>,
}

/// The lease keeper of this instance, whose workers get what `shared` holds; its alert and
/// record senders are the only ones left once this returns, so the writers end when it does.
async fn lease_keeper(
    config: &VigilConfig,
    local: std::net::SocketAddr,
    shared: PartitionShared,
) -> anyhow::Result<LeaseKeeper> {
    let me = vigil_streams::Holder::this_process(instance_name(config), public_url(config, local));
    info!(instance = %me.name, "taking a share of the partitions");
    let leases = vigil_streams::LeaseBucket::open(
        &shared.js,
        &shared.streams.name,
        config.cluster.lease_ttl.as_std(),
        usize::from(config.cluster.lease_replicas),
        me,
    )
    .await
    .context("cannot open the partition lease bucket")?;
    let (clock, lateness) = (
        config.engine.clock,
        config.engine.allowed_lateness.as_millis(),
    );
    let snapshot_every = partition::SnapshotEvery {
        events: config.engine.snapshot_every_events,
        interval: config.engine.snapshot_interval.as_std(),
    };
    let keeper = LeaseKeeper {
        leases,
        store: shared.store.clone(),
        held: shared.held.clone(),
        caught_up: shared.caught_up.clone(),
        pool: shared.pool.clone(),
        partitions: shared.streams.partitions,
        ttl: config.cluster.lease_ttl.as_std(),
        start_worker: Box::new(move |fence, stop| {
            let s = &shared;
            let applier = match &s.pool {
                Some(pool) => Applier::actors(pool.clone()),
                None => Applier::event_time(s.book.clone(), s.engine_settings.clone(), lateness),
            };
            let worker = PartitionWorker {
                partition: fence.partition,
                fence,
                held: s.held.clone(),
                js: s.js.clone(),
                stream: s.streams.name.clone(),
                store: s.store.clone(),
                applier,
                alerts: s.alerts.clone(),
                facts: s.facts.clone(),
                hub: s.hub.clone(),
                caught_up: s.caught_up.clone(),
                dedupe_window_ms: s.engine_settings.dedupe_window_ms,
                partitions: s.streams.partitions,
                snapshot_every,
                ingested: telemetry::metrics::events_ingested(),
                processing: telemetry::metrics::event_processing_seconds(),
            };
            // Reads of the partition's tenants come here while it is owned here.
            let reads = s.reads.clone().serve(fence.partition, stop.clone());
            let publishing = s.publishing.clone();
            tokio::spawn(async move {
                // What a previous owner recorded but did not publish goes out before this
                // owner's changes of the same alerts (a firing before its resolution); with the
                // store or JetStream away, the worker (which needs both) waits for it.
                let mut stopped = stop.clone();
                while !publishing.publish_leftovers().await {
                    let retry = tokio::time::sleep(LEFTOVER_RETRY);
                    tokio::select! {
                        () = retry => {}
                        _ = stopped.wait_for(|stop| *stop) => return Ok(()),
                    }
                }
                let (worker, ()) = tokio::join!(worker.run(stop), reads);
                worker
            })
        }),
    };
    info!(clock = ?clock, "consuming the partitions this instance holds");
    Ok(keeper)
}

/// This instance's name among the instances: `[cluster] name`, else `<hostname>-<pid>`.
fn instance_name(config: &VigilConfig) -> String {
    if !config.cluster.name.is_empty() {
        return config.cluster.name.clone();
    }
    let host: String = vigil_streams::host_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    let host = if host.is_empty() {
        "vigil".to_string()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

/// How often `/readyz` and `vigil_ready{check="store_reachable"}` re-check the store.
const STORE_PROBE: Duration = Duration::from_secs(5);

/// Pings the store every [`STORE_PROBE`] and reports whether it answers.
async fn probe_store(store: Store, readiness: Arc<Readiness>) {
    let mut tick = tokio::time::interval(STORE_PROBE);
    loop {
        tick.tick().await;
        let reachable = store.ping().await.is_ok();
        if !reachable {
            warn!("the store does not answer; /readyz reports it");
        }
        readiness.set_store_reachable(reachable);
    }
}

/// How often `/readyz` and `vigil_ready{check="nats_connected"}` look at the NATS connection.
const NATS_PROBE: Duration = Duration::from_secs(1);

/// Follows the NATS connection's state every [`NATS_PROBE`]: the client notices a lost server
/// at once and reconnects by itself; readiness says whether it is connected now.
async fn probe_nats(nats: async_nats::Client, readiness: Arc<Readiness>) {
    let mut tick = tokio::time::interval(NATS_PROBE);
    let mut was_up = true;
    loop {
        tick.tick().await;
        let up = nats.connection_state() == async_nats::connection::State::Connected;
        if up != was_up {
            if up {
                info!("NATS connection is back");
            } else {
                warn!("NATS connection lost; /readyz reports it until the client reconnects");
            }
            was_up = up;
        }
        readiness.set_nats_connected(up);
    }
}

/// Where people reach this instance, for links in messages: `notify.public_url`, else the
/// HTTP address (loopback when it listens on every interface).
fn public_url(config: &VigilConfig, local: std::net::SocketAddr) -> String {
    if let Some(url) = &config.notify.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = if local.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        local.ip()
    };
    format!("http://{}", std::net::SocketAddr::new(host, local.port()))
}
