//! The platform envelope of every JSON answer:
//! `{"code":…,"message":…,"data":…,"timestamp":…,"request_id":…}`, the platform's error codes,
//! and the request id that ties an answer to its log lines.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// `code` of a successful answer.
pub const OK: u32 = 200;
/// `code` of an answer that created something.
pub const CREATED: u32 = 201;
/// `code`: a parameter is missing or invalid (HTTP 400).
pub const INVALID_PARAMETER: u32 = 40001;
/// `code`: authenticated but not allowed, e.g. another tenant's data (HTTP 403).
pub const FORBIDDEN: u32 = 40003;
/// `code`: no valid token (HTTP 401).
pub const UNAUTHENTICATED: u32 = 40004;
/// `code`: rate limited (HTTP 429, with `Retry-After`).
pub const RATE_LIMITED: u32 = 40005;
/// `code`: no such resource or route (HTTP 404).
pub const NOT_FOUND: u32 = 41001;
/// `code`: the store cannot be reached (HTTP 503).
pub const STORE_UNAVAILABLE: u32 = 50001;
/// `code` of `/readyz` while the service is not ready (HTTP 503). The platform has no code for
/// this, so it carries the HTTP status like the success codes do.
pub const NOT_READY: u32 = 503;
/// `code` of a change refused because the resource moved on since the client read it (an
/// `If-Match` version that is not the current one; HTTP 409). The platform has no code for it,
/// so it carries the HTTP status.
pub const CONFLICT: u32 = 409;
/// `code` of a request that outlived `[http] request_timeout` (HTTP 503): a retry may succeed.
/// Like [`NOT_READY`], it carries the HTTP status, as the platform has no code for it.
pub const REQUEST_TIMED_OUT: u32 = 503;

/// Longest request id taken over from a client's `X-Request-Id` header.
pub const MAX_REQUEST_ID_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The id of one request: the client's `X-Request-Id` when it is sane, else generated
/// (unique within the process, distinct across restarts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id.
    pub fn generate() -> RequestId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        static BOOT: OnceLock<u64> = OnceLock::new();
        let boot = *BOOT.get_or_init(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0)
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        RequestId(format!("{boot:x}-{n:x}"))
    }

    /// The client's id if it is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters.
    pub fn from_client(value: &str) -> Option<RequestId> {
        let ok = !value.is_empty()
            && value.len() <= MAX_REQUEST_ID_LEN
            && value.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| RequestId(value.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Runs `fut` with this id as the current request id (see [`current_request_id`]).
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        REQUEST_ID.scope(self, fut).await
    }
}

/// The id of the request being handled (set by the router's middleware), or a fresh one
/// outside a request.
pub fn current_request_id() -> RequestId {
    REQUEST_ID
        .try_with(RequestId::clone)
        .unwrap_or_else(|_| RequestId::generate())
}

/// A JSON answer in the platform envelope. Its HTTP status follows `code`.
#[derive(Debug, Clone, Serialize)]
pub struct Envelope<T> {
    /// 200/201 on success, else a platform error code.
    pub code: u32,
    /// Human-readable summary.
    pub message: Cow<'static, str>,
    /// The payload (`null` when there is none).
    pub data: T,
    /// When the answer was made, RFC 3339 in UTC (milliseconds when not zero).
    pub timestamp: String,
    /// The request id (also in the `X-Request-Id` response header).
    pub request_id: String,
}

impl<T: Serialize> Envelope<T> {
    /// An envelope for the current request.
    pub fn new(code: u32, message: impl Into<Cow<'static, str>>, data: T) -> Envelope<T> {
        Envelope {
            code,
            message: message.into(),
            data,
            timestamp: now_rfc3339(),
            request_id: current_request_id().0,
        }
    }

    /// Success (`code` 200, message `"ok"`).
    pub fn ok(data: T) -> Envelope<T> {
        Envelope::new(OK, "ok", data)
    }

    /// Created (`code` 201, message `"created"`).
    pub fn created(data: T) -> Envelope<T> {
        Envelope::new(CREATED, "created", data)
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        (status_of(self.code), Json(self)).into_response()
    }
}

/// The HTTP status that goes with a `code`.
pub fn status_of(code: u32) -> StatusCode {
    match code {
        OK => StatusCode::OK,
        CREATED => StatusCode::CREATED,
        INVALID_PARAMETER => StatusCode::BAD_REQUEST,
        FORBIDDEN => StatusCode::FORBIDDEN,
        UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
        NOT_FOUND => StatusCode::NOT_FOUND,
        STORE_UNAVAILABLE | NOT_READY => StatusCode::SERVICE_UNAVAILABLE,
        other => u16::try_from(other)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// An error answer in the envelope; handlers return `Result<Envelope<T>, ApiError>`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The platform error code; the HTTP status follows it.
    pub code: u32,
    /// What went wrong, for the client.
    pub message: Cow<'static, str>,
    /// Details (`null` when there are none).
    pub data: serde_json::Value,
    /// Seconds to send in `Retry-After` (rate-limited answers).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with a code and message and no details.
    pub fn new(code: u32, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            data: serde_json::Value::Null,
            retry_after_s: None,
        }
    }

    /// Adds details.
    pub fn with_data(mut self, data: serde_json::Value) -> ApiError {
        self.data = data;
        self
    }

    /// 40001.
    pub fn invalid_parameter(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(INVALID_PARAMETER, message)
    }

    /// 40003.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(FORBIDDEN, message)
    }

    /// 40004.
    pub fn unauthenticated(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(UNAUTHENTICATED, message)
    }

    /// 40005, with `Retry-After: retry_after_s`.
    pub fn rate_limited(message: impl Into<Cow<'static, str>>, retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(RATE_LIMITED, message)
        }
    }

    /// 40001 about one field: `data` is `{"field": …, "reason": …}`.
    pub fn invalid_field(field: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::invalid_parameter(format!("{field}: {reason}"))
            .with_data(serde_json::json!({ "field": field, "reason": reason.to_string() }))
    }

    /// 41001.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(NOT_FOUND, message)
    }

    /// 503: the request took longer than `limit`.
    pub fn timed_out(limit: std::time::Duration) -> ApiError {
        ApiError::new(
            REQUEST_TIMED_OUT,
            format!(
                "the request took longer than {} ms; try again",
                limit.as_millis()
            ),
        )
    }

    /// 50001.
    pub fn store_unavailable(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(STORE_UNAVAILABLE, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after_s;
        let mut response = Envelope::new(self.code, self.message, self.data).into_response();
        if let Some(s) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(s),
            );
        }
        response
    }
}

fn now_rfc3339() -> String {
    vigil_schema::format_instant(crate::clock::now_ms())
}
