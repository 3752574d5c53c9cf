//! Partitions leased across instances (DESIGN.md §6): two `vigil run` processes against one
//! nats-server and one store share the partitions evenly, a newcomer gets its share by
//! hand-over, a killed instance's partitions are taken over within the lease TTL (+ 5 s; on
//! one host at once, its process being gone), and an instance that was frozen past its leases
//! lets its partitions go when it wakes, its late writes refused by the store. Throughout, the alerts in the store are exactly those of
//! the events, and no alert change is published twice.

mod support;

use std::time::{Duration, Instant};

use support::*;
use vigil_peers::NatsServer;

/// Lease TTL of these tests (the shortest `check-config` allows).
const TTL: Duration = Duration::from_secs(3);

const CONFIG: &str = r#"
[nats]
partitions = 4

[engine]
snapshot_every_events = 8
snapshot_interval = "0s"

[cluster]
lease_ttl = "3s"
"#;

/// Tenants spread over the four partitions.
const TENANTS: [u64; 8] = [11, 12, 13, 14, 15, 16, 17, 18];

/// A second instance of `setup`: same config, store and NATS, its own port and name.
fn second(setup: &ServiceSetup, name: &str) -> ServiceSetup {
    let mut other = setup.clone();
    other.port = free_port();
    other.env.retain(|(k, _)| k != "VIGIL__HTTP__LISTEN");
    other.env.push((
        "VIGIL__HTTP__LISTEN".into(),
        format!("127.0.0.1:{}", other.port),
    ));
    other.env.push(("VIGIL__CLUSTER__NAME".into(), name.into()));
    other
}

/// How many partitions `service` owns, by its metrics.
async fn owned(service: &Service) -> Option<u32> {
    service
        .metric("vigil_partitions_owned")
        .await
        .map(|v| v as u32)
}

/// Waits until the instances own `shares` partitions each (in order).
async fn until_shares(services: &[&Service], shares: &[u32]) {
    eventually(&format!("partition shares {shares:?}"), || async {
        let mut now = Vec::new();
        for s in services {
            now.push(owned(s).await?);
        }
        (now == shares).then_some(())
    })
    .await;
}

/// The partitions `service` owns, as `/readyz` reports them.
async fn owned_partitions(service: &Service) -> Vec<u64> {
    let (_, body) = service.get("/readyz").await.expect("/readyz answers");
    let body: serde_json::Value = serde_json::from_str(&body).expect("/readyz is JSON");
    body["data"]["partitions"]["owned"]
        .as_array()
        .expect("data.partitions.owned")
        .iter()
        .map(|p| p.as_u64().expect("a partition number"))
        .collect()
}

/// One nats-server and one store, for two instances.
struct Rig {
    _nats: NatsServer,
    _dir: tempfile::TempDir,
    setup: ServiceSetup,
    js: async_nats::jetstream::Context,
    now: i64,
    /// What every wave so far must have produced: store rows and published message ids.
    expected: std::sync::Mutex<(Vec<AlertKey>, Vec<String>)>,
}

impl Rig {
    async fn new() -> Rig {
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
        setup
            .env
            .push(("VIGIL__CLUSTER__NAME".into(), "first".into()));
        let js = nats.jetstream().await;
        Rig {
            _nats: nats,
            _dir: dir,
            setup,
            js,
            now: now_ms(),
            expected: Default::default(),
        }
    }

    /// Publishes a wave of tickets named `name` for every tenant, then waits until the store
    /// holds the alerts of every wave so far and each of their changes was published, and
    /// checks `VIGIL_ALERTS` holds each change once and nothing else.
    async fn wave(&self, name: &str) {
        self.publish_wave(name).await;
        self.settled().await;
    }

    /// Publishes a wave of tickets named `name` for every tenant; [`Rig::settled`] waits for
    /// its alerts.
    async fn publish_wave(&self, name: &str) {
        let work = batch(&TENANTS, name, 1, 1, self.now);
        publish_events(&self.js, &work.events).await;
        let mut expected = self.expected.lock().expect("not poisoned");
        expected.0.extend(work.rows);
        expected.1.extend(work.message_ids);
    }

    /// Waits until the store holds the alerts of every wave so far and each of their changes
    /// was published, and checks `VIGIL_ALERTS` holds each change once and nothing else.
    async fn settled(&self) {
        let (mut rows, mut ids) = self.expected.lock().expect("not poisoned").clone();
        rows.sort();
        wait_for_store(&self.setup.db, rows.clone()).await;
        wait_published(&self.setup.db, rows.len()).await;
        ids.sort();
        assert_eq!(
            stream_ids(&self.js).await,
            ids,
            "each alert change published once"
        );
    }

    /// The first instance, once it owns every partition.
    async fn first(&self) -> Service {
        let mut a = self.setup.start();
        a.ready().await;
        until_shares(&[&a], &[4]).await;
        a
    }

    /// A second instance, once it and `first` own half of the partitions each.
    async fn second(&self, first: &Service) -> Service {
        let mut b = second(&self.setup, "second").start();
        b.ready().await;
        until_shares(&[first, &b], &[2, 2]).await;
        b
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_gets_its_share_and_a_killed_instances_partitions_move_within_the_ttl() {
    let rig = Rig::new().await;
    let mut a = rig.first().await;
    rig.wave("one").await;

    // A newcomer: the first instance hands half of the partitions over.
    let mut b = rig.second(&a).await;
    assert!(a.log().contains("handing partitions over"), "{}", a.log());
    let mut all = owned_partitions(&a).await;
    all.extend(owned_partitions(&b).await);
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3], "each partition has exactly one owner");
    rig.wave("two").await;

    // Killed: no hand-over; its leases expire and the first instance takes them over.
    b.kill().await;
    let killed = Instant::now();
    until_shares(&[&a], &[4]).await;
    let moved = killed.elapsed();
    assert!(
        moved <= TTL + Duration::from_secs(5),
        "partitions moved after {moved:?}"
    );
    // On one host a dead process's leases are adopted without waiting for them to expire.
    assert!(
        a.log()
            .contains("adopting the lease of a crashed predecessor"),
        "{}",
        a.log()
    );
    rig.wave("three").await;
    assert_eq!(
        a.metric("vigil_lease_transitions_total{kind=\"taken\"}")
            .await,
        Some(6.0),
        "4 at start, then the killed instance's 2"
    );
    assert!(a.stop().await.success(), "{}", a.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_instance_lets_its_partitions_go_when_it_wakes() {
    let rig = Rig::new().await;
    let mut a = rig.first().await;
    let mut b = rig.second(&a).await;
    rig.wave("one").await;

    // Frozen past its leases: the first instance takes its partitions over, and events of
    // every tenant arrive meanwhile. Their alerts are awaited once it is awake: frozen in the
    // middle of a write, it holds SQLite's write lock until it wakes.
    b.signal(libc::SIGSTOP);
    until_shares(&[&a], &[4]).await;
    rig.publish_wave("two").await;

    // Awake: its renewals fail (or the store refuses its writes), it lets go, and then it is
    // handed its share again.
    b.signal(libc::SIGCONT);
    eventually("the woken instance noticed it lost its leases", || async {
        let lost = b
            .metric("vigil_lease_transitions_total{kind=\"lost\"}")
            .await
            .unwrap_or(0.0);
        let fenced = b
            .metric("vigil_lease_transitions_total{kind=\"fenced\"}")
            .await
            .unwrap_or(0.0);
        (lost + fenced >= 2.0).then_some(())
    })
    .await;
    until_shares(&[&a, &b], &[2, 2]).await;
    rig.settled().await;
    rig.wave("three").await;
    assert!(b.stop().await.success(), "{}", b.log());
    until_shares(&[&a], &[4]).await;
    assert!(a.stop().await.success(), "{}", a.log());
}

/// A tenant of `TENANTS` whose partition `owner` owns.
async fn tenant_owned_by(owner: &Service) -> u64 {
    let owned = owned_partitions(owner).await;
    *TENANTS
        .iter()
        .find(|t| owned.contains(&u64::from(vigil_streams::partition_of(**t, 4))))
        .expect("a tenant in every partition")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_instance_answers_for_any_tenant_and_pushes_its_live_updates() {
    let rig = Rig::new().await;
    let (setup, js) = (&rig.setup, &rig.js);
    let mut a = rig.first().await;
    let mut b = rig.second(&a).await;
    rig.wave("one").await;

    // REST: both instances answer for every tenant, from the engine of its owner.
    for tenant in TENANTS {
        let token = setup.token(tenant, "client_user", "viewer");
        for service in [&a, &b] {
            let path = format!("/api/v1/client/tickets/one-{tenant}-open-0/sla");
            let answer = request(service.port, "GET", &path, Some(&token), None).await;
            assert_eq!(
                answer.status, 200,
                "{path} on :{}: {}",
                service.port, answer.text
            );
            assert_eq!(answer.data()["priority"], "CRITICAL");
            let overview = request(
                service.port,
                "GET",
                "/api/v1/client/dashboard/overview?period=24h",
                Some(&token),
                None,
            )
            .await;
            assert_eq!(overview.status, 200, "{}", overview.text);
            // Not final: the open ticket and the resolved one (RESOLVED is not CLOSED).
            assert_eq!(overview.data()["summary"]["open"], 2, "tenant {tenant}");
        }
    }

    // Live: a client of one instance follows a tenant the other owns.
    for (here, owner) in [(&a, &b), (&b, &a)] {
        let tenant = tenant_owned_by(owner).await;
        let token = setup.token(tenant, "client_user", "viewer");
        let mut ws = WsClient::connect(here.port, &token)
            .await
            .expect("upgrade accepted");
        ws.subscribe(&["metrics", "alerts", "tickets"], serde_json::json!({}))
            .await;
        let snapshots = ws
            .until_all("three snapshots", |seen| seen.len() >= 3)
            .await;
        let metrics = snapshots
            .iter()
            .find(|m| m["channel"] == "metrics")
            .expect("a metrics snapshot");
        assert_eq!(metrics["data"]["open"], 2, "read from the owner: {metrics}");
        let ticket = format!("live-{}", here.port);
        publish_events(js, &[Ev::overdue(tenant, &ticket)]).await;
        ws.until_all("the new ticket's alerts and figures, relayed", |seen| {
            let alerts = seen
                .iter()
                .filter(|m| m["type"] == "alert" && m["data"]["ticket_id"] == ticket.as_str())
                .count();
            let open_now = seen
                .iter()
                .any(|m| m["type"] == "metrics" && m["data"]["open"] == 3);
            let clocks = seen
                .iter()
                .any(|m| m["type"] == "ticket" && m["data"]["ticket_id"] == ticket.as_str());
            alerts >= 2 && open_now && clocks
        })
        .await;
    }
    assert!(b.stop().await.success(), "{}", b.log());
    assert!(a.stop().await.success(), "{}", a.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_four_partitions_two_one_one() {
    let rig = Rig::new().await;
    let mut a = rig.first().await;
    let mut b = rig.second(&a).await;
    // ⌈4/3⌉ = 2: the third comes into 2/2/0, and is handed one partition to make 2/1/1.
    let mut c = second(&rig.setup, "third").start();
    c.ready().await;
    eventually("shares of 2, 1 and 1", || async {
        let mut now = Vec::new();
        for s in [&a, &b, &c] {
            now.push(owned(s).await?);
        }
        now.sort_unstable();
        (now == [1, 1, 2]).then_some(())
    })
    .await;
    let mut all: Vec<u64> = Vec::new();
    for s in [&a, &b, &c] {
        all.extend(owned_partitions(s).await);
    }
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3], "each partition has exactly one owner");
    for s in [&mut c, &mut b, &mut a] {
        assert!(s.stop().await.success(), "{}", s.log());
    }
}
