//! The operational routes (`/metrics`, `/healthz`, `/readyz`) and what every route shares: the
//! 41001 fallback, request ids, a `tracing` span per request, the request time-out, and HTTP
//! metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How long a request may take, set per connection by the server ([`super::serve_with`]) and
/// enforced by [`finish`]'s middleware on every request but WebSocket upgrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Duration);

/// `/metrics`, `/healthz` and `/readyz`, without the shared layers; merge API routes into it and
/// pass the result to [`finish`].
pub fn ops_routes(state: OpsState) -> Router {
    health_routes(state.readiness.clone()).merge(metrics_routes(state.metrics))
}

/// `/healthz` and `/readyz` alone (when `/metrics` has a listener of its own).
pub fn health_routes(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

/// `/metrics` alone.
pub fn metrics_routes(metrics: MetricsHandle) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .with_state(metrics)
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

async fn render_metrics(State(metrics): State<MetricsHandle>) -> Response {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        metrics.render(),
    )
        .into_response()
}

async fn healthz() -> Envelope<serde_json::Value> {
    Envelope::ok(json!({ "status": "alive" }))
}

async fn readyz(State(readiness): State<Arc<Readiness>>) -> Response {
    let report = readiness.report();
    let not_ready = report.not_ready();
    let data = json!({
        "checks": report,
        "not_ready": not_ready,
        "partitions": readiness.partitions(),
    });
    if not_ready.is_empty() {
        Envelope::new(200, "ready", data).into_response()
    } else {
        let message = format!("not ready: {}", not_ready.join(", "));
        Envelope::new(NOT_READY, message, data).into_response()
    }
}

/// The route of live updates, whose upgrades the request time-out leaves alone.
pub const WEBSOCKET_ROUTE: &str = "/ws";

/// Whether the request is a WebSocket handshake on [`WEBSOCKET_ROUTE`] (on any other route the
/// header buys no exemption).
fn is_websocket_upgrade(request: &Request, route: &str) -> bool {
    route == WEBSOCKET_ROUTE
        && request.method() == Method::GET
        && request
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
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
/// id's scope with its [`RequestTimeout`] (503 when it runs out; WebSocket upgrades, whose
/// handshake answers at once and whose socket outlives the request, are exempt), echoes the
/// id, and counts the answer by route pattern (bounded) and status class.
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
    let timeout = request
        .extensions()
        .get::<RequestTimeout>()
        .map(|t| t.0)
        .filter(|_| !is_websocket_upgrade(&request, &route));
    let started = Instant::now();
    let handled = async move {
        match timeout {
            Some(limit) => match tokio::time::timeout(limit, next.run(request)).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
                    ApiError::timed_out(limit).into_response()
                }
            },
            None => next.run(request).await,
        }
    };
    let mut response = id.scope(handled).instrument(span).await;
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
