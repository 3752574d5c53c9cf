//! SMS through an HTTP gateway: one POST per message, JSON `{"to","text","idempotency_key"}`
//! or the same fields as a form, with the `Authorization` header from the environment and the
//! key again in `Idempotency-Key` so the gateway can drop a retried duplicate.

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;

use super::{http_error, http_outcome, Content, Outgoing, ProviderError, SendError};
use crate::notify::config::{SmsConfig, SmsFormat};

/// The header carrying the idempotency key to HTTP providers.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Sends SMS through the gateway of `[notify.sms]`.
#[derive(Debug, Clone)]
pub struct SmsSender {
    client: reqwest::Client,
    url: reqwest::Url,
    format: SmsFormat,
    authorization: Option<HeaderValue>,
}

/// What the gateway is sent.
#[derive(Debug, Serialize)]
struct SmsBody<'a> {
    to: &'a str,
    text: &'a str,
    idempotency_key: &'a str,
}

impl SmsSender {
    /// A sender for `config` through `client` (see [`crate::http_client::build`]).
    /// `authorization` is the value of `auth_header_env` (read by the caller).
    pub fn new(
        config: &SmsConfig,
        authorization: Option<String>,
        client: reqwest::Client,
    ) -> Result<SmsSender, ProviderError> {
        let url = http_url(&config.url).map_err(|reason| ProviderError::Invalid {
            field: "notify.sms.url",
            reason,
        })?;
        let authorization = match authorization {
            Some(value) => {
                let mut value =
                    HeaderValue::from_str(&value).map_err(|_| ProviderError::Invalid {
                        field: "notify.sms.auth_header_env",
                        reason: "the variable's value cannot be an HTTP header value".into(),
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(SmsSender {
            client,
            url,
            format: config.format,
            authorization,
        })
    }

    /// Sends one SMS to `msg.to`; `msg.content` must be [`Content::Sms`].
    pub async fn send(&self, msg: &Outgoing) -> Result<(), SendError> {
        let Content::Sms { text } = &msg.content else {
            return Err(SendError::permanent(
                "not an SMS: cannot go out through the SMS gateway",
            ));
        };
        let body = SmsBody {
            to: &msg.to,
            text,
            idempotency_key: &msg.idempotency_key,
        };
        let mut request = self
            .client
            .post(self.url.clone())
            .header(IDEMPOTENCY_KEY, &msg.idempotency_key);
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        request = match self.format {
            SmsFormat::Json => {
                let json = serde_json::to_vec(&body).map_err(|e| {
                    SendError::permanent(format!("cannot encode the SMS as JSON: {e}"))
                })?;
                request.header(CONTENT_TYPE, "application/json").body(json)
            }
            SmsFormat::Form => request.form(&body),
        };
        match request.send().await {
            Ok(response) => http_outcome(response).await,
            Err(e) => Err(http_error(e)),
        }
    }
}

/// `url` when it is an absolute `http` or `https` URL.
pub(super) fn http_url(url: &str) -> Result<reqwest::Url, String> {
    let shown = crate::redact::url(url);
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{shown:?} is not an http or https URL"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};

    use super::*;
    use crate::http_client::build as http_client;

    /// The fake gateway: answers from a script, remembers what it was sent.
    #[derive(Default)]
    struct Gateway {
        answers: Mutex<VecDeque<(StatusCode, Option<&'static str>, &'static str)>>,
        seen: Mutex<Vec<(HeaderMap, Bytes)>>,
    }

    async fn answer(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
        if let Ok(mut seen) = gw.seen.lock() {
            seen.push((headers, body));
        }
        let next = gw.answers.lock().ok().and_then(|mut a| a.pop_front());
        let (status, retry_after, body) = next.unwrap_or((StatusCode::OK, None, "{}"));
        match retry_after {
            Some(after) => (status, [("retry-after", after)], body).into_response(),
            None => (status, body).into_response(),
        }
    }

    async fn gateway(
        answers: Vec<(StatusCode, Option<&'static str>, &'static str)>,
    ) -> (String, Arc<Gateway>) {
        let gw = Arc::new(Gateway {
            answers: Mutex::new(answers.into()),
            seen: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/send", axum::routing::post(answer))
            .with_state(gw.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/send"), gw)
    }

    fn sender(url: &str, format: SmsFormat) -> SmsSender {
        let config = SmsConfig {
            url: url.into(),
            format,
            auth_header_env: Some("SMS_AUTH".into()),
        };
        let client = http_client(Duration::from_secs(10)).expect("client");
        SmsSender::new(&config, Some("Bearer t0k".into()), client).expect("sender")
    }

    fn sms() -> Outgoing {
        Outgoing {
            idempotency_key: "n-9.sms".into(),
            tenant_id: 7,
            to: "+8613800000001".into(),
            content: Content::Sms {
                text: "[CRITICAL] TKT-1 response BREACHED".into(),
            },
        }
    }

    #[tokio::test]
    async fn answers_are_classified_and_retry_after_is_kept() {
        let (url, gw) = gateway(vec![
            (StatusCode::SERVICE_UNAVAILABLE, None, "down"),
            (StatusCode::TOO_MANY_REQUESTS, Some("7"), "slow down"),
            (StatusCode::OK, None, r#"{"status":"queued"}"#),
            (StatusCode::BAD_REQUEST, None, "  invalid\n number  "),
            (StatusCode::REQUEST_TIMEOUT, None, ""),
        ])
        .await;
        let sender = sender(&url, SmsFormat::Json);
        let msg = sms();
        assert_eq!(
            sender.send(&msg).await,
            Err(SendError::Transient {
                reason: "HTTP 503 Service Unavailable: down".into(),
                retry_after: None,
            })
        );
        assert_eq!(
            sender.send(&msg).await,
            Err(SendError::Transient {
                reason: "HTTP 429 Too Many Requests: slow down".into(),
                retry_after: Some(Duration::from_secs(7)),
            })
        );
        assert_eq!(sender.send(&msg).await, Ok(()));
        assert_eq!(
            sender.send(&msg).await,
            Err(SendError::permanent("HTTP 400 Bad Request: invalid number"))
        );
        assert!(sender.send(&msg).await.expect_err("408").is_transient());
        let seen = gw.seen.lock().expect("lock");
        assert_eq!(seen.len(), 5);
        let (headers, body) = &seen[0];
        assert_eq!(headers["authorization"], "Bearer t0k");
        assert_eq!(headers["idempotency-key"], "n-9.sms");
        assert_eq!(headers["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(body).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "to": "+8613800000001",
                "text": "[CRITICAL] TKT-1 response BREACHED",
                "idempotency_key": "n-9.sms",
            })
        );
    }

    #[tokio::test]
    async fn the_form_format_posts_the_same_fields() {
        let (url, gw) = gateway(Vec::new()).await;
        sender(&url, SmsFormat::Form)
            .send(&sms())
            .await
            .expect("accepted");
        let seen = gw.seen.lock().expect("lock");
        let (headers, body) = &seen[0];
        assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(
            body.as_ref(),
            b"to=%2B8613800000001&text=%5BCRITICAL%5D+TKT-1+response+BREACHED&idempotency_key=n-9.sms"
        );
    }

    #[tokio::test]
    async fn an_unreachable_gateway_is_transient() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err = sender(&format!("http://{addr}/send"), SmsFormat::Json)
            .send(&sms())
            .await
            .expect_err("nobody listens");
        assert!(err.is_transient(), "{err}");
        assert!(!err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn the_url_and_header_are_checked_at_start_up() {
        let client = http_client(Duration::from_secs(1)).expect("client");
        for (url, auth) in [
            ("ftp://sms.example.com", None),
            ("sms.example.com/send", None),
            ("https://sms.example.com/send", Some("bad\nvalue")),
        ] {
            let config = SmsConfig {
                url: url.into(),
                format: SmsFormat::Json,
                auth_header_env: None,
            };
            let err = SmsSender::new(&config, auth.map(String::from), client.clone())
                .expect_err("rejected");
            assert!(err.to_string().starts_with("notify.sms."), "{err}");
        }
    }
}
