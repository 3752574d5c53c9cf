//! The configuration center against the real binary, a real nats-server and SQLite: a tenant
//! admin's SLA change reaches the engine as a new policy version (a ticket created afterwards
//! gets the new target, one created before keeps its own), concurrent edits (one wins, one gets
//! 409 with the current value), invalid changes refused with every problem and nothing applied,
//! history, diff and rollback, roles and tenants, the audit, and a feature flag flip applied by
//! the running service within a second.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;
use vigil_peers::NatsServer;

const TENANT: u64 = 7;
const OTHER: u64 = 8;
/// The built-in HIGH response target, in ms (DESIGN.md §3).
const DEFAULT_HIGH_RESPONSE_MS: i64 = 120 * MIN;

struct Api {
    setup: ServiceSetup,
    service: Service,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start(nats: &NatsServer) -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let setup = ServiceSetup::new(dir.path(), &nats.url(), UNLIMITED, "wall");
        let mut service = setup.start();
        service.ready().await;
        Api {
            setup,
            service,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        if_match: Option<i64>,
    ) -> Answer {
        let body = body.map(|b| b.to_string());
        let version = if_match.map(|v| v.to_string());
        let headers: Vec<(&str, &str)> = version
            .as_deref()
            .map(|v| vec![("If-Match", v)])
            .unwrap_or_default();
        request_with(
            self.service.port,
            method,
            path,
            Some(token),
            body.as_deref(),
            &headers,
        )
        .await
    }

    /// The response target of an open ticket, once the engine has it.
    async fn response_target(&self, token: &str, ticket: &str) -> i64 {
        eventually(&format!("{ticket}'s clocks"), || async {
            let a = self
                .call(
                    "GET",
                    &format!("/api/v1/client/tickets/{ticket}/sla"),
                    token,
                    None,
                    None,
                )
                .await;
            (a.status == 200).then(|| {
                a.data()["goals"]
                    .as_array()
                    .and_then(|goals| goals.iter().find(|g| g["goal"] == "response"))
                    .and_then(|g| g["target_ms"].as_i64())
                    .expect("a response goal with its target")
            })
        })
        .await
    }
}

#[tokio::test]
async fn a_tenant_admin_changes_targets_at_run_time_with_versions_history_and_audit() {
    let nats = NatsServer::start();
    let api = Api::start(&nats).await;
    let admin = api.setup.token(TENANT, "client_admin", "alice");
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    let key = format!("/api/v1/system-config/tenant.{TENANT}.sla.targets");

    // --- before: the files' value, version 0 ------------------------------------------------
    let before = api.call("GET", &key, &admin, None, None).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(before.data()["layer"], "files");
    assert_eq!(before.data()["version"], 0);
    assert_eq!(before.header("etag"), Some("\"0\""));
    publish_events(
        &js,
        &[Ev::created(
            TENANT,
            "T-BEFORE",
            now_ms() - MIN,
            "HIGH",
            "e-before",
        )],
    )
    .await;
    assert_eq!(
        api.response_target(&admin, "T-BEFORE").await,
        DEFAULT_HIGH_RESPONSE_MS
    );

    // --- no If-Match, no reason: refused, nothing written -----------------------------------
    let change = json!({"value": {"HIGH": {"response": 45}}, "reason": "contract amendment 3"});
    let a = api
        .call("PUT", &key, &admin, Some(change.clone()), None)
        .await;
    assert_eq!((a.status, a.code()), (400, 40001), "{}", a.text);
    let a = api
        .call(
            "PUT",
            &key,
            &admin,
            Some(json!({"value": {"HIGH": {"response": 45}}, "reason": " "})),
            Some(0),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);

    // --- the change: version 1, a new policy version for tickets created from now on ---------
    let a = api.call("PUT", &key, &admin, Some(change), Some(0)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.data()["changes"][0]["version"], 1);
    assert_eq!(a.data()["changes"][0]["actor"], "alice");
    let after = api.call("GET", &key, &admin, None, None).await;
    assert_eq!(after.data()["layer"], "runtime");
    assert_eq!(after.data()["value"], json!({"HIGH": {"response": 45}}));
    publish_events(
        &js,
        &[Ev::created(
            TENANT,
            "T-AFTER",
            now_ms() + 1000,
            "HIGH",
            "e-after",
        )],
    )
    .await;
    assert_eq!(api.response_target(&admin, "T-AFTER").await, 45 * MIN);
    assert_eq!(
        api.response_target(&admin, "T-BEFORE").await,
        DEFAULT_HIGH_RESPONSE_MS,
        "an open ticket keeps the version it started with"
    );

    // --- two edits from version 1: one wins, the other gets 409 with the current value -------
    let edit = |minutes: i64| json!({"value": {"HIGH": {"response": minutes}}, "reason": format!("try {minutes}")});
    let (x, y) = tokio::join!(
        api.call("PUT", &key, &admin, Some(edit(50)), Some(1)),
        api.call("PUT", &key, &admin, Some(edit(55)), Some(1)),
    );
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", x.text, y.text);
    let loser = if x.status == 409 { &x } else { &y };
    assert_eq!(loser.data()["current_version"], 2, "{}", loser.text);
    assert!(loser.data()["current_value"]["HIGH"]["response"].is_i64());

    // --- invalid: every problem listed, nothing applied --------------------------------------
    let a = api
        .call(
            "POST",
            "/api/v1/system-config/batch",
            &admin,
            Some(json!({
                "reason": "bad batch",
                "changes": [
                    {"key": format!("tenant.{TENANT}.sla.warn_at"), "value": [1.5], "if_match": 0},
                    {"key": format!("tenant.{TENANT}.sla.calendar"), "value": "no-such-calendar", "if_match": 0},
                    {"key": format!("tenant.{TENANT}.sla.targets"), "value": {"HIGH": {"response": 30}}, "if_match": 2},
                ]
            })),
            None,
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let problems = a.data()["problems"].as_array().expect("problems").clone();
    let keys: Vec<&str> = problems.iter().filter_map(|p| p["key"].as_str()).collect();
    assert!(
        keys.contains(&"tenant.7.sla.warn_at") && keys.contains(&"tenant.7.sla.calendar"),
        "{problems:?}"
    );
    let history = api
        .call("GET", &format!("{key}/history"), &admin, None, None)
        .await;
    assert_eq!(
        history.data()["versions"].as_array().map(Vec::len),
        Some(2),
        "the refused batch wrote nothing: {}",
        history.text
    );
    let start_only = api
        .call(
            "PUT",
            "/api/v1/system-config/store.url",
            &api.setup.token(TENANT, "ops", "ops"),
            Some(json!({"value": "sqlite://x.db", "reason": "move"})),
            Some(0),
        )
        .await;
    assert_eq!(start_only.status, 400, "{}", start_only.text);
    assert!(
        start_only.text.contains("cannot change at run time"),
        "{}",
        start_only.text
    );
    // Without a sealing key, a secret cannot be stored at all.
    let no_key = api
        .call(
            "PUT",
            "/api/v1/system-config/secrets.SMTP_PASSWORD",
            &api.setup.token(TENANT, "ops", "ops"),
            Some(json!({"value": "a-password", "reason": "rotate"})),
            Some(0),
        )
        .await;
    assert_eq!(no_key.status, 400, "{}", no_key.text);
    assert!(no_key.text.contains("VIGIL_SECRETS_KEY"), "{}", no_key.text);

    // --- diff and rollback (a new version with the old value) --------------------------------
    let d = api
        .call(
            "GET",
            &format!("{key}/diff?from=1&to=2"),
            &admin,
            None,
            None,
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.data()["changes"][0]["path"], "HIGH.response");
    let r = api
        .call(
            "POST",
            &format!("{key}/rollback"),
            &admin,
            Some(json!({"version": 1, "reason": "back to the amendment"})),
            Some(2),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["changes"][0]["version"], 3);
    assert_eq!(r.data()["changes"][0]["op"], "rollback");
    assert_eq!(r.data()["changes"][0]["rolled_back_to"], 1);
    assert_eq!(
        r.data()["changes"][0]["value"],
        json!({"HIGH": {"response": 45}})
    );

    // --- roles and tenants -------------------------------------------------------------------
    let foreign_admin = api.setup.token(OTHER, "client_admin", "mallory");
    for (token, what) in [
        (&foreign_admin, "another tenant's admin"),
        (
            &api.setup.token(TENANT, "client_user", "bob"),
            "a client user",
        ),
        (
            &api.setup.token(TENANT, "client_manager", "carol"),
            "a client manager",
        ),
        (
            &api.setup.token(TENANT, "service", "upstream"),
            "a service token",
        ),
    ] {
        let a = api.call("GET", &key, token, None, None).await;
        assert_eq!(a.status, 403, "{what}: {}", a.text);
    }
    let global = api
        .call(
            "PUT",
            "/api/v1/system-config/log.filter",
            &admin,
            Some(json!({"value": "debug", "reason": "x"})),
            Some(0),
        )
        .await;
    assert_eq!(
        global.status, 403,
        "a tenant admin may not change global keys"
    );

    // --- the audit: every change, with who and why; a tenant admin sees its own --------------
    let ops = api.setup.token(TENANT, "ops", "olivia");
    let audit = api.call("GET", "/api/v1/audit", &ops, None, None).await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let entries = audit.data()["entries"].as_array().expect("entries").clone();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries.iter().all(|e| e["ip"].is_string()
        && e["request_id"].is_string()
        && !e["reason"].as_str().unwrap_or("").is_empty()));
    let own = api
        .call("GET", "/api/v1/audit?format=csv", &admin, None, None)
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(
        own.text.lines().count(),
        4,
        "a header and three changes: {}",
        own.text
    );
    let foreign = api
        .call(
            "GET",
            &format!("/api/v1/audit?tenant_id={TENANT}"),
            &foreign_admin,
            None,
            None,
        )
        .await;
    assert_eq!(foreign.status, 403, "{}", foreign.text);
}

#[tokio::test]
async fn a_flag_flip_is_applied_by_the_running_service_within_a_second() {
    let nats = NatsServer::start();
    let api = Api::start(&nats).await;
    let ops = api.setup.token(TENANT, "ops", "olivia");
    let flags = api
        .call("GET", "/api/v1/feature-flags", &ops, None, None)
        .await;
    assert_eq!(flags.status, 200, "{}", flags.text);
    let names: Vec<&str> = flags.data()["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"ws.tickets"), "{names:?}");

    let viewer = api.setup.token(TENANT, "client_user", "bob");
    let mut before = WsClient::connect(api.service.port, &viewer)
        .await
        .expect("connect");
    before.subscribe(&["tickets"], json!({})).await;
    let first = before.message().await;
    assert_ne!(first["type"], "error", "{first}");

    let flipped = Instant::now();
    let a = api
        .call(
            "PUT",
            "/api/v1/feature-flags/ws.tickets",
            &ops,
            Some(json!({"rule": {"on": true, "tenants": [OTHER]}, "reason": "dark launch"})),
            Some(0),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let seq = a.data()["changes"][0]["seq"].as_i64().expect("seq");
    api.service.config_applied(seq).await;
    let took = flipped.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "applied after {took:?}, the budget is 1 s"
    );
    let mut after = WsClient::connect(api.service.port, &viewer)
        .await
        .expect("connect");
    after.subscribe(&["tickets"], json!({})).await;
    let refused = after.message().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert!(
        refused.to_string().contains("ws.tickets"),
        "the refusal names the flag: {refused}"
    );

    // Listed by name, a user of that tenant gets the channel back; the others still do not.
    let a = api
        .call(
            "PUT",
            "/api/v1/feature-flags/ws.tickets",
            &ops,
            Some(json!({"rule": {"on": true, "tenants": [OTHER], "users": ["carol"]}, "reason": "carol tries it"})),
            Some(1),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let seq = a.data()["changes"][0]["seq"].as_i64().expect("seq");
    api.service.config_applied(seq).await;
    let carol = api.setup.token(TENANT, "client_user", "carol");
    let mut listed = WsClient::connect(api.service.port, &carol)
        .await
        .expect("connect");
    listed.subscribe(&["tickets"], json!({})).await;
    let welcome = listed.message().await;
    assert_ne!(welcome["type"], "error", "{welcome}");
    // And its ticket deltas: a ticket created now reaches carol.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    publish_events(
        &js,
        &[Ev::created(
            TENANT,
            "T-CAROL",
            now_ms() - MIN,
            "HIGH",
            "e-carol",
        )],
    )
    .await;
    listed
        .until("carol's ticket delta", |m| {
            m["type"] == "ticket" && m["data"]["ticket_id"] == "T-CAROL"
        })
        .await;
    let mut unlisted = WsClient::connect(api.service.port, &viewer)
        .await
        .expect("connect");
    unlisted.subscribe(&["tickets"], json!({})).await;
    let refused = unlisted.message().await;
    assert_eq!(refused["type"], "error", "{refused}");
    let per_tenant_only = api
        .call(
            "PUT",
            "/api/v1/feature-flags/notify.sms",
            &ops,
            Some(json!({"rule": {"on": true, "users": ["carol"]}, "reason": "no users here"})),
            Some(0),
        )
        .await;
    assert_eq!(per_tenant_only.status, 400, "{}", per_tenant_only.text);
    assert_eq!(per_tenant_only.data()["problems"][0]["field"], "users");

    // A bad rule is refused with its field; a client admin may not touch flags.
    let bad = api
        .call(
            "PUT",
            "/api/v1/feature-flags/ws.tickets",
            &ops,
            Some(json!({"rule": {"on": true, "percent": 150}, "reason": "oops"})),
            Some(2),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(
        bad.data()["problems"][0]["field"],
        "percent",
        "{}",
        bad.text
    );
    let admin = api.setup.token(TENANT, "client_admin", "alice");
    let a = api
        .call("GET", "/api/v1/feature-flags", &admin, None, None)
        .await;
    assert_eq!(a.status, 403, "{}", a.text);
}

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

#[tokio::test]
async fn two_instances_converge_on_every_change_made_through_either() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut first = ServiceSetup::new(dir.path(), &nats.url(), UNLIMITED, "wall");
    first
        .env
        .push(("VIGIL__CLUSTER__NAME".into(), "config-a".into()));
    let other = second(&first, "config-b");
    // One after the other: the first runs the store's migrations.
    let mut a = first.start();
    a.ready().await;
    let mut b = other.start();
    b.ready().await;
    let ops = first.token(TENANT, "ops", "olivia");
    let put = |port: u16, key: &str, value: Value, version: i64| {
        let body = json!({"value": value, "reason": "convergence"}).to_string();
        let path = format!("/api/v1/system-config/{key}");
        let ops = ops.clone();
        async move {
            let v = version.to_string();
            request_with(
                port,
                "PUT",
                &path,
                Some(&ops),
                Some(&body),
                &[("If-Match", &v)],
            )
            .await
        }
    };
    let changes = [
        (
            a.port,
            "flags.ws.tickets",
            json!({"on": true, "percent": 50}),
            0,
        ),
        (b.port, "log.filter", json!("info,vigil=debug"), 0),
        (b.port, "flags.ws.tickets", json!({"on": false}), 1),
        (a.port, "tenant.7.sla.warn_at", json!([0.5, 0.8]), 0),
    ];
    let mut last = 0;
    for (port, key, value, version) in changes {
        let answer = put(port, key, value, version).await;
        assert_eq!(answer.status, 200, "{key}: {}", answer.text);
        last = answer.data()["changes"][0]["seq"].as_i64().expect("seq");
    }
    for service in [&a, &b] {
        service.config_applied(last).await;
    }
    // Both show the same layer, and both refuse the tickets channel the flag switched off.
    let listing = |port: u16| {
        let ops = ops.clone();
        async move {
            request(
                port,
                "GET",
                "/api/v1/system-config/export",
                Some(&ops),
                None,
            )
            .await
            .text
        }
    };
    assert_eq!(listing(a.port).await, listing(b.port).await);
    let viewer = first.token(TENANT, "client_user", "bob");
    for port in [a.port, b.port] {
        let mut ws = WsClient::connect(port, &viewer).await.expect("connect");
        ws.subscribe(&["tickets"], json!({})).await;
        let refused = ws.message().await;
        assert_eq!(refused["type"], "error", "port {port}: {refused}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_rollout_advances_step_by_step_and_lists_its_steps() {
    let nats = NatsServer::start();
    let api = Api::start(&nats).await;
    let ops = api.setup.token(TENANT, "ops", "olivia");
    let step = |percent: u8, version: i64| json!({"percent": percent, "reason": format!("rollout to {percent}%"), "if_match": version});
    for (percent, version) in [(10, 0), (50, 1)] {
        let a = api
            .call(
                "PUT",
                "/api/v1/gray-release/notify.retractions",
                &ops,
                Some(step(percent, version)),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let stale = api
        .call(
            "PUT",
            "/api/v1/gray-release/notify.retractions",
            &ops,
            Some(step(100, 1)),
            None,
        )
        .await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    let list = api
        .call("GET", "/api/v1/gray-release", &ops, None, None)
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let rollout = list.data()["rollouts"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "notify.retractions"))
        .cloned()
        .expect("the rollout");
    assert_eq!(rollout["stage"], "partial");
    assert_eq!(rollout["percent"], 50);
    assert_eq!(rollout["version"], 2);
    let percents: Vec<i64> = rollout["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["percent"].as_i64())
        .collect();
    assert_eq!(percents, [50, 10], "newest first");
    let admin = api.setup.token(TENANT, "client_admin", "alice");
    let refused = api
        .call("GET", "/api/v1/gray-release", &admin, None, None)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
}

#[tokio::test]
async fn request_limits_change_at_run_time_and_come_back_when_deleted() {
    let nats = NatsServer::start();
    let api = Api::start(&nats).await;
    let ops = api.setup.token(TENANT, "ops", "olivia");
    let viewer = api.setup.token(OTHER, "client_user", "vera");
    let key = "/api/v1/system-config/http.rate_limit_per_tenant";
    let overview = "/api/v1/client/dashboard/overview";

    let files = api.call("GET", key, &ops, None, None).await;
    assert_eq!(files.status, 200, "{}", files.text);
    assert_eq!(files.data()["value"], 0, "switched off in the files");
    assert_eq!(files.data()["layer"], "files");
    let tenant_admin = api.setup.token(OTHER, "client_admin", "ada");
    let refused = api
        .call(
            "PUT",
            key,
            &tenant_admin,
            Some(json!({"value": 100000, "reason": "more for us"})),
            Some(0),
        )
        .await;
    assert_eq!(refused.status, 403, "ops only: {}", refused.text);
    let bad = api
        .call(
            "PUT",
            key,
            &ops,
            Some(json!({"value": -1, "reason": "x"})),
            Some(0),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);

    let set = api
        .call(
            "PUT",
            key,
            &ops,
            Some(json!({"value": 3, "reason": "a noisy tenant"})),
            Some(0),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    api.service
        .config_applied(set.data()["changes"][0]["seq"].as_i64().expect("seq"))
        .await;
    for _ in 0..3 {
        let ok = api.call("GET", overview, &viewer, None, None).await;
        assert_eq!(ok.status, 200, "{}", ok.text);
    }
    let limited = api.call("GET", overview, &viewer, None, None).await;
    assert_eq!(limited.status, 429, "{}", limited.text);

    let deleted = api
        .call(
            "DELETE",
            &format!("{key}?reason=lifted"),
            &ops,
            None,
            Some(1),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    api.service
        .config_applied(deleted.data()["changes"][0]["seq"].as_i64().expect("seq"))
        .await;
    for _ in 0..5 {
        let ok = api.call("GET", overview, &viewer, None, None).await;
        assert_eq!(
            ok.status, 200,
            "the files' value (off) applies again: {}",
            ok.text
        );
    }
}
