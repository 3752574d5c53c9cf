//! The WebSocket protocol of DESIGN.md §5 against the running service with a real NATS:
//! snapshots then deltas in `seq` order, resumption, coalescing, tenant isolation, connection
//! caps, slow-client shedding, the heartbeat, and what one connection may send: the message
//! size cap (1009), the message rate (error 40005), and its token's expiry (1008).

mod support;

use serde_json::{json, Value};
use support::*;
use vigil_peers::NatsServer;

const CONFIG: &str = UNLIMITED;

struct Live {
    setup: ServiceSetup,
    service: Service,
    js: async_nats::jetstream::Context,
    _nats: NatsServer,
    _dir: tempfile::TempDir,
}

impl Live {
    async fn start(config: &str) -> Live {
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let setup = ServiceSetup::new(dir.path(), &nats.url(), config, "wall");
        let mut service = setup.start();
        service.ready().await;
        let js =
            async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
        Live {
            setup,
            service,
            js,
            _nats: nats,
            _dir: dir,
        }
    }

    async fn client(&self, tenant: u64, role: &str) -> WsClient {
        let token = self.setup.token(tenant, role, "viewer");
        WsClient::connect(self.service.port, &token)
            .await
            .expect("upgrade accepted")
    }

    async fn metric(&self, sample: &str) -> f64 {
        self.service.metric(sample).await.unwrap_or(0.0)
    }
}

fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))
}

fn alerts_of(seen: &[Value]) -> Vec<&Value> {
    seen.iter().filter(|m| m["type"] == "alert").collect()
}

/// Reads the three snapshots of a fresh subscription; returns their seq and them.
async fn snapshots(c: &mut WsClient) -> (u64, Vec<Value>) {
    let mut seen = Vec::new();
    for _ in 0..3 {
        let m = c.message().await;
        assert_eq!(m["type"], "snapshot", "{m}");
        seen.push(m);
    }
    let channels: Vec<&str> = seen
        .iter()
        .map(|m| m["channel"].as_str().expect("a channel"))
        .collect();
    assert_eq!(channels, ["alerts", "metrics", "tickets"]);
    let s = seq(&seen[0]);
    assert!(seen.iter().all(|m| seq(m) == s));
    (s, seen)
}

#[tokio::test]
async fn a_subscription_gets_snapshots_then_deltas_in_seq_order_and_resumes() {
    let live = Live::start(CONFIG).await;
    let mut c = live.client(1, "client_user").await;
    c.subscribe(&["metrics", "alerts", "tickets"], json!({}))
        .await;
    let (start, snap) = snapshots(&mut c).await;
    assert_eq!(snap[0]["data"]["alerts"], json!([]));
    assert_eq!(snap[1]["data"]["open"], 0);

    publish_events(&live.js, &[Ev::overdue(1, "T1"), Ev::overdue(2, "OTHER")]).await;
    let seen = c
        .until_all("3 alerts, metrics with T1 open, and T1's clocks", |seen| {
            alerts_of(seen).len() >= 3
                && seen
                    .iter()
                    .any(|m| m["type"] == "metrics" && m["data"]["open"] == 1)
                && seen
                    .iter()
                    .any(|m| m["type"] == "ticket" && m["data"]["ticket_id"] == "T1")
        })
        .await;
    // Strictly increasing seq after the snapshot's, and nothing of tenant 2.
    let seqs: Vec<u64> = seen.iter().map(seq).collect();
    assert!(
        seqs[0] > start && seqs.windows(2).all(|w| w[0] < w[1]),
        "{seqs:?}"
    );
    assert!(seen.iter().all(|m| m["tenant_id"] == 1), "{seen:#?}");
    let firing: Vec<(&str, &str)> = alerts_of(&seen)
        .iter()
        .map(|a| {
            (
                a["data"]["goal"].as_str().unwrap(),
                a["data"]["level"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        firing.contains(&("response", "breach")) && firing.contains(&("resolution", "warning"))
    );
    let ticket = seen.iter().find(|m| m["type"] == "ticket").unwrap();
    assert_eq!(ticket["data"]["goals"][1]["goal"], "resolution");
    let last = *seqs.last().unwrap();
    drop(c);

    // Missed while away: T2's alerts. Resuming replays exactly those, then fresh state.
    publish_events(&live.js, &[Ev::overdue(1, "T2")]).await;
    eventually("T2's alerts in the store", || async {
        (store_alerts(&live.setup.db)
            .await
            .iter()
            .filter(|r| r.key.0 == 1)
            .count()
            >= 6)
            .then_some(())
    })
    .await;
    let mut back = live.client(1, "client_user").await;
    back.subscribe(
        &["metrics", "alerts", "tickets"],
        json!({ "resume_from": last }),
    )
    .await;
    let resumed = back.message().await;
    assert_eq!(
        (resumed["type"].as_str(), resumed["from"].as_u64()),
        (Some("resumed"), Some(last)),
        "{resumed}"
    );
    let replay = back
        .until_all("T2's three alerts and fresh snapshots", |seen| {
            seen.iter()
                .any(|m| m["type"] == "snapshot" && m["channel"] == "tickets")
        })
        .await;
    let missed = alerts_of(&replay);
    assert_eq!(missed.len(), 3, "{replay:#?}");
    assert!(missed
        .iter()
        .all(|a| a["data"]["ticket_id"] == "T2" && seq(a) > last));
    let metrics = replay.iter().find(|m| m["channel"] == "metrics").unwrap();
    assert_eq!(metrics["data"]["open"], 2);

    // A seq this run never gave out (an earlier run's): a fresh snapshot instead.
    let mut stale = live.client(1, "client_user").await;
    stale
        .subscribe(
            &["metrics", "alerts", "tickets"],
            json!({ "resume_from": 5 }),
        )
        .await;
    let (_, snap) = snapshots(&mut stale).await;
    assert_eq!(snap[0]["data"]["alerts"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn metrics_updates_are_coalesced_to_at_most_four_a_second() {
    let live = Live::start(CONFIG).await;
    let mut c = live.client(1, "client_user").await;
    c.subscribe(&["metrics"], json!({})).await;
    assert_eq!(c.message().await["channel"], "metrics");
    let now = now_ms();
    let events: Vec<Ev> = (0..300)
        .map(|i| Ev::created(1, &format!("C{i}"), now - MIN, "LOW", &format!("c{i}")))
        .collect();
    publish_events(&live.js, &events).await;
    let seen = c
        .until("metrics with all 300 open", |m| m["data"]["open"] == 300)
        .await;
    assert!(seen.iter().all(|m| m["type"] == "metrics"));
    // 300 changes, far fewer updates, and those at least ~250 ms apart.
    let ats: Vec<i64> = seen
        .iter()
        .map(|m| ms(m["data"]["at"].as_str().unwrap()))
        .collect();
    assert!(seen.len() < 100, "{} updates for 300 events", seen.len());
    for w in ats.windows(2) {
        assert!(
            w[1] - w[0] >= 200,
            "updates {} ms apart: {ats:?}",
            w[1] - w[0]
        );
    }
}

#[tokio::test]
async fn other_tenants_are_refused_and_never_sent_and_ops_may_follow_all() {
    let live = Live::start(CONFIG).await;
    let port = live.service.port;
    assert_eq!(
        WsClient::connect(port, "not-a-token").await.err(),
        Some(401)
    );
    let upstream = live.setup.token(1, "service", "upstream");
    assert_eq!(WsClient::connect(port, &upstream).await.err(), Some(403));
    // The header works as well as the query.
    let header_token = live.setup.token(1, "client_user", "h");
    let mut by_header = WsClient::connect_with_header(port, &header_token)
        .await
        .expect("upgrade");
    by_header.send(json!({"op": "ping"})).await;
    assert_eq!(by_header.message().await["type"], "pong");

    let mut intruder = live.client(1, "client_user").await;
    intruder
        .subscribe(&["alerts", "metrics"], json!({ "tenant_ids": [2] }))
        .await;
    let refusal = intruder.message().await;
    assert_eq!(
        (refusal["type"].as_str(), refusal["code"].as_u64()),
        (Some("error"), Some(40003)),
        "{refusal}"
    );
    assert_eq!(intruder.closed().await, Some(1008));

    let mut bad = live.client(1, "client_user").await;
    bad.subscribe(&["weather"], json!({})).await;
    assert_eq!(bad.message().await["code"], 40001);
    bad.send(json!({"op": "explode"})).await;
    assert_eq!(bad.message().await["code"], 40001);

    let mut ops = live.client(0, "ops").await;
    ops.subscribe(&["alerts"], json!({ "tenant_ids": "all" }))
        .await;
    assert_eq!(ops.message().await["channel"], "alerts");
    publish_events(&live.js, &[Ev::overdue(2, "X"), Ev::overdue(3, "Y")]).await;
    let seen = ops
        .until_all("alerts of tenants 2 and 3", |seen| {
            let tenants: Vec<&Value> = alerts_of(seen).iter().map(|a| &a["tenant_id"]).collect();
            tenants.contains(&&json!(2)) && tenants.contains(&&json!(3))
        })
        .await;
    assert!(!seen.is_empty());
    assert!(
        live.metric("vigil_security_events_total{kind=\"cross_tenant\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn connections_per_tenant_are_capped() {
    let live = Live::start(&format!("{CONFIG}\n[ws]\nmax_clients_per_tenant = 2\n")).await;
    let token = live.setup.token(1, "client_user", "u");
    let port = live.service.port;
    let first = WsClient::connect(port, &token).await.expect("first");
    let _second = WsClient::connect(port, &token).await.expect("second");
    assert_eq!(WsClient::connect(port, &token).await.err(), Some(429));
    // Another tenant is not affected; a freed place can be taken again.
    assert!(
        WsClient::connect(port, &live.setup.token(2, "client_user", "v"))
            .await
            .is_ok()
    );
    drop(first);
    eventually("the freed place", || async {
        WsClient::connect(port, &token).await.ok()
    })
    .await;
}

#[tokio::test]
async fn a_slow_client_is_closed_with_1013_and_others_get_every_alert() {
    // Small socket buffers, a small queue and a short stall limit: a client that stops
    // reading is found out after a few dozen alerts.
    let config = CONFIG.replace("[http]\n", "[http]\nsend_buffer_bytes = 4096\n")
        + "\n[ws]\nclient_queue = 32\nslow_client_timeout = \"300ms\"\nping_interval = \"100ms\"\n";
    let live = Live::start(&config).await;
    let token = live.setup.token(1, "client_user", "slow");
    let mut slow = WsClient::connect_small_buffer(live.service.port, &token).await;
    slow.subscribe(&["alerts"], json!({})).await;
    let mut fast = live.client(1, "client_user").await;
    fast.subscribe(&["alerts"], json!({})).await;
    assert_eq!(fast.message().await["channel"], "alerts");

    // The fast client reads all along, while the events are published.
    let reader = tokio::spawn(async move {
        fast.until_all("all 240 alerts", |seen| alerts_of(seen).len() == 240)
            .await
    });
    let tickets: Vec<Ev> = (0..80).map(|i| Ev::overdue(1, &format!("S{i}"))).collect();
    publish_events(&live.js, &tickets).await;
    let seen = reader.await.unwrap();
    let seqs: Vec<u64> = seen.iter().map(seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    eventually("the slow client to be closed", || async {
        (live
            .metric("vigil_ws_disconnects_total{reason=\"slow_client\"}")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    assert_eq!(slow.closed().await, Some(1013));
}

#[tokio::test]
async fn silent_clients_are_dropped_and_answering_ones_stay() {
    let config = format!("{CONFIG}\n[ws]\nping_interval = \"200ms\"\nidle_timeout = \"1s\"\n");
    let live = Live::start(&config).await;
    let mut answering = live.client(1, "client_user").await;
    let mut silent = live.client(1, "client_user").await;
    // Eight pings take ~1.6 s, past the idle timeout; reading answers each with a pong.
    answering.pings(8).await;
    answering.send(json!({"op": "ping"})).await;
    let pong = answering.until("pong", |m| m["type"] == "pong").await;
    assert!(!pong.is_empty());
    eventually("the silent client to be dropped", || async {
        (live
            .metric("vigil_ws_disconnects_total{reason=\"idle\"}")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    // The close frame (1001) is sent, but a client that reads only now may first fail to
    // answer the pings it missed on the closed socket and see the connection drop instead.
    assert!(matches!(silent.closed().await, Some(1001) | None));
    assert_eq!(live.metric("vigil_ws_clients").await, 1.0);
}

#[tokio::test]
async fn a_message_over_the_size_cap_closes_the_socket_with_1009() {
    let live = Live::start(CONFIG).await;
    let mut c = live.client(1, "client_user").await;
    // Just under the default 64 KiB cap is read (and refused as a bad request, not closed).
    c.send_text("x".repeat(60 * 1024)).await;
    assert_eq!(c.message().await["code"], 40001);
    // 100 KiB is over it.
    c.send_text("y".repeat(100 * 1024)).await;
    let (_, frame) = c.close_frame().await;
    assert_eq!(
        frame,
        Some((1009, "message too big".to_string())),
        "{}",
        live.service.log()
    );
    eventually("the disconnect counted", || async {
        (live
            .metric("vigil_ws_disconnects_total{reason=\"too_big\"}")
            .await
            == 1.0)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_flood_beyond_the_message_rate_is_ignored_with_one_error_and_the_socket_stays() {
    let config = format!("{CONFIG}\n[ws]\nmessages_per_second = 1\nmessage_burst = 5\n");
    let live = Live::start(&config).await;
    let mut c = live.client(1, "client_user").await;
    // 50 pings at once: the burst of 5 is answered, the rest are ignored; the first ignored
    // one is answered with 40005 and how long to wait.
    for _ in 0..50 {
        c.send(json!({"op": "ping"})).await;
    }
    let seen = c
        .until_all("the burst's pongs and the rate error", |seen| {
            seen.iter().filter(|m| m["type"] == "pong").count() >= 5
                && seen.iter().any(|m| m["code"] == 40005)
        })
        .await;
    let error = seen.iter().find(|m| m["code"] == 40005).unwrap();
    assert_eq!(error["type"], "error");
    assert!(
        error["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms <= 1000),
        "{error}"
    );
    // Nothing more arrives for the flood: at most one more pong (a token that refilled while
    // the flood was read) and one more error.
    let mut late = Vec::new();
    while let Some(Ok(m)) = c.next(std::time::Duration::from_millis(300)).await {
        late.push(m);
    }
    let pongs = seen
        .iter()
        .chain(&late)
        .filter(|m| m["type"] == "pong")
        .count();
    let errors = seen
        .iter()
        .chain(&late)
        .filter(|m| m["code"] == 40005)
        .count();
    assert!(
        (5..=7).contains(&pongs),
        "{pongs} pongs: {seen:#?} {late:#?}"
    );
    assert!(
        (1..=3).contains(&errors),
        "{errors} errors: {seen:#?} {late:#?}"
    );
    assert!(
        live.metric("vigil_http_rate_limited_total{scope=\"ws_message\"}")
            .await
            >= 40.0
    );
    // The connection stays open: after the wait the server names, a ping is answered again
    // (with a pong, or with another 40005 and another wait).
    let last_error = seen.iter().chain(&late).rfind(|m| m["code"] == 40005);
    let wait = last_error
        .and_then(|e| e["retry_after_ms"].as_u64())
        .unwrap_or(1000);
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no pong after the flood"
        );
        c.send(json!({"op": "ping"})).await;
        let answer = c.message().await;
        if answer["type"] == "pong" {
            break;
        }
        assert_eq!(answer["code"], 40005, "{answer}");
        let wait = answer["retry_after_ms"].as_u64().unwrap_or(100);
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
}

#[tokio::test]
async fn a_connection_is_closed_with_1008_when_its_token_expires() {
    let live = Live::start(CONFIG).await;
    let token = live.setup.token_with_ttl(1, "client_user", "brief", "3s");
    let mut c = WsClient::connect(live.service.port, &token)
        .await
        .expect("upgrade accepted while the token is valid");
    c.subscribe(&["alerts"], json!({})).await;
    let (seen, frame) = c.close_frame().await;
    assert_eq!(
        frame,
        Some((1008, "token expired".to_string())),
        "{seen:#?}"
    );
    assert_eq!(seen[0]["channel"], "alerts", "{seen:#?}");
    assert_eq!(seen.last().unwrap()["code"], 40004, "{seen:#?}");
    eventually("the disconnect counted", || async {
        (live
            .metric("vigil_ws_disconnects_total{reason=\"token_expired\"}")
            .await
            == 1.0)
            .then_some(())
    })
    .await;
}
