//! How requests to a partner are authenticated (`auth = { kind = … }`): nothing, a static
//! key in a header, HMAC-SHA256 signatures, or OAuth2 client-credentials bearer tokens.
//!
//! HMAC (DESIGN.md §7): headers key id, timestamp (Unix seconds), nonce (16 random bytes,
//! lower-case hex) and signature, the lower-case hex HMAC-SHA256 keyed with the shared secret
//! over [`string_to_sign`]:
//!
//! ```text
//! METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nSHA256_HEX(BODY)
//! ```
//!
//! `METHOD` is upper case; `PATH_AND_QUERY` is the path of the request URL exactly as sent,
//! including the base URL's own path and the percent-encoding of record ids
//! (`/api/records/12345%3ATKT-001%3Aresolution`), then `?` and the query when there is one;
//! `SHA256_HEX(BODY)` is the lower-case hex SHA-256 of the body bytes (of the empty string
//! for a GET).
//!
//! OAuth2: a token is fetched from `token_url` with a form POST of
//! `grant_type=client_credentials` (and `scope`), the client id and secret as HTTP Basic
//! credentials (sent as they are, without form-encoding them first). It is kept until
//! [`TOKEN_MARGIN`] (at most half its lifetime) before `expires_in` runs out; concurrent
//! callers wait for one fetch (a failed fetch is not remembered: the next caller tries
//! again). After the partner answers 401 the caller hands the headers it sent to
//! [`Authenticator::invalidate`], and the next request fetches a new token.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit as _, Mac as _};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;
use vigil_engine::clock::{Clock, WallClock};
use vigil_schema::Millis;

use super::config::{http_base_url, AuthConfig};
use crate::hex::encode as hex;
use crate::http_client::{
    answer_class, read_bounded, read_excerpt, CallError, ErrorClass, MESSAGE_CHARS,
    MESSAGE_READ_BYTES,
};

/// How long before it expires a cached token is replaced (at most half its lifetime).
pub const TOKEN_MARGIN: Duration = Duration::from_secs(30);

/// The lifetime assumed for a token whose answer has no `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// At most this much of a token endpoint's answer is read.
const MAX_TOKEN_ANSWER_BYTES: usize = 64 * 1024;

/// Random bytes in an HMAC nonce.
pub const NONCE_BYTES: usize = 16;

/// Reads a secret's environment variable; `None` when it is not set.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why requests cannot be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A secret's environment variable is not set (or empty) at start-up.
    #[error("{field}: environment variable {var} is not set")]
    MissingEnv {
        /// The field naming it, e.g. `auth.secret_env`.
        field: &'static str,
        /// The variable.
        var: String,
    },
    /// A setting or secret cannot be used (a key that cannot go into a header).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `auth.token_url`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The token endpoint gave no usable token.
    #[error("token endpoint: {reason}")]
    Token {
        /// Whether asking again later may help (time-outs, connection errors, 408, 429, 5xx).
        class: ErrorClass,
        /// The token endpoint's HTTP status, if it answered.
        status: Option<u16>,
        /// What went wrong, with the start of the endpoint's answer.
        reason: String,
    },
    /// The operating system gave no random bytes for a nonce.
    #[error("no random nonce: {0}")]
    Random(getrandom::Error),
}

/// Authenticates the requests of one partner. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct Authenticator {
    scheme: Scheme,
}

#[derive(Clone)]
enum Scheme {
    None,
    ApiKey {
        header: HeaderName,
        value: HeaderValue,
    },
    Hmac {
        key_id: HeaderValue,
        secret: Arc<[u8]>,
        names: [HeaderName; 4],
    },
    Oauth2(Arc<TokenSource>),
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// Reads `var` through `env`: set and not empty.
fn secret(env: EnvLookup<'_>, field: &'static str, var: &str) -> Result<String, AuthError> {
    match env(var) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(AuthError::MissingEnv {
            field,
            var: var.to_string(),
        }),
    }
}

fn header_name(field: &'static str, name: &str) -> Result<HeaderName, AuthError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| AuthError::Invalid {
        field,
        reason: format!("{name:?} is not an HTTP header name"),
    })
}

impl Authenticator {
    /// The authenticator `config` describes, with secrets read through `env` and OAuth2
    /// tokens fetched through `client` (see [`crate::http_client::build`]). Fails
    /// naming the variable when a secret is not set.
    pub fn new(
        config: &AuthConfig,
        env: EnvLookup<'_>,
        client: reqwest::Client,
    ) -> Result<Authenticator, AuthError> {
        Authenticator::with_clock(config, env, client, Arc::new(WallClock))
    }

    /// [`Authenticator::new`] with token lifetimes measured on `clock`.
    pub fn with_clock(
        config: &AuthConfig,
        env: EnvLookup<'_>,
        client: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<Authenticator, AuthError> {
        let scheme = match config {
            AuthConfig::None => Scheme::None,
            AuthConfig::ApiKey { header, key_env } => {
                let key = secret(env, "auth.key_env", key_env)?;
                let mut value = HeaderValue::from_str(&key).map_err(|_| AuthError::Invalid {
                    field: "auth.key_env",
                    reason: format!("the value of {key_env} cannot be sent in a header"),
                })?;
                value.set_sensitive(true);
                Scheme::ApiKey {
                    header: header_name("auth.header", header)?,
                    value,
                }
            }
            AuthConfig::Hmac {
                key_id,
                secret_env,
                headers,
            } => Scheme::Hmac {
                key_id: HeaderValue::from_str(key_id).map_err(|_| AuthError::Invalid {
                    field: "auth.key_id",
                    reason: format!("{key_id:?} cannot be sent in a header"),
                })?,
                secret: secret(env, "auth.secret_env", secret_env)?
                    .into_bytes()
                    .into(),
                names: [
                    header_name("auth.headers.key_id", &headers.key_id)?,
                    header_name("auth.headers.timestamp", &headers.timestamp)?,
                    header_name("auth.headers.nonce", &headers.nonce)?,
                    header_name("auth.headers.signature", &headers.signature)?,
                ],
            },
            AuthConfig::Oauth2 {
                token_url,
                client_id,
                client_secret_env,
                scope,
            } => Scheme::Oauth2(Arc::new(TokenSource {
                client,
                token_url: http_base_url(token_url).map_err(|reason| AuthError::Invalid {
                    field: "auth.token_url",
                    reason,
                })?,
                client_id: client_id.clone(),
                client_secret: secret(env, "auth.client_secret_env", client_secret_env)?,
                scope: scope.clone(),
                clock,
                cache: Mutex::new(None),
            })),
        };
        Ok(Authenticator { scheme })
    }

    /// `none`, `api_key`, `hmac` or `oauth2`.
    pub fn kind(&self) -> &'static str {
        match self.scheme {
            Scheme::None => "none",
            Scheme::ApiKey { .. } => "api_key",
            Scheme::Hmac { .. } => "hmac",
            Scheme::Oauth2(_) => "oauth2",
        }
    }

    /// Whether a 401 may pass with a new token (OAuth2).
    pub fn refreshes_tokens(&self) -> bool {
        matches!(self.scheme, Scheme::Oauth2(_))
    }

    /// The headers that authenticate one request: `method` to `path_and_query` (see the
    /// module docs) with `body`, signed at `now`. OAuth2 may fetch a token first.
    pub async fn headers(
        &self,
        method: &Method,
        path_and_query: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<HeaderMap, AuthError> {
        let mut out = HeaderMap::new();
        match &self.scheme {
            Scheme::None => {}
            Scheme::ApiKey { header, value } => {
                out.insert(header.clone(), value.clone());
            }
            Scheme::Hmac {
                key_id,
                secret,
                names: [key_name, timestamp_name, nonce_name, signature_name],
            } => {
                let timestamp = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let mut random = [0u8; NONCE_BYTES];
                getrandom::fill(&mut random).map_err(AuthError::Random)?;
                let nonce = hex(&random);
                let text = string_to_sign(method, path_and_query, timestamp, &nonce, body);
                out.insert(key_name.clone(), key_id.clone());
                out.insert(timestamp_name.clone(), HeaderValue::from(timestamp));
                for (name, value) in [(nonce_name, nonce), (signature_name, sign(secret, &text))] {
                    // Lower-case hex is always a valid header value.
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        out.insert(name.clone(), value);
                    }
                }
            }
            Scheme::Oauth2(source) => {
                out.insert(AUTHORIZATION, source.token().await?);
            }
        }
        Ok(out)
    }

    /// After the partner answered 401 to a request sent with `sent` headers: forgets the
    /// OAuth2 token it carried, unless another caller has already replaced it, so the next
    /// request fetches a new one. Other schemes have nothing to forget.
    pub async fn invalidate(&self, sent: &HeaderMap) {
        if let Scheme::Oauth2(source) = &self.scheme {
            let mut cache = source.cache.lock().await;
            if cache.as_ref().map(|c| &c.header) == sent.get(AUTHORIZATION) {
                *cache = None;
            }
        }
    }
}

/// The text an HMAC signature covers:
/// `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nSHA256_HEX(BODY)`.
pub fn string_to_sign(
    method: &Method,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{}\n{path_and_query}\n{timestamp}\n{nonce}\n{}",
        method.as_str(),
        hex(&Sha256::digest(body))
    )
}

/// Lower-case hex HMAC-SHA256 of `text` keyed with `secret`.
pub fn sign(secret: &[u8], text: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    };
    mac.update(text.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// OAuth2 client credentials and the cached token.
struct TokenSource {
    client: reqwest::Client,
    token_url: reqwest::Url,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    clock: Arc<dyn Clock>,
    cache: Mutex<Option<Cached>>,
}

/// A token and when to replace it.
#[derive(Clone)]
struct Cached {
    /// `Bearer <token>`, marked sensitive.
    header: HeaderValue,
    refresh_at: Millis,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    /// The cached token, or a new one. Holding the lock across the fetch makes concurrent
    /// callers share it.
    async fn token(&self) -> Result<HeaderValue, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if self.clock.now() < c.refresh_at {
                return Ok(c.header.clone());
            }
        }
        let fresh = self.fetch().await?;
        let header = fresh.header.clone();
        *cache = Some(fresh);
        Ok(header)
    }

    async fn fetch(&self) -> Result<Cached, AuthError> {
        let fetched_at = self.clock.now();
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let failed = |class, status, reason| AuthError::Token {
            class,
            status,
            reason,
        };
        let response = self
            .client
            .post(self.token_url.clone())
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                let e = CallError::from_reqwest(e);
                failed(e.class, None, e.message)
            })?;
        let status = response.status().as_u16();
        if let Some(class) = answer_class(&response) {
            let excerpt = read_excerpt(response, MESSAGE_READ_BYTES, MESSAGE_CHARS).await;
            return Err(failed(
                class,
                Some(status),
                format!("HTTP {status}: {excerpt}"),
            ));
        }
        let body = read_bounded(response, MAX_TOKEN_ANSWER_BYTES)
            .await
            .map_err(|e| failed(e.class, Some(status), e.message))?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            failed(
                ErrorClass::Permanent,
                Some(status),
                format!("not a token answer: {e}"),
            )
        })?;
        if let Some(kind) = &answer.token_type {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(failed(
                    ErrorClass::Permanent,
                    Some(status),
                    format!("token_type {kind:?} is not Bearer"),
                ));
            }
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| {
                failed(
                    ErrorClass::Permanent,
                    Some(status),
                    "the access token cannot be sent in a header".into(),
                )
            })?;
        header.set_sensitive(true);
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let keep = lifetime.saturating_sub(TOKEN_MARGIN.min(lifetime / 2));
        let keep_ms = Millis::try_from(keep.as_millis()).unwrap_or(Millis::MAX);
        Ok(Cached {
            header,
            refresh_at: fetched_at.saturating_add(keep_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::extract::State;
    use axum::http::HeaderMap as AxumHeaders;
    use axum::routing::post;
    use axum::{Form, Json, Router};
    use base64::Engine as _;
    use vigil_engine::clock::ManualClock;

    use super::*;
    use crate::partner::config::HmacHeaders;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn client() -> reqwest::Client {
        crate::http_client::build(Duration::from_secs(5)).expect("client")
    }

    fn hmac_config() -> AuthConfig {
        AuthConfig::Hmac {
            key_id: "vigil".into(),
            secret_env: "PARTNER_SECRET".into(),
            headers: HmacHeaders::default(),
        }
    }

    #[test]
    fn the_signature_matches_a_known_answer() {
        // Computed with `openssl dgst -sha256 -hmac vigil-shared-secret` over the text below.
        let body = br#"{"id":"12345:TKT-001:resolution"}"#;
        let text = string_to_sign(
            &Method::PUT,
            "/api/records/12345%3ATKT-001%3Aresolution",
            1_763_881_200,
            "00112233445566778899aabbccddeeff",
            body,
        );
        assert_eq!(
            text,
            "PUT\n/api/records/12345%3ATKT-001%3Aresolution\n1763881200\n\
             00112233445566778899aabbccddeeff\n\
             c3a7ea47bb974397bedad2e552d5194cb2a6c62089387dac28d113d875130f49"
        );
        assert_eq!(
            sign(b"vigil-shared-secret", &text),
            "cff764f4e7001d552fd42c174498c897fb78ab168a000f5877c09c249567c43b"
        );
    }

    #[tokio::test]
    async fn hmac_headers_verify_independently() {
        let auth = Authenticator::new(&hmac_config(), &env(&[("PARTNER_SECRET", "s3")]), client())
            .expect("configured");
        let now = UNIX_EPOCH + Duration::from_secs(1_763_881_200);
        let path = "/api/records?date=2025-11-23&page=1&page_size=500";
        let headers = auth
            .headers(&Method::GET, path, b"", now)
            .await
            .expect("signed");
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .expect("header")
                .to_string()
        };
        assert_eq!(get("x-key-id"), "vigil");
        assert_eq!(get("x-timestamp"), "1763881200");
        let nonce = get("x-nonce");
        assert_eq!(nonce.len(), 2 * NONCE_BYTES);
        assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3").expect("key");
        mac.update(
            format!(
                "GET\n{path}\n1763881200\n{nonce}\n\
                 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
            .as_bytes(),
        );
        assert_eq!(get("x-signature"), hex(&mac.finalize().into_bytes()));
        let again = auth
            .headers(&Method::GET, path, b"", now)
            .await
            .expect("signed");
        assert_ne!(again.get("x-nonce"), headers.get("x-nonce"));
    }

    #[tokio::test]
    async fn missing_secrets_name_their_variable() {
        let err = Authenticator::new(&hmac_config(), &env(&[]), client())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("auth.secret_env: environment variable PARTNER_SECRET is not set")
        );
        let api_key = AuthConfig::ApiKey {
            header: "X-Api-Key".into(),
            key_env: "KEY".into(),
        };
        let err = Authenticator::new(&api_key, &env(&[("KEY", "")]), client())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("auth.key_env: environment variable KEY is not set")
        );
        let auth =
            Authenticator::new(&api_key, &env(&[("KEY", "k-1")]), client()).expect("configured");
        let headers = auth
            .headers(&Method::PUT, "/r", b"{}", SystemTime::now())
            .await
            .expect("headers");
        assert_eq!(
            headers.get("x-api-key").map(|v| v.as_bytes()),
            Some(&b"k-1"[..])
        );
        assert!(format!("{auth:?}").contains("api_key"));
        assert!(!format!("{auth:?}").contains("k-1"));
    }

    /// A token endpoint handing out `tok-1`, `tok-2`, … valid for `expires_in` seconds,
    /// checking the client credentials and the grant.
    async fn token_server(expires_in: u64) -> (String, Arc<AtomicU32>) {
        let fetches = Arc::new(AtomicU32::new(0));
        let handler = |State((fetches, expires_in)): State<(Arc<AtomicU32>, u64)>,
                       headers: AxumHeaders,
                       Form(form): Form<HashMap<String, String>>| async move {
            let basic = base64::engine::general_purpose::STANDARD.encode("vigil:s3cret");
            let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(format!("Basic {basic}").as_str());
            let granted = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                && form.get("scope").map(String::as_str) == Some("records:write");
            if !(authorized && granted) {
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    Json(serde_json::json!({"error": "invalid_client"})),
                );
            }
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            // Slow enough that concurrent callers overlap.
            tokio::time::sleep(Duration::from_millis(50)).await;
            (
                axum::http::StatusCode::OK,
                Json(serde_json::json!({
                    "access_token": format!("tok-{n}"), "token_type": "bearer",
                    "expires_in": expires_in
                })),
            )
        };
        let app = Router::new()
            .route("/oauth/token", post(handler))
            .with_state((fetches.clone(), expires_in));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/oauth/token"), fetches)
    }

    fn oauth2(token_url: &str, secret_env: &str) -> AuthConfig {
        AuthConfig::Oauth2 {
            token_url: token_url.into(),
            client_id: "vigil".into(),
            client_secret_env: secret_env.into(),
            scope: Some("records:write".into()),
        }
    }

    async fn bearer(auth: &Authenticator) -> String {
        let headers = auth
            .headers(&Method::PUT, "/r", b"", SystemTime::now())
            .await
            .expect("token");
        headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .expect("authorization")
            .to_string()
    }

    #[tokio::test]
    async fn tokens_are_fetched_once_and_replaced_before_they_expire() {
        let (url, fetches) = token_server(3600).await;
        let clock = ManualClock::at(1_000_000);
        let auth = Authenticator::with_clock(
            &oauth2(&url, "SECRET"),
            &env(&[("SECRET", "s3cret")]),
            client(),
            Arc::new(clock.clone()),
        )
        .expect("configured");

        let all = futures::future::join_all((0..20).map(|_| bearer(&auth))).await;
        assert!(all.iter().all(|b| b == "Bearer tok-1"), "{all:?}");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        // Still fresh 30 s before expiry is due; replaced from then on.
        clock.advance_to(1_000_000 + 3_569_999);
        assert_eq!(bearer(&auth).await, "Bearer tok-1");
        clock.advance_to(1_000_000 + 3_570_000);
        assert_eq!(bearer(&auth).await, "Bearer tok-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_401_makes_the_next_request_fetch_a_new_token() {
        let (url, fetches) = token_server(3600).await;
        let auth = Authenticator::new(
            &oauth2(&url, "SECRET"),
            &env(&[("SECRET", "s3cret")]),
            client(),
        )
        .expect("configured");
        let first = auth
            .headers(&Method::PUT, "/r", b"", SystemTime::now())
            .await
            .expect("token");
        auth.invalidate(&first).await;
        assert_eq!(bearer(&auth).await, "Bearer tok-2");
        // A late 401 for the old token does not throw away the new one.
        auth.invalidate(&first).await;
        assert_eq!(bearer(&auth).await, "Bearer tok-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn short_lived_tokens_are_kept_half_their_lifetime() {
        let (url, fetches) = token_server(20).await;
        let clock = ManualClock::at(0);
        let auth = Authenticator::with_clock(
            &oauth2(&url, "SECRET"),
            &env(&[("SECRET", "s3cret")]),
            client(),
            Arc::new(clock.clone()),
        )
        .expect("configured");
        assert_eq!(bearer(&auth).await, "Bearer tok-1");
        clock.advance_to(9_999);
        assert_eq!(bearer(&auth).await, "Bearer tok-1");
        clock.advance_to(10_000);
        assert_eq!(bearer(&auth).await, "Bearer tok-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_token_request_is_permanent() {
        let (url, fetches) = token_server(3600).await;
        let auth = Authenticator::new(
            &oauth2(&url, "SECRET"),
            &env(&[("SECRET", "wrong")]),
            client(),
        )
        .expect("configured");
        let err = auth
            .headers(&Method::PUT, "/r", b"", SystemTime::now())
            .await
            .expect_err("refused");
        match err {
            AuthError::Token {
                class,
                status,
                reason,
            } => {
                assert_eq!(class, ErrorClass::Permanent);
                assert_eq!(status, Some(401));
                assert!(reason.contains("invalid_client"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 0);
    }
}
