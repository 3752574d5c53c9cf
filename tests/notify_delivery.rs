//! The notifier against real peers, on a clock the test moves: alert changes go through the
//! intake into a real SQLite outbox, and the dispatcher sends to a real SMTP server
//! (`vigil_peers::SmtpServer`) and a real HTTP SMS gateway and webhook receiver (with faults
//! injected). Each round is driven by hand, so escalation delays, grouping windows, rate limits
//! and silences are checked at exact instants without waiting for them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use vigil::notify::ack_token::LinkSigner;
use vigil::notify::channel::Providers;
use vigil::notify::dispatch::{Dispatcher, Round};
use vigil::notify::intake::Intake;
use vigil::notify::{NotifyConfig, Routing, RoutingHandle};
use vigil::secrets::Rebuilt;
use vigil::setting::ConfigDuration;
use vigil::store::silences::Silence;
use vigil::store::{Store, Transition};
use vigil_engine::alert::{alert_id, dedupe_key};
use vigil_engine::clock::ManualClock;
use vigil_engine::{AlertRecord, AlertState, Goal, Level};
use vigil_peers::gateway::{Fault, Route};
use vigil_peers::{FakeGateway, SmtpServer};
use vigil_schema::Millis;

/// Longest wait for a peer to see what was already sent.
const WAIT: Duration = Duration::from_secs(10);
/// How long a peer must stay quiet to show that nothing more was sent.
const QUIET: Duration = Duration::from_millis(300);
const TENANT: u64 = 12345;
const SECRET: &str = "webhook-secret-for-tests";
const MINUTE: i64 = 60_000;

/// Contacts, a schedule, and three routes: CRITICAL breaches page by SMS and email and escalate
/// to bob after 5 minutes; HIGH breaches page by SMS only; warnings email the on-call.
fn config(smtp_port: u16, gateway: &FakeGateway, extra: &str) -> NotifyConfig {
    let text = format!(
        r#"
public_url = "https://vigil.example.com"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "vigil@example.com"

[sms]
url = "{sms}"

[webhook]
url = "{webhook}"
secret_env = "VIGIL_TEST_WEBHOOK_SECRET"

[delivery]
send_timeout = "2s"
breaker_failures = 1
breaker_cooldown = "30s"

[[contacts]]
id = "alice"
email = "alice@example.com"
phone = "+15550000001"
timezone = "UTC"

[[contacts]]
id = "bob"
email = "bob@example.com"
phone = "+15550000002"
locale = "zh-CN"
timezone = "Asia/Shanghai"

[[schedules]]
id = "primary"
timezone = "UTC"
rotation = ["alice"]
handover = "mon 09:00"

[[policies]]
id = "critical"
repeat = 1
steps = [
  {{ notify = ["schedule:primary"], channels = ["sms", "email"], wait = "5m" }},
  {{ notify = ["contact:bob"], channels = ["sms", "email"], wait = "5m" }},
]

[[policies]]
id = "sms-only"
steps = [{{ notify = ["schedule:primary"], channels = ["sms"], wait = "5m" }}]

[[policies]]
id = "warn"
steps = [{{ notify = ["schedule:primary"], channels = ["email"] }}]

[[routes]]
match = {{ level = "breach", priority = "CRITICAL" }}
policy = "critical"

[[routes]]
match = {{ level = "breach", priority = "HIGH" }}
policy = "sms-only"
group_interval = "1s"

[[routes]]
match = {{ level = "warning" }}
policy = "warn"
{extra}
"#,
        sms = gateway.url(Route::Sms),
        webhook = gateway.url(Route::Webhook),
    );
    let config: NotifyConfig = toml::from_str(&text).expect("test config parses");
    assert_eq!(config.problems(), Vec::new());
    config
}

/// The notifier with its peers, on a manual clock.
struct Rig {
    _dir: tempfile::TempDir,
    store: Store,
    clock: ManualClock,
    intake: Intake,
    dispatcher: Dispatcher,
    smtp: SmtpServer,
    gateway: FakeGateway,
    routing: RoutingHandle,
    providers: Rebuilt<Providers>,
}

impl Rig {
    async fn new() -> Rig {
        Rig::with(|_| {}, "").await
    }

    async fn with(adjust: impl FnOnce(&mut NotifyConfig), extra: &str) -> Rig {
        std::env::set_var("VIGIL_TEST_WEBHOOK_SECRET", SECRET);
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::connect(&format!("sqlite://{}/vigil.db", dir.path().display()))
            .await
            .expect("store");
        let smtp = SmtpServer::start();
        let gateway = FakeGateway::start(SECRET).await;
        let mut config = config(smtp.port(), &gateway, extra);
        adjust(&mut config);
        let routing = RoutingHandle::new(Routing::new(config, &BTreeMap::new()));
        // Close to the wall clock: the outbox stamps rows with it.
        let clock = ManualClock::at(now_ms());
        let wake = Arc::new(tokio::sync::Notify::new());
        let intake = Intake::new(
            routing.clone(),
            store.clone(),
            Arc::new(clock.clone()),
            wake.clone(),
        );
        let providers =
            Rebuilt::fixed(Providers::from_config(routing.load().main()).expect("providers"));
        let links = Arc::new(LinkSigner::new(b"ack-link-key-for-tests"));
        let dispatcher = Dispatcher::new(
            routing.clone(),
            store.clone(),
            providers.clone(),
            Some(links),
            Arc::new(clock.clone()),
            "https://vigil.example.com",
        );
        Rig {
            _dir: dir,
            store,
            clock,
            intake,
            dispatcher,
            smtp,
            gateway,
            routing,
            providers,
        }
    }

    /// Another instance's dispatcher over the same outbox, providers and clock.
    fn other_instance(&self) -> Dispatcher {
        Dispatcher::new(
            self.routing.clone(),
            self.store.clone(),
            self.providers.clone(),
            None,
            Arc::new(self.clock.clone()),
            "https://vigil.example.com",
        )
    }

    fn now(&self) -> Millis {
        use vigil_engine::clock::Clock;
        self.clock.now()
    }

    /// Moves the clock `ms` forward.
    fn advance(&self, ms: i64) {
        self.clock.advance_to(self.now() + ms);
    }

    /// Records an alert change and hands it to the intake, as the service does.
    async fn change(&self, record: &AlertRecord) {
        self.store
            .alerts()
            .record_change(record)
            .await
            .expect("alert recorded");
        self.intake
            .take(std::slice::from_ref(record))
            .await
            .expect("intake");
    }

    /// Acknowledges an alert as the API does, and hands the change to the intake.
    async fn acknowledge(&self, alert_id: &str) {
        let Transition::Changed(acked) = self
            .store
            .alerts()
            .acknowledge(alert_id, "alice")
            .await
            .expect("acknowledged")
        else {
            panic!("alert {alert_id} was not firing");
        };
        self.intake.take(&[acked.record]).await.expect("intake");
    }

    /// Rounds at the current instant until nothing due is left; their sum.
    async fn settle(&mut self) -> Round {
        let mut total = Round::default();
        loop {
            let r = self.dispatcher.round().await.expect("round");
            if r.taken == 0 {
                return total;
            }
            total.taken += r.taken;
            total.messages += r.messages;
            total.sent += r.sent;
            total.retried += r.retried;
            total.failed += r.failed;
            total.deferred += r.deferred;
            total.cancelled += r.cancelled;
            total.fallbacks += r.fallbacks;
        }
    }

    async fn rows(&self, alert_id: &str) -> Vec<vigil::store::OutboxEntry> {
        self.store
            .notifications()
            .of_alert(alert_id)
            .await
            .expect("outbox rows")
    }
}

fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// A firing alert of `ticket` at `at`.
fn alert(ticket: &str, level: Level, priority: &str, at: Millis) -> AlertRecord {
    let threshold = if level == Level::Breach { 1.0 } else { 0.8 };
    let key = dedupe_key(TENANT, ticket, Goal::Response, level, threshold);
    AlertRecord {
        alert_id: alert_id(&key),
        state: AlertState::Firing,
        tenant_id: TENANT,
        ticket_id: ticket.to_string(),
        goal: Goal::Response,
        level,
        threshold,
        target_ms: 30 * MINUTE,
        elapsed_ms: if level == Level::Breach {
            30 * MINUTE
        } else {
            24 * MINUTE
        },
        fired_at: at,
        deadline: at + 6 * MINUTE,
        priority: priority.to_string(),
        service_type: "incident".into(),
        policy_version: 1,
    }
}

fn subject(mail: &vigil_peers::smtp::Mail) -> &str {
    mail.subject.as_deref().unwrap_or_default()
}

fn with_state(record: &AlertRecord, state: AlertState) -> AlertRecord {
    AlertRecord {
        state,
        ..record.clone()
    }
}

#[tokio::test]
async fn a_warning_emails_the_on_call_after_group_wait_with_an_ack_link() {
    let mut rig = Rig::new().await;
    let warning = alert("TKT-1", Level::Warning, "MEDIUM", rig.now());
    rig.change(&warning).await;
    // group_wait (30 s) first.
    assert_eq!(rig.settle().await.taken, 0);
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!((round.messages, round.sent), (1, 1));
    let mail = rig.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt_tos, ["alice@example.com"]);
    assert!(subject(&mail[0]).contains("TKT-1"), "{}", subject(&mail[0]));
    assert!(
        subject(&mail[0]).contains("warning"),
        "{}",
        subject(&mail[0])
    );
    let text = mail[0].text.as_deref().unwrap_or_default();
    assert!(text.contains("https://vigil.example.com/ack/"), "{text}");
    assert!(mail[0]
        .html
        .as_deref()
        .unwrap_or_default()
        .contains("/ack/"));
    // Nothing by SMS, and nothing twice.
    assert!(rig.gateway.quiet_for(QUIET).await);
    assert_eq!(rig.settle().await.taken, 0);
    let rows = rig.rows(&warning.alert_id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "sent");
}

/// A ticket id carrying bare CR and LF around lines of a lone dot and SMTP commands reaches
/// the real SMTP server as one intact message: every line break CRLF (so each dot line is
/// dot-stuffed and none ends `DATA`), the subject on one line.
#[tokio::test]
async fn line_breaks_in_texts_cannot_end_the_email_early_or_split_its_subject() {
    let mut rig = Rig::new().await;
    let ticket = "TKT-2\r.\rRSET\n.\nMAIL FROM:<x@evil.example>\r\n.\r\nQUIT";
    let warning = alert(ticket, Level::Warning, "MEDIUM", rig.now());
    rig.change(&warning).await;
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!((round.messages, round.sent, round.failed), (1, 1, 0));
    let mail = rig.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt_tos, ["alice@example.com"]);
    let subject = subject(&mail[0]);
    assert!(!subject.contains(char::is_control), "{subject:?}");
    let words = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("TKT-2 . RSET . MAIL FROM:<x@evil.example> . QUIT response warning"),
        "{subject:?}"
    );
    let text = mail[0].text.as_deref().unwrap_or_default();
    let html = mail[0].html.as_deref().unwrap_or_default();
    for body in [text, html] {
        assert!(
            !body.contains('\r'),
            "a bare CR reached the relay: {body:?}"
        );
    }
    // The dot lines came through as text, and what follows them too.
    let lines = "TKT-2\n.\nRSET\n.\nMAIL FROM:<x@evil.example>\n.\nQUIT response warning";
    assert!(text.contains(lines), "{text:?}");
    assert!(
        text.contains("Deadline: ") && text.contains("/ack/"),
        "{text:?}"
    );
    assert!(html.contains("</table>"), "{html:?}");
    assert!(rig.smtp.quiet_for(QUIET).await, "one message only");
    assert!(rig.smtp.rejections().is_empty());
}

#[tokio::test]
async fn a_breach_pages_by_sms_and_email_and_escalates_until_acknowledged() {
    let mut rig = Rig::new().await;
    let breach = alert("TKT-2", Level::Breach, "CRITICAL", rig.now());
    rig.change(&breach).await;
    rig.advance(30_000);
    assert_eq!(rig.settle().await.messages, 2);
    let sms = rig.gateway.wait_for_deliveries(1, WAIT).await;
    assert_eq!(sms[0].to.as_deref(), Some("+15550000001"));
    let text = sms[0].text.clone().unwrap_or_default();
    assert!(
        text.contains("TKT-2") && text.contains("BREACHED"),
        "{text}"
    );
    assert_eq!(
        rig.smtp.wait_for(1, WAIT).await[0].rcpt_tos,
        ["alice@example.com"]
    );

    // Nobody acknowledged within 5 minutes: bob is paged, in Chinese.
    rig.advance(5 * MINUTE - 1);
    assert_eq!(rig.settle().await.taken, 0, "not before the step's wait");
    rig.advance(1);
    assert_eq!(rig.settle().await.messages, 2);
    let sms = rig.gateway.wait_for_deliveries(2, WAIT).await;
    assert_eq!(sms[1].to.as_deref(), Some("+15550000002"));
    assert!(sms[1].text.clone().unwrap_or_default().contains("已超时"));
    assert_eq!(
        rig.smtp.wait_for(2, WAIT).await[1].rcpt_tos,
        ["bob@example.com"]
    );

    // Acknowledged: the repeat round (alice again after 5 more minutes) is cancelled.
    rig.acknowledge(&breach.alert_id).await;
    rig.advance(30 * MINUTE);
    assert_eq!(rig.settle().await.sent, 0);
    assert!(rig.gateway.quiet_for(QUIET).await);
    assert_eq!(rig.smtp.received().len(), 2);
    let rows = rig.rows(&breach.alert_id).await;
    let cancelled = rows.iter().filter(|n| n.state == "cancelled").count();
    let sent = rows.iter().filter(|n| n.state == "sent").count();
    assert_eq!((sent, cancelled), (4, 4), "{rows:#?}");
}

#[tokio::test]
async fn a_burst_goes_out_as_one_message_and_later_alerts_wait_for_group_interval() {
    let mut rig = Rig::new().await;
    let t0 = rig.now();
    for i in 0..5 {
        rig.change(&alert(&format!("TKT-B{i}"), Level::Breach, "CRITICAL", t0))
            .await;
        rig.advance(2_000);
    }
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!((round.messages, round.sent), (2, 10), "{round:?}");
    let sms = rig.gateway.wait_for_deliveries(1, WAIT).await;
    let text = sms[0].text.clone().unwrap_or_default();
    assert!(text.starts_with("[Vigil] 5 alerts:"), "{text}");
    let mail = rig.smtp.wait_for(1, WAIT).await;
    assert!(
        subject(&mail[0]).contains("5 alerts"),
        "{}",
        subject(&mail[0])
    );
    for i in 0..5 {
        assert!(mail[0]
            .text
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("TKT-B{i}")));
    }
    // A sixth, a minute later, waits for the group's interval (5 minutes after the first
    // message), then goes out on its own.
    let sent_at = rig.now();
    rig.advance(MINUTE);
    rig.change(&alert("TKT-B5", Level::Breach, "CRITICAL", rig.now()))
        .await;
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!((round.sent, round.deferred), (0, 2), "{round:?}");
    // By then nobody acknowledged the first five: bob's escalation step is due too, in one
    // message per channel for all five.
    rig.clock.advance_to(sent_at + 5 * MINUTE);
    assert_eq!(rig.settle().await.messages, 4);
    let sms = rig.gateway.wait_for_deliveries(3, WAIT).await;
    let text_to = |to: &str| {
        sms.iter()
            .skip(1)
            .find(|d| d.to.as_deref() == Some(to))
            .and_then(|d| d.text.clone())
            .unwrap_or_default()
    };
    assert!(text_to("+15550000001").contains("TKT-B5"), "{sms:#?}");
    assert!(
        text_to("+15550000002").starts_with("[Vigil] 5条告警"),
        "{sms:#?}"
    );
}

#[tokio::test]
async fn a_breach_inhibits_the_warnings_of_its_ticket() {
    let mut rig = Rig::new().await;
    let warning = alert("TKT-3", Level::Warning, "CRITICAL", rig.now());
    rig.change(&warning).await;
    rig.advance(10_000);
    let breach = alert("TKT-3", Level::Breach, "CRITICAL", rig.now());
    rig.change(&breach).await;
    rig.advance(30_000);
    rig.settle().await;
    let mail = rig.smtp.wait_for(1, WAIT).await;
    assert!(
        subject(&mail[0]).contains("BREACHED"),
        "{}",
        subject(&mail[0])
    );
    assert!(rig.smtp.quiet_for(QUIET).await, "no warning email");
    let rows = rig.rows(&warning.alert_id).await;
    assert_eq!(rows[0].state, "cancelled");
    assert!(rows[0]
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("inhibited"));
}

#[tokio::test]
async fn a_silence_holds_notifications_until_it_ends() {
    let mut rig = Rig::new().await;
    let start = rig.now();
    rig.store
        .silences()
        .create(&Silence {
            id: "maintenance-1".into(),
            tenant_id: Some(TENANT),
            priority: None,
            service_type: Some(vec!["incident".into()]),
            ticket_id: None,
            starts_at: start,
            ends_at: start + 10 * MINUTE,
            created_by: "ops".into(),
            comment: "database upgrade".into(),
        })
        .await
        .expect("silence stored");
    let breach = alert("TKT-4", Level::Breach, "HIGH", start);
    rig.change(&breach).await;
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!((round.sent, round.deferred), (0, 1), "{round:?}");
    assert!(rig.gateway.quiet_for(QUIET).await);
    let rows = rig.rows(&breach.alert_id).await;
    assert!(rows[0]
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("maintenance-1"));
    rig.clock.advance_to(start + 10 * MINUTE);
    assert_eq!(rig.settle().await.sent, 1);
    assert_eq!(rig.gateway.wait_for_deliveries(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn sms_over_the_rate_limit_is_folded_into_the_next_message() {
    let mut rig = Rig::new().await;
    let t0 = rig.now();
    // HIGH breaches: SMS only, group_interval 1 s, so only the rate limit (1 a minute) holds.
    rig.change(&alert("TKT-R0", Level::Breach, "HIGH", t0))
        .await;
    rig.advance(30_000);
    assert_eq!(rig.settle().await.sent, 1);
    let first_sms = rig.now();
    rig.advance(1_000);
    rig.change(&alert("TKT-R1", Level::Breach, "HIGH", rig.now()))
        .await;
    rig.advance(2_000);
    rig.change(&alert("TKT-R2", Level::Breach, "HIGH", rig.now()))
        .await;
    rig.advance(28_000);
    let round = rig.settle().await;
    assert_eq!((round.sent, round.deferred), (0, 1), "{round:?}");
    rig.advance(2_000);
    let round = rig.settle().await;
    assert_eq!((round.sent, round.deferred), (0, 1), "{round:?}");
    rig.clock.advance_to(first_sms + MINUTE);
    let round = rig.settle().await;
    assert_eq!((round.messages, round.sent), (1, 2), "{round:?}");
    let sms = rig.gateway.wait_for_deliveries(2, WAIT).await;
    let text = sms[1].text.clone().unwrap_or_default();
    assert!(
        text.contains("2 alerts") && text.contains("TKT-R1") && text.contains("TKT-R2"),
        "{text}"
    );
}

#[tokio::test]
async fn sms_gateway_down_falls_back_to_email_and_webhook_then_drains_on_recovery() {
    let mut rig = Rig::new().await;
    rig.gateway.push_fault_on(Route::Sms, Fault::Status(503));
    let breach = alert("TKT-5", Level::Breach, "HIGH", rig.now());
    rig.change(&breach).await;
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!((round.retried, round.fallbacks), (1, 2), "{round:?}");
    // The fallbacks went out in the same settling, marked as such.
    assert_eq!(round.sent, 2, "{round:?}");
    let mail = rig.smtp.wait_for(1, WAIT).await;
    assert_eq!(mail[0].rcpt_tos, ["alice@example.com"]);
    assert!(
        subject(&mail[0]).ends_with("[SMS→email]"),
        "{}",
        subject(&mail[0])
    );
    let hooks = rig.gateway.wait_for_deliveries(1, WAIT).await;
    let body = hooks[0].json().expect("webhook body is JSON");
    assert_eq!(body["fallback"], true);
    assert_eq!(body["alerts"][0]["ticket_id"], "TKT-5");
    let rows = rig.rows(&breach.alert_id).await;
    assert!(rows
        .iter()
        .any(|n| n.channel == "email" && n.state == "sent"));

    // The breaker is open (one failure in this config): no attempt while it cools down.
    rig.advance(10_000);
    rig.settle().await;
    let attempts = rig
        .gateway
        .requests()
        .iter()
        .filter(|r| r.route == Route::Sms)
        .count();
    assert_eq!(attempts, 1);

    // Back up: after the cool-down the SMS still pending goes out, and the outbox is empty.
    rig.advance(30_000);
    assert_eq!(rig.settle().await.sent, 1);
    let sms: Vec<_> = rig
        .gateway
        .deliveries()
        .into_iter()
        .filter(|d| d.route == Route::Sms)
        .collect();
    assert_eq!(sms.len(), 1);
    assert_eq!(
        rig.store
            .notifications()
            .pending()
            .await
            .expect("outbox depth"),
        0
    );
}

#[tokio::test]
async fn transient_failures_are_retried_no_sooner_than_the_provider_asks() {
    let mut rig = Rig::new().await;
    rig.gateway
        .push_fault_on(Route::Sms, Fault::RetryAfter(120));
    let breach = alert("TKT-6", Level::Breach, "HIGH", rig.now());
    rig.change(&breach).await;
    rig.advance(30_000);
    assert_eq!(rig.settle().await.retried, 1);
    // The breaker opened on that failure too; both waits end within 2 minutes.
    rig.advance(119_000);
    assert_eq!(rig.settle().await.sent, 0);
    rig.advance(1_000);
    let round = rig.settle().await;
    assert_eq!(
        round.sent,
        1,
        "{round:?}: {:#?}",
        rig.rows(&breach.alert_id).await
    );
    // The webhook fallback went out at the first failure; the SMS once, on the retry.
    let delivered = rig.gateway.wait_for_deliveries(2, WAIT).await;
    assert_eq!(
        delivered.iter().filter(|d| d.route == Route::Sms).count(),
        1
    );
    let rows = rig.rows(&breach.alert_id).await;
    let sms = rows
        .iter()
        .find(|n| n.channel == "sms")
        .expect("an SMS row");
    assert_eq!((sms.state.as_str(), sms.attempts), ("sent", 2));
}

/// A `Retry-After` longer than `give_up_after` (1e11 s, `u64::MAX` s) is not waited for: the
/// SMS fails at once with the reason and falls back, instead of waiting for centuries or
/// overflowing the due time.
#[tokio::test]
async fn a_provider_asking_to_wait_for_ages_fails_the_sms_which_falls_back() {
    for asked in [100_000_000_000u64, u64::MAX] {
        let mut rig = Rig::new().await;
        rig.gateway
            .push_fault_on(Route::Sms, Fault::RetryAfter(asked));
        let breach = alert("TKT-8", Level::Breach, "HIGH", rig.now());
        rig.change(&breach).await;
        rig.advance(30_000);
        let round = rig.settle().await;
        assert_eq!((round.failed, round.retried), (1, 0), "{asked}: {round:?}");
        let rows = rig.rows(&breach.alert_id).await;
        let sms = rows
            .iter()
            .find(|n| n.channel == "sms")
            .expect("an SMS row");
        assert_eq!(sms.state, "failed", "{asked}: {rows:#?}");
        let error = sms.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains(&format!("asked to wait {asked} s (Retry-After)")),
            "{error}"
        );
        let webhook = rows
            .iter()
            .find(|n| n.channel == "webhook")
            .expect("the fallback");
        assert_eq!(webhook.state, "sent", "{asked}: {rows:#?}");
        let delivered = rig.gateway.wait_for_deliveries(1, WAIT).await;
        assert!(delivered.iter().any(|d| d.route == Route::Webhook));
    }
}

/// A round still sending when its claim would have lapsed keeps the claim: another instance
/// taking due notifications meanwhile gets none of the round's, and the SMS goes out once.
#[tokio::test]
async fn a_round_still_sending_keeps_its_claim_from_another_instance() {
    use vigil_engine::clock::Clock;
    let mut rig = Rig::with(
        |c| {
            c.delivery.claim_timeout = ConfigDuration::from_secs(1);
            c.delivery.send_timeout = ConfigDuration::from_secs(30);
        },
        "",
    )
    .await;
    rig.gateway.push_fault_on(Route::Sms, Fault::Hold);
    let breach = alert("TKT-9", Level::Breach, "HIGH", rig.now());
    rig.change(&breach).await;
    rig.advance(30_000);
    let mut other = rig.other_instance();
    let Rig {
        dispatcher,
        gateway,
        store,
        clock,
        ..
    } = &mut rig;
    let sending = dispatcher.round();
    let meanwhile = async {
        assert_eq!(gateway.wait_held(1, WAIT).await, 1, "the SMS is in flight");
        // Ten times the claim passes on the clock while the gateway holds its answer.
        clock.advance_to(clock.now() + 10_000);
        let now = clock.now();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let rows = store
                .notifications()
                .of_alert(&breach.alert_id)
                .await
                .expect("outbox rows");
            if rows.iter().all(|n| n.state != "pending" || n.due_at > now) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the claim was not renewed past {now}: {rows:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let taken_by_other = other.round().await.expect("other round");
        gateway.release();
        taken_by_other
    };
    let (sent, taken_by_other) = tokio::join!(sending, meanwhile);
    assert_eq!(taken_by_other.taken, 0, "{taken_by_other:?}");
    assert_eq!(sent.expect("round").sent, 1);
    assert_eq!(rig.gateway.duplicates(), 0);
    let delivered = rig.gateway.wait_for_deliveries(1, WAIT).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(rig.gateway.quiet_for(QUIET).await);
    let rows = rig.rows(&breach.alert_id).await;
    assert!(rows.iter().all(|n| n.state == "sent"), "{rows:#?}");
}

#[tokio::test]
async fn a_refused_sms_ends_failed_with_the_reason_and_falls_back() {
    let mut rig = Rig::new().await;
    rig.gateway.push_fault_on(Route::Sms, Fault::Status(400));
    let breach = alert("TKT-7", Level::Breach, "HIGH", rig.now());
    rig.change(&breach).await;
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!((round.failed, round.fallbacks), (1, 2), "{round:?}");
    let rows = rig.rows(&breach.alert_id).await;
    let sms = rows
        .iter()
        .find(|n| n.channel == "sms")
        .expect("an SMS row");
    assert_eq!(sms.state, "failed");
    assert!(
        sms.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("400"),
        "{sms:?}"
    );
    assert_eq!(rig.smtp.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn resolution_tells_everyone_who_was_paged() {
    let mut rig = Rig::new().await;
    let breach = alert("TKT-8", Level::Breach, "CRITICAL", rig.now());
    rig.change(&breach).await;
    rig.advance(30_000);
    assert_eq!(rig.settle().await.messages, 2);
    rig.advance(MINUTE);
    rig.change(&with_state(&breach, AlertState::Resolved)).await;
    let round = rig.settle().await;
    assert_eq!(round.messages, 2, "{round:?}");
    let sms = rig.gateway.wait_for_deliveries(2, WAIT).await;
    let text = sms[1].text.clone().unwrap_or_default();
    assert!(
        text.contains("TKT-8") && text.contains("resolved"),
        "{text}"
    );
    assert!(
        !text.contains("/ack/"),
        "nothing left to acknowledge: {text}"
    );
    let mail = rig.smtp.wait_for(2, WAIT).await;
    assert!(
        subject(&mail[1]).contains("resolved"),
        "{}",
        subject(&mail[1])
    );
    // Bob was never paged: he hears nothing, and his escalation step is cancelled.
    rig.advance(30 * MINUTE);
    assert_eq!(rig.settle().await.sent, 0);
    assert!(rig
        .smtp
        .received()
        .iter()
        .all(|m| m.rcpt_tos == ["alice@example.com"]));
}

#[tokio::test]
async fn warnings_wait_out_quiet_hours_but_breaches_do_not() {
    // Quiet for alice all day but the current hour: any warning now waits.
    let hour = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour();
    let quiet = format!("{:02}:00-{:02}:00", (hour + 1) % 24, hour);
    let mut rig = Rig::with(
        |c| {
            c.contacts[0].quiet_hours = Some(quiet.clone());
        },
        "",
    )
    .await;
    // Move into the quiet part: the next hour.
    let next_hour = (rig.now() / 3_600_000 + 1) * 3_600_000;
    rig.clock.advance_to(next_hour + 1_000);
    let warning = alert("TKT-9", Level::Warning, "LOW", rig.now());
    let breach = alert("TKT-10", Level::Breach, "HIGH", rig.now());
    rig.change(&warning).await;
    rig.change(&breach).await;
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!((round.sent, round.deferred), (1, 1), "{round:?}");
    assert_eq!(rig.gateway.wait_for_deliveries(1, WAIT).await.len(), 1);
    let rows = rig.rows(&warning.alert_id).await;
    assert!(rows[0]
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("quiet hours"));
    // Quiet hours end at the start of the hour 23 hours on.
    rig.clock.advance_to(next_hour + 23 * 3_600_000);
    assert_eq!(rig.settle().await.sent, 1);
    assert_eq!(rig.smtp.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_gateway_that_does_not_answer_in_time_is_retried_and_a_slow_one_is_waited_for() {
    let mut rig = Rig::new().await;
    // No answer within send_timeout (2 s), then an answer after 300 ms.
    rig.gateway.push_fault_on(Route::Sms, Fault::Hang);
    rig.gateway
        .push_fault_on(Route::Sms, Fault::Delay(Duration::from_millis(300)));
    let breach = alert("TKT-11", Level::Breach, "HIGH", rig.now());
    rig.change(&breach).await;
    rig.advance(30_000);
    let round = rig.settle().await;
    assert_eq!(round.retried, 1, "{round:?}");
    let rows = rig.rows(&breach.alert_id).await;
    let sms = rows
        .iter()
        .find(|n| n.channel == "sms")
        .expect("an SMS row");
    assert!(
        sms.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("timed out"),
        "{sms:?}"
    );
    // The breaker (one failure here) and the backoff both end within the cool-down.
    rig.advance(30_000);
    assert_eq!(rig.settle().await.sent, 1);
    let rows = rig.rows(&breach.alert_id).await;
    let sms = rows
        .iter()
        .find(|n| n.channel == "sms")
        .expect("an SMS row");
    assert_eq!((sms.state.as_str(), sms.attempts), ("sent", 2));
    // Both attempts carried the same idempotency key.
    let keys: Vec<_> = rig
        .gateway
        .requests()
        .into_iter()
        .filter(|r| r.route == Route::Sms)
        .filter_map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

#[tokio::test]
async fn an_smtp_relay_refusing_for_now_is_retried_and_one_refusing_for_good_fails() {
    let mut rig = Rig::new().await;
    rig.smtp.set_reject(Some(451)).await;
    let warning = alert("TKT-12", Level::Warning, "LOW", rig.now());
    rig.change(&warning).await;
    rig.advance(30_000);
    assert_eq!(rig.settle().await.retried, 1);
    rig.smtp.set_reject(None).await;
    rig.advance(30_000);
    assert_eq!(rig.settle().await.sent, 1);
    assert_eq!(rig.smtp.wait_for(1, WAIT).await.len(), 1);

    rig.smtp.set_reject(Some(550)).await;
    let other = alert("TKT-13", Level::Warning, "LOW", rig.now());
    rig.change(&other).await;
    rig.advance(5 * MINUTE);
    assert_eq!(rig.settle().await.failed, 1);
    let rows = rig.rows(&other.alert_id).await;
    assert_eq!(rows[0].state, "failed");
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("550"),
        "{rows:?}"
    );
}
