//! The REST API of DESIGN.md §5 against the real binary, a real nats-server and SQLite: every
//! endpoint, the envelope, 401/403/404/40001 paths, tenant isolation, the alert lifecycle,
//! HTTP ingest, rate limits and the OpenAPI document.

mod support;

use serde_json::{json, Value};
use support::*;
use vigil_peers::NatsServer;

const CONFIG: &str = UNLIMITED;

struct Api {
    setup: ServiceSetup,
    service: Service,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start(nats: &NatsServer, config: &str) -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let setup = ServiceSetup::new(dir.path(), &nats.url(), config, "wall");
        let mut service = setup.start();
        service.ready().await;
        Api {
            setup,
            service,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        request(self.service.port, "GET", path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Option<&str>) -> Answer {
        request(self.service.port, "POST", path, Some(token), body).await
    }
}

fn assert_error(a: &Answer, status: u16, code: u64) {
    assert_eq!((a.status, a.code()), (status, code), "{}", a.text);
    for field in ["message", "timestamp", "request_id"] {
        assert!(
            a.json.get(field).is_some(),
            "envelope without {field}: {}",
            a.text
        );
    }
}

/// An HS256 token signed with `secret` (to forge expired or foreign tokens).
fn signed(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

#[tokio::test]
async fn tokens_are_checked_and_tenants_isolated_on_every_read_endpoint() {
    let nats = NatsServer::start();
    let api = Api::start(&nats, CONFIG).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    publish_events(&js, &[Ev::overdue(1, "T1"), Ev::overdue(2, "T2")]).await;
    eventually("alerts of both tenants", || async {
        (store_alerts(&api.setup.db).await.len() >= 4).then_some(())
    })
    .await;
    let mine = api.setup.token(1, "client_user", "ursula");
    let ops = api.setup.token(0, "ops", "olga");
    let service = api.setup.token(1, "service", "upstream");
    let reads = [
        "/api/v1/client/dashboard/overview",
        "/api/v1/client/sla/compliance",
        "/api/v1/client/tickets/T1/sla",
        "/api/v1/alerts",
    ];
    let now_s = (now_ms() / 1000) as u64;
    let expired = signed(
        TEST_JWT_SECRET,
        json!({"sub":"x","tenant_id":1,"role":"ops","exp": now_s - 60}),
    );
    let foreign = signed(
        "another-secret",
        json!({"sub":"x","tenant_id":1,"role":"ops","exp": now_s + 600}),
    );
    let mut tampered = mine.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    for path in reads {
        let missing = request(api.service.port, "GET", path, None, None).await;
        assert_error(&missing, 401, 40004);
        for bad in [&expired, &foreign, &tampered] {
            assert_error(&api.get(path, bad).await, 401, 40004);
        }
        // Another tenant's data answers 403 and never data.
        let sep = if path.contains('?') { '&' } else { '?' };
        let cross = api.get(&format!("{path}{sep}tenant_id=2"), &mine).await;
        assert_error(&cross, 403, 40003);
        assert!(cross.data().is_null(), "{}", cross.text);
        // An ingest-only token reads nothing.
        assert_error(&api.get(path, &service).await, 403, 40003);
    }
    assert!(
        api.service
            .metric("vigil_security_events_total{kind=\"cross_tenant\"}")
            .await
            >= Some(4.0)
    );
    assert!(
        api.service
            .metric("vigil_security_events_total{kind=\"bad_token\"}")
            .await
            >= Some(12.0)
    );

    // Ops see any tenant but must say which for tenant endpoints.
    assert_error(
        &api.get("/api/v1/client/dashboard/overview", &ops).await,
        400,
        40001,
    );
    let t2 = api
        .get("/api/v1/client/dashboard/overview?tenant_id=2", &ops)
        .await;
    assert_eq!(
        (t2.status, t2.data()["tenant_id"].as_u64()),
        (200, Some(2)),
        "{}",
        t2.text
    );
    let all = api.get("/api/v1/alerts", &ops).await;
    let tenants: Vec<u64> = all.data()["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tenant_id"].as_u64().unwrap())
        .collect();
    assert!(tenants.contains(&1) && tenants.contains(&2), "{}", all.text);
    // A client sees only its own alerts.
    let own = api.get("/api/v1/alerts?state=firing", &mine).await;
    let own = own.data()["alerts"].as_array().unwrap().clone();
    assert!(!own.is_empty());
    assert!(own
        .iter()
        .all(|a| a["tenant_id"] == 1 && a["state"] == "firing"));
}

#[tokio::test]
async fn dashboard_endpoints_report_figures_clocks_and_bad_parameters() {
    let nats = NatsServer::start();
    let api = Api::start(&nats, CONFIG).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    let now = now_ms();
    let fresh = Ev::created(1, "FRESH", now - MIN, "LOW", "fresh-c");
    let done =
        Ev::created(1, "DONE", now - 2 * HOUR, "HIGH", "done-c").with("service_type", "request");
    let responded = Ev::responded(1, "DONE", now - HOUR, "done-r");
    publish_events(&js, &[Ev::overdue(1, "T1"), fresh, done, responded]).await;
    let token = api.setup.token(1, "client_manager", "maria");
    let overview = eventually(
        "the overview to count 3 open tickets and T1's breach",
        || async {
            let a = api
                .get("/api/v1/client/dashboard/overview?period=24h", &token)
                .await;
            let s = &a.data()["summary"];
            (s["open"] == 3 && s["breaches"].as_u64() >= Some(1)).then_some(a)
        },
    )
    .await;
    let d = overview.data();
    assert_eq!(overview.code(), 200);
    assert_eq!(d["period"], "24h");
    assert_eq!(d["summary"]["total"], 3);
    // A response does not change the status: all three are still PENDING.
    assert_eq!(d["summary"]["pending"], 3, "{}", overview.text);
    assert_eq!(
        d["summary"]["response_compliance"], 1.0,
        "{}",
        overview.text
    );
    assert_eq!(d["trends"].as_array().unwrap().len(), 24);
    let open_alerts = d["open_alerts"].as_array().unwrap();
    assert!(open_alerts
        .iter()
        .any(|a| a["ticket_id"] == "T1" && a["level"] == "breach"));
    assert!(d["last_updated"].as_str().is_some());

    // DONE's response (HIGH: 60 min) was met at 60 min.
    let compliance = api
        .get(
            "/api/v1/client/sla/compliance?period=24h&group_by=service_type",
            &token,
        )
        .await;
    assert_eq!(compliance.status, 200, "{}", compliance.text);
    let groups = compliance.data()["groups"].as_array().unwrap();
    let request_group = groups
        .iter()
        .find(|g| g["key"] == "request")
        .unwrap_or_else(|| panic!("no request group: {}", compliance.text));
    assert_eq!(request_group["response"]["met"], 1, "{}", compliance.text);
    assert_eq!(compliance.data()["total"]["response"]["met"], 1);
    let range = api
        .get(
            &format!(
                "/api/v1/client/sla/compliance?from={}&to={}&group_by=priority",
                ts(now - 3 * HOUR),
                ts(now + MIN)
            ),
            &token,
        )
        .await;
    assert_eq!(range.status, 200, "{}", range.text);
    assert_eq!(range.data()["groups"][0]["key"], "HIGH");

    let clocks = api.get("/api/v1/client/tickets/FRESH/sla", &token).await;
    assert_eq!(clocks.status, 200, "{}", clocks.text);
    let goals = clocks.data()["goals"].as_array().unwrap();
    assert_eq!(goals[0]["goal"], "response");
    let remaining = goals[0]["remaining_ms"].as_i64().unwrap();
    let target = goals[0]["target_ms"].as_i64().unwrap();
    assert!(remaining > 0 && remaining < target, "{}", clocks.text);
    assert_eq!(goals[0]["paused"], false);
    assert!(goals[0]["deadline"].as_str().is_some());
    assert!(clocks.data()["next_deadline"].as_str().is_some());

    for (path, field) in [
        ("/api/v1/client/dashboard/overview?period=2w", "period"),
        (
            "/api/v1/client/dashboard/overview?tenant_id=abc",
            "tenant_id",
        ),
        (
            "/api/v1/client/sla/compliance?group_by=assignee",
            "group_by",
        ),
        (
            "/api/v1/client/sla/compliance?from=2026-11-01T00:00:00Z",
            "to",
        ),
        (
            "/api/v1/client/sla/compliance?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
            "from",
        ),
        ("/api/v1/alerts?state=burning", "state"),
        ("/api/v1/alerts?limit=0", "limit"),
        ("/api/v1/alerts?colour=red", "colour"),
    ] {
        let a = api.get(path, &token).await;
        assert_error(&a, 400, 40001);
        assert_eq!(a.data()["field"], field, "{path}: {}", a.text);
    }
    assert_error(
        &api.get("/api/v1/client/tickets/NOPE/sla", &token).await,
        404,
        41001,
    );
    assert_error(&api.get("/api/v1/nothing/here", &token).await, 404, 41001);
    // Partner data spans tenants: client roles are refused before anything is looked up.
    let path = "/api/v1/partners/acme/reconciliations?date=2026-11-22";
    assert_error(&api.get(path, &token).await, 403, 40003);
    let ops = api.setup.token(0, "ops", "olga");
    let unknown = api.get(path, &ops).await;
    assert_error(&unknown, 404, 41001);
    assert!(unknown.json["message"]
        .as_str()
        .unwrap()
        .contains("no partner is configured"));
}

#[tokio::test]
async fn alerts_are_acknowledged_and_resolved_once_with_who_and_when() {
    let nats = NatsServer::start();
    let api = Api::start(&nats, CONFIG).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let mut published = client.subscribe("vigil.alerts.1").await.unwrap();
    publish_events(&js, &[Ev::overdue(1, "T1")]).await;
    let manager = api.setup.token(1, "client_manager", "maria");
    let user = api.setup.token(1, "client_user", "ursula");
    let other = api.setup.token(2, "client_admin", "otto");
    let breach = eventually("the breach alert", || async {
        let a = api.get("/api/v1/alerts?state=firing", &manager).await;
        a.data()["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["level"] == "breach")
            .cloned()
    })
    .await;
    let id = breach["alert_id"].as_str().unwrap();
    let ack = format!("/api/v1/alerts/{id}/ack");
    assert_error(&api.post(&ack, &user, None).await, 403, 40003);
    assert_error(&api.post(&ack, &other, None).await, 403, 40003);
    assert_error(
        &api.post("/api/v1/alerts/no-such-alert/ack", &manager, None)
            .await,
        404,
        41001,
    );

    let first = api.post(&ack, &manager, None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.data()["state"], "acknowledged");
    assert_eq!(first.data()["acked_by"], "maria");
    assert!(first.data()["acked_at"].as_str().is_some());
    // Idempotent: the same answer, nothing recorded twice.
    let again = api.post(&ack, &manager, None).await;
    assert_eq!(
        (again.status, &again.data()["acked_at"]),
        (200, &first.data()["acked_at"])
    );

    let resolve = format!("/api/v1/alerts/{id}/resolve");
    let resolved = api.post(&resolve, &manager, None).await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert_eq!(resolved.data()["state"], "resolved");
    assert_eq!(resolved.data()["resolved_by"], "maria");
    assert_eq!(api.post(&resolve, &manager, None).await.status, 200);
    let late_ack = api.post(&ack, &manager, None).await;
    assert_error(&late_ack, 400, 40001);
    assert_eq!(late_ack.data()["field"], "state");

    // Each change of the breach went out once on vigil.alerts.1, in order.
    let mut states: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !states.contains(&"resolved".to_string()) {
        assert!(std::time::Instant::now() < deadline, "saw only {states:?}");
        for m in drain(&client, &mut published).await {
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            if v["level"] == "breach" && v["goal"] == "response" {
                states.push(v["state"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(states, ["firing", "acknowledged", "resolved"]);
}

#[tokio::test]
async fn http_ingest_answers_per_event_and_publishes_only_valid_events_of_its_tenant() {
    let nats = NatsServer::start();
    let api = Api::start(&nats, CONFIG).await;
    let upstream = api.setup.token(1, "service", "upstream-1");
    let manager = api.setup.token(1, "client_manager", "maria");
    let good = Ev::created(1, "H1", now_ms() - MIN, "HIGH", "h1-c").json;
    let missing = Ev::created(1, "H2", now_ms(), "HIGH", "h2-c")
        .without("occurred_at")
        .json;
    let foreign = Ev::created(2, "H3", now_ms(), "HIGH", "h3-c").json;
    let body = json!([good, missing, foreign]).to_string();
    let a = api
        .post("/api/v1/ingest/events", &upstream, Some(&body))
        .await;
    assert_eq!((a.status, a.code()), (200, 200), "{}", a.text);
    let results = a.data()["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "accepted");
    assert!(results[0]["stream_seq"].as_u64().is_some());
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(
        (results[1]["code"].as_u64(), results[1]["reason"].as_str()),
        (Some(40001), Some("missing_field"))
    );
    assert_eq!(results[2]["code"], 40003);
    assert_eq!(
        (a.data()["accepted"].as_u64(), a.data()["rejected"].as_u64()),
        (Some(1), Some(2))
    );

    // The accepted event reaches the engine; sent again it is a duplicate.
    eventually("H1 to be open", || async {
        let t = api.get("/api/v1/client/tickets/H1/sla", &manager).await;
        (t.status == 200).then_some(())
    })
    .await;
    let again = api
        .post(
            "/api/v1/ingest/events",
            &upstream,
            Some(&json!([good]).to_string()),
        )
        .await;
    assert_eq!(
        again.data()["results"][0]["status"],
        "duplicate",
        "{}",
        again.text
    );

    // Bad bodies and roles.
    let all_bad = api
        .post(
            "/api/v1/ingest/events",
            &upstream,
            Some(&json!([missing]).to_string()),
        )
        .await;
    assert_error(&all_bad, 400, 40001);
    for body in ["{\"not\":\"an array\"}", "[]", "nonsense"] {
        assert_error(
            &api.post("/api/v1/ingest/events", &upstream, Some(body))
                .await,
            400,
            40001,
        );
    }
    assert_error(
        &api.post("/api/v1/ingest/events", &manager, Some(&body))
            .await,
        403,
        40003,
    );
    assert!(
        api.service
            .metric("vigil_ingest_http_events_total{result=\"accepted\"}")
            .await
            == Some(1.0)
    );
}

#[tokio::test]
async fn the_openapi_document_covers_every_endpoint() {
    let nats = NatsServer::start();
    let api = Api::start(&nats, CONFIG).await;
    let doc = request(api.service.port, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.json["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/client/dashboard/overview", "get"),
        ("/api/v1/client/sla/compliance", "get"),
        ("/api/v1/client/tickets/{ticket_id}/sla", "get"),
        ("/api/v1/alerts", "get"),
        ("/api/v1/alerts/{alert_id}/ack", "post"),
        ("/api/v1/alerts/{alert_id}/resolve", "post"),
        ("/api/v1/ingest/events", "post"),
        ("/api/v1/partners/{partner_id}/reconciliations", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc.json["components"]["securitySchemes"]["bearer"].is_object());
    // The dashboard page and its assets are served.
    let page = request(api.service.port, "GET", "/", None, None).await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    for asset in [
        "/assets/app.js",
        "/assets/app.css",
        "/assets/vendor/uPlot.iife.min.js",
    ] {
        assert_eq!(
            request(api.service.port, "GET", asset, None, None)
                .await
                .status,
            200,
            "{asset}"
        );
    }
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_ip_and_per_tenant() {
    let nats = NatsServer::start();
    let config = r#"
[nats]
partitions = 4

[http]
rate_limit_per_ip = 5
rate_limit_per_tenant = 8
trusted_proxies = ["127.0.0.1/32"]
"#;
    let api = Api::start(&nats, config).await;
    let token = api.setup.token(1, "client_user", "ursula");
    let port = api.service.port;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    let path = "/api/v1/alerts";
    for _ in 0..5 {
        let a = request_with(port, "GET", path, Some(&token), None, &from("10.0.0.1")).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let limited = request_with(port, "GET", path, Some(&token), None, &from("10.0.0.1")).await;
    assert_error(&limited, 429, 40005);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Another address still gets through, until the tenant's own limit (8) is used up.
    for _ in 0..3 {
        let a = request_with(port, "GET", path, Some(&token), None, &from("10.0.0.2")).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let tenant_limited =
        request_with(port, "GET", path, Some(&token), None, &from("10.0.0.3")).await;
    assert_error(&tenant_limited, 429, 40005);
    assert!(tenant_limited.json["message"]
        .as_str()
        .unwrap()
        .contains("tenant"));
    // Operational endpoints are not limited.
    for _ in 0..10 {
        assert_eq!(api.service.get("/healthz").await.map(|r| r.0), Some(200));
    }
    assert_eq!(
        api.service
            .metric("vigil_http_rate_limited_total{scope=\"ip\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        api.service
            .metric("vigil_http_rate_limited_total{scope=\"tenant\"}")
            .await,
        Some(1.0)
    );
}
