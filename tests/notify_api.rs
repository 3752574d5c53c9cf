//! The on-call API against the real binary, a real nats-server and SQLite: silences (roles,
//! tenants, checks, expiry kept for audit), the notification outbox (failed rows listed and
//! sent again), and signed ack links (opening one shows its alerts and changes nothing; its
//! button's POST acknowledges them as the contact, published like any acknowledgement;
//! expired, forged and malformed links refused).

mod support;

use serde_json::{json, Value};
use support::*;
use vigil::notify::ack_token::LinkSigner;
use vigil_peers::NatsServer;

/// The variable that holds the ack link secret in the ack link test.
const SECRET_VAR: &str = "VIGIL_TEST_ACK_LINK_SECRET";
const SECRET: &str = "a test secret for ack links, long enough";

struct Api {
    setup: ServiceSetup,
    service: Service,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start(nats: &NatsServer, config: &str, env: &[(&str, &str)]) -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut setup = ServiceSetup::new(dir.path(), &nats.url(), config, "wall");
        setup
            .env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut service = setup.start();
        service.ready().await;
        Api {
            setup,
            service,
            _dir: dir,
        }
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| b.to_string());
        request(
            self.service.port,
            method,
            path,
            Some(token),
            body.as_deref(),
        )
        .await
    }

    /// `GET /ack/<token>`, as a phone (no Accept) or as a JSON client.
    async fn open_link(&self, token: &str, json: bool) -> Answer {
        self.link("GET", token, json).await
    }

    /// `POST /ack/<token>` (the page's button), as a phone or as a JSON client.
    async fn post_link(&self, token: &str, json: bool) -> Answer {
        self.link("POST", token, json).await
    }

    async fn link(&self, method: &str, token: &str, json: bool) -> Answer {
        let accept: &[(&str, &str)] = if json {
            &[("Accept", "application/json")]
        } else {
            &[]
        };
        request_with(
            self.service.port,
            method,
            &format!("/ack/{token}"),
            None,
            None,
            accept,
        )
        .await
    }

    /// Ids of the alerts of tenant 1 in `state`, sorted.
    async fn alert_ids(&self, state: &str, token: &str) -> Vec<String> {
        let a = self
            .call("GET", &format!("/api/v1/alerts?state={state}"), token, None)
            .await;
        let mut ids: Vec<String> = a.data()["alerts"]
            .as_array()
            .unwrap_or_else(|| panic!("no alerts in {}", a.text))
            .iter()
            .map(|a| a["alert_id"].as_str().expect("an id").to_string())
            .collect();
        ids.sort();
        ids
    }

    /// A read-write connection to the service's SQLite store.
    async fn db(&self) -> sqlx::SqliteConnection {
        use sqlx::ConnectOptions as _;
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.setup.db)
            .busy_timeout(std::time::Duration::from_secs(5))
            .connect()
            .await
            .expect("open the store")
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

fn assert_field(a: &Answer, field: &str) {
    assert_error(a, 400, 40001);
    assert_eq!(a.data()["field"], field, "{}", a.text);
    assert!(a.data()["reason"].as_str().is_some(), "{}", a.text);
}

/// An outbox row, written as the notifier would have.
#[allow(clippy::too_many_arguments)]
async fn insert_notification(
    db: &mut sqlx::SqliteConnection,
    id: &str,
    alert_id: &str,
    tenant: i64,
    state: &str,
    last_error: Option<&str>,
    message_id: Option<&str>,
    updated_at: i64,
) {
    sqlx::query(
        "INSERT INTO notifications (notification_id, alert_id, tenant_id, kind, step, round, \
         contact, channel, due_at, state, attempts, last_error, sent_at, created_at, updated_at, \
         message_id) VALUES ($1, $2, $3, 'page', 0, 0, 'alice', 'sms', $4, $5, 3, $6, $7, $4, \
         $4, $8)",
    )
    .bind(id)
    .bind(alert_id)
    .bind(tenant)
    .bind(updated_at)
    .bind(state)
    .bind(last_error)
    .bind((state == "sent").then_some(updated_at))
    .bind(message_id)
    .execute(db)
    .await
    .expect("insert a notification");
}

fn silence_ids(a: &Answer) -> Vec<String> {
    let mut ids: Vec<String> = a.data()["silences"]
        .as_array()
        .unwrap_or_else(|| panic!("no silences in {}", a.text))
        .iter()
        .map(|s| s["id"].as_str().expect("a silence id").to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn silences_are_created_listed_and_expired_within_their_tenant() {
    let nats = NatsServer::start();
    let api = Api::start(&nats, UNLIMITED, &[]).await;
    let manager = api.setup.token(1, "client_manager", "maria");
    let admin = api.setup.token(1, "client_admin", "adam");
    let user = api.setup.token(1, "client_user", "ursula");
    let other = api.setup.token(2, "client_manager", "otto");
    let ops = api.setup.token(0, "ops", "olga");
    let service = api.setup.token(1, "service", "upstream");
    let later = ts(now_ms() + 2 * HOUR);

    // A manager's silence is of their tenant, by them, in force from now.
    let created = api
        .call(
            "POST",
            "/api/v1/silences",
            &manager,
            Some(json!({"priority": ["LOW", "MEDIUM"], "ends_at": later, "comment": "db upgrade"})),
        )
        .await;
    assert_eq!(
        (created.status, created.code()),
        (201, 201),
        "{}",
        created.text
    );
    let mine = created.data().clone();
    assert_eq!(mine["tenant_id"], 1);
    assert_eq!(mine["created_by"], "maria");
    assert_eq!(mine["state"], "active");
    assert_eq!(mine["priority"], json!(["LOW", "MEDIUM"]));
    assert_eq!(mine["ends_at"], later.as_str());
    let mine_id = mine["id"].as_str().unwrap().to_string();
    // An admin may name their own tenant, and start later.
    let pending = api
        .call(
            "POST",
            "/api/v1/silences",
            &admin,
            Some(
                json!({"tenant_id": 1, "ticket_id": "T9", "starts_at": ts(now_ms() + HOUR),
                        "ends_at": later, "comment": "planned"}),
            ),
        )
        .await;
    assert_eq!(pending.status, 201, "{}", pending.text);
    assert_eq!(pending.data()["state"], "pending");
    // Ops silence another tenant, or every tenant.
    let theirs = api
        .call(
            "POST",
            "/api/v1/silences",
            &ops,
            Some(json!({"tenant_id": 2, "ends_at": later, "comment": "tenant 2 migration"})),
        )
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    let theirs_id = theirs.data()["id"].as_str().unwrap().to_string();
    let global = api
        .call(
            "POST",
            "/api/v1/silences",
            &ops,
            Some(json!({"service_type": ["backup"], "ends_at": later, "comment": "nightly"})),
        )
        .await;
    assert_eq!(global.status, 201, "{}", global.text);
    assert_eq!(global.data()["tenant_id"], Value::Null);
    let global_id = global.data()["id"].as_str().unwrap().to_string();

    // Other tenants and read-only roles are refused.
    let body = json!({"tenant_id": 2, "ends_at": later, "comment": "x"});
    let foreign = api
        .call("POST", "/api/v1/silences", &manager, Some(body))
        .await;
    assert_error(&foreign, 403, 40003);
    let ok_body = json!({"ends_at": later, "comment": "x"});
    for token in [&user, &service] {
        let refused = api
            .call("POST", "/api/v1/silences", token, Some(ok_body.clone()))
            .await;
        assert_error(&refused, 403, 40003);
    }
    assert_error(
        &api.call("GET", "/api/v1/silences", &service, None).await,
        403,
        40003,
    );
    let anonymous = request(api.service.port, "GET", "/api/v1/silences", None, None).await;
    assert_error(&anonymous, 401, 40004);

    // Bad bodies name the field.
    for (body, field) in [
        (json!({"comment": "no end"}), "ends_at"),
        (json!({"ends_at": "tomorrow", "comment": "x"}), "ends_at"),
        (
            json!({"starts_at": "soon", "ends_at": later, "comment": "x"}),
            "starts_at",
        ),
        (
            json!({"starts_at": ts(now_ms() + 3 * HOUR), "ends_at": later, "comment": "x"}),
            "ends_at",
        ),
        (
            json!({"ends_at": ts(now_ms() - HOUR), "comment": "x"}),
            "ends_at",
        ),
        (json!({"ends_at": later}), "comment"),
        (json!({"ends_at": later, "comment": "  "}), "comment"),
        (
            json!({"ends_at": later, "comment": "x", "priority": ["low"]}),
            "priority",
        ),
        (
            json!({"ends_at": later, "comment": "x", "colour": "red"}),
            "colour",
        ),
        (
            json!({"ends_at": later, "comment": "x", "tenant_id": "one"}),
            "tenant_id",
        ),
    ] {
        let a = api
            .call("POST", "/api/v1/silences", &manager, Some(body.clone()))
            .await;
        assert_field(&a, field);
    }
    // Ops must silence something: no matcher at all is refused.
    let everything = api
        .call("POST", "/api/v1/silences", &ops, Some(ok_body.clone()))
        .await;
    assert_field(&everything, "tenant_id");

    // Each sees their own tenant; ops see all, or one tenant.
    let listed = api.call("GET", "/api/v1/silences", &user, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let mut expected = vec![
        mine_id.clone(),
        pending.data()["id"].as_str().unwrap().into(),
    ];
    expected.sort();
    assert_eq!(silence_ids(&listed), expected);
    let all = api.call("GET", "/api/v1/silences", &ops, None).await;
    assert_eq!(silence_ids(&all).len(), 4);
    let of_2 = api
        .call("GET", "/api/v1/silences?tenant_id=2", &ops, None)
        .await;
    assert_eq!(silence_ids(&of_2), [theirs_id.as_str()]);
    assert_error(
        &api.call("GET", "/api/v1/silences?tenant_id=2", &user, None)
            .await,
        403,
        40003,
    );
    assert_field(
        &api.call("GET", "/api/v1/silences?state=over", &user, None)
            .await,
        "state",
    );

    // Expiring: not another tenant's nor a global one (41001), not by a read-only role.
    let path = format!("/api/v1/silences/{mine_id}");
    assert_error(&api.call("DELETE", &path, &other, None).await, 404, 41001);
    assert_error(&api.call("DELETE", &path, &user, None).await, 403, 40003);
    assert_error(
        &api.call(
            "DELETE",
            &format!("/api/v1/silences/{global_id}"),
            &manager,
            None,
        )
        .await,
        404,
        41001,
    );
    assert_error(
        &api.call("DELETE", "/api/v1/silences/no-such-silence", &ops, None)
            .await,
        404,
        41001,
    );
    let expired = api.call("DELETE", &path, &manager, None).await;
    assert_eq!(expired.status, 200, "{}", expired.text);
    assert_eq!(expired.data()["state"], "expired");
    assert_eq!(expired.data()["expired_by"], "maria");
    assert!(expired.data()["expired_at"].as_str().is_some());
    // Idempotent: the first expiry's who and when stay.
    let again = api.call("DELETE", &path, &admin, None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.data()["expired_by"], "maria");
    // Kept for audit: listed as expired, no longer as active.
    let active = api.call("GET", "/api/v1/silences", &manager, None).await;
    assert!(!silence_ids(&active).contains(&mine_id));
    let over = api
        .call("GET", "/api/v1/silences?state=expired", &manager, None)
        .await;
    assert_eq!(silence_ids(&over), [mine_id.as_str()]);
    let every = api
        .call("GET", "/api/v1/silences?state=all", &manager, None)
        .await;
    assert_eq!(silence_ids(&every).len(), 2);
    // Ops may expire any tenant's silence.
    let ops_expiry = api
        .call(
            "DELETE",
            &format!("/api/v1/silences/{theirs_id}"),
            &ops,
            None,
        )
        .await;
    assert_eq!(ops_expiry.data()["expired_by"], "olga");

    // Without notifications configured there are no ack links.
    let no_links = api.open_link("anything", true).await;
    assert_error(&no_links, 404, 41001);
    assert_eq!(api.open_link("anything", false).await.status, 404);

    // The new endpoints are in the OpenAPI document.
    let doc = request(api.service.port, "GET", "/api/v1/openapi.json", None, None).await;
    let paths = doc.json["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/silences", "get"),
        ("/api/v1/silences", "post"),
        ("/api/v1/silences/{silence_id}", "delete"),
        ("/api/v1/notifications", "get"),
        ("/api/v1/notifications/{notification_id}/retry", "post"),
        ("/ack/{token}", "get"),
        ("/ack/{token}", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
}

#[tokio::test]
async fn failed_notifications_are_listed_and_sent_again() {
    let nats = NatsServer::start();
    let api = Api::start(&nats, UNLIMITED, &[]).await;
    let manager = api.setup.token(1, "client_manager", "maria");
    let user = api.setup.token(1, "client_user", "ursula");
    let other = api.setup.token(2, "client_admin", "otto");
    let ops = api.setup.token(0, "ops", "olga");
    let t = now_ms() - HOUR;
    {
        let mut db = api.db().await;
        insert_notification(
            &mut db,
            "n-failed-1",
            "A1",
            1,
            "failed",
            Some("gateway said 400"),
            None,
            t,
        )
        .await;
        insert_notification(
            &mut db,
            "n-failed-1b",
            "A2",
            1,
            "failed",
            Some("no route"),
            None,
            t + 1000,
        )
        .await;
        insert_notification(
            &mut db,
            "n-sent-1",
            "A1",
            1,
            "sent",
            None,
            Some("n-sent-1"),
            t,
        )
        .await;
        insert_notification(
            &mut db,
            "n-failed-2",
            "B1",
            2,
            "failed",
            Some("timeout"),
            None,
            t,
        )
        .await;
    }

    let listed = api
        .call("GET", "/api/v1/notifications", &manager, None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let rows = listed.data()["notifications"].as_array().unwrap().clone();
    // Failed by default, of the caller's tenant, most recently changed first.
    let ids: Vec<&str> = rows.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["n-failed-1b", "n-failed-1"]);
    let row = &rows[1];
    assert_eq!(row["alert_id"], "A1");
    assert_eq!(row["tenant_id"], 1);
    assert_eq!(row["kind"], "page");
    assert_eq!(row["channel"], "sms");
    assert_eq!(row["contact"], "alice");
    assert_eq!(row["state"], "failed");
    assert_eq!(row["attempts"], 3);
    assert_eq!(row["last_error"], "gateway said 400");
    assert_eq!(row["due_at"], ts(t).as_str());
    assert_eq!(row["sent_at"], Value::Null);
    for field in ["step", "round", "message_id", "fallback_of"] {
        assert!(row.get(field).is_some(), "{field} missing: {row}");
    }
    let sent = api
        .call("GET", "/api/v1/notifications?state=sent", &manager, None)
        .await;
    let sent_row = &sent.data()["notifications"][0];
    assert_eq!(sent_row["message_id"], "n-sent-1");
    assert_eq!(sent_row["sent_at"], ts(t).as_str());
    let all_failed = api.call("GET", "/api/v1/notifications", &ops, None).await;
    assert_eq!(
        all_failed.data()["notifications"].as_array().unwrap().len(),
        3
    );
    let of_2 = api
        .call(
            "GET",
            "/api/v1/notifications?tenant_id=2&limit=1",
            &ops,
            None,
        )
        .await;
    assert_eq!(of_2.data()["notifications"][0]["id"], "n-failed-2");
    assert_error(
        &api.call("GET", "/api/v1/notifications", &user, None).await,
        403,
        40003,
    );
    assert_error(
        &api.call("GET", "/api/v1/notifications?tenant_id=2", &manager, None)
            .await,
        403,
        40003,
    );
    for bad in ["state=lost", "limit=501", "limit=0", "colour=red"] {
        let a = api
            .call(
                "GET",
                &format!("/api/v1/notifications?{bad}"),
                &manager,
                None,
            )
            .await;
        assert_error(&a, 400, 40001);
    }

    // Retry: unknown or another tenant's is 41001; only a failed row goes back to pending.
    let retry = |id: &str| format!("/api/v1/notifications/{id}/retry");
    assert_error(
        &api.call("POST", &retry("n-failed-1"), &other, None).await,
        404,
        41001,
    );
    assert_error(
        &api.call("POST", &retry("nope"), &ops, None).await,
        404,
        41001,
    );
    assert_error(
        &api.call("POST", &retry("n-failed-1"), &user, None).await,
        403,
        40003,
    );
    assert_field(
        &api.call("POST", &retry("n-sent-1"), &manager, None).await,
        "state",
    );
    let before = now_ms();
    let retried = api.call("POST", &retry("n-failed-1"), &manager, None).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.data()["state"], "pending");
    assert_eq!(retried.data()["last_error"], "gateway said 400");
    let due = ms(retried.data()["due_at"].as_str().unwrap());
    assert!(due >= before, "due at {due}, asked at {before}");
    // Now pending: listed as such, and not retried twice.
    let pending = api
        .call("GET", "/api/v1/notifications?state=pending", &manager, None)
        .await;
    assert_eq!(pending.data()["notifications"][0]["id"], "n-failed-1");
    let twice = api.call("POST", &retry("n-failed-1"), &manager, None).await;
    assert_field(&twice, "state");
    // Ops retry any tenant's.
    let by_ops = api.call("POST", &retry("n-failed-2"), &ops, None).await;
    assert_eq!(by_ops.data()["state"], "pending", "{}", by_ops.text);
}

#[tokio::test]
async fn ack_links_acknowledge_the_alerts_of_their_message_as_the_contact() {
    let nats = NatsServer::start();
    let config = format!("{UNLIMITED}\n[notify]\nlink_secret_env = \"{SECRET_VAR}\"\n");
    let api = Api::start(&nats, &config, &[(SECRET_VAR, SECRET)]).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let mut published = client.subscribe("vigil.alerts.1").await.unwrap();
    publish_events(&js, &[Ev::overdue(1, "T1")]).await;
    let manager = api.setup.token(1, "client_manager", "maria");
    let firing = eventually("three firing alerts", || async {
        let a = api
            .call("GET", "/api/v1/alerts?state=firing", &manager, None)
            .await;
        let alerts = a.data()["alerts"].as_array()?.clone();
        (alerts.len() == 3).then_some(alerts)
    })
    .await;
    let pick = |goal: &str, level: &str| {
        firing
            .iter()
            .find(|a| a["goal"] == goal && a["level"] == level)
            .and_then(|a| a["alert_id"].as_str())
            .unwrap_or_else(|| panic!("no {goal} {level} in {firing:?}"))
            .to_string()
    };
    let breach = pick("response", "breach");
    let warning = pick("resolution", "warning");
    let left_alone = pick("response", "warning");

    // One message of two rows: the first row's id is the message id.
    let message = "8f14e45f-ceea-467f-a8f4-1f1b2c3d4e5f";
    {
        let mut db = api.db().await;
        let t = now_ms();
        insert_notification(&mut db, message, &breach, 1, "sent", None, Some(message), t).await;
        insert_notification(&mut db, "n-2", &warning, 1, "sent", None, Some(message), t).await;
        insert_notification(&mut db, "n-3", &left_alone, 1, "sent", None, Some("n-3"), t).await;
    }
    let signer = LinkSigner::new(SECRET.as_bytes());
    let token = signer.sign(message, "alice", now_ms() + HOUR);

    // Opening the link (a person, a mail scanner, a chat preview) changes nothing: a page
    // that shows what the link covers and a button that posts to the same URL.
    let all_firing = api.alert_ids("firing", &manager).await;
    assert_eq!(all_firing.len(), 3);
    let preview = api.open_link(&token, false).await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    assert!(preview
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert_eq!(preview.header("cache-control"), Some("no-store"));
    assert_eq!(preview.header("referrer-policy"), Some("no-referrer"));
    let csp = preview
        .header("content-security-policy")
        .unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(
        preview.text.contains("Acknowledge these alerts?"),
        "{}",
        preview.text
    );
    assert!(
        preview.text.contains("<form method=\"post\">"),
        "{}",
        preview.text
    );
    assert!(!preview.text.contains("action="), "{}", preview.text);
    for shown in [
        "T1",
        "response",
        "resolution",
        "breach",
        "warning",
        "firing",
    ] {
        assert!(preview.text.contains(shown), "{shown}: {}", preview.text);
    }
    let head = api.link("HEAD", &token, false).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.text, "");
    let described = api.open_link(&token, true).await;
    assert_eq!(
        (described.status, described.code()),
        (200, 200),
        "{}",
        described.text
    );
    assert_eq!(described.data()["message_id"], message);
    assert_eq!(described.data()["acked_by"], "contact:alice");
    let outcomes: Vec<&str> = described.data()["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["to_acknowledge", "to_acknowledge"]);
    assert_eq!(api.alert_ids("firing", &manager).await, all_firing);
    assert_eq!(
        api.service
            .metric("vigil_alert_acks_total{via=\"link\"}")
            .await,
        None
    );

    // The button: an HTML page listing what was acknowledged.
    let page = api.post_link(&token, false).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.text.contains("Acknowledged"), "{}", page.text);
    assert!(page.text.contains("T1"), "{}", page.text);
    assert!(page.text.contains("contact:alice"), "{}", page.text);

    // Both alerts of the message are acknowledged as the contact; the other is not.
    let acked = api
        .call("GET", "/api/v1/alerts?state=acknowledged", &manager, None)
        .await;
    let acked = acked.data()["alerts"].as_array().unwrap().clone();
    let mut acked_ids: Vec<&str> = acked
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    acked_ids.sort();
    let mut expected = vec![breach.as_str(), warning.as_str()];
    expected.sort();
    assert_eq!(acked_ids, expected);
    assert!(acked.iter().all(|a| a["acked_by"] == "contact:alice"));
    let still = api
        .call("GET", "/api/v1/alerts?state=firing", &manager, None)
        .await;
    assert_eq!(still.data()["alerts"][0]["alert_id"], left_alone.as_str());

    // Posting it again is fine: already acknowledged, by whom.
    let again = api.post_link(&token, true).await;
    assert_eq!((again.status, again.code()), (200, 200), "{}", again.text);
    assert_eq!(again.data()["acked_by"], "contact:alice");
    assert_eq!(again.data()["message_id"], message);
    let outcomes: Vec<&str> = again.data()["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["already_acknowledged", "already_acknowledged"]);
    let page = api.post_link(&token, false).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("already acknowledged by contact:alice"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("<h1 class=\"ok\">Already acknowledged</h1>"),
        "{}",
        page.text
    );

    // Published on vigil.alerts.1 like any acknowledgement, once each.
    let mut acknowledged: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while acknowledged.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "saw only {acknowledged:?}"
        );
        for m in drain(&client, &mut published).await {
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            if v["state"] == "acknowledged" {
                acknowledged.push(v["alert_id"].as_str().unwrap().to_string());
            }
        }
    }
    acknowledged.sort();
    assert_eq!(acknowledged, expected);

    // Expired, forged, altered, malformed and unknown links are refused, as pages or JSON.
    let expired = signer.sign(message, "alice", now_ms() - 1000);
    let page = api.open_link(&expired, false).await;
    assert_eq!(page.status, 410, "{}", page.text);
    assert!(page.text.contains("expired"), "{}", page.text);
    let json = api.open_link(&expired, true).await;
    assert_error(&json, 410, 410);
    let forged = LinkSigner::new(b"somebody else's secret, long enough").sign(
        message,
        "mallory",
        now_ms() + HOUR,
    );
    assert_eq!(api.open_link(&forged, false).await.status, 403);
    assert_error(&api.open_link(&forged, true).await, 403, 40003);
    assert_error(&api.post_link(&forged, true).await, 403, 40003);
    assert_error(&api.post_link(&expired, true).await, 410, 410);
    assert_error(&api.post_link("abc", true).await, 400, 40001);
    let mut altered: Vec<char> = token.chars().collect();
    altered[5] = if altered[5] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    assert_eq!(api.open_link(&altered, false).await.status, 403);
    assert_eq!(api.open_link("abc", false).await.status, 400);
    assert_error(&api.open_link("abc", true).await, 400, 40001);
    let unknown = signer.sign(
        "00000000-0000-4000-8000-000000000000",
        "alice",
        now_ms() + HOUR,
    );
    assert_error(&api.open_link(&unknown, true).await, 404, 41001);
}

#[tokio::test]
async fn a_missing_link_secret_stops_the_service_at_start_with_the_reason() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = format!("{UNLIMITED}\n[notify]\nlink_secret_env = \"VIGIL_TEST_UNSET_SECRET\"\n");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), &config, "wall");
    let mut service = setup.start();
    let status = service.exited_within(WAIT).await;
    assert!(!status.success());
    let log = service.log();
    assert!(
        log.contains("VIGIL_TEST_UNSET_SECRET") && log.contains("not set"),
        "{log}"
    );
}
