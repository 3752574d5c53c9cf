//! Who may call what: every route the service serves, walked with every role (and no token),
//! on data of the caller's own tenant and of another tenant, against the real binary.
//!
//! The routes come from the one list the router is built from ([`vigil::api::served_routes`])
//! plus the operational ones, so a new route without an entry in [`ACCESS`] fails this test;
//! the OpenAPI document must describe exactly the API routes. For each route × role × tenant
//! the answer must be the expected one (401 without a token, 403 for a role that may not, 403
//! or 404 for another tenant's data, a success otherwise), never a 5xx, and never a success
//! carrying another tenant's data.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use support::*;
use vigil::store::{RunCounts, Store};
use vigil_engine::{Goal, SlaRecord};
use vigil_peers::NatsServer;

/// The callers' tenant.
const OWN: u64 = 1;
/// Another tenant.
const FOREIGN: u64 = 2;
/// In every ticket id and comment of the other tenant: an answer to a client of [`OWN`] that
/// contains it leaks.
const FOREIGN_MARK: &str = "FOREIGN-T";
/// The partner every record goes to.
const PARTNER: &str = "exchange-a";
/// The reconciliation run seeded.
const RUN: &str = "run-1";
/// The variable holding the ack link secret.
const SECRET_VAR: &str = "VIGIL_TEST_ROUTE_ACCESS_LINK_SECRET";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone, no token needed.
    Public,
    /// No token: the signed link in the path is the credential.
    Link,
    /// `client_admin`, `client_manager`, `client_user` (their own tenant) and `ops`.
    Read,
    /// `client_admin`, `client_manager` (their own tenant) and `ops`.
    Manage,
    /// `service` tokens, for their own tenant.
    Ingest,
    /// `ops` only.
    Ops,
    /// `client_admin` (its own tenant's configuration) and `ops`.
    Admin,
    /// `client_admin` and `ops`, on what the caller's reach holds (no tenant in the request).
    AdminReach,
}

/// The expected access of every route: `(method, path, access, statuses of a permitted call)`.
const ACCESS: &[(&str, &str, Access, &[u16])] = &[
    ("get", "/api/v1/openapi.json", Access::Public, &[200]),
    (
        "get",
        "/api/v1/client/dashboard/overview",
        Access::Read,
        &[200],
    ),
    ("get", "/api/v1/client/sla/compliance", Access::Read, &[200]),
    (
        "get",
        "/api/v1/client/tickets/{ticket_id}/sla",
        Access::Read,
        &[200],
    ),
    (
        "post",
        "/api/v1/client/reports/generate",
        Access::Manage,
        &[201],
    ),
    (
        "get",
        "/api/v1/client/reports/progress/{task_id}",
        Access::Manage,
        &[200],
    ),
    (
        "get",
        "/api/v1/client/reports/download/{file}",
        Access::Manage,
        &[200],
    ),
    (
        "post",
        "/api/v1/client/reports/what-if",
        Access::Admin,
        &[200],
    ),
    ("get", "/api/v1/alerts", Access::Read, &[200]),
    (
        "post",
        "/api/v1/alerts/{alert_id}/ack",
        Access::Manage,
        &[200],
    ),
    (
        "post",
        "/api/v1/alerts/{alert_id}/resolve",
        Access::Manage,
        &[200],
    ),
    ("post", "/api/v1/ingest/events", Access::Ingest, &[200]),
    ("get", "/api/v1/silences", Access::Read, &[200]),
    ("post", "/api/v1/silences", Access::Manage, &[201]),
    (
        "delete",
        "/api/v1/silences/{silence_id}",
        Access::Manage,
        &[200],
    ),
    ("get", "/api/v1/notifications", Access::Manage, &[200]),
    // The first retry sends the failed notification again; later ones find it pending.
    (
        "post",
        "/api/v1/notifications/{notification_id}/retry",
        Access::Manage,
        &[200, 400],
    ),
    ("get", "/ack/{token}", Access::Link, &[400]),
    ("post", "/ack/{token}", Access::Link, &[400]),
    ("get", "/api/v1/partners", Access::Ops, &[200]),
    (
        "get",
        "/api/v1/partners/{partner_id}/outbox",
        Access::Ops,
        &[200],
    ),
    (
        "post",
        "/api/v1/partners/{partner_id}/outbox/retry",
        Access::Ops,
        &[200],
    ),
    (
        "post",
        "/api/v1/partners/{partner_id}/outbox/{record_id}/retry",
        Access::Ops,
        &[200, 400],
    ),
    (
        "get",
        "/api/v1/partners/{partner_id}/reconciliations",
        Access::Ops,
        &[200],
    ),
    (
        "get",
        "/api/v1/partners/{partner_id}/reconciliations/{run_id}",
        Access::Ops,
        &[200],
    ),
    (
        "get",
        "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.json",
        Access::Ops,
        &[200],
    ),
    (
        "get",
        "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.csv",
        Access::Ops,
        &[200],
    ),
    ("get", "/api/v1/system-config", Access::Admin, &[200]),
    (
        "post",
        "/api/v1/system-config/batch",
        Access::Admin,
        &[200, 409],
    ),
    (
        "get",
        "/api/v1/system-config/export",
        Access::AdminReach,
        &[200],
    ),
    (
        "post",
        "/api/v1/system-config/import",
        Access::Admin,
        &[200],
    ),
    ("get", "/api/v1/system-config/{key}", Access::Admin, &[200]),
    (
        "put",
        "/api/v1/system-config/{key}",
        Access::Admin,
        &[200, 409],
    ),
    (
        "delete",
        "/api/v1/system-config/{key}",
        Access::Admin,
        &[200, 409],
    ),
    (
        "get",
        "/api/v1/system-config/{key}/history",
        Access::Admin,
        &[200],
    ),
    (
        "get",
        "/api/v1/system-config/{key}/diff",
        Access::Admin,
        &[200],
    ),
    // Version 1 exists once an earlier call of the walk set the key.
    (
        "post",
        "/api/v1/system-config/{key}/rollback",
        Access::Admin,
        &[200, 404, 409],
    ),
    ("get", "/api/v1/feature-flags", Access::Ops, &[200]),
    (
        "put",
        "/api/v1/feature-flags/{name}",
        Access::Ops,
        &[200, 409],
    ),
    ("get", "/api/v1/gray-release", Access::Ops, &[200]),
    (
        "put",
        "/api/v1/gray-release/{name}",
        Access::Ops,
        &[200, 409],
    ),
    ("get", "/api/v1/audit", Access::Admin, &[200]),
    ("get", "/ws", Access::Read, &[]),
    ("get", "/", Access::Public, &[200]),
    ("get", "/assets/app.js", Access::Public, &[200]),
    ("get", "/assets/app.css", Access::Public, &[200]),
    ("get", "/assets/settings.js", Access::Public, &[200]),
    ("get", "/assets/reports.js", Access::Public, &[200]),
    (
        "get",
        "/assets/vendor/uPlot.iife.min.js",
        Access::Public,
        &[200],
    ),
    (
        "get",
        "/assets/vendor/uPlot.min.css",
        Access::Public,
        &[200],
    ),
    ("get", "/metrics", Access::Public, &[200]),
    ("get", "/healthz", Access::Public, &[200]),
    ("get", "/readyz", Access::Public, &[200]),
];

/// The operational routes, added by the HTTP layer beside the API's.
const OPERATIONAL: &[(&str, &str)] =
    &[("get", "/metrics"), ("get", "/healthz"), ("get", "/readyz")];

/// Every role, and no token.
const ROLES: [Option<&str>; 6] = [
    Some("client_admin"),
    Some("client_manager"),
    Some("client_user"),
    Some("ops"),
    Some("service"),
    None,
];

/// Every route the service serves.
fn served() -> BTreeSet<(String, String)> {
    vigil::api::served_routes()
        .into_iter()
        .chain(OPERATIONAL.iter().copied())
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

fn ticket(tenant: u64) -> String {
    if tenant == OWN {
        "OWN-T1".into()
    } else {
        format!("{FOREIGN_MARK}1")
    }
}

/// The ids of each tenant's seeded data.
struct Seeds {
    alert: [String; 2],
    silence: [String; 2],
    notification: [String; 2],
    record: [String; 2],
    report: [String; 2],
}

fn of(ids: &[String; 2], tenant: u64) -> &str {
    &ids[usize::from(tenant != OWN)]
}

fn config() -> String {
    format!(
        r#"{UNLIMITED}
[notify]
link_secret_env = "{SECRET_VAR}"

[[partners]]
id = "{PARTNER}"
base_url = "http://127.0.0.1:9/unreachable"
tenants = ["*"]
reconcile_at = "off"
"#
    )
}

/// Partner records of both tenants and a finished reconciliation run, as the outbox worker
/// and a reconciliation would have left them.
async fn seed_partner(db: &std::path::Path) -> [String; 2] {
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("the store");
    let t0 = now_ms() - HOUR;
    let records: Vec<SlaRecord> = [OWN, FOREIGN]
        .iter()
        .map(|&tenant| SlaRecord {
            record_id: SlaRecord::id_of(tenant, &ticket(tenant), Goal::Resolution),
            tenant_id: tenant,
            ticket_id: ticket(tenant),
            goal: Goal::Resolution,
            priority: "HIGH".into(),
            service_type: "incident".into(),
            target_ms: 86_400_000,
            actual_ms: 90_000_000,
            outcome: "breached".into(),
            policy_version: 1,
            started_at: t0 - 90_000_000,
            stopped_at: t0,
            assignee_id: None,
        })
        .collect();
    store
        .sla_records()
        .record_stops(&records, &|_| vec![PARTNER.to_string()], t0)
        .await
        .expect("records");
    store
        .reconciliations()
        .open(PARTNER, "2026-11-20", "manual", RUN, t0)
        .await
        .expect("open the run");
    store
        .reconciliations()
        .save_page(RUN, 1, "{}", &RunCounts::default(), &[], 1000)
        .await
        .expect("a page");
    store
        .reconciliations()
        .finish(RUN, 2, 0, &[], 1000, 0, t0 + MIN)
        .await
        .expect("finish the run");
    store.close().await;
    [records[0].record_id.clone(), records[1].record_id.clone()]
}

/// A finished report job of each tenant, with its file (`<task>.csv`).
async fn seed_reports(db: &std::path::Path) -> [String; 2] {
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("the store");
    let t = now_ms();
    let mut ids = Vec::new();
    for tenant in [OWN, FOREIGN] {
        let task = format!("rpt-walk-{tenant}");
        let job = vigil::store::NewReportJob {
            task_id: task.clone(),
            tenant_id: tenant,
            requested_by: "walker".into(),
            format: "csv".into(),
            period: (t - 24 * HOUR, t),
            language: "en".into(),
            timezone: "UTC".into(),
            breakdowns: "priority".into(),
            schedule_id: None,
            deliver_to: Vec::new(),
        };
        let jobs = store.report_jobs();
        jobs.enqueue(&job, 20, t).await.expect("queue");
        let claimed = jobs.claim("seed", 60_000, t).await.expect("claim");
        assert!(claimed.is_some());
        let content = format!("section,key\r\nbreach,{}\r\n", ticket(tenant));
        let file = (format!("{task}.csv"), content);
        jobs.finish(
            &task,
            "seed",
            (&file.0, file.1.as_bytes(), "summary"),
            1,
            (t, t + 24 * HOUR),
        )
        .await
        .expect("finish");
        ids.push(task);
    }
    store.close().await;
    [ids[0].clone(), ids[1].clone()]
}

/// A failed notification of each tenant's alert.
async fn seed_notifications(db: &std::path::Path, alerts: &[String; 2]) -> [String; 2] {
    use sqlx::ConnectOptions as _;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .expect("open the store");
    let ids = [format!("n-{OWN}"), format!("n-{FOREIGN}")];
    for (i, tenant) in [OWN, FOREIGN].into_iter().enumerate() {
        let t = now_ms();
        sqlx::query(
            "INSERT INTO notifications (notification_id, alert_id, tenant_id, kind, step, round, \
             contact, channel, due_at, state, attempts, last_error, sent_at, created_at, \
             updated_at, message_id) VALUES ($1, $2, $3, 'page', 0, 0, 'alice', 'sms', $4, \
             'failed', 3, $5, NULL, $4, $4, $1)",
        )
        .bind(&ids[i])
        .bind(&alerts[i])
        .bind(tenant as i64)
        .bind(t)
        .bind(format!("gateway refused {}", ticket(tenant)))
        .execute(&mut conn)
        .await
        .expect("insert a notification");
    }
    ids
}

/// The request a route gets for data of `tenant`: the path with its ids, and a body.
fn target(path: &str, tenant: u64, seeds: &Seeds) -> (String, Option<String>) {
    static INGESTED: AtomicUsize = AtomicUsize::new(0);
    let t = tenant;
    let scoped = |p: &str| format!("{p}?tenant_id={t}");
    match path {
        "/api/v1/client/dashboard/overview"
        | "/api/v1/client/sla/compliance"
        | "/api/v1/alerts"
        | "/api/v1/silences"
        | "/api/v1/notifications" => (scoped(path), None),
        "/api/v1/client/tickets/{ticket_id}/sla" => (
            format!("/api/v1/client/tickets/{}/sla?tenant_id={t}", ticket(t)),
            None,
        ),
        "/api/v1/alerts/{alert_id}/ack" | "/api/v1/alerts/{alert_id}/resolve" => {
            (path.replace("{alert_id}", of(&seeds.alert, t)), None)
        }
        "/api/v1/ingest/events" => {
            let n = INGESTED.fetch_add(1, Ordering::Relaxed);
            let ev = Ev::created(
                t,
                &format!("INGEST-{t}-{n}"),
                now_ms(),
                "LOW",
                &format!("i-{t}-{n}"),
            );
            (path.into(), Some(format!("[{}]", ev.line())))
        }
        "/api/v1/silences/{silence_id}" => {
            (path.replace("{silence_id}", of(&seeds.silence, t)), None)
        }
        "/api/v1/notifications/{notification_id}/retry" => (
            path.replace("{notification_id}", of(&seeds.notification, t)),
            None,
        ),
        "/ack/{token}" => ("/ack/not-a-token".into(), None),
        "/api/v1/client/reports/generate" => (
            path.into(),
            Some(json!({"format": "csv", "period": "day", "tenant_id": t}).to_string()),
        ),
        "/api/v1/client/reports/what-if" => (
            path.into(),
            Some(json!({"policy": {}, "period": "day", "tenant_id": t}).to_string()),
        ),
        "/api/v1/client/reports/progress/{task_id}" => {
            (path.replace("{task_id}", of(&seeds.report, t)), None)
        }
        "/api/v1/client/reports/download/{file}" => (
            path.replace("{file}", &format!("{}.csv", of(&seeds.report, t))),
            None,
        ),
        "/api/v1/system-config" | "/api/v1/audit" => (scoped(path), None),
        "/api/v1/system-config/batch" => (
            path.into(),
            Some(
                json!({"reason": "walk", "changes": [
                    {"key": format!("tenant.{t}.sla.pause_statuses"), "value": ["ON_HOLD"], "if_match": 0}
                ]})
                .to_string(),
            ),
        ),
        "/api/v1/system-config/import" => (
            format!("{path}?reason=walk"),
            Some(json!({ format!("tenant.{t}.sla.calendar"): "24x7" }).to_string()),
        ),
        "/api/v1/system-config/{key}/diff" => (
            format!("/api/v1/system-config/tenant.{t}.sla.warn_at/diff?from=0"),
            None,
        ),
        _ if path.starts_with("/api/v1/system-config/{key}") => {
            let uri = path.replace("{key}", &format!("tenant.{t}.sla.warn_at"));
            let body = match path {
                "/api/v1/system-config/{key}/rollback" => {
                    Some(json!({"version": 1, "reason": "walk", "if_match": 1}))
                }
                "/api/v1/system-config/{key}" => Some(json!({"value": [0.5, 0.8], "reason": "walk", "if_match": 0})),
                _ => None,
            };
            (uri, body.map(|b| b.to_string()))
        }
        "/api/v1/gray-release/{name}" => (
            "/api/v1/gray-release/notify.retractions".into(),
            Some(json!({"percent": 100, "reason": "walk", "if_match": 0}).to_string()),
        ),
        "/api/v1/feature-flags/{name}" => (
            "/api/v1/feature-flags/ws.tickets".into(),
            Some(json!({"rule": {"on": true}, "reason": "walk", "if_match": 0}).to_string()),
        ),
        _ if path.starts_with("/api/v1/partners") => (
            path.replace("{partner_id}", PARTNER)
                .replace("{record_id}", of(&seeds.record, t))
                .replace("{run_id}", RUN),
            None,
        ),
        _ => (path.into(), None),
    }
}

/// The body of a new silence of `tenant`.
fn new_silence(tenant: u64) -> String {
    json!({
        "tenant_id": tenant,
        "ends_at": ts(now_ms() + HOUR),
        "comment": format!("route walk {}", ticket(tenant)),
    })
    .to_string()
}

/// What a caller with `role` must get from a route of `access` for data of `tenant`; `ok` is
/// what a permitted call answers.
fn expected(access: Access, role: Option<&str>, tenant: u64, ok: &[u16]) -> Vec<u16> {
    let own = tenant == OWN;
    match (access, role) {
        (Access::Public | Access::Link, _) => ok.to_vec(),
        (_, None) => vec![401],
        (Access::Ingest, Some("service")) if own => ok.to_vec(),
        // Every event of another tenant is rejected: 40001 "every event was rejected".
        (Access::Ingest, Some("service")) => vec![400],
        (Access::Ingest, _) => vec![403],
        (_, Some("ops")) => ok.to_vec(),
        (Access::Ops, _) | (_, Some("service")) => vec![403],
        (Access::Admin | Access::AdminReach, Some("client_manager" | "client_user")) => {
            vec![403]
        }
        (Access::AdminReach, _) => ok.to_vec(),
        (Access::Admin, _) if own => ok.to_vec(),
        (Access::Admin, _) => vec![403],
        (Access::Manage, Some("client_user")) => vec![403],
        (Access::Read | Access::Manage, _) if own => ok.to_vec(),
        // Another tenant: refused (403), or not confirmed to exist (404).
        (Access::Read | Access::Manage, _) => vec![403, 404],
    }
}

#[tokio::test]
async fn every_route_answers_every_role_and_tenant_as_its_access_says() {
    // --- the table covers exactly what is served, and the document exactly the API -------
    let served = served();
    let listed: BTreeSet<(String, String)> = ACCESS
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    let unlisted: Vec<_> = served.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "routes without an entry in the expected-access table: {unlisted:?}"
    );
    let stale: Vec<_> = listed.difference(&served).collect();
    assert!(stale.is_empty(), "listed but not served: {stale:?}");

    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut setup = ServiceSetup::new(dir.path(), &nats.url(), &config(), "wall");
    setup.env.push((
        SECRET_VAR.into(),
        "a secret for the route walk's ack links".into(),
    ));
    let records = seed_partner(&setup.db).await;
    let reports = seed_reports(&setup.db).await;
    let mut service = setup.start();
    service.ready().await;
    let port = service.port;

    let doc = request(port, "GET", "/api/v1/openapi.json", None, None).await;
    let documented: BTreeSet<(String, String)> = doc.json["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let api: BTreeSet<(String, String)> = served
        .iter()
        .filter(|(_, p)| {
            (p.starts_with("/api/") || p.starts_with("/ack/")) && p != "/api/v1/openapi.json"
        })
        .cloned()
        .collect();
    assert_eq!(
        documented, api,
        "the OpenAPI document and the API routes differ"
    );

    // --- data of both tenants --------------------------------------------------------------
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    publish_events(
        &js,
        &[
            Ev::overdue(OWN, &ticket(OWN)),
            Ev::overdue(FOREIGN, &ticket(FOREIGN)),
        ],
    )
    .await;
    let rows = eventually("alerts of both tenants", || async {
        let rows = store_alerts(&setup.db).await;
        (rows.len() >= 6).then_some(rows)
    })
    .await;
    let breach = |tenant: u64| {
        rows.iter()
            .find(|r| r.key.0 == tenant && r.key.2 == "response" && r.key.3 == "breach")
            .map(|r| r.alert_id.clone())
            .unwrap_or_else(|| panic!("no breach of tenant {tenant} in {rows:?}"))
    };
    let alert = [breach(OWN), breach(FOREIGN)];
    let notification = seed_notifications(&setup.db, &alert).await;
    let ops = setup.token(OWN, "ops", "walker");
    let mut silence = Vec::new();
    for tenant in [OWN, FOREIGN] {
        let a = request(
            port,
            "POST",
            "/api/v1/silences",
            Some(&ops),
            Some(&new_silence(tenant)),
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.text);
        silence.push(a.data()["id"].as_str().expect("a silence id").to_string());
    }
    let seeds = Seeds {
        alert,
        silence: [silence[0].clone(), silence[1].clone()],
        notification,
        record: records,
        report: reports,
    };
    let tokens: Vec<(Option<&str>, Option<String>)> = ROLES
        .iter()
        .map(|role| (*role, role.map(|r| setup.token(OWN, r, "walker"))))
        .collect();

    // --- the walk ----------------------------------------------------------------------------
    let mut failures = Vec::new();
    for &(method, path, access, ok) in ACCESS {
        for tenant in [OWN, FOREIGN] {
            for (role, token) in &tokens {
                let want = expected(access, *role, tenant, ok);
                let who = format!(
                    "{} {path} as {role:?} on tenant {tenant}",
                    method.to_uppercase()
                );
                if path == "/ws" {
                    if let Err(e) = ws_case(port, token.as_deref(), *role, tenant, &want).await {
                        failures.push(format!("{who}: {e}"));
                    }
                    continue;
                }
                let (uri, mut body) = target(path, tenant, &seeds);
                if (method, path) == ("post", "/api/v1/silences") {
                    body = Some(new_silence(tenant));
                }
                match (method, path) {
                    ("get", "/api/v1/system-config/{key}") => body = None,
                    ("delete", "/api/v1/system-config/{key}") => {
                        body = Some(json!({"reason": "walk", "if_match": 0}).to_string())
                    }
                    _ => {}
                }
                let a = request(
                    port,
                    &method.to_uppercase(),
                    &uri,
                    token.as_deref(),
                    body.as_deref(),
                )
                .await;
                if a.status >= 500 {
                    failures.push(format!("{who}: {} {}", a.status, a.text));
                    continue;
                }
                if !want.contains(&a.status) {
                    failures.push(format!(
                        "{who}: {} (expected {want:?}) {}",
                        a.status, a.text
                    ));
                    continue;
                }
                let api_route = path.starts_with("/api/") || path.starts_with("/ack/");
                if api_route && a.status >= 400 {
                    let accept_html = path.starts_with("/ack/");
                    if !accept_html
                        && (a.json["code"].as_u64().is_none() || a.json["request_id"].is_null())
                    {
                        failures.push(format!("{who}: an error without the envelope: {}", a.text));
                    }
                }
                let leaks = (200..300).contains(&a.status)
                    && access != Access::Public
                    && *role != Some("ops")
                    && a.text.contains(FOREIGN_MARK);
                if leaks {
                    failures.push(format!("{who}: another tenant's data: {}", a.text));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} unexpected answers:\n{}",
        failures.len(),
        failures.join("\n")
    );
    drop(service);
}

/// `/ws`: an upgrade, then a subscription to `tenant`; `want` is a permitted call's answer
/// (empty: the upgrade is accepted and the subscription too, own tenant or ops), else the
/// refusal (401, 403, or 403/404 for another tenant: the subscription is refused with 40003
/// and a 1008 close).
async fn ws_case(
    port: u16,
    token: Option<&str>,
    role: Option<&str>,
    tenant: u64,
    want: &[u16],
) -> Result<(), String> {
    let connected = WsClient::connect(port, token.unwrap_or("")).await;
    let mut client = match (connected, want) {
        (Ok(c), []) | (Ok(c), [403, 404]) => c,
        (Err(status), [s]) if status == *s => return Ok(()),
        (Ok(_), _) => return Err(format!("upgrade accepted, expected {want:?}")),
        (Err(status), _) => {
            return Err(format!("upgrade refused with {status}, expected {want:?}"))
        }
    };
    client
        .subscribe(&["alerts"], json!({ "tenant_ids": [tenant] }))
        .await;
    let first = client.message().await;
    if want.is_empty() {
        if first["type"] != "snapshot" {
            return Err(format!("expected the alerts snapshot, got {first}"));
        }
        if role != Some("ops") && first.to_string().contains(FOREIGN_MARK) {
            return Err(format!("another tenant's data: {first}"));
        }
        return Ok(());
    }
    if first["code"] != 40003 {
        return Err(format!("expected a 40003 refusal, got {first}"));
    }
    match client.closed().await {
        Some(1008) => Ok(()),
        other => Err(format!("expected a 1008 close, got {other:?}")),
    }
}

/// The walk's `/ws` expectations follow [`expected`]: the upgrade is a read.
#[test]
fn ws_expectations_follow_the_read_access() {
    assert_eq!(expected(Access::Read, None, OWN, &[]), vec![401]);
    assert_eq!(expected(Access::Read, Some("service"), OWN, &[]), vec![403]);
    assert_eq!(
        expected(Access::Read, Some("client_user"), OWN, &[]),
        Vec::<u16>::new()
    );
    assert_eq!(
        expected(Access::Read, Some("client_user"), FOREIGN, &[]),
        vec![403, 404]
    );
    assert_eq!(
        expected(Access::Read, Some("ops"), FOREIGN, &[]),
        Vec::<u16>::new()
    );
}
