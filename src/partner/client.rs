//! One partner's REST API (DESIGN.md §7): `PUT {base}/records/{record_id}` and
//! `GET {base}/records?date=…&page=…&page_size=…`, authenticated, one attempt each. Retries,
//! back-off, rate limits and the circuit breaker are the caller's; every failure says
//! whether a retry can help ([`ErrorClass`]).
//!
//! Which failures are retryable ([`crate::http_client::classify`]): time-outs, connection
//! errors, 408, 429 and every 5xx. 502, 503 and 504 are the ones the partner contract names;
//! other 5xx (a flaky 500) are retried too rather than parking a record for good on a passing
//! server error. Every other status, 4xx and an unfollowed 3xx alike, is permanent. With OAuth2 a 401 is
//! answered once inside the client by fetching a new token and sending the request again.
//!
//! A record id goes into the path as one segment, percent-encoded except for the unreserved
//! characters `A-Z a-z 0-9 - . _ ~` (`12345:TKT-001:resolution` →
//! `12345%3ATKT-001%3Aresolution`); HMAC signatures cover the path exactly as sent.

use std::time::SystemTime;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Response, Url};
use serde::Deserialize;
use serde_json::{Map, Value};
use vigil_engine::SlaRecord;

use super::auth::{AuthError, Authenticator, EnvLookup};
use super::config::{http_base_url, PartnerConfig};
use super::mapping::{Mapper, MappingError};
use crate::http_client::{
    answer_class, read_bounded, read_excerpt, CallError, ErrorClass, MESSAGE_CHARS,
    MESSAGE_READ_BYTES,
};

/// Largest reconciliation page read; a bigger one is refused (permanent) rather than held.
pub const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

/// A failed authentication as a call failure: the token endpoint's class carries over, a
/// failed random source may pass, missing secrets and bad settings do not.
fn auth_failure(e: AuthError) -> CallError {
    match e {
        AuthError::Token {
            class,
            status: _,
            reason,
        } => CallError {
            class,
            status: None,
            message: format!("token endpoint: {reason}"),
        },
        AuthError::Random(_) => CallError {
            class: ErrorClass::Retryable { retry_after: None },
            status: None,
            message: e.to_string(),
        },
        AuthError::MissingEnv { .. } | AuthError::Invalid { .. } => {
            CallError::permanent(None, e.to_string())
        }
    }
}

/// Reads the rest of a successful answer (up to a few KiB) so its connection can be reused.
async fn drain(mut response: Response) {
    let mut read = 0;
    while read < MESSAGE_READ_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => break,
        }
    }
}

/// `text` as one path segment: unreserved characters as they are, every other byte `%XX`.
pub fn encode_segment(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// One page of a partner's records of a day.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page {
    /// The records, in the partner's shape.
    pub records: Vec<Map<String, Value>>,
    /// The next page to ask for; `None` on the last page.
    #[serde(default)]
    pub next_page: Option<u32>,
}

/// Why a partner's client cannot be set up. None of these goes away by retrying.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `base_url` is not usable.
    #[error("base_url: {0}")]
    BaseUrl(String),
    /// A secret is missing or authentication is misconfigured.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// `mapping` or `masking` cannot be used.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Http(String),
}

/// A partner's API, ready to call. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PartnerClient {
    id: String,
    base: Url,
    http: reqwest::Client,
    auth: Authenticator,
    mapper: Mapper,
}

impl PartnerClient {
    /// The client of `config`, with secrets read through `env` and requests bounded by
    /// `config.timeout`. Fails naming the field or variable at fault.
    pub fn new(config: &PartnerConfig, env: EnvLookup<'_>) -> Result<PartnerClient, ClientError> {
        let base = http_base_url(&config.base_url).map_err(ClientError::BaseUrl)?;
        let http = crate::http_client::build(config.timeout.as_std())
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let auth = Authenticator::new(&config.auth, env, http.clone())?;
        let mapper = Mapper::new(&config.mapping, &config.masking)?;
        Ok(PartnerClient {
            id: config.id.clone(),
            base,
            http,
            auth,
            mapper,
        })
    }

    /// [`PartnerClient::new`] with secrets read from the process environment.
    pub fn from_process_env(config: &PartnerConfig) -> Result<PartnerClient, ClientError> {
        PartnerClient::new(config, &|var| std::env::var(var).ok())
    }

    /// The partner's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How records are mapped for this partner.
    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    /// `{base}/{rest}`, keeping the base URL's own path.
    fn url(&self, rest: &str) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}/{rest}", self.base.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// `{base}/records/{record_id}`, the id percent-encoded ([`encode_segment`]).
    pub fn record_url(&self, record_id: &str) -> Url {
        self.url(&format!("records/{}", encode_segment(record_id)))
    }

    /// `{base}/records?date=…&page=…&page_size=…`.
    pub fn page_url(&self, date: &str, page: u32, page_size: u32) -> Url {
        let mut url = self.url("records");
        url.query_pairs_mut()
            .append_pair("date", date)
            .append_pair("page", &page.to_string())
            .append_pair("page_size", &page_size.to_string());
        url
    }

    /// Sends `record` (mapped and masked) with `PUT {base}/records/{record_id}`; any 2xx is
    /// success and its status is returned. Sending the same record again is harmless.
    pub async fn put_record(&self, record: &SlaRecord) -> Result<u16, CallError> {
        let body = serde_json::to_vec(&self.mapper.map(record))
            .map_err(|e| CallError::permanent(None, format!("cannot encode the record: {e}")))?;
        let url = self.record_url(&record.record_id);
        match self.send(Method::PUT, url, body).await {
            Ok(response) => {
                let status = response.status().as_u16();
                drain(response).await;
                tracing::debug!(
                    partner = %self.id,
                    record_id = %record.record_id,
                    status,
                    "record sent"
                );
                Ok(status)
            }
            Err(e) => {
                tracing::debug!(
                    partner = %self.id,
                    record_id = %record.record_id,
                    error = %e,
                    "record not sent"
                );
                Err(e)
            }
        }
    }

    /// Page `page` (from 1) of the partner's records whose `stopped_at` falls on `date`
    /// (`YYYY-MM-DD`, the partner's time zone). An answer that is not a page, or whose
    /// `next_page` does not come after `page`, is a permanent error.
    pub async fn get_page(&self, date: &str, page: u32, page_size: u32) -> Result<Page, CallError> {
        let url = self.page_url(date, page, page_size);
        let response = self.send(Method::GET, url, Vec::new()).await?;
        let status = Some(response.status().as_u16());
        let body = read_bounded(response, MAX_PAGE_BYTES).await?;
        let parsed: Page = serde_json::from_slice(&body)
            .map_err(|e| CallError::permanent(status, format!("not a page of records: {e}")))?;
        if parsed.next_page.is_some_and(|next| next <= page) {
            return Err(CallError::permanent(
                status,
                format!(
                    "next_page {:?} does not come after page {page}",
                    parsed.next_page
                ),
            ));
        }
        tracing::debug!(
            partner = %self.id,
            date,
            page,
            records = parsed.records.len(),
            "page read"
        );
        Ok(parsed)
    }

    /// One request, authenticated; with OAuth2 a 401 is tried once more with a new token.
    /// `Ok` only for a 2xx answer.
    async fn send(&self, method: Method, url: Url, body: Vec<u8>) -> Result<Response, CallError> {
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut refreshed = false;
        loop {
            let headers = self
                .auth
                .headers(&method, &path_and_query, &body, SystemTime::now())
                .await
                .map_err(auth_failure)?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .header(ACCEPT, "application/json");
            if method != Method::GET {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = request.send().await.map_err(CallError::from_reqwest)?;
            let status = response.status().as_u16();
            if status == 401 && !refreshed && self.auth.refreshes_tokens() {
                tracing::debug!(partner = %self.id, "401: fetching a new token");
                self.auth.invalidate(&headers).await;
                refreshed = true;
                continue;
            }
            let Some(class) = answer_class(&response) else {
                return Ok(response);
            };
            let mut message = read_excerpt(response, MESSAGE_READ_BYTES, MESSAGE_CHARS).await;
            if message.is_empty() {
                message = reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no answer body")
                    .to_string();
            }
            return Err(CallError {
                class,
                status: Some(status),
                message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
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
    use serde_json::json;
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

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
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
        assert_eq!(first.records.len(), 1);
        assert_eq!(
            client.mapper().record_id_of(&first.records[0]).as_deref(),
            Some("1:T:response")
        );
        let last = client.get_page("2025-11-23", 3, 500).await.expect("page");
        assert_eq!(
            last,
            Page {
                records: vec![],
                next_page: None
            }
        );
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
}
