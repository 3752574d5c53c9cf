//! Faults under a steady load (DESIGN.md §6): two `vigil run` instances share the partitions
//! of one nats-server, one store and one Redis (rate limits) while waves of events arrive, and
//! between waves an instance is killed (`kill -9`) and started again, every instance is
//! restarted in turn, the nats-server is restarted, the webhook sink refuses everything for a
//! while, or Redis is down. After each fault the service must settle on exactly the expected
//! outcome: the alerts of every event recorded once, each alert change published once, no event
//! applied twice (a second `ticket.created` would be dead-lettered as a duplicate), every open
//! ticket's breach paged exactly once at the webhook sink, and every instance ready again.
//!
//! The reduced suite runs in CI. `VIGIL_FAULTS_ROUNDS=<n>` repeats each fault `n` times
//! (`load-tests/faults.sh` runs it in release mode and keeps the table it prints).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::*;
use vigil_peers::gateway::Route;
use vigil_peers::{FakeGateway, NatsServer};

/// Tenants spread over the four partitions.
const TENANTS: [u64; 6] = [21, 22, 23, 24, 25, 26];
/// Instances sharing the partitions.
const INSTANCES: usize = 2;
/// How long alert changes may take to be published and paged after a fault: a change an
/// instance fetched but did not acknowledge (it died, or the nats-server restarted under it)
/// reaches the notifier again after its 10 s ack wait, and a refused page is retried with
/// back-off.
const SETTLE: Duration = Duration::from_secs(45);

/// Four partitions, 3 s leases, and every breach paged once by webhook (no escalation, no
/// resolution message), so each open ticket's breach is one page.
fn config(gateway: &FakeGateway, redis: Option<&RedisServer>) -> String {
    let redis_url = redis.map(RedisServer::url).unwrap_or_default();
    format!(
        r#"
[nats]
partitions = 4

[engine]
snapshot_every_events = 16
snapshot_interval = "0s"

[cluster]
lease_ttl = "3s"
redis_url = "{redis_url}"

[http]
rate_limit_per_ip = 100000
rate_limit_per_tenant = 100000

[notify.webhook]
url = "{webhook}"
secret_env = "VIGIL_TEST_WEBHOOK_SECRET"

[notify.delivery]
send_timeout = "2s"
claim_timeout = "2s"
breaker_cooldown = "1s"

[[notify.contacts]]
id = "alice"
email = "alice@example.com"

[[notify.policies]]
id = "page"
steps = [{{ notify = ["contact:alice"], channels = ["webhook"] }}]

[[notify.routes]]
match = {{ level = "breach" }}
policy = "page"
group_wait = "0s"
group_interval = "1s"
send_resolved = false
"#,
        webhook = gateway.url(Route::Webhook),
    )
}

/// What the service must have done once it settles.
#[derive(Default)]
struct Expected {
    rows: Vec<AlertKey>,
    ids: Vec<String>,
    /// Open tickets (`ticket_id`), each of whose breach is paged exactly once.
    paged: Vec<String>,
}

/// One line of the table.
struct Row {
    fault: &'static str,
    rounds: usize,
    alerts: (usize, usize),
    pages: (usize, usize),
    recovery: Duration,
}

struct Rig {
    nats: NatsServer,
    gateway: FakeGateway,
    redis: Option<RedisServer>,
    _dir: tempfile::TempDir,
    setup: ServiceSetup,
    instances: Vec<Service>,
    js: async_nats::jetstream::Context,
    expected: Expected,
    waves: usize,
}

impl Rig {
    async fn start() -> Rig {
        let nats = NatsServer::start();
        let gateway = FakeGateway::start("faults-webhook-secret").await;
        let redis = RedisServer::start_or_skip("the fault suite's Redis faults");
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = config(&gateway, redis.as_ref());
        let mut setup = ServiceSetup::new(dir.path(), &nats.url(), &config, "wall");
        setup.env.push((
            "VIGIL_TEST_WEBHOOK_SECRET".into(),
            "faults-webhook-secret".into(),
        ));
        let js = nats.jetstream().await;
        let mut rig = Rig {
            nats,
            gateway,
            redis,
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
        rig
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
        publish_events(&self.js, &work.events).await;
        self.expected.rows.extend(work.rows);
        self.expected.ids.extend(work.message_ids);
        self.expected
            .paged
            .extend(TENANTS.iter().map(|t| format!("{name}-{t}-open-0")));
    }

    /// Waits until the service has settled on exactly the expected outcome; returns
    /// `(alerts recorded, pages delivered)`.
    async fn settle(&self) -> (usize, usize) {
        let mut rows = self.expected.rows.clone();
        rows.sort();
        wait_for_store(&self.setup.db, rows.clone()).await;
        wait_published(&self.setup.db, rows.len()).await;
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
            let pages = self.pages();
            let unpaged: Vec<&String> = self
                .expected
                .paged
                .iter()
                .filter(|t| !pages.contains_key(*t))
                .collect();
            if unpaged.is_empty() {
                break pages;
            }
            if Instant::now() > deadline {
                let outbox: Vec<_> = self
                    .outbox()
                    .await
                    .into_iter()
                    .filter(|(t, _, _)| unpaged.contains(&t))
                    .collect();
                panic!("never paged: {unpaged:?}\ntheir notifications: {outbox:?}");
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
        let paged = self
            .expected
            .paged
            .iter()
            .filter(|t| pages.contains_key(*t))
            .count();
        (rows.len(), paged)
    }

    /// Every notification row: `(ticket, channel, state)`.
    async fn outbox(&self) -> Vec<(String, String, String)> {
        use sqlx::ConnectOptions as _;
        let Ok(mut db) = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.setup.db)
            .read_only(true)
            .connect()
            .await
        else {
            return Vec::new();
        };
        sqlx::query_as(
            "SELECT a.ticket_id, n.channel, n.state FROM notifications n \
             JOIN alerts a ON a.alert_id = n.alert_id ORDER BY a.ticket_id",
        )
        .fetch_all(&mut db)
        .await
        .unwrap_or_default()
    }

    /// How often each breached ticket was paged (its firing breach in a delivered webhook).
    fn pages(&self) -> BTreeMap<String, usize> {
        let mut pages = BTreeMap::new();
        for d in self.gateway.deliveries() {
            let Some(body) = d.json() else { continue };
            for alert in body["alerts"].as_array().into_iter().flatten() {
                if alert["level"] == "breach" && alert["state"] == "firing" {
                    let ticket = alert["ticket_id"].as_str().unwrap_or_default();
                    *pages.entry(ticket.to_string()).or_insert(0) += 1;
                }
            }
        }
        pages
    }

    /// Runs `fault` `rounds` times, each between two halves of a wave, and returns its row.
    async fn run<F>(&mut self, fault: &'static str, rounds: usize, mut inject: F) -> Row
    where
        F: for<'a> FnMut(
            &'a mut Rig,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>,
    {
        let mut recovery = Duration::ZERO;
        let (mut alerts, mut pages) = ((0, 0), (0, 0));
        for _ in 0..rounds {
            self.wave().await;
            let started = Instant::now();
            inject(self).await;
            self.wave().await;
            let (recorded, delivered) = self.settle().await;
            recovery = recovery.max(started.elapsed());
            alerts = (self.expected.rows.len(), recorded);
            pages = (self.expected.paged.len(), delivered);
        }
        Row {
            fault,
            rounds,
            alerts,
            pages,
            recovery,
        }
    }
}

/// `kill -9` of the first instance, then a new one in its place.
fn kill_one(rig: &mut Rig) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        let mut victim = rig.instances.remove(0);
        victim.kill().await;
        let service = rig.launch().await;
        rig.instances.push(service);
    })
}

/// SIGTERM of each instance in turn, each replaced before the next one stops.
fn rolling_restart(rig: &mut Rig) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
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
fn nats_restart(rig: &mut Rig) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        rig.nats.restart();
        // The test's own connection reconnects by itself; wait until JetStream answers.
        eventually("JetStream answers again", || async {
            rig.js.get_stream("VIGIL_EVENTS").await.ok().map(|_| ())
        })
        .await;
    })
}

/// The webhook sink answers 503 to everything until a page has been refused; the pages go out
/// once it is back (after retries and the breaker's cool-down).
fn webhook_down(rig: &mut Rig) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
    Box::pin(async move {
        let refused = rig.gateway.counts().refused;
        rig.gateway.set_down(true);
        rig.wave().await;
        eventually("the sink refused a page", || async {
            (rig.gateway.counts().refused > refused).then_some(())
        })
        .await;
        rig.gateway.set_down(false);
    })
}

/// Redis goes down (rate limits fall back to each instance's own) while a wave arrives and
/// the API is used, then comes back empty.
fn redis_down(rig: &mut Rig) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_settles_on_exactly_the_expected_outcome_after_each_fault() {
    let mut rig = Rig::start().await;
    rig.wave().await;
    rig.settle().await;
    let n = rounds();
    let rows = vec![
        rig.run("kill -9 of an instance", 2 * n, kill_one).await,
        rig.run("rolling restart of all instances", n, rolling_restart)
            .await,
        rig.run("nats-server restart", n, nats_restart).await,
        rig.run("webhook sink down", n, webhook_down).await,
    ];
    let mut rows = rows;
    if rig.redis.is_some() {
        rows.push(rig.run("Redis down", n, redis_down).await);
    }
    eprintln!(
        "\n| fault | repetitions | alerts expected/recorded | pages expected/delivered | recovery (max) |"
    );
    eprintln!("|---|---|---|---|---|");
    for r in &rows {
        eprintln!(
            "| {} | {} | {}/{} | {}/{} | {:.1} s |",
            r.fault,
            r.rounds,
            r.alerts.0,
            r.alerts.1,
            r.pages.0,
            r.pages.1,
            r.recovery.as_secs_f64()
        );
    }
    for service in &mut rig.instances {
        assert!(service.stop().await.success(), "{}", service.log());
    }
}
