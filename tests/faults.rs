//! Faults under a steady load (DESIGN.md §6): two `vigil run` instances share the partitions
//! while waves of events arrive, and between waves a fault strikes. Two set-ups:
//!
//! - **one nats-server and SQLite**: an instance is killed (`kill -9`) and started again, every
//!   instance is restarted in turn, the nats-server is restarted, the SMS gateway and webhook
//!   sink refuse everything for a while, the SMTP server refuses mail, or Redis (the shared
//!   rate limits) is down;
//! - **cluster mode**: a JetStream cluster of three nats-servers with R3 streams and leases
//!   loses the server leading the event stream, or PostgreSQL (the store) is unreachable for
//!   30 s.
//!
//! After each fault the service must settle on exactly the expected outcome: the alerts of
//! every event recorded once, each alert change published once, no event applied twice (a
//! second `ticket.created` would be dead-lettered as a duplicate), every open ticket's breach
//! paged exactly once on each channel (webhook, SMS, email: counted at the sinks), and every
//! instance ready again. `/readyz` is sampled while the fault lasts: it must stay ready through
//! a fault that leaves the service whole (a notification channel or Redis down), and the
//! longest not-ready stretch is reported for the others.
//!
//! The reduced suite runs in CI. `VIGIL_FAULTS_ROUNDS=<n>` repeats each fault `n` times
//! (`load-tests/faults.sh` runs it in release mode and keeps the tables it prints).

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use support::*;
use vigil_peers::gateway::Route;
use vigil_peers::partner::{Endpoint, FakePartner, FakePartnerConfig};
use vigil_peers::{FakeGateway, NatsCluster, NatsServer, SmtpServer};

/// Tenants spread over the four partitions.
const TENANTS: [u64; 6] = [21, 22, 23, 24, 25, 26];
/// Instances sharing the partitions.
const INSTANCES: usize = 2;
/// How long alert changes may take to be published and paged after a fault: a change an
/// instance fetched but did not acknowledge (it died, or the nats-server restarted under it)
/// reaches the notifier again after its 10 s ack wait, and a refused page is retried with
/// back-off.
const SETTLE: Duration = Duration::from_secs(45);
/// How long partner records may take after a fault: records an instance claimed and did not
/// book before it died wait for their claim to lapse (`CLAIM_LEASE_MS`, long enough for a
/// rate-limited round to send its batch) before another instance sends them.
const PARTNER_SETTLE: Duration =
    Duration::from_millis(vigil::partner::worker::CLAIM_LEASE_MS as u64).saturating_add(SETTLE);
/// How long the store stays unreachable.
const STORE_OUTAGE: Duration = Duration::from_secs(30);
/// The channels every breach is paged on.
const CHANNELS: [&str; 3] = ["webhook", "sms", "email"];

/// What the instances share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topology {
    /// One nats-server, a SQLite file.
    Single,
    /// A JetStream cluster of three nats-servers (R3 streams and leases), PostgreSQL.
    Cluster,
}

/// The NATS of a [`Topology`].
enum Nats {
    Single(NatsServer),
    Cluster(NatsCluster),
}

impl Nats {
    /// `[nats] url`: one URL, or the cluster's comma-separated list.
    fn url(&self) -> String {
        match self {
            Nats::Single(server) => server.url(),
            Nats::Cluster(cluster) => cluster.urls(),
        }
    }

    /// The cluster, for faults that only a cluster has.
    fn cluster(&mut self) -> &mut NatsCluster {
        match self {
            Nats::Cluster(cluster) => cluster,
            Nats::Single(_) => unreachable!("a fault of cluster mode ran on one nats-server"),
        }
    }

    async fn jetstream(&self) -> async_nats::jetstream::Context {
        match self {
            Nats::Single(server) => server.jetstream().await,
            Nats::Cluster(cluster) => cluster.jetstream().await,
        }
    }
}

/// Four partitions, every breach paged once on each of [`CHANNELS`] (no escalation, no
/// resolution message), so each open ticket's breach is one page per channel, and every
/// tenant's stopped goals sent to one exchange partner. One nats-server: 3 s leases and 2 s
/// notification claims, so a killed instance's work moves on quickly. Cluster mode: the
/// streams and the lease bucket have three replicas, leases the default 10 s, and
/// notification claims 90 s.
fn config(
    topology: Topology,
    gateway: &FakeGateway,
    smtp: &SmtpServer,
    partner: &FakePartner,
    redis: Option<&RedisServer>,
) -> String {
    let redis_url = redis.map(RedisServer::url).unwrap_or_default();
    // A claim outlives a store outage shorter than half of it (what was sent is recorded
    // once the store is back); the single set-up has no store outage and a short claim makes
    // a killed instance's claims lapse quickly.
    // Cluster mode keeps the default lease TTL: a shorter one can lapse while the lease
    // bucket elects a new leader after losing a server.
    let (replicas, claim_timeout, lease_ttl) = match topology {
        Topology::Single => (1, "2s", "3s"),
        Topology::Cluster => (3, "90s", "10s"),
    };
    format!(
        r#"
[nats]
partitions = 4
replicas = {replicas}

[engine]
snapshot_every_events = 16
snapshot_interval = "0s"

[cluster]
lease_ttl = "{lease_ttl}"
lease_replicas = {replicas}
redis_url = "{redis_url}"

[http]
rate_limit_per_ip = 100000
rate_limit_per_tenant = 100000

[notify.webhook]
url = "{webhook}"
secret_env = "VIGIL_TEST_WEBHOOK_SECRET"

[notify.sms]
url = "{sms}"

[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "vigil@example.com"

[notify.delivery]
send_timeout = "2s"
claim_timeout = "{claim_timeout}"
breaker_cooldown = "1s"

# Every page goes to alice: the per-recipient limits would fold them into few messages.
[notify.limits]
sms = {{ per_minute = 100000, per_hour = 1000000 }}
email = {{ per_minute = 100000, per_hour = 1000000 }}
webhook = {{ per_minute = 100000, per_hour = 1000000 }}

[[notify.contacts]]
id = "alice"
email = "alice@example.com"
phone = "+15550000001"

[[notify.policies]]
id = "page"
steps = [{{ notify = ["contact:alice"], channels = ["webhook", "sms", "email"] }}]

[[notify.routes]]
match = {{ level = "breach" }}
policy = "page"
group_wait = "0s"
group_interval = "1s"
send_resolved = false

[[partners]]
id = "exchange-a"
base_url = "{partner_url}"
tenants = {tenants:?}
timeout = "2s"
retry_delay = "100ms"
breaker = {{ failure_rate = 0.5, window = 4, open_for = "1s", half_open_calls = 1 }}
"#,
        partner_url = partner.url(),
        tenants = TENANTS,
        webhook = gateway.url(Route::Webhook),
        sms = gateway.url(Route::Sms),
        smtp_port = smtp.port(),
    )
}

/// What the service must have done once it settles.
#[derive(Default)]
struct Expected {
    rows: Vec<AlertKey>,
    ids: Vec<String>,
    /// Open tickets (`ticket_id`), each of whose breach is paged exactly once per channel.
    paged: Vec<String>,
    /// The partner's record ids (`tenant:ticket:goal`): both goals of each resolved ticket.
    partner_records: Vec<String>,
}

/// What `/readyz` must do while a fault lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readiness {
    /// Stay ready: the fault leaves the service whole.
    Throughout,
    /// May lapse; the longest lapse is reported.
    MayLapse,
    /// Not sampled: the fault replaces the instances (each new one is awaited ready).
    Replaced,
}

/// One line of the table.
struct Row {
    fault: &'static str,
    rounds: usize,
    alerts: (usize, usize),
    pages: (usize, usize),
    partner_records: (usize, usize),
    not_ready: Option<Duration>,
    recovery: Duration,
}

/// A fault: what it does to the rig, between two waves.
type Inject = for<'a> fn(&'a mut Rig) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// The peers, the instances and what they must have done. The instances come first: fields
/// drop in order, and an instance prints its log (from the temp dir) when the test fails.
struct Rig {
    instances: Vec<Service>,
    nats: Nats,
    gateway: FakeGateway,
    smtp: SmtpServer,
    partner: FakePartner,
    redis: Option<RedisServer>,
    postgres: Option<PostgresServer>,
    store: StoreAt,
    _dir: tempfile::TempDir,
    setup: ServiceSetup,
    js: async_nats::jetstream::Context,
    expected: Expected,
    waves: usize,
}

impl Rig {
    /// Starts the peers of `topology` and [`INSTANCES`] instances; `None` when a peer the
    /// set-up needs cannot be had here (skipped with the reason printed; a failure under
    /// `CI=true`).
    async fn start(topology: Topology) -> Option<Rig> {
        let (nats, postgres) = match topology {
            Topology::Single => (Nats::Single(NatsServer::start()), None),
            Topology::Cluster => (
                Nats::Cluster(NatsCluster::start(3)),
                Some(PostgresServer::start_or_skip(
                    "the cluster-mode fault suite",
                )?),
            ),
        };
        let gateway = FakeGateway::start("faults-webhook-secret").await;
        let smtp = SmtpServer::start();
        let partner = FakePartner::start(FakePartnerConfig::default())
            .await
            .expect("the fake partner");
        let redis = RedisServer::start_or_skip("the fault suite's Redis faults");
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = config(topology, &gateway, &smtp, &partner, redis.as_ref());
        let mut setup = ServiceSetup::new(dir.path(), &nats.url(), &config, "wall");
        setup.env.push((
            "VIGIL_TEST_WEBHOOK_SECRET".into(),
            "faults-webhook-secret".into(),
        ));
        let store = match &postgres {
            Some(pg) => {
                setup.env.retain(|(k, _)| k != "VIGIL__STORE__URL");
                setup.env.push(("VIGIL__STORE__URL".into(), pg.url()));
                StoreAt::Postgres(pg.url())
            }
            None => StoreAt::Sqlite(setup.db.clone()),
        };
        let js = nats.jetstream().await;
        let mut rig = Rig {
            nats,
            gateway,
            smtp,
            partner,
            redis,
            postgres,
            store,
            _dir: dir,
            setup,
            instances: Vec::new(),
            js,
            expected: Expected::default(),
            waves: 0,
        };
        for _ in 0..INSTANCES {
            let service = rig.launch().await;
            rig.instances.push(service);
        }
        Some(rig)
    }

    /// Starts one more instance (same config and store; its own port) and waits until ready.
    async fn launch(&self) -> Service {
        let mut setup = self.setup.clone();
        setup.port = free_port();
        setup.env.retain(|(k, _)| k != "VIGIL__HTTP__LISTEN");
        setup.env.push((
            "VIGIL__HTTP__LISTEN".into(),
            format!("127.0.0.1:{}", setup.port),
        ));
        let mut service = setup.start();
        service.ready().await;
        service
    }

    /// Publishes the next wave of tickets whose alerts do not depend on timing.
    async fn wave(&mut self) {
        self.waves += 1;
        let name = format!("w{}", self.waves);
        let work = batch(&TENANTS, &name, 1, 1, now_ms());
        publish_events_retrying(&self.js, &work.events).await;
        self.expected.rows.extend(work.rows);
        self.expected.ids.extend(work.message_ids);
        self.expected
            .paged
            .extend(TENANTS.iter().map(|t| format!("{name}-{t}-open-0")));
        for t in TENANTS {
            for goal in ["response", "resolution"] {
                self.expected
                    .partner_records
                    .push(format!("{t}:{name}-{t}-done-0:{goal}"));
            }
        }
    }

    /// Waits until the service has settled on exactly the expected outcome; returns
    /// `(alerts recorded, pages delivered, partner records stored)`.
    async fn settle(&self) -> (usize, usize, usize) {
        let mut rows = self.expected.rows.clone();
        rows.sort();
        // The store's rows get the same time as every other check of a fault's outcome: after
        // PostgreSQL's 30 s outage, a loaded machine can take longer than `WAIT` to reconnect.
        wait_for_store_within(&self.store, rows.clone(), SETTLE).await;
        wait_published(&self.store, rows.len()).await;
        let mut ids = self.expected.ids.clone();
        ids.sort();
        let deadline = Instant::now() + SETTLE;
        let published = loop {
            let published = stream_ids(&self.js).await;
            if published.len() >= ids.len() || Instant::now() > deadline {
                break published;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if published != ids {
            let missing: Vec<_> = ids.iter().filter(|i| !published.contains(i)).collect();
            let extra: Vec<_> = published.iter().filter(|i| !ids.contains(i)).collect();
            panic!("VIGIL_ALERTS: missing {missing:#?}, unexpected {extra:#?}");
        }
        let deadline = Instant::now() + SETTLE;
        let pages = loop {
            let pages = self.pages().await;
            let unpaged: Vec<(&str, &String)> = CHANNELS
                .iter()
                .flat_map(|c| self.expected.paged.iter().map(move |t| (*c, t)))
                .filter(|(c, t)| !pages.contains_key(&(*c, (*t).clone())))
                .collect();
            if unpaged.is_empty() {
                break pages;
            }
            if Instant::now() > deadline {
                let outbox: Vec<_> = self
                    .outbox()
                    .await
                    .into_iter()
                    .filter(|(t, _, _)| unpaged.iter().any(|(_, u)| *u == t))
                    .collect();
                panic!(
                    "never paged (channel, ticket): {unpaged:?}\ntheir notifications: {outbox:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let twice: Vec<_> = pages.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "paged more than once: {twice:?}");
        let mut dlq = self
            .js
            .get_stream("VIGIL_DLQ")
            .await
            .expect("the DLQ stream");
        let dead = dlq.info().await.expect("DLQ info").state.messages;
        assert_eq!(
            dead, 0,
            "an event was applied twice (dead-lettered as a duplicate)"
        );
        for service in &self.instances {
            eventually("every instance ready", || async {
                matches!(service.get("/readyz").await, Some((200, _))).then_some(())
            })
            .await;
        }
        let mut expected_records = self.expected.partner_records.clone();
        expected_records.sort();
        let deadline = Instant::now() + PARTNER_SETTLE;
        let records = loop {
            let records: Vec<String> = self.partner.records().into_keys().collect();
            if records.len() >= expected_records.len() || Instant::now() > deadline {
                break records;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if records != expected_records {
            let missing: Vec<_> = expected_records
                .iter()
                .filter(|r| !records.contains(r))
                .collect();
            let extra: Vec<_> = records
                .iter()
                .filter(|r| !expected_records.contains(r))
                .collect();
            panic!("partner records: missing {missing:#?}, unexpected {extra:#?}");
        }
        (rows.len(), pages.len(), records.len())
    }

    /// Every notification row: `(ticket, channel, state)`.
    async fn outbox(&self) -> Vec<(String, String, String)> {
        self.store
            .rows(
                "SELECT a.ticket_id, n.channel, n.state FROM notifications n \
                 JOIN alerts a ON a.alert_id = n.alert_id ORDER BY a.ticket_id",
            )
            .await
    }

    /// How often each breached open ticket was paged on each channel, counted at the sinks:
    /// its firing breach in a delivered webhook, its id in a delivered mail, and, for SMS (an
    /// SMS about several alerts lists only what fits in one segment), the notifications the
    /// store assigned to a delivered SMS's idempotency key (its message id). Tickets that were
    /// resolved in their wave may be paged too (their breach can go out before the resolution
    /// does); they are not counted.
    async fn pages(&self) -> BTreeMap<(&'static str, String), usize> {
        let mut pages = BTreeMap::new();
        let mut count = |channel: &'static str, ticket: &str| {
            if self.expected.paged.iter().any(|t| t == ticket) {
                *pages.entry((channel, ticket.to_string())).or_insert(0) += 1;
            }
        };
        let sms_messages: Vec<(String, String)> = self
            .store
            .rows(
                "SELECT n.message_id, a.ticket_id FROM notifications n \
                 JOIN alerts a ON a.alert_id = n.alert_id \
                 WHERE n.channel = 'sms' AND n.message_id IS NOT NULL",
            )
            .await;
        for d in self.gateway.deliveries() {
            match d.route {
                Route::Webhook => {
                    let Some(body) = d.json() else { continue };
                    for alert in body["alerts"].as_array().into_iter().flatten() {
                        if alert["level"] == "breach" && alert["state"] == "firing" {
                            count("webhook", alert["ticket_id"].as_str().unwrap_or_default());
                        }
                    }
                }
                Route::Sms => {
                    for (_, ticket) in sms_messages.iter().filter(|(m, _)| *m == d.idempotency_key)
                    {
                        count("sms", ticket);
                    }
                }
            }
        }
        for mail in self.smtp.received() {
            let text = mail.text.unwrap_or_default();
            for ticket in self.expected.paged.iter().filter(|t| text.contains(*t)) {
                count("email", ticket);
            }
        }
        pages
    }

    /// Runs `fault` `rounds` times, each between two halves of a wave, and returns its row.
    async fn run(
        &mut self,
        fault: &'static str,
        rounds: usize,
        readiness: Readiness,
        inject: Inject,
    ) -> Row {
        let mut recovery = Duration::ZERO;
        let mut not_ready = (readiness != Readiness::Replaced).then_some(Duration::ZERO);
        let (mut alerts, mut pages, mut partner_records) = ((0, 0), (0, 0), (0, 0));
        for _ in 0..rounds {
            self.wave().await;
            let started = Instant::now();
            let sampler = (readiness != Readiness::Replaced)
                .then(|| ReadySampler::start(self.instances.iter().map(|s| s.port).collect()));
            inject(self).await;
            self.wave().await;
            let (recorded, delivered, stored) = self.settle().await;
            recovery = recovery.max(started.elapsed());
            if let Some(sampler) = sampler {
                let lapse = sampler.stop().await;
                assert!(
                    readiness != Readiness::Throughout || lapse.is_zero(),
                    "{fault}: /readyz was not ready for {lapse:?}, though the fault leaves the \
                     service whole"
                );
                not_ready = not_ready.map(|d| d.max(lapse));
            }
            alerts = (self.expected.rows.len(), recorded);
            pages = (self.expected.paged.len() * CHANNELS.len(), delivered);
            partner_records = (self.expected.partner_records.len(), stored);
        }
        Row {
            fault,
            rounds,
            alerts,
            pages,
            partner_records,
            not_ready,
            recovery,
        }
    }
}

/// Polls every instance's `/readyz` (every 100 ms) until stopped; keeps the longest stretch
/// any one of them was not ready.
struct ReadySampler {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Duration>,
}

impl ReadySampler {
    fn start(ports: Vec<u16>) -> ReadySampler {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut lapse_since: Vec<Option<Instant>> = vec![None; ports.len()];
            let mut longest = Duration::ZERO;
            loop {
                for (port, since) in ports.iter().zip(&mut lapse_since) {
                    let ready = matches!(http_get(*port, "/readyz").await, Some((200, _)));
                    match (ready, *since) {
                        (false, None) => *since = Some(Instant::now()),
                        (true, Some(start)) => {
                            longest = longest.max(start.elapsed());
                            *since = None;
                        }
                        _ => {}
                    }
                }
                let tick = tokio::time::sleep(Duration::from_millis(100));
                tokio::select! {
                    _ = tick => {}
                    _ = stopped.changed() => break,
                }
            }
            lapse_since
                .iter()
                .flatten()
                .map(Instant::elapsed)
                .fold(longest, Duration::max)
        });
        ReadySampler { stop, task }
    }

    /// Stops sampling; the longest not-ready stretch.
    async fn stop(self) -> Duration {
        let _ = self.stop.send(true);
        self.task.await.expect("the readiness sampler")
    }
}

/// `kill -9` of the first instance, then a new one in its place.
fn kill_one(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let mut victim = rig.instances.remove(0);
        victim.kill().await;
        let service = rig.launch().await;
        rig.instances.push(service);
    })
}

/// SIGTERM of each instance in turn, each replaced before the next one stops.
fn rolling_restart(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        for _ in 0..rig.instances.len() {
            let mut old = rig.instances.remove(0);
            assert!(old.stop().await.success(), "{}", old.log());
            let service = rig.launch().await;
            rig.instances.push(service);
        }
    })
}

/// The nats-server stops and starts again on the same port and store.
fn nats_restart(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let Nats::Single(server) = &mut rig.nats else {
            unreachable!("a single nats-server restarts");
        };
        server.restart();
        // The test's own connection reconnects by itself; wait until JetStream answers.
        eventually("JetStream answers again", || async {
            rig.js.get_stream("VIGIL_EVENTS").await.ok().map(|_| ())
        })
        .await;
    })
}

/// The cluster loses the server leading the event stream (`kill -9`) while a wave arrives;
/// the stream's other two replicas elect a new leader. The server then comes back on its
/// ports and store and catches up.
fn jetstream_server_lost(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let leader = event_stream_leader(&rig.js).await;
        rig.nats.cluster().kill(leader);
        rig.wave().await;
        rig.nats.cluster().restart(leader);
        eventually("the event stream is whole again", || async {
            let info = rig.js.get_stream("VIGIL_EVENTS").await.ok()?;
            let cluster = info.cached_info().cluster.clone()?;
            (cluster.leader.is_some()
                && cluster.replicas.len() == 2
                && cluster.replicas.iter().all(|r| r.current))
            .then_some(())
        })
        .await;
    })
}

/// Which cluster member (`n1` is 0) leads the event stream.
async fn event_stream_leader(js: &async_nats::jetstream::Context) -> usize {
    eventually("the event stream has a leader", || async {
        let info = js.get_stream("VIGIL_EVENTS").await.ok()?;
        let leader = info.cached_info().cluster.as_ref()?.leader.clone()?;
        leader
            .strip_prefix('n')?
            .parse::<usize>()
            .ok()?
            .checked_sub(1)
    })
    .await
}

/// PostgreSQL stops (connections cut, new ones refused) for [`STORE_OUTAGE`] while a wave
/// arrives, then starts again.
fn store_unreachable(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let postgres = rig
            .postgres
            .as_mut()
            .expect("cluster mode runs on PostgreSQL");
        postgres.stop();
        let outage = Instant::now();
        rig.wave().await;
        // The outage itself is the fault: it lasts its whole length, whatever happens meanwhile.
        tokio::time::sleep(STORE_OUTAGE.saturating_sub(outage.elapsed())).await;
        rig.postgres
            .as_mut()
            .expect("cluster mode runs on PostgreSQL")
            .start();
    })
}

/// The SMS gateway and the webhook sink answer 503 to everything until a page has been refused;
/// the pages go out once they are back (after retries and the breaker's cool-down).
fn gateway_down(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let refused = rig.gateway.counts().refused;
        rig.gateway.set_down(true);
        rig.wave().await;
        eventually("the gateway refused a page", || async {
            (rig.gateway.counts().refused > refused).then_some(())
        })
        .await;
        rig.gateway.set_down(false);
    })
}

/// The SMTP server answers `421` (service not available) until it has refused a mail.
fn smtp_down(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let refused = rig.smtp.rejections().len();
        rig.smtp.set_reject(Some(421)).await;
        rig.wave().await;
        eventually("the SMTP server refused a mail", || async {
            (rig.smtp.rejections().len() > refused).then_some(())
        })
        .await;
        rig.smtp.set_reject(None).await;
    })
}

/// The exchange partner answers 503 to everything until it has refused a record; the
/// records wait in the outbox and arrive once it is back.
fn partner_down(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let refused = rig.partner.calls(Endpoint::PutRecord).status(503);
        rig.partner.set_down(true);
        rig.wave().await;
        eventually("the partner refused a record", || async {
            (rig.partner.calls(Endpoint::PutRecord).status(503) > refused).then_some(())
        })
        .await;
        rig.partner.set_down(false);
    })
}

/// Redis goes down (rate limits fall back to each instance's own) while a wave arrives and
/// the API is used, then comes back empty.
fn redis_down(rig: &mut Rig) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let Some(redis) = rig.redis.as_mut() else {
            return;
        };
        redis.kill();
        rig.wave().await;
        let token = rig.setup.token(TENANTS[0], "client_user", "viewer");
        for service in &rig.instances {
            let answer = request(service.port, "GET", "/api/v1/alerts", Some(&token), None).await;
            assert_eq!(answer.status, 200, "with Redis down: {}", answer.text);
        }
        if let Some(redis) = rig.redis.as_mut() {
            redis.restart();
        }
    })
}

fn rounds() -> usize {
    std::env::var("VIGIL_FAULTS_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Prints the table of `rows` under `title`, and stops every instance.
async fn finish(mut rig: Rig, title: &str, rows: &[Row]) {
    eprintln!("\n{title}\n");
    eprintln!(
        "| fault | repetitions | alerts expected/recorded | pages expected/delivered | \
         partner records expected/stored | /readyz not ready (longest) | recovery (max) |"
    );
    eprintln!("|---|---|---|---|---|---|---|");
    for r in rows {
        let not_ready = r.not_ready.map_or("(instances replaced)".to_string(), |d| {
            format!("{:.1} s", d.as_secs_f64())
        });
        eprintln!(
            "| {} | {} | {}/{} | {}/{} | {}/{} | {not_ready} | {:.1} s |",
            r.fault,
            r.rounds,
            r.alerts.0,
            r.alerts.1,
            r.pages.0,
            r.pages.1,
            r.partner_records.0,
            r.partner_records.1,
            r.recovery.as_secs_f64()
        );
    }
    for service in &mut rig.instances {
        assert!(service.stop().await.success(), "{}", service.log());
    }
}

/// Runs each fault of `faults` (name, repetitions, what `/readyz` must do, the fault) in turn.
async fn run_all(rig: &mut Rig, faults: &[(&'static str, usize, Readiness, Inject)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &(fault, rounds, readiness, inject) in faults {
        rows.push(rig.run(fault, rounds, readiness, inject).await);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_settles_on_exactly_the_expected_outcome_after_each_fault() {
    let mut rig = Rig::start(Topology::Single)
        .await
        .expect("one nats-server and SQLite need nothing more");
    rig.wave().await;
    rig.settle().await;
    let n = rounds();
    let mut faults: Vec<(&'static str, usize, Readiness, Inject)> = vec![
        (
            "kill -9 of an instance",
            2 * n,
            Readiness::Replaced,
            kill_one,
        ),
        (
            "rolling restart of all instances",
            n,
            Readiness::Replaced,
            rolling_restart,
        ),
        ("nats-server restart", n, Readiness::MayLapse, nats_restart),
        (
            "SMS gateway and webhook sink down",
            n,
            Readiness::Throughout,
            gateway_down,
        ),
        ("SMTP server down", n, Readiness::Throughout, smtp_down),
        (
            "exchange partner down",
            n,
            Readiness::Throughout,
            partner_down,
        ),
    ];
    if rig.redis.is_some() {
        faults.push(("Redis down", n, Readiness::Throughout, redis_down));
    }
    let rows = run_all(&mut rig, &faults).await;
    finish(rig, "One nats-server, SQLite, 2 instances", &rows).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_mode_the_service_settles_on_exactly_the_expected_outcome_after_each_fault() {
    let Some(mut rig) = Rig::start(Topology::Cluster).await else {
        return;
    };
    rig.wave().await;
    rig.settle().await;
    let n = rounds();
    let faults: [(&'static str, usize, Readiness, Inject); 2] = [
        (
            "JetStream server lost (R3, its stream leader)",
            n,
            Readiness::MayLapse,
            jetstream_server_lost,
        ),
        (
            "store (PostgreSQL) unreachable for 30 s",
            n,
            Readiness::MayLapse,
            store_unreachable,
        ),
    ];
    let rows = run_all(&mut rig, &faults).await;
    finish(
        rig,
        "Cluster mode: 3 nats-servers (R3), PostgreSQL, 2 instances",
        &rows,
    )
    .await;
}
