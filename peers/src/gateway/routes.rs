//! The HTTP side of the gateway: axum handlers for `POST /sms` and `POST /webhook` that parse a
//! request, hand it to [`Log::admit`], and answer when its [`Timing`] says.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::record::{Delivery, Route};
use super::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use super::state::{Answer, Log, Parsed, Settings, Timing};

/// The header both endpoints read the idempotency key from.
const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// State shared by the handlers and the [`FakeGateway`](super::FakeGateway) handle.
#[derive(Debug)]
pub(super) struct Shared {
    pub log: watch::Sender<Log>,
    pub secret: Vec<u8>,
    /// Where deliveries are handed over, for a gateway started with a feed.
    pub feed: Option<mpsc::Sender<Delivery>>,
}

impl Shared {
    /// Runs `change` on the log and wakes every waiter.
    pub fn update<R>(&self, change: impl FnOnce(&mut Log) -> R) -> R {
        let mut change = Some(change);
        let mut out = None;
        self.log
            .send_modify(|log| out = change.take().map(|change| change(log)));
        match out {
            Some(out) => out,
            None => unreachable!("send_modify runs its closure exactly once"),
        }
    }
}

/// The gateway's routes.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(Route::Sms.path(), post(sms))
        .route(Route::Webhook.path(), post(webhook))
        .with_state(shared)
}

async fn sms(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let settings = shared.log.borrow().settings.clone();
    let parsed = parse_sms(&settings, &headers, &body);
    serve(&shared, Route::Sms, &headers, &body, parsed).await
}

async fn webhook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let settings = shared.log.borrow().settings.clone();
    let parsed = parse_webhook(&settings, &shared.secret, &headers, &body, unix_now());
    serve(&shared, Route::Webhook, &headers, &body, parsed).await
}

/// Records the request, waits as its fault says, then answers and notes the status.
async fn serve(
    shared: &Shared,
    route: Route,
    headers: &HeaderMap,
    body: &[u8],
    parsed: Parsed,
) -> Response {
    // A gateway that keeps no log of requests has no use for their headers.
    let headers = if shared.log.borrow().keeps_requests() {
        headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect()
    } else {
        Vec::new()
    };
    let body = String::from_utf8_lossy(body).into_owned();
    let (index, answer, timing, delivered) =
        shared.update(|log| log.admit(route, headers, body, parsed));
    if let (Some(feed), Some(delivery)) = (&shared.feed, delivered) {
        // Answered only once queued: a reader that falls behind slows the sender down (whose
        // time-out and retry take over) instead of growing memory. A dropped reader only means
        // nobody is looking any more.
        let _ = feed.send(delivery).await;
    }
    match timing {
        Timing::Now => {}
        Timing::After(delay) => tokio::time::sleep(delay).await,
        Timing::Never => std::future::pending::<()>().await,
        // A dropped sender (the gateway went away) releases too.
        Timing::Held(release) => {
            let _ = release.await;
        }
    }
    shared.update(|log| log.answered(index, answer.status));
    respond(answer)
}

fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(answer.body)).into_response();
    if let Some(secs) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The SMS body, JSON or form.
#[derive(Debug, Deserialize)]
struct SmsBody {
    to: String,
    text: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

fn parse_sms(settings: &Settings, headers: &HeaderMap, body: &[u8]) -> Parsed {
    let rejected = |status: u16, reason: String| Parsed {
        problem: Some((status, reason)),
        ..Parsed::default()
    };
    if let Some(expected) = &settings.authorization {
        if header_str(headers, header::AUTHORIZATION.as_str()) != Some(expected.as_str()) {
            return rejected(401, "wrong or missing Authorization".to_owned());
        }
    }
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str()).unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    let decoded = if mime.eq_ignore_ascii_case("application/json") {
        serde_json::from_slice::<SmsBody>(body).map_err(|err| err.to_string())
    } else if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<SmsBody>(body).map_err(|err| err.to_string())
    } else {
        return rejected(415, format!("unsupported Content-Type {content_type:?}"));
    };
    let sms = match decoded {
        Ok(sms) => sms,
        Err(err) => return rejected(400, format!("unreadable SMS body: {err}")),
    };
    let from_header = header_str(headers, IDEMPOTENCY_HEADER).map(str::to_owned);
    let problem = match (&sms.idempotency_key, &from_header) {
        (Some(in_body), Some(in_header)) if in_body != in_header => Some((
            400,
            format!("idempotency_key {in_body:?} differs from the header's {in_header:?}"),
        )),
        _ => None,
    };
    Parsed {
        to: Some(sms.to),
        text: Some(sms.text),
        idempotency_key: sms
            .idempotency_key
            .or(from_header)
            .filter(|key| !key.is_empty()),
        problem,
    }
}

fn parse_webhook(
    settings: &Settings,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Parsed {
    let problem = check_signature(settings, secret, headers, body, now)
        .err()
        .or_else(|| {
            serde_json::from_slice::<serde_json::Value>(body)
                .err()
                .map(|err| (400, format!("body is not JSON: {err}")))
        });
    Parsed {
        to: None,
        text: None,
        idempotency_key: header_str(headers, IDEMPOTENCY_HEADER)
            .filter(|key| !key.is_empty())
            .map(str::to_owned),
        problem,
    }
}

/// Checks `X-Vigil-Signature` against the body and `X-Vigil-Timestamp`, and the timestamp
/// against the clock; an `Err` is the 401 to answer.
fn check_signature(
    settings: &Settings,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<(), (u16, String)> {
    let unauthorized = |reason: &str| (401, reason.to_owned());
    let timestamp = header_str(headers, TIMESTAMP_HEADER)
        .ok_or_else(|| unauthorized("missing X-Vigil-Timestamp"))?
        .trim()
        .parse::<u64>()
        .map_err(|_| unauthorized("X-Vigil-Timestamp is not Unix seconds"))?;
    let signature = header_str(headers, SIGNATURE_HEADER)
        .ok_or_else(|| unauthorized("missing X-Vigil-Signature"))?;
    if !signature::verify(secret, timestamp, body, signature) {
        return Err(unauthorized("bad signature"));
    }
    if let Some(tolerance) = settings.timestamp_tolerance {
        if now.abs_diff(timestamp) > tolerance.as_secs() {
            return Err(unauthorized("X-Vigil-Timestamp outside the tolerance"));
        }
    }
    Ok(())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
