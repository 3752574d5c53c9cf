//! Signed webhooks: the JSON body POSTed to the contact's URL with
//! `X-Vigil-Timestamp: <unix seconds>` and
//! `X-Vigil-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`, keyed with the
//! secret of `[notify.webhook]`. A receiver recomputes the signature over the raw body (see
//! [`verify`]) and refuses old timestamps to stop replays; `Idempotency-Key` lets it drop a
//! retried duplicate.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;

use super::sms::{http_url, IDEMPOTENCY_KEY};
use super::{http_error, http_outcome, Content, Outgoing, ProviderError, SendError};

/// The header with the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Vigil-Timestamp";
/// The header with the signature, `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature";

/// Sends webhooks signed with the secret of `[notify.webhook]`.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    secret: Vec<u8>,
    default_url: Option<reqwest::Url>,
}

impl fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSender")
            .field(
                "default_url",
                &self.default_url.as_ref().map(|u| u.as_str()),
            )
            .finish_non_exhaustive()
    }
}

impl WebhookSender {
    /// A sender signing with `secret` (the value of `secret_env`, read by the caller) through
    /// `client` (see [`crate::http_client::build`]). `default_url` (`[notify.webhook].url`) is used
    /// for messages whose `to` is empty.
    pub fn new(
        secret: Vec<u8>,
        default_url: Option<&str>,
        client: reqwest::Client,
    ) -> Result<WebhookSender, ProviderError> {
        let default_url =
            default_url
                .map(http_url)
                .transpose()
                .map_err(|reason| ProviderError::Invalid {
                    field: "notify.webhook.url",
                    reason,
                })?;
        Ok(WebhookSender {
            client,
            secret,
            default_url,
        })
    }

    /// POSTs `msg`'s body to `msg.to` (or the default URL); `msg.content` must be
    /// [`Content::Webhook`].
    pub async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        let Content::Webhook { body } = &msg.content else {
            return Err(SendError::permanent("not a webhook: cannot be POSTed"));
        };
        let url = if msg.to.is_empty() {
            self.default_url
                .clone()
                .ok_or_else(|| SendError::permanent("no webhook URL for this contact"))?
        } else {
            http_url(&msg.to).map_err(SendError::permanent)?
        };
        let body = serde_json::to_vec(body)
            .map_err(|e| SendError::permanent(format!("cannot encode the webhook body: {e}")))?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY, &msg.idempotency_key)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(&self.secret, timestamp, &body))
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) => http_outcome(response).await,
            Err(e) => Err(http_error(e)),
        }
    }
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Vigil-Signature` value for `body` sent at `timestamp`: `sha256=` and the lower-case
/// hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with `secret`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(7 + 2 * digest.len());
    out.push_str("sha256=");
    crate::hex::push(&mut out, &digest);
    out
}

/// Whether `header` is the signature of `body` sent at `timestamp`, compared in constant
/// time. Checking that `timestamp` is recent is the receiver's part.
pub fn verify(secret: &[u8], timestamp: u64, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Some(bytes) = crate::hex::decode(hex) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};

    use super::*;
    use crate::http_client::build as http_client;

    const SECRET: &[u8] = b"whsec";

    #[test]
    fn signatures_match_a_known_vector_and_verify() {
        let sig = signature(SECRET, 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "sha256=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
        );
        assert!(verify(SECRET, 1_700_000_000, br#"{"a":1}"#, &sig));
        assert!(verify(
            SECRET,
            1_700_000_000,
            br#"{"a":1}"#,
            &sig.to_uppercase().replace("SHA256=", "sha256=")
        ));
        assert!(!verify(SECRET, 1_700_000_001, br#"{"a":1}"#, &sig));
        assert!(!verify(SECRET, 1_700_000_000, br#"{"a":2}"#, &sig));
        assert!(!verify(b"other", 1_700_000_000, br#"{"a":1}"#, &sig));
        assert!(!verify(SECRET, 1_700_000_000, br#"{"a":1}"#, &sig[7..]));
        assert!(!verify(SECRET, 1_700_000_000, br#"{"a":1}"#, "sha256=abc"));
    }

    /// A receiver that checks nothing itself; it remembers and answers `status`.
    #[derive(Default)]
    struct Receiver {
        status: Mutex<Vec<StatusCode>>,
        seen: Mutex<Vec<(HeaderMap, Bytes)>>,
    }

    async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
        if let Ok(mut seen) = r.seen.lock() {
            seen.push((headers, body));
        }
        let status = r.status.lock().ok().and_then(|mut s| s.pop());
        match status {
            Some(StatusCode::SERVICE_UNAVAILABLE) => (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", "Wed, 21 Oct 2099 07:28:00 GMT")],
                "maintenance",
            )
                .into_response(),
            Some(status) => (status, "nope").into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        }
    }

    async fn receiver(statuses: Vec<StatusCode>) -> (String, Arc<Receiver>) {
        let r = Arc::new(Receiver {
            status: Mutex::new(statuses),
            seen: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), r)
    }

    fn hook(to: &str) -> Outgoing {
        Outgoing {
            idempotency_key: "n-3.hook".into(),
            tenant_id: 7,
            to: to.into(),
            content: Content::Webhook {
                body: serde_json::json!({"ticket_id": "TKT-1", "level": "breach"}),
            },
        }
    }

    #[tokio::test]
    async fn posts_signed_json_that_the_receiver_can_verify() {
        let (url, r) = receiver(Vec::new()).await;
        let client = http_client(Duration::from_secs(10)).expect("client");
        let sender = WebhookSender::new(SECRET.to_vec(), Some(&url), client).expect("sender");
        sender.send(&hook(&url)).await.expect("accepted");
        // An empty `to` goes to the default URL.
        sender.send(&hook("")).await.expect("accepted");
        let seen = r.seen.lock().expect("lock");
        assert_eq!(seen.len(), 2);
        let (headers, body) = &seen[0];
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["idempotency-key"], "n-3.hook");
        let timestamp: u64 = headers["x-vigil-timestamp"]
            .to_str()
            .ok()
            .and_then(|t| t.parse().ok())
            .expect("a timestamp");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert!(now.abs_diff(timestamp) < 300, "{timestamp} vs {now}");
        let sig = headers["x-vigil-signature"].to_str().expect("ascii");
        assert!(verify(SECRET, timestamp, body, sig));
        let json: serde_json::Value = serde_json::from_slice(body).expect("json");
        assert_eq!(json["ticket_id"], "TKT-1");
    }

    #[tokio::test]
    async fn answers_are_classified_like_the_sms_gateways() {
        // Popped from the end.
        let (url, _r) =
            receiver(vec![StatusCode::NOT_FOUND, StatusCode::SERVICE_UNAVAILABLE]).await;
        let client = http_client(Duration::from_secs(10)).expect("client");
        let sender = WebhookSender::new(SECRET.to_vec(), None, client).expect("sender");
        match sender.send(&hook(&url)).await {
            Err(SendError::Transient {
                reason,
                retry_after: Some(after),
            }) => {
                assert_eq!(reason, "HTTP 503 Service Unavailable: maintenance");
                assert!(after > Duration::from_secs(86_400 * 365));
            }
            other => panic!("expected a transient error with a delay, got {other:?}"),
        }
        assert_eq!(
            sender.send(&hook(&url)).await,
            Err(SendError::permanent("HTTP 404 Not Found: nope"))
        );
        assert!(matches!(
            sender.send(&hook("")).await,
            Err(SendError::Permanent { .. })
        ));
        assert!(matches!(
            sender.send(&hook("not a url")).await,
            Err(SendError::Permanent { .. })
        ));
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let client = http_client(Duration::from_secs(1)).expect("client");
        let sender = WebhookSender::new(b"hunter2".to_vec(), None, client).expect("sender");
        assert!(!format!("{sender:?}").contains("hunter2"));
        let err = WebhookSender::new(
            Vec::new(),
            Some("mailto:x@example.com"),
            http_client(Duration::from_secs(1)).expect("client"),
        )
        .expect_err("not http");
        assert!(err.to_string().starts_with("notify.webhook.url: "), "{err}");
    }
}
