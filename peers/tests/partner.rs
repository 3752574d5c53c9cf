//! The fake exchange partner over real HTTP: the records API and its date index, caller
//! authentication, every fault kind, the admin endpoints and seeding.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::tz::TimeZone;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::time::Instant;
use vigil_peers::http::JsonBody as _;
use vigil_peers::partner::{
    hmac_signature, Endpoint, FakePartner, FakePartnerConfig, Fault, FaultKind, OutageMode,
    OutageWindow, PartnerAuth, PutReceived, Share,
};

trait JsonAnswer {
    async fn value(self) -> Value;
}

impl JsonAnswer for reqwest::Response {
    async fn value(self) -> Value {
        let body = self.bytes().await.expect("answer body");
        serde_json::from_slice(&body).expect("JSON answer")
    }
}

const WAIT: Duration = Duration::from_secs(10);

async fn start(config: FakePartnerConfig) -> FakePartner {
    FakePartner::start(config).await.expect("partner starts")
}

fn shanghai() -> FakePartnerConfig {
    FakePartnerConfig {
        prefix: "/api".into(),
        timezone: TimeZone::get("Asia/Shanghai").expect("bundled zone"),
        ..FakePartnerConfig::default()
    }
}

fn client() -> Client {
    client_with(WAIT)
}

fn client_with(timeout: Duration) -> Client {
    vigil_peers::http::client(timeout)
}

fn record(id: &str, stopped_at: &str) -> Value {
    json!({
        "record_id": id, "tenant_id": 12345, "ticket_id": "TKT-001", "goal": "resolution",
        "priority": "HIGH", "outcome": "met", "stopped_at": stopped_at,
    })
}

async fn put(client: &Client, partner: &FakePartner, id: &str, body: &Value) -> reqwest::Response {
    let id = id.replace(':', "%3A");
    let url = format!("{}/records/{id}", partner.url());
    client
        .put(url)
        .json_body(body)
        .send()
        .await
        .expect("PUT answered")
}

async fn page(client: &Client, partner: &FakePartner, query: &str) -> (StatusCode, Value) {
    let url = format!("{}/records?{query}", partner.url());
    let response = client.get(url).send().await.expect("GET answered");
    let status = response.status();
    (status, response.value().await)
}

fn ids(page: &Value) -> Vec<&str> {
    let records = page["records"].as_array().expect("records");
    records
        .iter()
        .map(|r| r["record_id"].as_str().expect("record_id"))
        .collect()
}

#[tokio::test]
async fn upserts_and_pages_by_local_date_in_the_partner_time_zone() {
    let partner = start(shanghai()).await;
    assert!(partner.url().ends_with("/api"));
    let client = client();

    // 17:30Z on the 22nd is 01:30 on the 23rd in Shanghai.
    let late = record("12345:TKT-001:resolution", "2026-11-22T17:30:00Z");
    let response = put(&client, &partner, "12345:TKT-001:resolution", &late).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.value().await, json!({"ok": true}));
    let early = record("12345:TKT-002:response", "2026-11-22T15:00:00Z");
    put(&client, &partner, "12345:TKT-002:response", &early).await;
    assert_eq!(
        partner.record("12345:TKT-001:resolution"),
        Some(late.clone())
    );

    let (status, day) = page(&client, &partner, "date=2026-11-23").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(day, json!({"records": [late], "next_page": null}));
    let (_, day) = page(&client, &partner, "date=2026-11-22&page=1").await;
    assert_eq!(ids(&day), ["12345:TKT-002:response"]);

    // An upsert replaces the body and moves the record to its new day.
    let mut moved = record("12345:TKT-002:response", "2026-11-23T09:00:00+08:00");
    moved["outcome"] = json!("breached");
    put(&client, &partner, "12345:TKT-002:response", &moved).await;
    let (_, day) = page(&client, &partner, "date=2026-11-23").await;
    assert_eq!(
        ids(&day),
        ["12345:TKT-001:resolution", "12345:TKT-002:response"]
    );
    assert_eq!(day["records"][1]["outcome"], "breached");
    let (_, day) = page(&client, &partner, "date=2026-11-22").await;
    assert_eq!(day, json!({"records": [], "next_page": null}));
    assert_eq!(partner.stored(), 2);

    // Bodies the partner cannot index, and bad queries.
    let response = put(&client, &partner, "x", &json!({"outcome": "met"})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for query in [
        "",
        "date=23-11-2026",
        "date=2026-11-23&page=0",
        "date=2026-11-23&page_size=x",
    ] {
        assert_eq!(
            page(&client, &partner, query).await.0,
            StatusCode::BAD_REQUEST,
            "{query}"
        );
    }
    assert_eq!(partner.stored(), 2);

    let puts = partner.puts();
    assert_eq!(puts.len(), 4);
    assert_eq!(
        puts[0],
        PutReceived {
            record_id: "12345:TKT-001:resolution".into(),
            status: Some(200)
        }
    );
    assert_eq!(puts[3].status, Some(422));
    let gets = partner.calls(Endpoint::GetRecords);
    assert_eq!((gets.status(200), gets.status(400)), (4, 4));
}

#[tokio::test]
async fn pages_in_id_order_with_next_page_and_a_capped_page_size() {
    let partner = start(FakePartnerConfig {
        max_page_size: 3,
        default_page_size: 2,
        ..FakePartnerConfig::default()
    })
    .await;
    let bodies = ["r5", "r1", "r4", "r2", "r3", "r6", "r7"]
        .map(|id| record(id, "2026-11-23T12:00:00Z").to_string());
    assert_eq!(partner.seed(bodies), Ok(7));
    let client = client();

    let (_, first) = page(&client, &partner, "date=2026-11-23").await;
    assert_eq!(
        (ids(&first), &first["next_page"]),
        (vec!["r1", "r2"], &json!(2))
    );
    let (_, capped) = page(&client, &partner, "date=2026-11-23&page=2&page_size=100").await;
    assert_eq!(
        (ids(&capped), &capped["next_page"]),
        (vec!["r4", "r5", "r6"], &json!(3))
    );
    let (_, last) = page(&client, &partner, "date=2026-11-23&page=3&page_size=3").await;
    assert_eq!((ids(&last), &last["next_page"]), (vec!["r7"], &Value::Null));
    let (_, beyond) = page(&client, &partner, "date=2026-11-23&page=9&page_size=3").await;
    assert_eq!(beyond, json!({"records": [], "next_page": null}));
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A request signed as DESIGN.md §7 says, with the given timestamp, nonce and secret.
fn signed(
    request: reqwest::RequestBuilder,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    (timestamp, nonce, secret): (u64, &str, &str),
) -> reqwest::RequestBuilder {
    let signature = hmac_signature(
        secret.as_bytes(),
        method,
        path_and_query,
        timestamp,
        nonce,
        body,
    );
    request
        .header("X-Key-Id", "vigil")
        .header("X-Timestamp", timestamp.to_string())
        .header("X-Nonce", nonce)
        .header("X-Signature", signature)
}

#[tokio::test]
async fn hmac_signatures_are_verified_with_the_prefix_and_nonces_are_single_use() {
    let partner = start(FakePartnerConfig {
        auth: PartnerAuth::hmac("vigil", "s3cret"),
        ..shanghai()
    })
    .await;
    let client = client();
    let body = record("r:1", "2026-11-23T01:00:00Z").to_string();
    let url = format!("{}/records/r%3A1", partner.url());
    let path = "/api/records/r%3A1";
    let now = unix_now();
    let send = |nonce: &str, timestamp: u64, secret: &str| {
        let request = client
            .put(&url)
            .header("Content-Type", "application/json")
            .body(body.clone());
        signed(
            request,
            "PUT",
            path,
            body.as_bytes(),
            (timestamp, nonce, secret),
        )
        .send()
    };

    assert_eq!(
        send("n1", now, "s3cret").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(partner.stored(), 1);
    let replay = send("n1", now, "s3cret").await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(replay.value().await["error"], "reused X-Nonce");
    assert_eq!(
        send("n2", now, "wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send("n3", now - 301, "s3cret").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send("n4", now + 301, "s3cret").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let unsigned = client.put(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    // A signature over the path without the prefix does not verify.
    let request = client.put(&url).body(body.clone());
    let unprefixed = signed(
        request,
        "PUT",
        "/records/r%3A1",
        body.as_bytes(),
        (now, "n5", "s3cret"),
    );
    assert_eq!(
        unprefixed.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // GET signs the query too, over an empty body.
    let pq = "/api/records?date=2026-11-23&page=1";
    let request = client.get(format!("http://{}{pq}", partner.addr()));
    let response = signed(request, "GET", pq, b"", (now, "n6", "s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(&response.value().await), ["r:1"]);
    assert_eq!(partner.calls(Endpoint::PutRecord).status(401), 6);
}

#[tokio::test]
async fn api_keys_are_checked() {
    let partner = start(FakePartnerConfig {
        auth: PartnerAuth::api_key("X-Api-Key", "k-1"),
        ..FakePartnerConfig::default()
    })
    .await;
    let client = client();
    let url = format!("{}/records?date=2026-11-23", partner.url());
    let with = |key: Option<&str>| {
        let request = client.get(&url);
        match key {
            Some(key) => request.header("X-Api-Key", key),
            None => request,
        }
        .send()
    };
    assert_eq!(with(Some("k-1")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        with(Some("k-2")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(with(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

async fn token(
    client: &Client,
    partner: &FakePartner,
    secret: &str,
    grant: &str,
) -> reqwest::Response {
    client
        .post(partner.token_url())
        .basic_auth("vigil", Some(secret))
        .form(&[("grant_type", grant)])
        .send()
        .await
        .expect("token endpoint answered")
}

#[tokio::test]
async fn oauth2_tokens_are_issued_counted_and_required() {
    let partner = start(FakePartnerConfig {
        auth: PartnerAuth::OAuth2 {
            client_id: "vigil".into(),
            client_secret: "pw".into(),
            expires_in: Duration::from_secs(120),
        },
        ..shanghai()
    })
    .await;
    let client = client();
    let url = format!("{}/records/r1", partner.url());
    let body = record("r1", "2026-11-23T01:00:00Z");

    let grant: Value = token(&client, &partner, "pw", "client_credentials")
        .await
        .value()
        .await;
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["expires_in"], 120);
    let bearer = grant["access_token"].as_str().unwrap().to_owned();
    let with_token = |token: Option<&str>| {
        let request = client.put(&url).json_body(&body);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
    };
    assert_eq!(
        with_token(Some(&bearer)).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        with_token(None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with_token(Some("forged")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let refused = token(&client, &partner, "wrong", "client_credentials").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.value().await["error"], "invalid_client");
    let refused = token(&client, &partner, "pw", "password").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(partner.tokens_issued(), 1);

    // Expired tokens are refused until a new one is fetched.
    partner.expire_tokens();
    assert_eq!(
        with_token(Some(&bearer)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    partner.set_token_lifetime(Duration::from_secs(5));
    let grant: Value = token(&client, &partner, "pw", "client_credentials")
        .await
        .value()
        .await;
    assert_eq!(grant["expires_in"], 5);
    let fresh = grant["access_token"].as_str().unwrap();
    assert_ne!(fresh, bearer);
    assert_eq!(
        with_token(Some(fresh)).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(partner.tokens_issued(), 2);
    assert_eq!(partner.calls(Endpoint::Token).status(200), 2);
}

#[tokio::test]
async fn error_statuses_and_throttling_refuse_without_storing() {
    let partner = start(FakePartnerConfig::default()).await;
    let client = client();
    let body = record("r1", "2026-11-23T01:00:00Z");

    partner.throttle_next(1, 7);
    partner.fail_next(2, 503);
    let throttled = put(&client, &partner, "r1", &body).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers()["retry-after"], "7");
    for _ in 0..2 {
        assert_eq!(
            put(&client, &partner, "r1", &body).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(partner.stored(), 0);
    assert_eq!(
        put(&client, &partner, "r1", &body).await.status(),
        StatusCode::OK
    );
    assert!(partner.faults().is_empty());

    // A fraction, reproducible from the seed: the same calls fail on a second partner.
    let run = || async {
        let partner = start(FakePartnerConfig::default()).await;
        partner.set_error_rate(0.5, 500);
        let mut statuses = Vec::new();
        for i in 0..40 {
            let status = put(&client, &partner, &format!("r{i}"), &body)
                .await
                .status();
            statuses.push(status.as_u16());
        }
        statuses
    };
    let first = run().await;
    assert_eq!(first, run().await);
    let failed = first.iter().filter(|&&s| s == 500).count();
    assert!((8..=32).contains(&failed), "{failed} of 40 failed");
}

#[tokio::test]
async fn latency_delays_answers() {
    let partner = start(FakePartnerConfig::default()).await;
    let client = client();
    partner.set_latency(Duration::from_millis(150), Duration::ZERO);
    let started = Instant::now();
    let (status, _) = page(&client, &partner, "date=2026-11-23").await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    partner.set_latency(Duration::from_millis(10), Duration::from_millis(30));
    let started = Instant::now();
    page(&client, &partner, "date=2026-11-23").await;
    assert!(started.elapsed() >= Duration::from_millis(10));
}

#[tokio::test]
async fn hung_calls_time_the_client_out_or_answer_once_released() {
    let partner = start(FakePartnerConfig::default()).await;
    let body = record("r1", "2026-11-23T01:00:00Z");

    partner.hang(Share::Next(1));
    let impatient = client_with(Duration::from_millis(200));
    let url = format!("{}/records/r1", partner.url());
    let err = impatient
        .put(&url)
        .json_body(&body)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(partner.stored(), 0);
    // The server is not told that the client left: the call stays hung until released, and
    // is then carried out, as on a slow server.
    assert!(partner.wait_hung(1, WAIT).await);
    assert_eq!(partner.release_hung(), 1);
    assert!(partner.wait_for_records(1, WAIT).await);

    // Held until released, then served.
    partner.hang(Share::Next(1));
    let url = format!("{}/records/r2", partner.url());
    let body = record("r2", "2026-11-23T01:00:00Z");
    let waiting = tokio::spawn(client().put(&url).json_body(&body).send());
    assert!(partner.wait_hung(1, WAIT).await);
    assert_eq!(partner.stored(), 1);
    partner.release_hung();
    assert_eq!(waiting.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(partner.stored(), 2);
    assert_eq!(partner.hung(), 0);

    // `store`: the write is applied, only the answer is missing.
    partner
        .set_fault(Fault::Hang {
            share: Share::Always,
            store: true,
        })
        .unwrap();
    let url = format!("{}/records/r3", partner.url());
    let body = record("r3", "2026-11-23T01:00:00Z");
    let waiting = tokio::spawn(client().put(&url).json_body(&body).send());
    assert!(partner.wait_for_records(3, WAIT).await);
    assert!(partner.wait_hung(1, WAIT).await);
    partner.clear_fault(FaultKind::Hang);
    partner.release_hung();
    assert_eq!(waiting.await.unwrap().unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn dropped_writes_answer_200_and_corrupted_writes_store_a_changed_field() {
    let partner = start(FakePartnerConfig::default()).await;
    let client = client();
    let day = "2026-11-23T01:00:00Z";

    partner.drop_writes(Share::Next(1));
    let response = put(&client, &partner, "a", &record("a", day)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(partner.record("a"), None);
    let only_b = Share::Ids(["b".to_string()].into_iter().collect());
    partner.drop_writes(only_b);
    for id in ["a", "b", "c"] {
        assert_eq!(
            put(&client, &partner, id, &record(id, day)).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(partner.records().keys().collect::<Vec<_>>(), ["a", "c"]);
    // Each listed id is dropped once: a re-send repairs it.
    put(&client, &partner, "b", &record("b", day)).await;
    assert!(partner.record("b").is_some());

    partner.corrupt_writes(Share::Next(1), "outcome");
    assert_eq!(
        put(&client, &partner, "d", &record("d", day))
            .await
            .status(),
        StatusCode::OK
    );
    let stored = partner.record("d").unwrap();
    assert_eq!(stored["outcome"], "breached");
    assert_eq!(stored["stopped_at"], day);
    assert_eq!(partner.accepted_put_ids(), ["a", "a", "b", "c", "b", "d"]);
    assert_eq!(partner.puts_total(), 6);
}

#[tokio::test]
async fn outages_answer_503_or_close_and_end() {
    let partner = start(FakePartnerConfig::default()).await;
    let client = client();
    let body = record("r1", "2026-11-23T01:00:00Z");

    partner.set_down(true);
    assert_eq!(
        put(&client, &partner, "r1", &body).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        page(&client, &partner, "date=2026-11-23").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Admin endpoints are never down.
    let stats = client
        .get(format!("{}/stats", partner.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), StatusCode::OK);
    partner.set_down(false);
    assert_eq!(
        put(&client, &partner, "r1", &body).await.status(),
        StatusCode::OK
    );

    // A timed outage ends by itself.
    let outage = Duration::from_millis(300);
    let started = Instant::now();
    partner.down_for(outage, OutageMode::Unavailable);
    assert_eq!(
        put(&client, &partner, "r1", &body).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    tokio::time::sleep_until(started + outage).await;
    assert_eq!(
        put(&client, &partner, "r1", &body).await.status(),
        StatusCode::OK
    );
    assert!(partner.faults().is_empty());

    // Closing: the client sees a broken connection, not a status.
    partner.set_outage(OutageMode::Close, OutageWindow::On);
    let err = client
        .put(format!("{}/records/r2", partner.url()))
        .json_body(&body)
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err}");
    assert_eq!(partner.calls(Endpoint::PutRecord).closed, 1);
    assert_eq!(partner.puts().last().unwrap().status, None);
    partner.set_down(false);
    assert_eq!(
        put(&client, &partner, "r2", &body).await.status(),
        StatusCode::OK
    );
    let counts = partner.calls(Endpoint::PutRecord);
    assert_eq!(
        (counts.received, counts.status(503), counts.succeeded()),
        (6, 2, 3)
    );
}

#[tokio::test]
async fn admin_endpoints_set_faults_seed_and_report() {
    let partner = start(shanghai()).await;
    let client = client();
    let admin = partner.admin_url();

    let fault = json!({"kind": "errors", "status": 502, "share": {"next": 1}});
    let set = client
        .post(format!("{admin}/faults"))
        .json_body(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let listed: Value = client
        .get(format!("{admin}/faults"))
        .send()
        .await
        .unwrap()
        .value()
        .await;
    assert_eq!(listed, json!([fault]));
    let bad = client
        .post(format!("{admin}/faults"))
        .json_body(&json!({"kind": "errors", "status": 5, "share": "always"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let outage =
        json!({"kind": "outage", "window": {"repeat": {"every_ms": 180000, "down_ms": 45000}}});
    client
        .post(format!("{admin}/faults"))
        .json_body(&outage)
        .send()
        .await
        .unwrap();
    assert_eq!(partner.faults().len(), 2);
    client
        .delete(format!("{admin}/faults/outage"))
        .send()
        .await
        .unwrap();
    assert_eq!(partner.faults().len(), 1);
    client
        .delete(format!("{admin}/faults"))
        .send()
        .await
        .unwrap();
    assert!(partner.faults().is_empty());

    // Seeding NDJSON (blank lines allowed), then reading back.
    let mut ndjson = String::new();
    for i in 0..1000 {
        ndjson.push_str(&record(&format!("s{i:04}"), "2026-11-22T17:30:00Z").to_string());
        ndjson.push_str(if i % 100 == 0 { "\n\n" } else { "\n" });
    }
    let seeded: Value = client
        .post(format!("{admin}/records"))
        .body(ndjson)
        .send()
        .await
        .unwrap()
        .value()
        .await;
    assert_eq!(seeded, json!({"seeded": 1000, "stored": 1000}));
    let bad_line = format!(
        "{}\n{{\"record_id\":\"x\"}}\n",
        record("t1", "2026-11-23T00:00:00Z")
    );
    let refused = client
        .post(format!("{admin}/records"))
        .body(bad_line)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refused: Value = refused.value().await;
    assert_eq!(
        (&refused["line"], &refused["seeded"]),
        (&json!(2), &json!(1))
    );

    let one: Value = client
        .get(format!("{admin}/records/s0007"))
        .send()
        .await
        .unwrap()
        .value()
        .await;
    assert_eq!(one["record_id"], "s0007");
    let missing = client
        .get(format!("{admin}/records/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let dump = client
        .get(format!("{admin}/records"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(dump.lines().count(), 1001);

    // A record call, then the counters.
    let (status, _) = page(&client, &partner, "date=2026-11-23&page_size=10").await;
    assert_eq!(status, StatusCode::OK);
    let stats: Value = client
        .get(format!("{admin}/stats"))
        .send()
        .await
        .unwrap()
        .value()
        .await;
    assert_eq!(stats["stored"], 1001);
    assert_eq!(stats["calls"]["get_records"]["by_status"]["200"], 1);
    put(
        &client,
        &partner,
        "p1",
        &record("p1", "2026-11-23T00:00:00Z"),
    )
    .await;
    let puts: Value = client
        .get(format!("{admin}/puts?limit=5"))
        .send()
        .await
        .unwrap()
        .value()
        .await;
    assert_eq!(
        puts,
        json!({"total": 1, "accepted": 1, "puts": [{"record_id": "p1", "status": 200}]})
    );

    client
        .delete(format!("{admin}/records"))
        .send()
        .await
        .unwrap();
    assert_eq!(partner.stored(), 0);
}

#[tokio::test]
async fn a_seed_of_100k_records_pages_through_completely() {
    let partner = start(shanghai()).await;
    let bodies = (0..100_000).map(|i| {
        // Two days in Shanghai: 16:00Z splits them.
        let at = if i % 2 == 0 {
            "2026-11-22T17:30:00Z"
        } else {
            "2026-11-22T15:30:00Z"
        };
        format!(r#"{{"record_id":"{i:06}","outcome":"met","stopped_at":"{at}"}}"#)
    });
    assert_eq!(partner.seed(bodies), Ok(100_000));
    assert!(partner.wait_for_records(100_000, WAIT).await);

    let client = client();
    let mut seen = 0;
    let mut next = Some(1);
    let mut last_id = String::new();
    while let Some(number) = next {
        let (_, body) = page(
            &client,
            &partner,
            &format!("date=2026-11-23&page={number}&page_size=10000"),
        )
        .await;
        for id in ids(&body) {
            assert!(id > last_id.as_str(), "ids in order");
            last_id = id.to_owned();
            seen += 1;
        }
        next = body["next_page"].as_u64();
    }
    assert_eq!(seen, 50_000);
}

#[tokio::test]
async fn waiting_for_puts_needs_no_polling() {
    let partner = start(FakePartnerConfig::default()).await;
    let url = format!("{}/records/w1", partner.url());
    let body = record("w1", "2026-11-23T01:00:00Z");
    let sender = tokio::spawn(async move { client().put(url).json_body(&body).send().await });
    assert!(partner.wait_for_puts(1, WAIT).await);
    assert!(partner.wait_for_accepted_puts(1, WAIT).await);
    assert!(!partner.wait_for_records(2, Duration::from_millis(50)).await);
    assert_eq!(sender.await.unwrap().unwrap().status(), StatusCode::OK);
    partner.stop().await;
}
