use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, Method as AxumMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::Router;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::*;
use crate::partner::mapping::tests::record;

/// What the fake partner saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: AxumHeaders,
    body: Vec<u8>,
}

/// A scripted answer: status, headers, body, delay.
type Answer = (u16, Vec<(&'static str, String)>, String, Duration);

#[derive(Default)]
struct Fake {
    seen: Mutex<Vec<Seen>>,
    script: Mutex<VecDeque<Answer>>,
}

async fn answer(
    State(fake): State<Arc<Fake>>,
    method: AxumMethod,
    uri: Uri,
    headers: AxumHeaders,
    body: Bytes,
) -> AxumResponse {
    fake.seen.lock().expect("lock").push(Seen {
        method: method.to_string(),
        path_and_query: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers,
        body: body.to_vec(),
    });
    let next = fake.script.lock().expect("lock").pop_front();
    let (status, headers, body, delay) =
        next.unwrap_or((200, vec![], String::new(), Duration::ZERO));
    tokio::time::sleep(delay).await;
    let mut response = (StatusCode::from_u16(status).expect("status"), body).into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}

async fn fake_partner(script: Vec<Answer>) -> (SocketAddr, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    fake.script.lock().expect("lock").extend(script);
    let app = Router::new().fallback(answer).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, fake)
}

fn ok(status: u16, body: &str) -> Answer {
    (status, vec![], body.to_string(), Duration::ZERO)
}

fn config(addr: SocketAddr, extra: &str) -> PartnerConfig {
    toml::from_str(&format!(
        "id = \"exchange-a\"\nbase_url = \"http://{addr}/api\"\ntimeout = \"300ms\"\n{extra}"
    ))
    .expect("config")
}

fn env(vars: &'static [(&'static str, &'static str)]) -> Secrets {
    Secrets::with_env(move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
}

const HMAC: &str = "auth = { kind = \"hmac\", key_id = \"vigil\", secret_env = \"SECRET\" }\n\
                    mapping = { record_id = \"id\", ticket_id = \"ticket_no\" }\n\
                    masking = { assignee_id = \"first:2,last:2\" }";

/// The signature the partner expects, computed from what it received.
fn expected_signature(secret: &[u8], seen: &Seen) -> String {
    let header = |name: &str| seen.headers[name].to_str().expect("ascii").to_string();
    let body_hash: String = Sha256::digest(&seen.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = format!(
        "{}\n{}\n{}\n{}\n{body_hash}",
        seen.method,
        seen.path_and_query,
        header("x-timestamp"),
        header("x-nonce")
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
    mac.update(text.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn record_ids_are_one_encoded_segment() {
    assert_eq!(
        encode_segment("12345:TKT-001:resolution"),
        "12345%3ATKT-001%3Aresolution"
    );
    assert_eq!(encode_segment("a/b c~é"), "a%2Fb%20c~%C3%A9");
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let client = PartnerClient::new(&config(addr, ""), &env(&[])).expect("client");
    let url = client.record_url("12345:TKT-001:resolution");
    assert_eq!(
        url.as_str(),
        "http://127.0.0.1:9/api/records/12345%3ATKT-001%3Aresolution"
    );
    let mut slash = config(addr, "");
    slash.base_url = "http://127.0.0.1:9/".into();
    let client = PartnerClient::new(&slash, &env(&[])).expect("client");
    assert_eq!(
        client.page_url("2025-11-23", 2, 500).as_str(),
        "http://127.0.0.1:9/records?date=2025-11-23&page=2&page_size=500"
    );
}

#[tokio::test]
async fn records_are_put_mapped_and_signed() {
    let (addr, fake) = fake_partner(vec![ok(201, "")]).await;
    let client =
        PartnerClient::new(&config(addr, HMAC), &env(&[("SECRET", "s3")])).expect("client");
    assert_eq!(client.put_record(&record()).await, Ok(201));
    assert_eq!(client.put_record(&record()).await, Ok(200));

    let seen = fake.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    let put = &seen[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.path_and_query,
        "/api/records/12345%3ATKT-001%3Aresolution"
    );
    assert_eq!(put.headers["content-type"], "application/json");
    assert_eq!(put.headers["x-key-id"], "vigil");
    let body: Value = serde_json::from_slice(&put.body).expect("json");
    assert_eq!(body["id"], "12345:TKT-001:resolution");
    assert_eq!(body["ticket_no"], "TKT-001");
    assert_eq!(body["assignee_id"], "en*-7");
    for s in &seen {
        assert_eq!(
            s.headers["x-signature"].to_str().expect("ascii"),
            expected_signature(b"s3", s)
        );
    }
    assert_ne!(seen[0].headers["x-nonce"], seen[1].headers["x-nonce"]);
}

#[tokio::test]
async fn a_secret_changed_at_run_time_signs_the_next_request() {
    let (addr, fake) = fake_partner(vec![ok(201, ""), ok(200, "")]).await;
    let secrets = env(&[("SECRET", "s3")]);
    let client = PartnerClient::new(&config(addr, HMAC), &secrets).expect("client");
    assert_eq!(client.put_record(&record()).await, Ok(201));
    secrets.replace(std::collections::BTreeMap::from([(
        "SECRET".to_string(),
        "rotated".to_string(),
    )]));
    assert_eq!(client.clone().put_record(&record()).await, Ok(200));
    let seen = fake.seen.lock().expect("lock").clone();
    let signature = |s: &Seen| {
        s.headers["x-signature"]
            .to_str()
            .expect("ascii")
            .to_string()
    };
    assert_eq!(signature(&seen[0]), expected_signature(b"s3", &seen[0]));
    assert_eq!(
        signature(&seen[1]),
        expected_signature(b"rotated", &seen[1])
    );
}

#[tokio::test]
async fn pages_are_read_and_checked() {
    let page = json!({"records": [{"id": "1:T:response", "extra": true}], "next_page": 3});
    let (addr, fake) = fake_partner(vec![
        ok(200, &page.to_string()),
        ok(200, r#"{"records": [], "next_page": null}"#),
        ok(200, r#"{"records": []}"#),
        ok(200, "<html>maintenance</html>"),
        ok(200, r#"{"records": [], "next_page": 2}"#),
    ])
    .await;
    let client =
        PartnerClient::new(&config(addr, HMAC), &env(&[("SECRET", "s3")])).expect("client");
    let first = client.get_page("2025-11-23", 2, 500).await.expect("page");
    assert_eq!(first.next_page, Some(3));
    assert_eq!(first.len(), 1);
    let record: Map<String, Value> =
        serde_json::from_str(first.record(0).expect("a record")).expect("an object");
    assert_eq!(
        client.mapper().record_id_of(&record).as_deref(),
        Some("1:T:response")
    );
    let last = client.get_page("2025-11-23", 3, 500).await.expect("page");
    assert!(last.is_empty());
    assert_eq!(last.next_page, None);
    assert_eq!(
        client
            .get_page("2025-11-23", 4, 500)
            .await
            .map(|p| p.next_page),
        Ok(None)
    );
    let garbage = client
        .get_page("2025-11-23", 5, 500)
        .await
        .expect_err("garbage");
    assert_eq!(garbage.class, ErrorClass::Permanent);
    assert_eq!(garbage.status, Some(200));
    let stuck = client
        .get_page("2025-11-23", 2, 500)
        .await
        .expect_err("stuck");
    assert!(
        stuck.message.contains("does not come after page 2"),
        "{stuck}"
    );

    let seen = fake.seen.lock().expect("lock").clone();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].path_and_query,
        "/api/records?date=2025-11-23&page=2&page_size=500"
    );
    assert!(seen[0].body.is_empty());
    assert_eq!(
        seen[0].headers["x-signature"].to_str().expect("ascii"),
        expected_signature(b"s3", &seen[0])
    );
}

#[tokio::test]
async fn refusals_are_classified_with_the_partners_answer() {
    let long = "x".repeat(2000);
    let http_date = httpdate_in(Duration::from_secs(120));
    let (addr, _fake) = fake_partner(vec![
        (
            429,
            vec![("retry-after", "7".into())],
            "slow down".into(),
            Duration::ZERO,
        ),
        (
            503,
            vec![("retry-after", http_date)],
            String::new(),
            Duration::ZERO,
        ),
        ok(500, "oops"),
        ok(422, "{\"error\": \"outcome is required\"}"),
        ok(403, &long),
        ok(404, ""),
    ])
    .await;
    let client = PartnerClient::new(&config(addr, ""), &env(&[])).expect("client");
    let r = record();

    let e = client.put_record(&r).await.expect_err("429");
    assert_eq!(e.status, Some(429));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(e.message, "slow down");
    assert_eq!(e.to_string(), "HTTP 429 (retryable): slow down");

    let e = client.put_record(&r).await.expect_err("503");
    assert!(e.is_retryable());
    let wait = e.retry_after().expect("an HTTP date");
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
    assert_eq!(e.message, "Service Unavailable");

    let e = client.put_record(&r).await.expect_err("500");
    assert_eq!((e.is_retryable(), e.retry_after()), (true, None));

    let e = client.put_record(&r).await.expect_err("422");
    assert_eq!(e.class, ErrorClass::Permanent);
    assert_eq!(e.message, "{\"error\": \"outcome is required\"}");

    let e = client.put_record(&r).await.expect_err("403");
    assert_eq!(e.class, ErrorClass::Permanent);
    assert_eq!(e.message.chars().count(), MESSAGE_CHARS + 1);

    let e = client.put_record(&r).await.expect_err("404");
    assert_eq!((e.class, e.status), (ErrorClass::Permanent, Some(404)));
}

/// An HTTP date `ahead` from now.
fn httpdate_in(ahead: Duration) -> String {
    let at = jiff::Timestamp::try_from(SystemTime::now() + ahead).expect("in range");
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&at)
        .expect("printable")
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retryable() {
    let slow = (200, vec![], String::new(), Duration::from_secs(2));
    let (addr, _fake) = fake_partner(vec![slow]).await;
    let client = PartnerClient::new(&config(addr, ""), &env(&[])).expect("client");
    let e = client.put_record(&record()).await.expect_err("timed out");
    assert!(e.is_retryable() && e.status.is_none(), "{e}");
    assert!(e.message.starts_with("timed out"), "{e}");

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("address");
    drop(closed);
    let client = PartnerClient::new(&config(addr, ""), &env(&[])).expect("client");
    let e = client
        .get_page("2025-11-23", 1, 10)
        .await
        .expect_err("refused");
    assert!(e.is_retryable() && e.status.is_none(), "{e}");
}

#[tokio::test]
async fn an_oauth2_401_fetches_one_new_token() {
    let tokens = Arc::new(Mutex::new(0u32));
    let issue = |State(tokens): State<Arc<Mutex<u32>>>| async move {
        let n = {
            let mut t = tokens.lock().expect("lock");
            *t += 1;
            *t
        };
        axum::Json(json!({"access_token": format!("t{n}"), "expires_in": 3600}))
    };
    let app = Router::new()
        .route("/token", axum::routing::post(issue))
        .with_state(tokens.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let token_addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (addr, fake) = fake_partner(vec![ok(401, "expired"), ok(204, "")]).await;
    let auth = format!(
        "auth = {{ kind = \"oauth2\", token_url = \"http://{token_addr}/token\", \
         client_id = \"vigil\", client_secret_env = \"SECRET\" }}"
    );
    let client =
        PartnerClient::new(&config(addr, &auth), &env(&[("SECRET", "s")])).expect("client");
    assert_eq!(client.put_record(&record()).await, Ok(204));
    let seen: Vec<String> = fake
        .seen
        .lock()
        .expect("lock")
        .iter()
        .map(|s| {
            s.headers["authorization"]
                .to_str()
                .expect("ascii")
                .to_string()
        })
        .collect();
    assert_eq!(seen, ["Bearer t1", "Bearer t2"]);

    // A second 401 in a row is the partner's answer.
    fake.script
        .lock()
        .expect("lock")
        .extend([ok(401, "no"), ok(401, "still no")]);
    let e = client.put_record(&record()).await.expect_err("refused");
    assert_eq!((e.class, e.status), (ErrorClass::Permanent, Some(401)));
    assert_eq!(e.message, "still no");
    assert_eq!(*tokens.lock().expect("lock"), 3);
}

#[test]
fn set_up_failures_name_the_field() {
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let err = PartnerClient::new(&config(addr, HMAC), &env(&[]))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("auth.secret_env: environment variable SECRET is not set")
    );
    let mut bad = config(addr, "");
    bad.base_url = "ftp://example.com".into();
    assert!(matches!(
        PartnerClient::new(&bad, &env(&[])),
        Err(ClientError::BaseUrl(_))
    ));
    let bad = config(addr, "masking = { record_id = \"all\" }");
    assert!(matches!(
        PartnerClient::new(&bad, &env(&[])),
        Err(ClientError::Mapping(_))
    ));
}
