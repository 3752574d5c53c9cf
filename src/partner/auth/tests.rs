use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap as AxumHeaders;
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use reqwest::header::AUTHORIZATION;
use reqwest::Method;
use sha2::Sha256;
use vigil_engine::clock::ManualClock;

use super::*;
use crate::hex::encode as hex;
use crate::http_client::ErrorClass;
use crate::partner::config::{AuthConfig, HmacHeaders};

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
    let auth = Authenticator::new(&api_key, &env(&[("KEY", "k-1")]), client()).expect("configured");
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
