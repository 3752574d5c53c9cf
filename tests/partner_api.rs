//! The partner API against the real binary, a real nats-server, SQLite and the fake partner
//! over HTTP: partners at a glance (breakers, outboxes, the latest run, no credentials), the
//! outbox page by page, parked records sent again and delivered, reconciliation runs by day,
//! a run's report with its masked diffs, and its JSON and CSV downloads. Partner data spans
//! tenants: only ops tokens may see it; client roles and service tokens are refused.
//!
//! The outbox and the reconciliation runs are written into the service's SQLite file before
//! it starts, as the outbox worker and the nightly reconciliation would have left them.

mod support;

use serde_json::{json, Value};
use support::*;
use vigil::partner::mask::MaskRule;
use vigil::store::{DeliveryOutcome, DiffKind, NewDiff, RunCounts, Store};
use vigil_engine::{Goal, SlaRecord};
use vigil_peers::partner::{FakePartner, FakePartnerConfig};
use vigil_peers::NatsServer;

/// The tenant of `exchange-a`'s records.
const TENANT: u64 = 1;
/// The tenant of `exchange-c`'s records.
const DOWN_TENANT: u64 = 3;
/// An assignee as we hold it; partners and reports only ever see it masked.
const ASSIGNEE: &str = "engineer-7";
/// What `exchange-b`'s URL and key would leak if shown.
const URL_SECRET: &str = "url-s3cret";
const KEY_VAR: &str = "VIGIL_TEST_PARTNER_KEY";
const KEY: &str = "key-value-never-shown";
/// The days of the seeded runs.
const DAY_1: &str = "2026-11-20";
const DAY_2: &str = "2026-11-21";

fn config(up: &FakePartner, down: &FakePartner) -> String {
    format!(
        r#"{UNLIMITED}
[[partners]]
id = "exchange-a"
base_url = "{up}"
tenants = [{TENANT}]
timezone = "Asia/Shanghai"
reconcile_at = "off"
rate_limit = {{ per_second = 50, burst = 10 }}
masking = {{ assignee_id = "first:2,last:2" }}

[[partners]]
id = "exchange-b"
base_url = "http://vigil:{URL_SECRET}@127.0.0.1:9/b"
tenants = ["*"]
reconcile_at = "off"
auth = {{ kind = "api_key", key_env = "{KEY_VAR}" }}

[[partners]]
id = "exchange-c"
base_url = "{down}"
tenants = [{DOWN_TENANT}]
reconcile_at = "off"
retries = 0
breaker = {{ failure_rate = 0.5, window = 2, open_for = "10m", half_open_calls = 1 }}
"#,
        up = up.url(),
        down = down.url(),
    )
}

fn masked(value: &str) -> String {
    "first:2,last:2"
        .parse::<MaskRule>()
        .expect("a rule")
        .mask_str(value)
}

fn record(tenant: u64, ticket: &str, stopped_at: i64) -> SlaRecord {
    SlaRecord {
        record_id: SlaRecord::id_of(tenant, ticket, Goal::Resolution),
        tenant_id: tenant,
        ticket_id: ticket.into(),
        goal: Goal::Resolution,
        priority: "HIGH".into(),
        service_type: "incident".into(),
        target_ms: 86_400_000,
        actual_ms: 90_000_000,
        outcome: "breached".into(),
        policy_version: 2,
        started_at: stopped_at - 90_000_000,
        stopped_at,
        assignee_id: Some(ASSIGNEE.into()),
    }
}

fn id(ticket: &str) -> String {
    SlaRecord::id_of(TENANT, ticket, Goal::Resolution)
}

/// A record as a report keeps it: as it leaves for the partner, masked.
fn masked_json(ticket: &str, outcome: &str) -> String {
    json!({"record_id": id(ticket), "ticket_id": ticket, "outcome": outcome,
           "assignee_id": masked(ASSIGNEE)})
    .to_string()
}

/// What the outbox worker and the nightly reconciliation would have left in the store:
/// `exchange-a` with four parked records and one delivered, three runs (two of `DAY_1`);
/// `exchange-c` with three records waiting.
async fn seed(db: &std::path::Path) {
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("the store");
    let t0 = now_ms() - 2 * HOUR;
    let records: Vec<SlaRecord> = ["P-1", "P-2", "P-3", "P-4", "P-5"]
        .iter()
        .map(|t| record(TENANT, t, t0))
        .chain(
            ["D-1", "D-2", "D-3"]
                .iter()
                .map(|t| record(DOWN_TENANT, t, t0)),
        )
        .collect();
    let partners_of = |tenant: u64| match tenant {
        TENANT => vec!["exchange-a".to_string()],
        _ => vec!["exchange-c".to_string()],
    };
    store
        .sla_records()
        .record_stops(&records, &partners_of, t0)
        .await
        .expect("records");
    let claimed = store
        .partner_outbox()
        .claim("exchange-a", t0, 100, 60_000)
        .await
        .expect("claim");
    let outcomes: Vec<(String, i64, DeliveryOutcome)> = claimed
        .iter()
        .map(|c| {
            let outcome = if c.record.ticket_id == "P-5" {
                DeliveryOutcome::Delivered { status: 200 }
            } else {
                DeliveryOutcome::Parked {
                    status: Some(422),
                    error: "partner refused the record: 422 unknown service_type".into(),
                }
            };
            (c.record.record_id.clone(), c.version, outcome)
        })
        .collect();
    assert_eq!(outcomes.len(), 5);
    store
        .partner_outbox()
        .finish("exchange-a", &outcomes, t0 + MIN)
        .await
        .expect("outcomes");

    // DAY_1, nightly: one missing at the partner, one missing at ours (an id with a comma and
    // quotes), one mismatched; two repaired.
    let odd_id = "9:T,\"X\":resolution";
    store
        .reconciliations()
        .open("exchange-a", DAY_1, "nightly", "run-1", t0)
        .await
        .expect("open run-1");
    let page_diffs = [
        NewDiff {
            record_id: odd_id.into(),
            kind: DiffKind::MissingAtOurs,
            ours: None,
            theirs: Some(json!({"record_id": odd_id, "assignee_id": "pa**-1"}).to_string()),
        },
        NewDiff {
            record_id: id("P-2"),
            kind: DiffKind::Mismatched,
            ours: Some(masked_json("P-2", "breached")),
            theirs: Some(masked_json("P-2", "met")),
        },
    ];
    let counts = RunCounts {
        partner_records: 3,
        matched: 1,
        missing_at_ours: 1,
        mismatched: 1,
    };
    store
        .reconciliations()
        .save_page("run-1", 1, "{}", &counts, &page_diffs, 1000)
        .await
        .expect("page");
    let missing = [NewDiff {
        record_id: id("P-3"),
        kind: DiffKind::MissingAtPartner,
        ours: Some(masked_json("P-3", "breached")),
        theirs: None,
    }];
    store
        .reconciliations()
        .finish("run-1", 3, 1, &missing, 1000, 2, t0 + MIN)
        .await
        .expect("finish run-1");
    // DAY_2: all alike.
    store
        .reconciliations()
        .open("exchange-a", DAY_2, "nightly", "run-2", t0 + 2 * MIN)
        .await
        .expect("open run-2");
    let alike = RunCounts {
        partner_records: 4,
        matched: 4,
        ..RunCounts::default()
    };
    store
        .reconciliations()
        .save_page("run-2", 1, "{}", &alike, &[], 1000)
        .await
        .expect("page");
    store
        .reconciliations()
        .finish("run-2", 4, 0, &[], 1000, 0, t0 + 3 * MIN)
        .await
        .expect("finish run-2");
    // DAY_1 again, by hand, the newest run: still running.
    store
        .reconciliations()
        .open("exchange-a", DAY_1, "manual", "run-3", t0 + 4 * MIN)
        .await
        .expect("open run-3");
    store.close().await;
}

struct Api {
    setup: ServiceSetup,
    service: Service,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn call(&self, method: &str, path: &str, token: &str) -> Answer {
        request(self.service.port, method, path, Some(token), None).await
    }

    async fn ok(&self, method: &str, path: &str, token: &str) -> Value {
        let a = self.call(method, path, token).await;
        assert_eq!((a.status, a.code()), (200, 200), "{path}: {}", a.text);
        a.data().clone()
    }
}

fn assert_error(a: &Answer, status: u16, code: u64) {
    assert_eq!((a.status, a.code()), (status, code), "{}", a.text);
    for field in ["message", "timestamp", "request_id"] {
        assert!(a.json.get(field).is_some(), "no {field}: {}", a.text);
    }
}

fn assert_field(a: &Answer, field: &str) {
    assert_error(a, 400, 40001);
    assert_eq!(a.data()["field"], field, "{}", a.text);
}

fn ids(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records in {page}"))
        .iter()
        .map(|r| r["record_id"].as_str().expect("an id").to_string())
        .collect()
}

fn run_ids(list: &Value) -> Vec<&str> {
    list["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs in {list}"))
        .iter()
        .map(|r| r["run_id"].as_str().expect("a run id"))
        .collect()
}

#[tokio::test]
async fn operators_see_partners_retry_parked_records_and_download_reports() {
    let nats = NatsServer::start();
    let up = FakePartner::start(FakePartnerConfig::default())
        .await
        .expect("fake partner");
    let down = FakePartner::start(FakePartnerConfig::default())
        .await
        .expect("fake partner");
    down.set_down(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut setup = ServiceSetup::new(dir.path(), &nats.url(), &config(&up, &down), "wall");
    setup.env.push((KEY_VAR.into(), KEY.into()));
    seed(&setup.db).await;
    let mut service = setup.start();
    service.ready().await;
    let api = Api {
        setup,
        service,
        _dir: dir,
    };
    let ops = api.setup.token(0, "ops", "olga");

    // --- every partner at a glance ---------------------------------------------------------
    let list = api.ok("GET", "/api/v1/partners", &ops).await;
    let partners = list["partners"].as_array().expect("partners").clone();
    let names: Vec<&str> = partners.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(names, ["exchange-a", "exchange-b", "exchange-c"]);
    let a = &partners[0];
    assert_eq!(a["base_url"], up.url().as_str());
    assert_eq!(a["tenants"], json!([TENANT]));
    assert_eq!(a["timezone"], "Asia/Shanghai");
    assert_eq!(a["reconcile_at"], "off");
    assert_eq!(a["rate_limit"], json!({"per_second": 50, "burst": 10}));
    assert_eq!(a["auth"], "none");
    assert_eq!(a["breaker_state"], "closed");
    assert_eq!(a["breaker_open_until"], Value::Null);
    assert_eq!(
        (
            &a["outbox"]["pending"],
            &a["outbox"]["parked"],
            &a["outbox"]["delivered"]
        ),
        (&json!(0), &json!(4), &json!(1))
    );
    assert_eq!(a["outbox"]["oldest_pending_queued_at"], Value::Null);
    // The newest run, whatever its state.
    let last = &a["last_reconciliation"];
    assert_eq!(last["run_id"], "run-3");
    assert_eq!(last["state"], "running");
    assert_eq!(last["trigger"], "manual");
    assert!(ms(last["started_at"].as_str().unwrap()) > 0, "{last}");
    let b = &partners[1];
    assert_eq!(b["tenants"], json!(["*"]));
    assert_eq!(b["auth"], "api_key");
    assert_eq!(b["base_url"], "http://127.0.0.1:9/b");
    assert_eq!(b["last_reconciliation"], Value::Null);
    assert_eq!(b["rate_limit"], Value::Null);
    for secret in [URL_SECRET, KEY, KEY_VAR] {
        assert!(!list.to_string().contains(secret), "{secret} shown: {list}");
    }
    // The partner that is down: its records wait, and its breaker opens.
    let c = eventually("exchange-c's breaker to open", || async {
        let a = api.call("GET", "/api/v1/partners", &ops).await;
        let c = a.data()["partners"][2].clone();
        (c["breaker_state"] == "open").then_some(c)
    })
    .await;
    let until = ms(c["breaker_open_until"].as_str().expect("open until"));
    assert!(until > now_ms() + 5 * MIN, "{c}");
    assert_eq!(c["outbox"]["pending"], 3, "{c}");
    assert!(
        c["outbox"]["oldest_pending_age_ms"].as_i64().unwrap() >= HOUR,
        "{c}"
    );
    assert!(c["outbox"]["oldest_pending_queued_at"].as_str().is_some());

    // --- client roles never see partner data; no token is 401 ------------------------------
    let run_1 = "/api/v1/partners/exchange-a/reconciliations/run-1";
    let retry_p1 = format!("/api/v1/partners/exchange-a/outbox/{}/retry", id("P-1"));
    let guarded: Vec<(&str, String)> = vec![
        ("GET", "/api/v1/partners".into()),
        ("GET", "/api/v1/partners/exchange-a/outbox".into()),
        ("POST", retry_p1.clone()),
        ("POST", "/api/v1/partners/exchange-a/outbox/retry".into()),
        ("GET", "/api/v1/partners/exchange-a/reconciliations".into()),
        ("GET", run_1.into()),
        ("GET", format!("{run_1}/report.json")),
        ("GET", format!("{run_1}/report.csv")),
    ];
    // Nor do service tokens, which only ingest: neither of the records' own tenant nor of
    // another (an ingest credential of tenant 999 must not list or re-queue tenant 1's
    // records). Nothing is re-queued by a refused retry.
    let parked_before = api
        .ok("GET", "/api/v1/partners/exchange-a/outbox", &ops)
        .await;
    for (tenant, role) in [
        (TENANT, "client_admin"),
        (TENANT, "client_manager"),
        (TENANT, "client_user"),
        (TENANT, "service"),
        (999, "service"),
        (999, "client_admin"),
    ] {
        let token = api.setup.token(tenant, role, "carla");
        for (method, path) in &guarded {
            let refused = api.call(method, path, &token).await;
            assert_error(&refused, 403, 40003);
            assert!(!refused.text.contains("P-1"), "{role}: {}", refused.text);
        }
    }
    let parked_after = api
        .ok("GET", "/api/v1/partners/exchange-a/outbox", &ops)
        .await;
    assert_eq!(ids(&parked_after), ids(&parked_before));
    for (method, path) in &guarded {
        let anonymous = request(api.service.port, method, path, None, None).await;
        assert_error(&anonymous, 401, 40004);
    }

    // --- unknown partners name the configured ones ------------------------------------------
    for (method, path) in [
        ("GET", "/api/v1/partners/exchange-z/outbox"),
        ("POST", "/api/v1/partners/exchange-z/outbox/retry"),
        ("GET", "/api/v1/partners/exchange-z/reconciliations"),
        ("GET", "/api/v1/partners/exchange-z/reconciliations/run-1"),
        (
            "GET",
            "/api/v1/partners/exchange-z/reconciliations/run-1/report.csv",
        ),
    ] {
        let unknown = api.call(method, path, &ops).await;
        assert_error(&unknown, 404, 41001);
        let message = unknown.json["message"].as_str().unwrap();
        assert!(
            message.contains("exchange-z") && message.contains("exchange-a, exchange-b"),
            "{message}"
        );
        assert_eq!(
            unknown.data()["partners"],
            json!(["exchange-a", "exchange-b", "exchange-c"])
        );
    }

    // --- the outbox, page by page ----------------------------------------------------------
    let outbox = "/api/v1/partners/exchange-a/outbox";
    let first = api.ok("GET", &format!("{outbox}?limit=3"), &ops).await;
    assert_eq!(first["state"], "parked");
    assert_eq!(ids(&first), [id("P-1"), id("P-2"), id("P-3")]);
    assert_eq!(first["next"], id("P-3").as_str());
    let row = &first["records"][0];
    assert_eq!(row["tenant_id"], TENANT);
    assert_eq!(row["state"], "parked");
    assert_eq!(row["attempts"], 1);
    assert_eq!(row["last_status"], 422);
    assert!(row["last_error"].as_str().unwrap().contains("422"), "{row}");
    for field in ["queued_at", "due_at", "updated_at"] {
        assert!(ms(row[field].as_str().unwrap()) > 0, "{field}: {row}");
    }
    let after = format!("{outbox}?state=parked&limit=3&after={}", id("P-3"));
    let second = api.ok("GET", &after, &ops).await;
    assert_eq!(ids(&second), [id("P-4")]);
    assert_eq!(second["next"], Value::Null);
    // A full last page says so: no empty page after it.
    let exact = api.ok("GET", &format!("{outbox}?limit=4"), &ops).await;
    assert_eq!(exact["next"], Value::Null);
    let delivered = api
        .ok("GET", &format!("{outbox}?state=delivered"), &ops)
        .await;
    assert_eq!(ids(&delivered), [id("P-5")]);
    assert!(ms(delivered["records"][0]["delivered_at"].as_str().unwrap()) > 0);
    let all = api.ok("GET", &format!("{outbox}?state=all"), &ops).await;
    assert_eq!(ids(&all).len(), 5);
    for bad in ["state=lost", "limit=0", "limit=501", "after=", "colour=red"] {
        let a = api.call("GET", &format!("{outbox}?{bad}"), &ops).await;
        assert_error(&a, 400, 40001);
    }
    assert_field(
        &api.call("GET", &format!("{outbox}?state=lost"), &ops).await,
        "state",
    );

    // --- sending parked records again --------------------------------------------------------
    let retried = api.ok("POST", &retry_p1, &ops).await;
    assert_eq!(retried["record_id"], id("P-1").as_str());
    // The worker may have delivered it by the time it is read back.
    assert!(
        retried["state"] == "pending" || retried["state"] == "delivered",
        "{retried}"
    );
    let at_partner = eventually("P-1 to reach the partner", || async {
        up.record(&id("P-1"))
    })
    .await;
    assert_eq!(at_partner["assignee_id"], masked(ASSIGNEE).as_str());
    let p1 = eventually("P-1 to be delivered", || async {
        let page = api
            .call("GET", &format!("{outbox}?state=delivered"), &ops)
            .await;
        ids(page.data())
            .contains(&id("P-1"))
            .then(|| page.data().clone())
    })
    .await;
    assert_eq!(ids(&p1), [id("P-1"), id("P-5")]);
    // Delivered records are not retried; unknown ones are 41001.
    let again = api
        .call("POST", &format!("{outbox}/{}/retry", id("P-5")), &ops)
        .await;
    assert_field(&again, "state");
    let unknown = api
        .call("POST", &format!("{outbox}/1:NOPE:resolution/retry"), &ops)
        .await;
    assert_error(&unknown, 404, 41001);
    // Every parked one at once.
    let all_parked = api.ok("POST", &format!("{outbox}/retry"), &ops).await;
    assert_eq!(all_parked, json!({"retried": 3}));
    eventually("every record at the partner", || async {
        (up.stored() == 4).then_some(())
    })
    .await;
    let none_left = api.ok("POST", &format!("{outbox}/retry"), &ops).await;
    assert_eq!(none_left["retried"], 0);
    assert!(!up
        .records()
        .values()
        .any(|r| r.to_string().contains(ASSIGNEE)));

    // --- reconciliation runs ---------------------------------------------------------------
    let runs = "/api/v1/partners/exchange-a/reconciliations";
    let latest = api.ok("GET", runs, &ops).await;
    assert_eq!(latest["date"], Value::Null);
    assert_eq!(run_ids(&latest), ["run-3", "run-2", "run-1"]);
    let of_day = api.ok("GET", &format!("{runs}?date={DAY_1}"), &ops).await;
    assert_eq!(of_day["date"], DAY_1);
    assert_eq!(run_ids(&of_day), ["run-3", "run-1"]);
    let one = &of_day["runs"][1];
    assert_eq!(one["day"], DAY_1);
    assert_eq!(one["state"], "finished");
    assert_eq!(one["trigger"], "nightly");
    assert_eq!(
        [
            &one["partner_records"],
            &one["our_records"],
            &one["matched"],
            &one["missing_at_partner"],
            &one["missing_at_ours"],
            &one["mismatched"],
            &one["repaired"],
            &one["diffs_kept"],
        ],
        [
            &json!(3),
            &json!(3),
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(2),
            &json!(3)
        ]
    );
    assert!(ms(one["finished_at"].as_str().unwrap()) >= ms(one["started_at"].as_str().unwrap()));
    let limited = api.ok("GET", &format!("{runs}?limit=1"), &ops).await;
    assert_eq!(run_ids(&limited), ["run-3"]);
    let quiet = api
        .ok("GET", &format!("{runs}?date=2026-11-19"), &ops)
        .await;
    assert_eq!(run_ids(&quiet), Vec::<&str>::new());
    for bad in [
        "2026-02-30",
        "20261120",
        "2026-11-20T00:00:00Z",
        "yesterday",
    ] {
        let a = api.call("GET", &format!("{runs}?date={bad}"), &ops).await;
        assert_field(&a, "date");
    }
    assert_field(
        &api.call("GET", &format!("{runs}?limit=101"), &ops).await,
        "limit",
    );

    // --- one run's report --------------------------------------------------------------------
    let report = api.ok("GET", run_1, &ops).await;
    assert_eq!(report["run"]["run_id"], "run-1");
    assert_eq!(report["flagged_for_review"], 1);
    assert_eq!(report["diffs_total"], 3);
    let diffs = report["diffs"].as_array().expect("diffs");
    let kinds: Vec<&str> = diffs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["missing_at_ours", "mismatched", "missing_at_partner"]
    );
    let seqs: Vec<u64> = diffs.iter().map(|d| d["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(diffs[0]["ours"], Value::Null);
    assert_eq!(diffs[1]["ours"]["outcome"], "breached");
    assert_eq!(diffs[1]["theirs"]["outcome"], "met");
    assert_eq!(diffs[2]["ours"]["assignee_id"], masked(ASSIGNEE).as_str());
    assert!(!report.to_string().contains(ASSIGNEE), "{report}");
    // Another partner's run, and unknown runs, are not found.
    for path in [
        "/api/v1/partners/exchange-b/reconciliations/run-1",
        "/api/v1/partners/exchange-a/reconciliations/run-9",
        "/api/v1/partners/exchange-b/reconciliations/run-1/report.json",
        "/api/v1/partners/exchange-a/reconciliations/run-9/report.csv",
    ] {
        assert_error(&api.call("GET", path, &ops).await, 404, 41001);
    }

    // --- downloads ---------------------------------------------------------------------------
    let json_file = api.call("GET", &format!("{run_1}/report.json"), &ops).await;
    assert_eq!(json_file.status, 200, "{}", json_file.text);
    assert_eq!(json_file.header("content-type"), Some("application/json"));
    assert_eq!(
        json_file.header("content-disposition"),
        Some("attachment; filename=\"reconciliation-exchange-a-2026-11-20-run-1.json\"")
    );
    assert_eq!(json_file.header("cache-control"), Some("no-store"));
    // The report itself, not the envelope.
    assert_eq!(json_file.json, report);
    let csv_file = api.call("GET", &format!("{run_1}/report.csv"), &ops).await;
    assert_eq!(csv_file.status, 200, "{}", csv_file.text);
    assert_eq!(
        csv_file.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        csv_file.header("content-disposition"),
        Some("attachment; filename=\"reconciliation-exchange-a-2026-11-20-run-1.csv\"")
    );
    let lines: Vec<&str> = csv_file.text.split("\r\n").collect();
    assert_eq!(lines.len(), 5, "{}", csv_file.text);
    assert_eq!(lines[0], "seq,kind,record_id,ours,theirs");
    assert_eq!(
        lines[1],
        format!(
            r#"1,missing_at_ours,"9:T,""X"":resolution",,"{}""#,
            diffs[0]["theirs"].to_string().replace('"', "\"\"")
        )
    );
    assert_eq!(
        lines[3],
        format!(
            r#"3,missing_at_partner,{},"{}","#,
            id("P-3"),
            diffs[2]["ours"].to_string().replace('"', "\"\"")
        )
    );
    assert_eq!(lines[4], "");
    assert!(csv_file.text.contains(&masked(ASSIGNEE)));
    assert!(!csv_file.text.contains(ASSIGNEE));
    // A run without diffs is the header alone.
    let empty = api
        .call(
            "GET",
            "/api/v1/partners/exchange-a/reconciliations/run-2/report.csv",
            &ops,
        )
        .await;
    assert_eq!(empty.text, "seq,kind,record_id,ours,theirs\r\n");

    // --- every endpoint is in the OpenAPI document ------------------------------------------
    let doc = request(api.service.port, "GET", "/api/v1/openapi.json", None, None).await;
    let paths = doc.json["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/partners", "get"),
        ("/api/v1/partners/{partner_id}/outbox", "get"),
        ("/api/v1/partners/{partner_id}/outbox/retry", "post"),
        (
            "/api/v1/partners/{partner_id}/outbox/{record_id}/retry",
            "post",
        ),
        ("/api/v1/partners/{partner_id}/reconciliations", "get"),
        (
            "/api/v1/partners/{partner_id}/reconciliations/{run_id}",
            "get",
        ),
        (
            "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.json",
            "get",
        ),
        (
            "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.csv",
            "get",
        ),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
}

#[tokio::test]
async fn without_partners_the_list_is_empty_and_every_partner_unknown() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), UNLIMITED, "wall");
    let mut service = setup.start();
    service.ready().await;
    let ops = setup.token(0, "ops", "olga");
    let list = request(service.port, "GET", "/api/v1/partners", Some(&ops), None).await;
    assert_eq!((list.status, list.code()), (200, 200), "{}", list.text);
    assert_eq!(list.data()["partners"], json!([]));
    let unknown = request(
        service.port,
        "GET",
        "/api/v1/partners/exchange-a/reconciliations?date=2026-11-20",
        Some(&ops),
        None,
    )
    .await;
    assert_error(&unknown, 404, 41001);
    assert!(
        unknown.json["message"]
            .as_str()
            .unwrap()
            .contains("no partner is configured"),
        "{}",
        unknown.text
    );
}
