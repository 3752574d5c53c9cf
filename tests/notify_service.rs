//! On-call notifications through the whole service: the real binary, a real nats-server and
//! SQLite, a real SMTP server (`vigil_peers::SmtpServer`) and the fake SMS gateway. An overdue
//! ticket pages its on-call by SMS and email, the ack link in the email stops the escalation,
//! and a `kill -9` at either side of a send still delivers each notification exactly once.

mod support;

use std::time::Duration;

use support::*;
use vigil_peers::gateway::{Fault, Route};
use vigil_peers::{FakeGateway, NatsServer, SmtpServer};

const TENANT: u64 = 12345;
const LINK_SECRET_VAR: &str = "VIGIL_TEST_LINK_SECRET";
/// The SMS gateway's `Authorization` value, by its variable.
const SMS_AUTH_VAR: &str = "VIGIL_TEST_SMS_AUTH";
/// The key sealing the secrets set at run time (tests only).
const SECRETS_KEY: &str = "dGVzdHMtb25seS1zZWFsaW5nLWtleS0zMi1ieXRlcyE=";

/// Breaches page alice by SMS and email, then bob after `escalate_after`; warnings have no
/// route (so one overdue ticket makes exactly one page per channel).
fn config(
    smtp: &SmtpServer,
    gateway: &FakeGateway,
    group_wait: &str,
    escalate_after: &str,
) -> String {
    format!(
        r#"{UNLIMITED}
[notify]
link_secret_env = "{LINK_SECRET_VAR}"

[notify.smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "vigil@example.com"

[notify.sms]
url = "{sms}"
auth_header_env = "{SMS_AUTH_VAR}"

[notify.delivery]
send_timeout = "2s"
claim_timeout = "2s"

[[notify.contacts]]
id = "alice"
email = "alice@example.com"
phone = "+15550000001"

[[notify.contacts]]
id = "bob"
email = "bob@example.com"
phone = "+15550000002"

[[notify.policies]]
id = "critical"
steps = [
  {{ notify = ["contact:alice"], channels = ["sms", "email"], wait = "{escalate_after}" }},
  {{ notify = ["contact:bob"], channels = ["sms", "email"], wait = "{escalate_after}" }},
]

[[notify.routes]]
match = {{ level = "breach" }}
policy = "critical"
group_wait = "{group_wait}"
"#,
        port = smtp.port(),
        sms = gateway.url(Route::Sms),
    )
}

struct Rig {
    _dir: tempfile::TempDir,
    nats: NatsServer,
    setup: ServiceSetup,
    smtp: SmtpServer,
    gateway: FakeGateway,
}

impl Rig {
    async fn new(group_wait: &str, escalate_after: &str) -> Rig {
        let nats = NatsServer::start();
        let smtp = SmtpServer::start();
        let gateway = FakeGateway::start("unused-webhook-secret").await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut setup = ServiceSetup::new(
            dir.path(),
            &nats.url(),
            &config(&smtp, &gateway, group_wait, escalate_after),
            "wall",
        );
        setup.env.push((
            LINK_SECRET_VAR.into(),
            "a-secret-of-at-least-16-bytes".into(),
        ));
        setup
            .env
            .push((SMS_AUTH_VAR.into(), "Bearer from-the-environment".into()));
        setup
            .env
            .push(("VIGIL_SECRETS_KEY".into(), SECRETS_KEY.into()));
        Rig {
            _dir: dir,
            nats,
            setup,
            smtp,
            gateway,
        }
    }

    async fn start(&self) -> Service {
        let mut service = self.setup.start();
        service.ready().await;
        service
    }

    /// One CRITICAL ticket far past its targets: its breach pages at once.
    async fn overdue_ticket(&self, ticket: &str) {
        let client = async_nats::connect(self.nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        publish_events(&js, &[Ev::overdue(TENANT, ticket)]).await;
    }

    /// A read-only connection to the service's SQLite store, once it exists.
    async fn db(&self) -> Option<sqlx::SqliteConnection> {
        use sqlx::ConnectOptions as _;
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.setup.db)
            .read_only(true)
            .connect()
            .await
            .ok()
    }

    /// The text in the first row of `sql`, if any.
    async fn query_one(&self, sql: &'static str) -> Option<String> {
        let mut db = self.db().await?;
        sqlx::query_scalar(sql).fetch_optional(&mut db).await.ok()?
    }

    /// `(contact, channel, state)` of every outbox row, sorted.
    async fn outbox(&self) -> Vec<(String, String, String)> {
        let Some(mut db) = self.db().await else {
            return Vec::new();
        };
        sqlx::query_as(
            "SELECT contact, channel, state FROM notifications ORDER BY contact, channel, state",
        )
        .fetch_all(&mut db)
        .await
        .unwrap_or_default()
    }

    /// Waits until the outbox holds exactly `rows` (sorted `(contact, channel, state)`).
    async fn outbox_is(&self, rows: &[(&str, &str, &str)]) {
        let want: Vec<(String, String, String)> = rows
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        eventually(&format!("outbox {want:?}"), || async {
            (self.outbox().await == want).then_some(())
        })
        .await;
    }

    fn sms_delivered(&self) -> usize {
        self.gateway
            .deliveries()
            .iter()
            .filter(|d| d.route == Route::Sms)
            .count()
    }
}

/// The ack link in a message's text.
fn ack_link(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains("/ack/"))
        .unwrap_or_else(|| panic!("no ack link in {text:?}"))
        .to_string()
}

#[tokio::test]
async fn an_overdue_ticket_pages_the_on_call_and_the_ack_link_stops_the_escalation() {
    let rig = Rig::new("0s", "3s").await;
    let service = rig.start().await;
    rig.overdue_ticket("TKT-1").await;

    let sms = rig.gateway.wait_for_deliveries(1, WAIT).await;
    assert_eq!(sms[0].to.as_deref(), Some("+15550000001"));
    let text = sms[0].text.clone().unwrap_or_default();
    assert!(
        text.contains("TKT-1") && text.contains("BREACHED"),
        "{text}"
    );
    let mail = rig.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail[0].rcpt_tos, ["alice@example.com"]);
    let link = ack_link(mail[0].text.as_deref().unwrap_or_default());
    let prefix = format!("http://127.0.0.1:{}/ack/", service.port);
    assert!(link.starts_with(&prefix), "{link}");

    // Opening the link (as a mail scanner or a chat preview would) and HEAD change nothing:
    // the alert stays firing and no step of the escalation is cancelled.
    let path = &link[prefix.len() - "/ack/".len()..];
    let (status, page) = service.get(path).await.expect("ack link answers");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\">"), "{page}");
    let head = request(service.port, "HEAD", path, None, None).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        rig.query_one("SELECT CAST(COUNT(*) AS TEXT) FROM alerts WHERE state = 'acknowledged'")
            .await
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        rig.query_one("SELECT CAST(COUNT(*) AS TEXT) FROM notifications WHERE state = 'cancelled'")
            .await
            .as_deref(),
        Some("0")
    );

    // Its button (a POST to the same URL) acknowledges the alert as alice.
    let posted = request(service.port, "POST", path, None, None).await;
    assert_eq!(posted.status, 200, "{}", posted.text);
    assert!(posted.text.contains("Acknowledged"), "{}", posted.text);
    let acked_by = eventually("the breach acknowledged in the store", || async {
        rig.query_one("SELECT acked_by FROM alerts WHERE state = 'acknowledged'")
            .await
    })
    .await;
    assert_eq!(acked_by, "contact:alice");

    // Bob's step (3 s after alice's) is cancelled: he is never paged.
    rig.outbox_is(&[
        ("alice", "email", "sent"),
        ("alice", "sms", "sent"),
        ("bob", "email", "cancelled"),
        ("bob", "sms", "cancelled"),
    ])
    .await;
    assert!(rig.gateway.quiet_for(Duration::from_secs(4)).await);
    assert_eq!(rig.smtp.received().len(), 1);
    assert_eq!(
        service
            .metric("vigil_notifications_total{channel=\"sms\",result=\"sent\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        service.metric("vigil_alert_acks_total{via=\"link\"}").await,
        Some(1.0)
    );
}

#[tokio::test]
async fn a_kill_before_or_during_a_send_still_delivers_each_notification_once() {
    // Escalation far away: only alice's two pages are in play.
    let rig = Rig::new("2s", "10m").await;
    let mut service = rig.start().await;
    rig.overdue_ticket("TKT-2").await;

    // Killed after the outbox was written, before anything was due.
    eventually("pages in the outbox", || async {
        (rig.outbox().await.len() == 4).then_some(())
    })
    .await;
    assert_eq!(rig.gateway.requests().len(), 0);
    service.kill().await;

    // Restarted: the email goes out; the SMS reaches the gateway, which holds its answer, and
    // the service is killed again with the SMS sent but not recorded.
    rig.gateway.push_fault_on(Route::Sms, Fault::Hold);
    let mut service = rig.start().await;
    assert_eq!(rig.gateway.wait_held(1, WAIT).await, 1);
    assert_eq!(rig.smtp.wait_for(1, WAIT).await.len(), 1);
    rig.outbox_is(&[
        ("alice", "email", "sent"),
        ("alice", "sms", "pending"),
        ("bob", "email", "pending"),
        ("bob", "sms", "pending"),
    ])
    .await;
    service.kill().await;
    rig.gateway.release();

    // Restarted again: the SMS is sent once more under the same idempotency key once its claim
    // lapses; the gateway takes it as a duplicate, and the outbox records it sent.
    let _service = rig.start().await;
    rig.outbox_is(&[
        ("alice", "email", "sent"),
        ("alice", "sms", "sent"),
        ("bob", "email", "pending"),
        ("bob", "sms", "pending"),
    ])
    .await;
    assert_eq!(rig.sms_delivered(), 1);
    assert_eq!(rig.gateway.duplicates(), 1);
    let keys: Vec<_> = rig
        .gateway
        .requests()
        .iter()
        .filter_map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "the retry carries the same key");
    assert!(rig.smtp.quiet_for(Duration::from_millis(500)).await);
    assert_eq!(rig.smtp.received().len(), 1, "the email went out once");
}

#[tokio::test]
async fn with_the_sms_flag_off_for_a_tenant_its_sms_pages_are_cancelled_and_email_still_goes() {
    let rig = Rig::new("0s", "1h").await;
    let service = rig.start().await;
    let ops = rig.setup.token(TENANT, "ops", "olivia");
    let flip = request_with(
        service.port,
        "PUT",
        "/api/v1/feature-flags/notify.sms",
        Some(&ops),
        Some(r#"{"rule": {"on": true, "tenants": [1]}, "reason": "SMS provider contract ends"}"#),
        &[("If-Match", "0")],
    )
    .await;
    assert_eq!(flip.status, 200, "{}", flip.text);
    let seq = flip.data()["changes"][0]["seq"].as_i64().expect("seq");
    service.config_applied(seq).await;

    rig.overdue_ticket("TKT-FLAG").await;
    let mail = rig.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail[0].rcpt_tos, ["alice@example.com"]);
    // Bob's step waits an hour: still pending.
    rig.outbox_is(&[
        ("alice", "email", "sent"),
        ("alice", "sms", "cancelled"),
        ("bob", "email", "pending"),
        ("bob", "sms", "pending"),
    ])
    .await;
    let reason = rig
        .query_one("SELECT last_error FROM notifications WHERE channel = 'sms'")
        .await
        .unwrap_or_default();
    assert!(reason.contains("flag notify.sms"), "{reason}");
    assert_eq!(rig.sms_delivered(), 0, "no SMS reached the gateway");
}

#[tokio::test]
async fn a_flag_whose_rollback_condition_trips_goes_back_to_its_previous_version() {
    let rig = Rig::new("0s", "1h").await;
    let service = rig.start().await;
    let ops = rig.setup.token(TENANT, "ops", "olivia");
    let (port, token) = (service.port, ops.as_str());
    let put = |rule: &'static str, version: &'static str| {
        let body = format!(r#"{{"rule": {rule}, "reason": "new SMS provider"}}"#);
        async move {
            request_with(
                port,
                "PUT",
                "/api/v1/feature-flags/notify.sms",
                Some(token),
                Some(&body),
                &[("If-Match", version)],
            )
            .await
        }
    };
    let off = put(r#"{"on": false}"#, "0").await;
    assert_eq!(off.status, 200, "{}", off.text);
    let on = put(
        r#"{"on": true, "rollback_when": {"metric": "notifications_failed", "channel": "sms", "above": 0, "within": "5m"}}"#,
        "1",
    )
    .await;
    assert_eq!(on.status, 200, "{}", on.text);
    let seq = on.data()["changes"][0]["seq"].as_i64().expect("seq");
    service.config_applied(seq).await;

    // The new provider refuses the first SMS: one failed notification trips the condition.
    rig.gateway.push_fault_on(Route::Sms, Fault::Status(400));
    rig.overdue_ticket("TKT-ROLLBACK").await;
    let rolled = eventually("the flag rolled back", || async {
        let a = request(
            service.port,
            "GET",
            "/api/v1/system-config/flags.notify.sms/history",
            Some(&ops),
            None,
        )
        .await;
        let latest = a.data()["versions"][0].clone();
        (latest["version"] == 3).then_some(latest)
    })
    .await;
    assert_eq!(rolled["op"], "rollback", "{rolled}");
    assert_eq!(rolled["rolled_back_to"], 1, "{rolled}");
    assert_eq!(rolled["actor"], "vigil", "{rolled}");
    assert_eq!(
        rolled["value"],
        serde_json::json!({"on": false}),
        "{rolled}"
    );
    let reason = rolled["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("automatic rollback"), "{reason}");
}

#[tokio::test]
async fn contacts_changed_at_run_time_are_paged_at_their_new_number_and_bad_ones_refused() {
    let rig = Rig::new("0s", "1h").await;
    let service = rig.start().await;
    let ops = rig.setup.token(TENANT, "ops", "olivia");
    let put = |value: serde_json::Value, version: &'static str| {
        let body =
            serde_json::json!({"value": value, "reason": "alice has a new phone"}).to_string();
        let (port, token) = (service.port, ops.clone());
        async move {
            request_with(
                port,
                "PUT",
                "/api/v1/system-config/notify.contacts",
                Some(&token),
                Some(&body),
                &[("If-Match", version)],
            )
            .await
        }
    };
    // Without bob, the policy's second step names nobody: refused, with the field.
    let refused = put(
        serde_json::json!([{"id": "alice", "email": "alice@example.com", "phone": "+15550000009"}]),
        "0",
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains("bob"), "{}", refused.text);

    let changed = put(
        serde_json::json!([
            {"id": "alice", "email": "alice@example.com", "phone": "+15550000009"},
            {"id": "bob", "email": "bob@example.com", "phone": "+15550000002"},
        ]),
        "0",
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let seq = changed.data()["changes"][0]["seq"].as_i64().expect("seq");
    service.config_applied(seq).await;
    rig.overdue_ticket("TKT-NEW-PHONE").await;
    let sms = rig.gateway.wait_for_deliveries(1, WAIT).await;
    assert_eq!(sms[0].to.as_deref(), Some("+15550000009"));
}

#[tokio::test]
async fn a_secret_set_at_run_time_is_used_at_once_and_never_shown_stored_or_logged_in_clear() {
    const ROTATED: &str = "Bearer rotated-at-run-time-7f3a9c";
    let rig = Rig::new("0s", "1h").await;
    let service = rig.start().await;
    let ops = rig.setup.token(TENANT, "ops", "olivia");
    let key_path = format!("/api/v1/system-config/secrets.{SMS_AUTH_VAR}");
    let put = |value: serde_json::Value, version: &'static str, path: String| {
        let body = serde_json::json!({"value": value, "reason": "gateway token rotated"});
        let (port, token) = (service.port, ops.clone());
        async move {
            request_with(
                port,
                "PUT",
                &path,
                Some(&token),
                Some(&body.to_string()),
                &[("If-Match", version)],
            )
            .await
        }
    };
    // The files' value is there (from the environment) but not shown.
    let before = request(service.port, "GET", &key_path, Some(&ops), None).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(before.data()["value"], "********", "{}", before.text);
    assert_eq!(before.data()["layer"], "files");

    // A tenant's admin may neither read nor set a secret (ops only).
    let admin = rig.setup.token(TENANT, "client_admin", "alice");
    let read = request(service.port, "GET", &key_path, Some(&admin), None).await;
    assert_eq!(read.status, 403, "{}", read.text);
    let body = serde_json::json!({"value": "Bearer mine", "reason": "mine"}).to_string();
    let set = request_with(
        service.port,
        "PUT",
        &key_path,
        Some(&admin),
        Some(&body),
        &[("If-Match", "0")],
    )
    .await;
    assert_eq!(set.status, 403, "{}", set.text);

    // The mask itself, and a variable no setting names, are refused.
    let masked = put(serde_json::json!("********"), "0", key_path.clone()).await;
    assert_eq!(masked.status, 400, "{}", masked.text);
    let unnamed = put(
        serde_json::json!("x"),
        "0",
        "/api/v1/system-config/secrets.NOT_NAMED_ANYWHERE".into(),
    )
    .await;
    assert_eq!(unnamed.status, 400, "{}", unnamed.text);
    assert!(
        unnamed.text.contains("no setting names"),
        "{}",
        unnamed.text
    );

    // The gateway takes only the rotated token from now on.
    rig.gateway.require_authorization(Some(ROTATED));
    let set = put(serde_json::json!(ROTATED), "0", key_path.clone()).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(
        set.data()["changes"][0]["value"],
        "********",
        "{}",
        set.text
    );
    let seq = set.data()["changes"][0]["seq"].as_i64().expect("seq");
    service.config_applied(seq).await;
    rig.overdue_ticket("TKT-ROTATED").await;
    let sms = rig.gateway.wait_for_deliveries(1, WAIT).await;
    assert_eq!(sms[0].to.as_deref(), Some("+15550000001"));

    // Shown masked everywhere: the key, its history, its diff, the audit (JSON and CSV).
    let secret_part = "rotated-at-run-time";
    for path in [
        key_path.clone(),
        format!("{key_path}/history"),
        format!("{key_path}/diff?from=0"),
        "/api/v1/audit".to_string(),
        "/api/v1/audit?format=csv".to_string(),
        "/api/v1/system-config".to_string(),
        "/api/v1/system-config/export".to_string(),
    ] {
        let answer = request(service.port, "GET", &path, Some(&ops), None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        assert!(
            !answer.text.contains(secret_part),
            "{path}: {}",
            answer.text
        );
    }
    let after = request(service.port, "GET", &key_path, Some(&ops), None).await;
    assert_eq!(after.data()["value"], "********");
    assert_eq!(after.data()["layer"], "runtime");
    let diff = request(
        service.port,
        "GET",
        &format!("{key_path}/diff?from=0"),
        Some(&ops),
        None,
    )
    .await;
    assert_eq!(
        diff.data()["changes"].as_array().map(Vec::len),
        Some(1),
        "{}",
        diff.text
    );

    // Stored sealed, and never in the log.
    let stored = rig
        .query_one(
            "SELECT value FROM config_changes WHERE config_key = 'secrets.VIGIL_TEST_SMS_AUTH'",
        )
        .await
        .expect("the stored change");
    assert!(stored.contains("\"sealed\":\"v1:"), "{stored}");
    assert!(!stored.contains(secret_part), "{stored}");
    assert!(
        !service.log().contains(secret_part),
        "the secret is in the log"
    );
}
