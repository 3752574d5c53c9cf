//! The live dashboard in a real browser: headless Chromium driven by Playwright
//! (`tests/browser/dashboard.mjs`) opens the page served by `vigil run`, logs in with a token,
//! and once it is live this test publishes a ticket that breaches at once; the page must show
//! the numbers and the alert, acknowledge it, and save a screenshot
//! (`target/browser/dashboard.png`). A tenant admin changes a target on the Settings panel
//! (`tests/browser/settings.mjs`: a refused value shown at its field, two saves, a rollback),
//! and a ticket created afterwards gets the target the page left. A tenant manager asks for
//! last week's report on the Reports panel (`tests/browser/reports.mjs`), follows its progress
//! bar and downloads it.
//!
//! Needs Node.js, `npm ci` in `tests/browser` and `/usr/bin/chromium`; `scripts/test` installs
//! them. Without them the test is skipped, except under `CI=true`, where it fails.

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::*;
use vigil_peers::NatsServer;

const CONFIG: &str = r#"
[nats]
partitions = 4
"#;

/// [`CONFIG`] with on-call routing (so a notifier runs and its contacts can change at run
/// time); nothing here ever breaches.
const CONFIG_WITH_NOTIFY: &str = r#"
[nats]
partitions = 4

[notify.smtp]
host = "127.0.0.1"
port = 9
tls = "none"
from = "vigil@example.com"

[[notify.contacts]]
id = "desk"
email = "desk@example.com"

[[notify.policies]]
id = "desk"
steps = [{ notify = ["contact:desk"], channels = ["email"], wait = "1h" }]

[[notify.routes]]
match = { level = "breach" }
policy = "desk"
"#;

/// Why the browser test cannot run here, if it cannot.
fn missing_tools(dir: &Path) -> Option<String> {
    if !Path::new("/usr/bin/chromium").exists() {
        return Some("/usr/bin/chromium is not installed (apt-get install chromium)".into());
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return Some(format!("run `npm ci` in {}", dir.display()));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    None
}

/// The repository root and the drivers' directory; `None` (the test is skipped) when the tools
/// are missing, which fails the test under `CI=true`.
fn drivers() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let driver_dir = root.join("tests/browser");
    if let Some(why) = missing_tools(&driver_dir) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the browser test cannot run: {why}"
        );
        eprintln!("skipping the browser test: {why}");
        return None;
    }
    Some((root, driver_dir))
}

#[tokio::test]
async fn the_dashboard_shows_live_numbers_and_an_alert_that_can_be_acknowledged() {
    let Some((root, driver_dir)) = drivers() else {
        return;
    };
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    let token = setup.token(7, "client_manager", "maria");
    let shots = root.join("target/browser");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let screenshot = shots.join("dashboard.png");

    let mut driver = Command::new("node")
        .arg(driver_dir.join("dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{}", service.port))
        .arg(&token)
        .arg(&screenshot)
        .current_dir(&driver_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let stdout = driver.stdout.take().expect("driver stdout");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    let mut log = Vec::new();
    let outcome = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(120), lines.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the browser driver went quiet; it said:\n{}",
                    log.join("\n")
                )
            });
        let Some(line) = line else {
            break None;
        };
        eprintln!("browser: {line}");
        log.push(line.clone());
        if line == "READY" {
            let now = now_ms();
            let overdue = Ev::created(7, "WEB-1", now - 210 * MIN, "CRITICAL", "web-1-c");
            let fresh = Ev::created(7, "WEB-2", now - MIN, "HIGH", "web-2-c");
            publish_events(&js, &[overdue, fresh]).await;
        } else if line == "PASS" || line.starts_with("FAIL") {
            break Some(line);
        }
    };
    let status = driver.wait().expect("driver exit");
    assert_eq!(
        outcome.as_deref(),
        Some("PASS"),
        "the browser test failed ({status}); it said:\n{}",
        log.join("\n")
    );
    assert!(status.success());
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
    // The acknowledgement reached the store, with who.
    let acked = request(
        service.port,
        "GET",
        "/api/v1/alerts?state=acknowledged",
        Some(&token),
        None,
    )
    .await;
    let alerts = acked.data()["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        alerts
            .iter()
            .any(|a| a["ticket_id"] == "WEB-1" && a["acked_by"] == "maria"),
        "{}",
        acked.text
    );
}

/// Runs a driver that needs no help from the test to its end: its outcome line and all it said.
fn drive(driver_dir: &Path, script: &str, args: &[String]) -> (Option<String>, Vec<String>) {
    let output = Command::new("node")
        .arg(driver_dir.join(script))
        .args(args)
        .current_dir(driver_dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("run node");
    let said: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let outcome = said
        .iter()
        .find(|l| *l == "PASS" || l.starts_with("FAIL"))
        .cloned();
    (outcome, said)
}

#[tokio::test]
async fn a_tenant_admin_changes_a_target_on_the_settings_page_and_new_tickets_get_it() {
    let Some((root, driver_dir)) = drivers() else {
        return;
    };
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG_WITH_NOTIFY, "wall");
    let mut service = setup.start();
    service.ready().await;
    let admin = setup.token(7, "client_admin", "alice");
    let ops = setup.token(7, "ops", "olivia");
    // A rollout for the ops part of the page to show in words.
    let rollout = request_with(
        service.port,
        "PUT",
        "/api/v1/gray-release/ws.tickets",
        Some(&ops),
        Some(r#"{"percent": 25, "tenants": [9], "users": ["carol"], "reason": "dark launch"}"#),
        &[("If-Match", "0")],
    )
    .await;
    assert_eq!(rollout.status, 200, "{}", rollout.text);
    let shots = root.join("target/browser");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let screenshot = shots.join("settings.png");
    let args = [
        format!("http://127.0.0.1:{}", service.port),
        admin.clone(),
        screenshot.display().to_string(),
        ops.clone(),
    ];
    let (outcome, said) =
        tokio::task::spawn_blocking(move || drive(&driver_dir, "settings.mjs", &args))
            .await
            .expect("the driver thread");
    assert_eq!(
        outcome.as_deref(),
        Some("PASS"),
        "the settings page test failed; it said:\n{}",
        said.join("\n")
    );

    // The change made on the page reached the engine: a ticket created now gets 45 minutes.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    publish_events(
        &js,
        &[Ev::created(
            7,
            "WEB-SET",
            now_ms() + 1000,
            "HIGH",
            "web-set-c",
        )],
    )
    .await;
    let target = eventually("the new ticket's clocks", || async {
        let a = request(
            service.port,
            "GET",
            "/api/v1/client/tickets/WEB-SET/sla",
            Some(&admin),
            None,
        )
        .await;
        (a.status == 200).then(|| {
            a.data()["goals"]
                .as_array()
                .and_then(|goals| goals.iter().find(|g| g["goal"] == "response"))
                .and_then(|g| g["target_ms"].as_i64())
        })?
    })
    .await;
    assert_eq!(target, 45 * MIN);
    let contacts = request(
        service.port,
        "GET",
        "/api/v1/system-config/tenant.7.notify.contacts",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        contacts.data()["value"][0]["phone"],
        "+15550000077",
        "{}",
        contacts.text
    );
    // The flag switched off on the page, by ops, with the reason given there.
    let flag = request(
        service.port,
        "GET",
        "/api/v1/system-config/flags.notify.retractions",
        Some(&ops),
        None,
    )
    .await;
    assert_eq!(
        flag.data()["value"],
        serde_json::json!({"on": false}),
        "{}",
        flag.text
    );
    let history = request(
        service.port,
        "GET",
        "/api/v1/system-config/flags.notify.retractions/history",
        Some(&ops),
        None,
    )
    .await;
    let newest = &history.data()["versions"][0];
    assert_eq!(newest["actor"], "olivia", "{}", history.text);
    assert_eq!(
        newest["reason"],
        "retraction notices confuse the night shift"
    );
}

#[tokio::test]
async fn a_manager_generates_a_report_on_the_reports_panel_follows_its_progress_and_downloads_it() {
    let Some((root, driver_dir)) = drivers() else {
        return;
    };
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "wall");
    let mut service = setup.start();
    service.ready().await;
    // Tickets of last week (Monday to Sunday, UTC) for the report to count.
    const DAY: i64 = 24 * HOUR;
    let today = now_ms().div_euclid(DAY);
    let monday = today - (today - 4).rem_euclid(7);
    let events = workload(&[7], 12, (monday - 7) * DAY + 9 * HOUR, 21);
    publish_events(
        &async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect")),
        &events,
    )
    .await;
    let manager = setup.token(7, "client_manager", "mia");
    eventually("last week's tickets in the store", || async {
        let a = request(
            service.port,
            "GET",
            "/api/v1/client/dashboard/overview?period=30d",
            Some(&manager),
            None,
        )
        .await;
        (a.data()["summary"]["total"] == 12).then_some(())
    })
    .await;
    // The facts behind the report are written a moment after the live figures change.
    eventually("last week's tickets in a report", || async {
        let body = serde_json::json!({"format": "json", "period": "week"});
        let job = finished_job(service.port, &manager, body).await;
        let file = download_report(service.port, &manager, &job).await;
        (file.json["summary"]["opened"] == 12).then_some(())
    })
    .await;
    let shots = root.join("target/browser");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let args = [
        format!("http://127.0.0.1:{}", service.port),
        manager,
        shots.join("reports.png").display().to_string(),
        setup.token(7, "client_user", "ursula"),
        "12".to_string(),
    ];
    let (outcome, said) =
        tokio::task::spawn_blocking(move || drive(&driver_dir, "reports.mjs", &args))
            .await
            .expect("the driver thread");
    assert_eq!(
        outcome.as_deref(),
        Some("PASS"),
        "the reports panel test failed; it said:\n{}",
        said.join("\n")
    );
    service.stop().await;
}
