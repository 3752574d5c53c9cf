//! The operational routes (`/metrics`, `/healthz`, `/readyz`) and what every route shares: the
//! 41001 fallback, request ids, a `tracing` span per request, and HTTP metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tracing::Instrument;

use super::envelope::{ApiError, Envelope, RequestId, INVALID_PARAMETER, NOT_READY};
use super::readiness::Readiness;
use crate::telemetry::metrics::{http_request_seconds, http_requests, status_class};
use crate::telemetry::MetricsHandle;

/// The request/response header carrying the request id.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Content type of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the operational routes read.
#[derive(Debug, Clone)]
pub struct OpsState {
    /// Renders `/metrics`.
    pub metrics: MetricsHandle,
    /// Read by `/readyz`.
    pub readiness: Arc<Readiness>,
}

/// `/metrics`, `/healthz` and `/readyz`, without the shared layers; merge API routes into it and
/// pass the result to [`finish`].
pub fn ops_routes(state: OpsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Adds what every route shares: the 41001 fallback, an envelope for a wrong method, and the
/// request middleware (request id, span, metrics). Call it once, on the fully merged router.
pub fn finish(router: Router) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(request_context))
}

/// [`ops_routes`] alone, finished: what the service serves until API routes exist.
pub fn router(state: OpsState) -> Router {
    finish(ops_routes(state))
}

async fn metrics(State(state): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> Envelope<serde_json::Value> {
    Envelope::ok(json!({ "status": "alive" }))
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let report = state.readiness.report();
    let not_ready = report.not_ready();
    if not_ready.is_empty() {
        Envelope::new(
            200,
            "ready",
            json!({ "checks": report, "not_ready": not_ready }),
        )
        .into_response()
    } else {
        let message = format!("not ready: {}", not_ready.join(", "));
        Envelope::new(
            NOT_READY,
            message,
            json!({ "checks": report, "not_ready": not_ready }),
        )
        .into_response()
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let mut response = ApiError::new(
        INVALID_PARAMETER,
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into_response();
    *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// Gives the request an id (the client's `X-Request-Id` if sane), runs it inside a span and the
/// id's scope, echoes the id, and counts the answer by route pattern (bounded) and status class.
async fn request_context(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::from_client)
        .unwrap_or_else(RequestId::generate);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let span = tracing::debug_span!(
        "http",
        method = %request.method(),
        route = %route,
        request_id = %id.as_str(),
    );
    let header_value = HeaderValue::from_str(id.as_str()).ok();
    let started = Instant::now();
    let mut response = id.scope(next.run(request)).instrument(span).await;
    let status = response.status().as_u16();
    http_request_seconds(route.clone()).record(started.elapsed().as_secs_f64());
    http_requests(route, status_class(status)).increment(1);
    if let Some(value) = header_value {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    response
}
