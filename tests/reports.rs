//! SLA reports against the real binary, a real nats-server and SQLite: a report equals what
//! the live compliance endpoint says of the same days, to the goal; the same events replayed
//! into a new store give the same report, and replaying them again into the same store changes
//! nothing; jobs are queued, limited, survive a restart and hand over their files in every
//! format, to their own tenant only.

mod support;

use serde_json::{json, Value};
use support::*;
use vigil_peers::NatsServer;

const DAY: i64 = 24 * HOUR;

const CONFIG: &str = r#"
[nats]
partitions = 4

[http]
rate_limit_per_ip = 0
rate_limit_per_tenant = 0
"#;

/// The JSON report of the last 30 UTC days, today included (the live 30d window's days).
async fn thirty_days(port: u16, token: &str) -> Value {
    let today = now_ms().div_euclid(DAY) * DAY;
    let body = json!({"format": "json", "from": ts(today - 29 * DAY), "to": ts(today + DAY)});
    let job = finished_job(port, token, body).await;
    let file = download_report(port, token, &job).await;
    assert_eq!(file.status, 200, "{}", file.text);
    serde_json::from_str(&file.text).expect("a JSON report")
}

/// Met and breached per goal of a live compliance row or a report's figures.
fn counts(row: &Value) -> [u64; 4] {
    let n = |goal: &str, field: &str| row[goal][field].as_u64().unwrap_or(0);
    [
        n("response", "met"),
        n("response", "breached"),
        n("resolution", "met"),
        n("resolution", "breached"),
    ]
}

/// The live compliance of the last 30 days per priority, and the total.
async fn live(port: u16, token: &str) -> (Vec<(String, [u64; 4])>, [u64; 4]) {
    let a = request(
        port,
        "GET",
        "/api/v1/client/sla/compliance?period=30d&group_by=priority",
        Some(token),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let groups = a.data()["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (g["key"].as_str().unwrap_or("").to_string(), counts(g)))
        .collect();
    (groups, counts(&a.data()["total"]))
}

/// A report's figures per priority and in all.
fn reported(report: &Value) -> (Vec<(String, [u64; 4])>, [u64; 4]) {
    let groups = report["by_priority"]
        .as_array()
        .expect("by_priority")
        .iter()
        .map(|g| (g["key"].as_str().unwrap_or("").to_string(), counts(g)))
        .collect();
    (groups, counts(&report["summary"]))
}

#[tokio::test]
async fn reports_equal_the_live_figures_replay_the_same_and_are_served_to_their_tenant_only() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    let events = workload(&[1, 2], 60, now_ms() - 3 * DAY, 16);
    publish_events(&js, &events).await;
    let admin = setup.token(1, "client_admin", "ada");
    let port = service.port;
    let db = setup.db.clone();

    // Every goal the live metrics counted in the last 30 days is in the report, per priority,
    // and every alert they counted that was not retracted since.
    let report = eventually(
        "the report to count what the live metrics count",
        || async {
            let (live_groups, live_total) = live(port, &admin).await;
            let overview = request(
                port,
                "GET",
                "/api/v1/client/dashboard/overview?period=30d",
                Some(&admin),
                None,
            )
            .await;
            let stored = store_alerts(&db).await;
            let retracted = |level: &str| {
                stored
                    .iter()
                    .filter(|r| r.key.0 == 1 && r.key.3 == level && r.key.5 == "retracted")
                    .count() as u64
            };
            let live_alerts = [
                overview.data()["summary"]["warnings"].as_u64()? - retracted("warning"),
                overview.data()["summary"]["breaches"].as_u64()? - retracted("breach"),
            ];
            let report = thirty_days(port, &admin).await;
            let alerts = [
                report["summary"]["warnings"].as_u64()?,
                report["summary"]["breach_alerts"].as_u64()?,
            ];
            (live_total.iter().sum::<u64>() > 0
                && reported(&report) == (live_groups, live_total)
                && alerts == live_alerts)
                .then_some(report)
        },
    )
    .await;
    let summary = &report["summary"];
    assert_eq!(summary["opened"], 60, "{report}");
    assert!(summary["open_at_end"].as_u64() > Some(0), "{report}");
    assert!(
        summary["response"]["breached"].as_u64() > Some(0),
        "{report}"
    );
    assert_eq!(
        report["breaches_total"].as_u64(),
        Some(report["breaches"].as_array().map_or(0, Vec::len) as u64)
    );
    let trend: u64 = report["trend"]["points"]
        .as_array()
        .expect("trend")
        .iter()
        .map(|p| p["opened"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(trend, 60, "the trend adds up to the period");
    assert_eq!(report["trend"]["points"].as_array().map(Vec::len), Some(30));

    // The other formats of the same report.
    for (format, content_type, magic) in [
        ("csv", "text/csv; charset=utf-8", &b"section,key,opened"[..]),
        (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &b"PK"[..],
        ),
        ("pdf", "application/pdf", &b"%PDF"[..]),
    ] {
        let job = finished_job(
            port,
            &admin,
            json!({"format": format, "period": "month", "date": ts(now_ms())[..10].to_string()}),
        )
        .await;
        assert!(job["size_bytes"].as_u64() > Some(0), "{job}");
        let file = download_report(port, &admin, &job).await;
        assert_eq!(file.status, 200, "{format}: {}", file.text);
        assert_eq!(file.header("content-type"), Some(content_type));
        assert!(
            file.bytes.starts_with(magic),
            "{format} starts with {:?}",
            &file.bytes[..8.min(file.bytes.len())]
        );
        // Another tenant's admin, a reader and an ingest token get nothing.
        for token in [
            setup.token(2, "client_admin", "bob"),
            setup.token(1, "client_user", "ursula"),
            setup.token(1, "service", "up"),
        ] {
            let refused = download_report(port, &token, &job).await;
            assert_eq!(
                (refused.status, refused.code()),
                (403, 40003),
                "{}",
                refused.text
            );
            assert!(refused.data().is_null());
        }
    }
    let other = setup.token(2, "client_admin", "bob");
    let cross = request(
        port,
        "POST",
        "/api/v1/client/reports/generate",
        Some(&other),
        Some(r#"{"format":"json","tenant_id":1}"#),
    )
    .await;
    assert_eq!((cross.status, cross.code()), (403, 40003), "{}", cross.text);
    for (body, field) in [
        (r#"{"format":"docx"}"#, "format"),
        (r#"{"format":"json","period":"fortnight"}"#, "period"),
        (
            r#"{"format":"json","from":"2026-11-02","to":"2026-11-01"}"#,
            "to",
        ),
        (r#"{"format":"json","breakdowns":["colour"]}"#, "breakdowns"),
        (r#"{"format":"json","colour":"red"}"#, "colour"),
    ] {
        let bad = request(
            port,
            "POST",
            "/api/v1/client/reports/generate",
            Some(&admin),
            Some(body),
        )
        .await;
        assert_eq!(
            (bad.status, bad.code()),
            (400, 40001),
            "{body}: {}",
            bad.text
        );
        assert!(bad.text.contains(field), "{body}: {}", bad.text);
    }
    what_if_matches_the_report_and_the_cli(&setup, port, &report).await;
    service.stop().await;

    // The same events replayed into a new store: the same report.
    let fresh_dir = tempfile::tempdir().expect("temp dir");
    let fresh = ServiceSetup::new(fresh_dir.path(), &nats.url(), CONFIG, "wall");
    let mut replayed = fresh.start();
    replayed.ready().await;
    // Goal figures only: which alerts a wall clock fires before a late stop retracts them
    // depends on how the events were batched on arrival (the first run compared them above).
    let goals = |r: &Value| {
        let mut s = r["summary"].clone();
        for alerts in ["warnings", "breach_alerts"] {
            s[alerts] = Value::Null;
        }
        s
    };
    let again = eventually("the replayed report", || async {
        let r = thirty_days(replayed.port, &fresh.token(1, "client_admin", "ada")).await;
        (goals(&r) == goals(&report)).then_some(r)
    })
    .await;
    for part in [
        "by_priority",
        "by_service_type",
        "by_engineer",
        "trend",
        "breaches",
        "satisfaction",
    ] {
        assert_eq!(again[part], report[part], "{part} after a replay");
    }
    replayed.stop().await;
}

/// What-if: the policy in force proposed again gives the live (reported) figures; a tighter
/// target breaches more, and the CLI over an export agrees with the API.
async fn what_if_matches_the_report_and_the_cli(setup: &ServiceSetup, port: u16, report: &Value) {
    let admin = setup.token(1, "client_admin", "ada");
    let today = now_ms().div_euclid(DAY) * DAY;
    let (from, to) = (ts(today - 29 * DAY), ts(today + DAY));
    let ask = |policy: Value, token: String| {
        let body = json!({"policy": policy, "from": from, "to": to}).to_string();
        async move {
            request(
                port,
                "POST",
                "/api/v1/client/reports/what-if",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    let same = ask(json!({}), admin.clone()).await;
    assert_eq!(same.status, 200, "{}", same.text);
    let d = same.data();
    let figures = |s: &Value| {
        let groups: Vec<(String, [u64; 4])> = s["by_priority"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| (g["key"].as_str().unwrap_or("").to_string(), counts(g)))
            .collect();
        (groups, counts(s))
    };
    assert_eq!(figures(&d["proposed"]), reported(report), "{}", same.text);
    assert_eq!(d["current"], d["proposed"]);
    assert_eq!(d["outcome_changes_total"], 0);

    let policy = json!({"targets": {"HIGH": {"response": 1}}});
    let tighter = ask(policy, admin.clone()).await;
    assert_eq!(tighter.status, 200, "{}", tighter.text);
    let t = tighter.data();
    let breached = |s: &Value| s["response"]["breached"].as_u64().unwrap_or(0);
    assert!(
        breached(&t["proposed"]) > breached(&t["current"]),
        "{}",
        tighter.text
    );
    let changes = t["outcome_changes"].as_array().expect("changes");
    assert!(!changes.is_empty());
    for c in changes {
        assert_eq!(
            (&c["priority"], &c["goal"], &c["current"], &c["proposed"]),
            (
                &json!("HIGH"),
                &json!("response"),
                &json!("met"),
                &json!("breached")
            ),
            "{c}"
        );
    }
    let manager = ask(json!({}), setup.token(1, "client_manager", "mia")).await;
    assert_eq!(
        (manager.status, manager.code()),
        (403, 40003),
        "{}",
        manager.text
    );
    let bad = ask(json!({"calendar": "nowhere"}), admin.clone()).await;
    assert_eq!((bad.status, bad.code()), (400, 40001), "{}", bad.text);
    assert!(bad.text.contains("policy"), "{}", bad.text);

    // The CLI over an export of the tenant's events says the same.
    let config = setup.config.to_str().expect("utf-8 path");
    let export = setup.dir.join("tenant-1.ndjson");
    let exported = setup.vigil(&[
        "export",
        "--tenant",
        "1",
        "--config",
        config,
        "--output",
        export.to_str().expect("utf-8"),
    ]);
    assert!(exported.status.success(), "{exported:?}");
    let lines = std::fs::read_to_string(&export)
        .expect("export")
        .lines()
        .count();
    assert_eq!(
        lines as u64,
        t["events"].as_u64().expect("events"),
        "every event of tenant 1"
    );
    let proposal = setup.dir.join("proposed.toml");
    std::fs::write(&proposal, "[policy.targets]\nHIGH = { response = 1 }\n").expect("proposal");
    let cli = setup.vigil(&[
        "what-if",
        "--tenant",
        "1",
        "--policy",
        proposal.to_str().expect("utf-8"),
        "--input",
        export.to_str().expect("utf-8"),
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "json",
        "--config",
        config,
    ]);
    assert!(cli.status.success(), "{cli:?}");
    let cli: Value = serde_json::from_str(&cli.stdout).expect("JSON");
    for part in [
        "current",
        "proposed",
        "outcome_changes_total",
        "alert_changes_total",
    ] {
        assert_eq!(cli[part], t[part], "{part}");
    }
    let text = setup.vigil(&[
        "what-if",
        "--tenant",
        "1",
        "--policy",
        proposal.to_str().expect("utf-8"),
        "--from",
        &from,
        "--to",
        &to,
        "--config",
        config,
    ]);
    assert!(text.status.success(), "{text:?}");
    assert!(
        text.stdout.contains("response compliance"),
        "{}",
        text.stdout
    );
    let missing = setup.vigil(&[
        "what-if",
        "--policy",
        "/nonexistent.toml",
        "--config",
        config,
    ]);
    assert!(
        !missing.status.success() && missing.stderr.contains("/nonexistent.toml"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn the_job_queue_is_bounded_and_queued_jobs_survive_a_restart() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // An instance that only queues (no workers of its own), with room for two jobs.
    let queue_only = format!("{CONFIG}\n[reports]\nworkers = 0\nmax_queued = 2\n");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), &queue_only, "wall");
    let mut service = setup.start();
    service.ready().await;
    let token = setup.token(7, "client_manager", "mia");
    let ask = || {
        request(
            service.port,
            "POST",
            "/api/v1/client/reports/generate",
            Some(&token),
            Some(r#"{"format":"csv","period":"week"}"#),
        )
    };
    let first = ask().await;
    let second = ask().await;
    assert_eq!(
        (first.status, second.status),
        (201, 201),
        "{} {}",
        first.text,
        second.text
    );
    let full = ask().await;
    assert_eq!((full.status, full.code()), (429, 40005), "{}", full.text);
    assert!(
        full.text.contains("2 report jobs are queued"),
        "{}",
        full.text
    );
    service.stop().await;

    // Started again with workers, it runs what was queued.
    std::fs::write(&setup.config, CONFIG).expect("config");
    let mut service = setup.start();
    service.ready().await;
    for queued in [first, second] {
        let task = queued.data()["task_id"].as_str().expect("task").to_string();
        let done = eventually("a queued job to run after the restart", || async {
            let p = request(
                service.port,
                "GET",
                &format!("/api/v1/client/reports/progress/{task}"),
                Some(&token),
                None,
            )
            .await;
            (p.data()["state"] == "done").then(|| p.data().clone())
        })
        .await;
        assert_eq!(done["percent"], 100);
        let file = download_report(service.port, &token, &done).await;
        assert!(file.text.starts_with("section,key,opened"), "{}", file.text);
    }
    service.stop().await;
}

#[tokio::test]
async fn a_scheduled_report_reaches_its_recipients_once_with_its_attachment_after_retries_and_across_a_restart(
) {
    let nats = NatsServer::start();
    let smtp = vigil_peers::smtp::SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!(
        "{CONFIG}\n[tenants]\npolicies_dir = \"tenants\"\n\n[notify.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"vigil@example.com\"\n",
        smtp.port()
    );
    std::fs::create_dir(dir.path().join("tenants")).expect("tenants dir");
    // Due every day at 00:00 in Shanghai: the latest run (yesterday's report) was missed
    // while no instance ran, so the first start queues it.
    std::fs::write(
        dir.path().join("tenants/5.toml"),
        "[report]\nlanguage = \"zh-CN\"\ntimezone = \"Asia/Shanghai\"\n\n[[report.schedules]]\nid = \"daily-csv\"\nevery = \"daily\"\nat = \"00:00\"\nformat = \"csv\"\nrecipients = [\"cm@example.com\", \"boss@example.com\"]\n",
    )
    .expect("tenant file");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), &config, "wall");
    // The mail server refuses everything at first (451, try later): both emails are retried,
    // and arrive once it takes mail again.
    smtp.set_reject(Some(451)).await;
    let mut service = setup.start();
    service.ready().await;
    let refused = smtp.wait_for_rejections(2, WAIT).await;
    assert!(refused.len() >= 2, "{refused:?}");
    eventually("both refused emails counted as retried", || async {
        (service
            .metric("vigil_report_emails_total{outcome=\"retried\"}")
            .await
            >= Some(2.0))
        .then_some(())
    })
    .await;
    assert!(smtp.received().is_empty());
    smtp.set_reject(None).await;
    let mails = smtp.wait_for(2, WAIT).await;
    let mut to: Vec<&str> = mails.iter().map(|m| m.rcpt_tos[0].as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["boss@example.com", "cm@example.com"]);
    for mail in &mails {
        assert!(
            mail.subject
                .as_deref()
                .is_some_and(|s| s.contains("SLA 服务报告")),
            "{mail:?}"
        );
        assert!(
            mail.text.as_deref().is_some_and(|t| t.contains("达标率")),
            "{mail:?}"
        );
        assert_eq!(mail.attachments.len(), 1, "{mail:?}");
        let file = &mail.attachments[0];
        assert!(
            file.file_name
                .starts_with("sla-report-5-sched-5-daily-csv-")
                && file.file_name.ends_with(".csv"),
            "{}",
            file.file_name
        );
        assert!(
            file.content.starts_with(b"section,key,opened"),
            "{:?}",
            String::from_utf8_lossy(&file.content)
        );
    }
    let ids: std::collections::BTreeSet<_> = mails.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), 2, "one Message-ID per delivery");
    service.stop().await;

    // A restart finds the run queued and sent: no second copy.
    let mut service = setup.start();
    service.ready().await;
    eventually("a pass over the schedules after the restart", || async {
        (service.metric("vigil_report_schedule_passes_total").await >= Some(1.0)).then_some(())
    })
    .await;
    assert!(
        smtp.quiet_for(std::time::Duration::from_secs(2)).await,
        "no second email"
    );
    assert_eq!(smtp.received().len(), 2);
    service.stop().await;
}
