//! Partner sync through the whole service: the real binary, a real nats-server and SQLite,
//! and the fake partner over HTTP. Stopped goals reach the partner mapped and masked, a
//! restart (which replays the stream) sends nothing twice, and records stopped while the
//! partner is down arrive once it is back.

mod support;

use support::*;
use vigil_peers::partner::{FakePartner, FakePartnerConfig};
use vigil_peers::NatsServer;

const TENANT: u64 = 12345;

fn config(partner: &FakePartner) -> String {
    format!(
        r#"{UNLIMITED}
[[partners]]
id = "exchange-a"
base_url = "{url}"
tenants = [{TENANT}]
timeout = "2s"
retry_delay = "100ms"
breaker = {{ failure_rate = 0.5, window = 4, open_for = "1s", half_open_calls = 1 }}
mapping = {{ record_id = "id", ticket_id = "ticket_no" }}
masking = {{ assignee_id = "first:2,last:2" }}
"#,
        url = partner.url()
    )
}

/// A ticket created, assigned, answered and resolved an hour apart.
fn lifecycle(tenant: u64, ticket: &str, start: i64) -> Vec<Ev> {
    vec![
        Ev::created(tenant, ticket, start, "HIGH", &format!("{ticket}-c")),
        Ev::assigned(
            tenant,
            ticket,
            start + MIN,
            "engineer-0042",
            &format!("{ticket}-a"),
        ),
        Ev::status(
            tenant,
            ticket,
            start + HOUR,
            "IN_PROGRESS",
            &format!("{ticket}-p"),
        ),
        Ev::status(
            tenant,
            ticket,
            start + 2 * HOUR,
            "RESOLVED",
            &format!("{ticket}-r"),
        ),
    ]
}

#[tokio::test]
async fn stopped_goals_reach_the_partner_once_across_restarts_and_outages() {
    let nats = NatsServer::start();
    let partner = FakePartner::start(FakePartnerConfig::default())
        .await
        .expect("fake partner");
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), &config(&partner), "wall");
    let mut service = setup.start();
    service.ready().await;
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);

    let start = now_ms() - 3 * HOUR;
    publish_events(&js, &lifecycle(TENANT, "TKT-1", start)).await;
    // Another tenant's tickets are not this partner's.
    publish_events(&js, &lifecycle(999, "TKT-9", start)).await;
    assert!(partner.wait_for_records(2, WAIT).await, "both goals arrive");
    let response = partner
        .record(&format!("{TENANT}:TKT-1:response"))
        .expect("response record");
    assert_eq!(response["ticket_no"], "TKT-1");
    assert_eq!(response["outcome"], "met");
    assert_eq!(response["actual_ms"], HOUR);
    assert_eq!(response["assignee_id"], "en*********42");
    let resolution = partner
        .record(&format!("{TENANT}:TKT-1:resolution"))
        .expect("resolution record");
    assert_eq!(resolution["stopped_at"], ts(start + 2 * HOUR));

    // A restart replays the stream: nothing is sent again.
    service.stop().await;
    let mut service = setup.start();
    service.ready().await;
    // While the partner is down, another ticket resolves; it waits and then arrives.
    partner.set_down(true);
    publish_events(&js, &lifecycle(TENANT, "TKT-2", start)).await;
    eventually("the record to wait in the outbox", || async {
        let depth = service
            .metric("vigil_partner_outbox_depth{partner=\"exchange-a\"}")
            .await?;
        (depth >= 1.0).then_some(())
    })
    .await;
    partner.set_down(false);
    assert!(
        partner.wait_for_records(4, WAIT).await,
        "the outage's records arrive"
    );
    assert_eq!(partner.stored(), 4);
    let accepted = partner.accepted_put_ids();
    assert_eq!(accepted.len(), 4, "each record accepted once: {accepted:?}");
    assert!(!partner
        .records()
        .values()
        .any(|r| r.to_string().contains("engineer-0042")));
    service.stop().await;
}

#[tokio::test]
async fn with_the_partner_flag_off_records_wait_and_go_once_it_is_on_again() {
    let nats = NatsServer::start();
    let partner = FakePartner::start(FakePartnerConfig::default())
        .await
        .expect("fake partner");
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), &config(&partner), "wall");
    let mut service = setup.start();
    service.ready().await;
    let ops = setup.token(TENANT, "ops", "olivia");
    let port = service.port;
    let flip = |rule: &'static str, version: &'static str| {
        let body = format!(r#"{{"rule": {rule}, "reason": "partner maintenance"}}"#);
        let token = ops.clone();
        async move {
            let a = request_with(
                port,
                "PUT",
                "/api/v1/feature-flags/partner.exchange-a",
                Some(&token),
                Some(&body),
                &[("If-Match", version)],
            )
            .await;
            assert_eq!(a.status, 200, "{}", a.text);
            a.data()["changes"][0]["seq"].as_i64().expect("seq")
        }
    };
    service
        .config_applied(flip(r#"{"on": false}"#, "0").await)
        .await;

    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    publish_events(&js, &lifecycle(TENANT, "TKT-F", now_ms() - 3 * HOUR)).await;
    let waiting = eventually("the records held by the flag", || async {
        let a = request(
            service.port,
            "GET",
            "/api/v1/partners/exchange-a/outbox?state=pending",
            Some(&ops),
            None,
        )
        .await;
        let records = a.data()["records"].as_array().cloned().unwrap_or_default();
        let held = records.iter().all(|r| {
            r["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("flag partner.exchange-a"))
        });
        (records.len() == 2 && held).then_some(records)
    })
    .await;
    assert!(
        waiting.iter().all(|r| r["attempts"] == 0),
        "holding is not an attempt: {waiting:?}"
    );
    assert_eq!(partner.stored(), 0, "nothing went to the partner");

    service
        .config_applied(flip(r#"{"on": true}"#, "1").await)
        .await;
    assert!(
        partner.wait_for_records(2, WAIT).await,
        "the held records go once the flag is on"
    );
    service.stop().await;
}
