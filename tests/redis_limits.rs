//! Rate limits shared through a real `redis-server` (`[cluster] redis_url`): two limiters on
//! one Redis allow a limit once in total, for the API, notifications and partners alike; keys
//! are laid out as `vigil:limit:<scope>:<key>` and expire; the Lua script answers as the GCRA
//! arithmetic in Rust does; with Redis down the API is still served (each instance's own
//! limits apply) and the failures are counted; and two `vigil run` processes share one per-IP
//! limit. Also what `vigil check-config` says about the setting.
//!
//! Needs `redis-server` (`REDIS_SERVER_BIN` or `PATH`; `scripts/test` installs it). Without it
//! the Redis tests skip, except under `CI=true`, where they fail.

mod support;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::Quota;
use support::*;
use vigil::http::{HttpConfig, RateLimits};
use vigil::limits::{redis_key, Gcra, KeyedLimit, SharedLimits, Verdict};
use vigil::notify::config::{Channel, LimitsConfig};
use vigil::notify::limits::RecipientLimits;
use vigil::partner::config::PartnerConfig;
use vigil::partner::link::PartnerLink;
use vigil::partner::PartnerClient;
use vigil_engine::clock::ManualClock;
use vigil_engine::engine::GoalOutcome;
use vigil_engine::{Goal, SlaRecord};
use vigil_peers::partner::{FakePartner, FakePartnerConfig};
use vigil_peers::NatsServer;

/// Milliseconds left before `key` expires (-2: no such key, -1: no expiry).
async fn pttl(redis: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(redis)
        .await
        .expect("PTTL")
}

/// Keys under `vigil:limit:`.
async fn limit_keys(redis: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("vigil:limit:*")
        .query_async(redis)
        .await
        .expect("KEYS");
    keys.sort();
    keys
}

/// Two "instances" of each limited thing, each with its own connection to one Redis.
async fn two_connections(server: &RedisServer) -> (SharedLimits, SharedLimits) {
    (
        SharedLimits::connect(&server.url()).await.expect("connect"),
        SharedLimits::connect(&server.url()).await.expect("connect"),
    )
}

#[tokio::test]
async fn two_api_instances_on_one_redis_allow_the_limit_once_in_total() {
    let Some(server) = RedisServer::start_or_skip("redis_limits") else {
        return;
    };
    let (a, b) = two_connections(&server).await;
    let config = HttpConfig {
        rate_limit_per_ip: 5,
        rate_limit_per_tenant: 7,
        ..HttpConfig::default()
    };
    let instances = [
        RateLimits::new(&config, Some(&a)),
        RateLimits::new(&config, Some(&b)),
    ];
    let ip = IpAddr::from([10, 0, 0, 1]);
    let mut allowed = 0;
    let mut refusals = Vec::new();
    for i in 0..20 {
        match instances[i % 2].check_ip(ip).await {
            Ok(()) => allowed += 1,
            Err(e) => refusals.push(e),
        }
    }
    // Five in total, not five per instance; the first refusal comes right after them.
    assert_eq!(allowed, 5);
    assert_eq!(refusals.len(), 15);
    for r in &refusals {
        // 5 a minute: the next one is at most 12 s away.
        let retry = r.retry_after_s.expect("Retry-After");
        assert!((1..=12).contains(&retry), "Retry-After {retry}");
    }
    // Another client has its own limit; tenants have theirs.
    instances[1]
        .check_ip(IpAddr::from([10, 0, 0, 2]))
        .await
        .unwrap();
    let mut tenant_allowed = 0;
    for i in 0..20 {
        if instances[i % 2].check_tenant(42).await.is_ok() {
            tenant_allowed += 1;
        }
    }
    assert_eq!(tenant_allowed, 7);
    let mut redis = server.client().await;
    assert_eq!(
        limit_keys(&mut redis).await,
        [
            "vigil:limit:ip:10.0.0.1",
            "vigil:limit:ip:10.0.0.2",
            "vigil:limit:tenant:42"
        ]
    );
}

#[tokio::test]
async fn two_notifiers_on_one_redis_share_each_recipients_windows() {
    let Some(server) = RedisServer::start_or_skip("redis_limits") else {
        return;
    };
    let (a, b) = two_connections(&server).await;
    // Both on one manual clock: the shared path is judged on the notifier's clock.
    let start = now_ms();
    let clock = ManualClock::at(start);
    let config = LimitsConfig::default();
    let instances = [
        RecipientLimits::new(&config, Arc::new(clock.clone()), Some(&a)),
        RecipientLimits::new(&config, Arc::new(clock.clone()), Some(&b)),
    ];
    assert_eq!(instances[0].take("alice", Channel::Sms).await, Ok(()));
    // The other instance knows alice had her SMS of the minute; bob has his own.
    assert_eq!(
        instances[1].take("alice", Channel::Sms).await,
        Err(start + 60_000)
    );
    assert_eq!(instances[1].take("bob", Channel::Sms).await, Ok(()));
    // Three hours of sending as fast as allowed, alternating instances: never two within a
    // minute, never more than 30 within an hour, counted across both.
    let mut sent = vec![start];
    let mut t = start;
    let mut turn = 0;
    while t < start + 3 * 3_600_000 {
        turn += 1;
        match instances[turn % 2].take("alice", Channel::Sms).await {
            Ok(()) => sent.push(t),
            Err(until) => {
                assert!(until > t);
                t = until;
                clock.advance_to(t);
            }
        }
    }
    for (i, at) in sent.iter().enumerate() {
        assert!(sent[i + 1..].first().is_none_or(|next| next - at >= 60_000));
        let in_hour = sent[i..]
            .iter()
            .take_while(|s| **s < at + 3_600_000)
            .count();
        assert!(in_hour <= 30, "{in_hour} within an hour of {at}");
    }
    assert!(sent.len() >= 55, "{} in three hours", sent.len());
    let mut redis = server.client().await;
    let keys = limit_keys(&mut redis).await;
    for key in [
        "vigil:limit:sms_minute:alice",
        "vigil:limit:sms_hour:alice",
        "vigil:limit:sms_minute:bob",
    ] {
        assert!(keys.iter().any(|k| k == key), "no {key} in {keys:?}");
    }
}

fn record(i: u32) -> SlaRecord {
    let stopped_at = 1_795_000_000_000 + i64::from(i);
    SlaRecord::stopped(
        12345,
        &format!("TKT-{i:05}"),
        Goal::Resolution,
        GoalOutcome::Met,
        (86_400_000, 90_000_000),
        (stopped_at - 90_000_000, stopped_at),
        ("HIGH", "incident", 1),
        Some("engineer-0042"),
    )
}

#[tokio::test]
async fn two_partner_links_on_one_redis_share_the_partners_rate() {
    let Some(server) = RedisServer::start_or_skip("redis_limits") else {
        return;
    };
    let (a, b) = two_connections(&server).await;
    let partner = FakePartner::start(FakePartnerConfig::default())
        .await
        .expect("fake partner");
    // 4 a second, no burst: one call per 250 ms for the partner, whichever link makes it.
    let config: PartnerConfig = toml::from_str(&format!(
        "id = \"exchange-a\"\nbase_url = \"{}\"\nrate_limit = {{ per_second = 4, burst = 1 }}\n",
        partner.url()
    ))
    .expect("partner config");
    let link = |shared: &SharedLimits| {
        let client = PartnerClient::new(&config, &vigil::secrets::Secrets::with_env(|_| None))
            .expect("client");
        PartnerLink::with_shared_limit(
            config.clone(),
            client,
            Arc::new(ManualClock::at(0)),
            Some(shared),
        )
    };
    let links = [link(&a), link(&b)];
    let started = Instant::now();
    for i in 0..5 {
        let status = links[i % 2].put(&record(i as u32)).await.expect("put");
        assert!((200..300).contains(&status), "PUT answered {status}");
    }
    // Five calls at 4 a second from the partner's point of view take 4 intervals (each link
    // on its own would have made its 3 and 2 calls within 2 intervals).
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(950),
        "5 calls in {elapsed:?}"
    );
}

#[tokio::test]
async fn keys_expire_once_their_limit_is_full_again() {
    let Some(server) = RedisServer::start_or_skip("redis_limits") else {
        return;
    };
    let (shared, _) = two_connections(&server).await;
    let mut redis = server.client().await;
    // 5 a minute: one request keeps the key for one interval (12 s), five for the minute.
    let api = RateLimits::new(
        &HttpConfig {
            rate_limit_per_ip: 5,
            ..HttpConfig::default()
        },
        Some(&shared),
    );
    let ip = IpAddr::from([192, 0, 2, 7]);
    let key = redis_key("ip", ip);
    api.check_ip(ip).await.unwrap();
    let ttl = pttl(&mut redis, &key).await;
    assert!((11_000..=12_000).contains(&ttl), "PTTL {ttl}");
    for _ in 0..4 {
        api.check_ip(ip).await.unwrap();
    }
    let ttl = pttl(&mut redis, &key).await;
    assert!((59_000..=60_000).contains(&ttl), "PTTL {ttl}");
    // A refusal writes nothing: the expiry does not move.
    assert!(api.check_ip(ip).await.is_err());
    assert!(pttl(&mut redis, &key).await <= ttl);

    // A fast limit (one per 50 ms): many clients, and a moment later no key is left.
    let fast: KeyedLimit<u32> = KeyedLimit::new(
        "fast",
        Quota::with_period(Duration::from_millis(50)).unwrap(),
        Some(&shared),
    );
    for client in 0..100 {
        fast.check(&client).await.unwrap();
        assert!(fast.check(&client).await.is_err(), "client {client}");
    }
    let ttl = pttl(&mut redis, "vigil:limit:fast:99").await;
    assert!((1..=50).contains(&ttl), "PTTL {ttl}");
    eventually("every key of the fast limit to expire", || {
        let mut redis = redis.clone();
        async move {
            let left = limit_keys(&mut redis).await;
            left.iter()
                .all(|k| !k.starts_with("vigil:limit:fast:"))
                .then_some(())
        }
    })
    .await;
    // Expired is full again.
    fast.check(&7).await.unwrap();
}

#[tokio::test]
async fn the_script_answers_as_the_gcra_arithmetic_does() {
    let Some(server) = RedisServer::start_or_skip("redis_limits") else {
        return;
    };
    let (shared, _) = two_connections(&server).await;
    let mut redis = server.client().await;
    let quotas = [
        Quota::per_minute(NonZeroU32::new(100).unwrap()),
        Quota::per_second(NonZeroU32::new(3).unwrap()),
        Quota::per_second(NonZeroU32::new(10).unwrap()).allow_burst(NonZeroU32::new(1).unwrap()),
        Quota::with_period(Duration::from_micros(1_500))
            .unwrap()
            .allow_burst(NonZeroU32::new(4).unwrap()),
    ];
    // Microseconds since the epoch, as the notifier passes them; steps of varied size.
    let t0: u64 = 1_795_000_000_000_000;
    let steps: [u64; 12] = [0, 0, 0, 1, 700, 1_499, 5_000, 0, 333_333, 0, 0, 2_000_000];
    for (q, quota) in quotas.into_iter().enumerate() {
        let gcra = Gcra::from_quota(quota);
        let key = format!("q{q}");
        let mut stored = None;
        let mut now = t0;
        for step in steps {
            now += step;
            let expected = gcra.decide(stored, now);
            let got = shared
                .take("arith", &key, gcra, Some(now))
                .await
                .expect("script");
            assert_eq!(got, expected, "quota {q} at +{} µs", now - t0);
            if let Verdict::Allowed { tat, ttl_ms } = got {
                stored = Some(tat);
                if ttl_ms < 100 {
                    // Gone before it could be looked at, maybe.
                    continue;
                }
                let stored_text: String = redis::cmd("GET")
                    .arg(redis_key("arith", &key))
                    .query_async(&mut redis)
                    .await
                    .expect("GET");
                assert_eq!(stored_text, tat.to_string(), "every digit kept");
                let ttl = pttl(&mut redis, &redis_key("arith", &key)).await;
                assert!(
                    ttl > 0 && ttl.unsigned_abs() <= ttl_ms,
                    "PTTL {ttl} > {ttl_ms}"
                );
            }
        }
    }
    // On Redis' own clock (TIME): the TAT is one interval past Redis' now.
    let gcra = Gcra::from_quota(Quota::per_second(NonZeroU32::new(1).unwrap()));
    let before = (now_ms() as u64 - 1_000) * 1_000;
    let Verdict::Allowed { tat, ttl_ms } = shared
        .take("arith", "server-clock", gcra, None)
        .await
        .expect("script")
    else {
        panic!("refused on a fresh key");
    };
    assert_eq!(ttl_ms, 1_000);
    assert!(
        tat > before + 1_000_000 && tat < before + 60_000_000,
        "TAT {tat}"
    );
}

const API_CONFIG: &str = r#"
[nats]
partitions = 4

[http]
rate_limit_per_ip = 3
rate_limit_per_tenant = 0
trusted_proxies = ["127.0.0.1/32"]
"#;

#[tokio::test]
async fn with_redis_down_the_api_is_served_under_each_instances_own_limits() {
    let Some(mut server) = RedisServer::start_or_skip("redis_limits") else {
        return;
    };
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut setup = ServiceSetup::new(dir.path(), &nats.url(), API_CONFIG, "wall");
    setup
        .env
        .push(("VIGIL__CLUSTER__REDIS_URL".into(), server.url()));
    let mut service = setup.start();
    service.ready().await;
    let token = setup.token(1, "client_user", "ursula");
    let port = service.port;
    let get = |ip: String| {
        let token = token.clone();
        async move {
            let started = Instant::now();
            let a = request_with(
                port,
                "GET",
                "/api/v1/alerts",
                Some(&token),
                None,
                &[("X-Forwarded-For", &ip)],
            )
            .await;
            (a, started.elapsed())
        }
    };
    let mut redis = server.client().await;

    // Redis up: the limit is kept there.
    for _ in 0..3 {
        assert_eq!(get("10.1.0.1".into()).await.0.status, 200);
    }
    assert_eq!(get("10.1.0.1".into()).await.0.status, 429);
    assert_eq!(
        limit_keys(&mut redis).await,
        ["vigil:limit:ip:10.1.0.1"],
        "the limit is kept in Redis"
    );

    // Redis down: requests are served at once, under this instance's own limit of 3.
    server.kill();
    for i in 0..3 {
        let (a, took) = get("10.1.0.2".into()).await;
        assert_eq!(a.status, 200, "request {i} with Redis down: {}", a.text);
        assert!(took < Duration::from_secs(2), "request {i} took {took:?}");
    }
    let (limited, _) = get("10.1.0.2".into()).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.header("retry-after").is_some());
    let errors = service
        .metric("vigil_limit_redis_errors_total{scope=\"ip\"}")
        .await
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "vigil_limit_redis_errors_total = {errors}");
    let log = service.log();
    assert!(
        log.contains("Redis did not answer a rate-limit check"),
        "{log}"
    );
    assert!(
        !log.contains(REDIS_PASSWORD),
        "the password was logged:\n{log}"
    );

    // Redis back (empty): once the cool-down is over, limits are kept there again.
    server.restart();
    let mut redis = server.client().await;
    let mut client = 0;
    eventually("a limit kept in Redis again", || {
        client += 1;
        let ip = format!("10.2.0.{client}");
        let mut redis = redis.clone();
        let request = get(ip.clone());
        async move {
            assert_eq!(request.await.0.status, 200);
            let keys = limit_keys(&mut redis).await;
            keys.contains(&format!("vigil:limit:ip:{ip}")).then_some(())
        }
    })
    .await;
    assert_eq!(limit_keys(&mut redis).await.len(), 1);
}

#[tokio::test]
async fn two_vigil_run_processes_share_one_limit_per_client() {
    let Some(server) = RedisServer::start_or_skip("redis_limits") else {
        return;
    };
    let nats = NatsServer::start();
    // One configuration for both: two instances sharing the partitions and one Redis.
    let config = format!(
        r#"
[nats]
partitions = 4

[http]
rate_limit_per_ip = 6
rate_limit_per_tenant = 0

[cluster]
instances = 2
redis_url = "{}"
"#,
        server.url()
    );
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let setups: Vec<ServiceSetup> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let mut setup = ServiceSetup::new(dir.path(), &nats.url(), &config, "wall");
            setup
                .env
                .push(("VIGIL__CLUSTER__INSTANCE".into(), i.to_string()));
            setup
        })
        .collect();
    let mut services: Vec<Service> = setups.iter().map(ServiceSetup::start).collect();
    for s in &mut services {
        s.ready().await;
    }
    let token = setups[0].token(1, "client_user", "ursula");
    let ports = [services[0].port, services[1].port];
    let get = |port: u16| request(port, "GET", "/api/v1/alerts", Some(&token), None);

    // The client (127.0.0.1 to both) spreads its limit of 6 over the two instances ...
    for i in 0..6 {
        let a = get(ports[i % 2]).await;
        assert_eq!(a.status, 200, "request {i}: {}", a.text);
    }
    // ... and then both refuse it: 6 in total, not 6 each.
    for port in ports {
        let a = get(port).await;
        assert_eq!((a.status, a.code()), (429, 40005), "{}", a.text);
        let retry: u64 = a
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1..=10).contains(&retry), "Retry-After {retry}");
    }
    for s in &services {
        assert_eq!(
            s.metric("vigil_http_rate_limited_total{scope=\"ip\"}")
                .await,
            Some(1.0)
        );
        assert_eq!(
            s.metric("vigil_limit_redis_errors_total{scope=\"ip\"}")
                .await
                .unwrap_or(0.0),
            0.0
        );
        let log = s.log();
        assert!(
            log.contains("rate limits are shared through Redis"),
            "{log}"
        );
        assert!(
            !log.contains(REDIS_PASSWORD),
            "the password was logged:\n{log}"
        );
    }
}

/// `vigil check-config <config text>` with a production JWT secret and `env`.
fn check_config(text: &str, env: &[(&str, &str)]) -> (String, Run) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, text).expect("write config");
    let run: Run = vigil(dir.path())
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .env("VIGIL__AUTH__JWT_SECRET", TEST_JWT_SECRET)
        .envs(env.iter().copied())
        .output()
        .expect("cannot run vigil")
        .into();
    (path.display().to_string(), run)
}

#[test]
fn check_config_takes_only_redis_urls_and_never_prints_their_password() {
    let (path, run) = check_config(
        "[cluster]\ninstances = 1\nredis_url = \"http://cache:6379\"\n",
        &[],
    );
    assert!(!run.status.success(), "{run:?}");
    let expected = format!("{path}:3: cluster.redis_url: expected redis://");
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&expected)),
        "no {expected:?} in:\n{}",
        run.stderr
    );

    let (_, run) = check_config(
        "",
        &[("VIGIL__CLUSTER__REDIS_URL", "nats://:Secret123@cache:6379")],
    );
    assert!(!run.status.success(), "{run:?}");
    assert!(
        run.stderr.contains(
            "environment variable VIGIL__CLUSTER__REDIS_URL: cluster.redis_url: expected redis://"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Secret123"), "{}", run.stderr);

    let (_, run) = check_config(
        "[cluster]\nredis_url = \"rediss://vigil:Secret123@cache.example.com:6380/2\"\n",
        &[],
    );
    assert!(run.status.success(), "{run:?}");
    assert!(
        run.stdout
            .contains("redis_url = \"rediss://vigil:***@cache.example.com:6380/2\""),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Secret123"), "{}", run.stdout);
    assert!(!run.stderr.contains("Secret123"), "{}", run.stderr);

    // Unset, it is empty: limits per instance.
    let (_, run) = check_config("", &[]);
    assert!(run.status.success(), "{run:?}");
    assert!(run.stdout.contains("redis_url = \"\""), "{}", run.stdout);
}
