//! The REST API and the `/ws` endpoint of DESIGN.md §5, behind authentication, tenant
//! isolation and rate limits. Every answer is in the platform envelope; the OpenAPI document
//! at `/api/v1/openapi.json` is generated from the handlers.
//!
//! # Layout
//! - [`views`]: the JSON shapes shared with the WebSocket hub.
//! - `auth`: the authenticated-caller extractor (token, role, rate limits).
//! - `client`: overview, compliance, one ticket's clocks.
//! - `alerts`: the alert list and lifecycle (ack, resolve).
//! - `ack_link`: `/ack/{token}`, the signed link in a notification that acknowledges its alerts.
//! - `silences`: maintenance windows that hold notifications back.
//! - `notifications`: the notification outbox: failed notifications, sending one again.
//! - `ingest`: HTTP ingest onto JetStream.
//! - `partners`: exchange partners: breakers, outboxes (retrying parked records) and
//!   reconciliation reports with their downloads (ops and service tokens).
//! - `ws`: the WebSocket upgrade.
//! - `openapi`: the generated document.
//! - `dashboard`: the live dashboard page and its assets.

mod ack_link;
mod alerts;
mod auth;
mod client;
mod dashboard;
mod ingest;
mod notifications;
mod openapi;
mod params;
mod partners;
mod silences;
pub mod views;
mod ws;

use std::sync::Arc;

use axum::routing::{delete, get, post};
use axum::Router;
use vigil_actors::supervisor::TenantPool;

use crate::auth::Verifier;
use crate::http::{ApiError, RateLimits};
use crate::hub::Hub;
use crate::notify::ack_link::LinkSigner;
use crate::outlet::AlertOutlet;
use crate::store::{Store, StoreError};

pub use openapi::openapi_json;

/// What the API handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// Verifies tokens.
    pub verifier: Arc<Verifier>,
    /// Per-IP and per-tenant limits.
    pub limits: Arc<RateLimits>,
    /// Alerts and their lifecycle.
    pub store: Store,
    /// Live reads of tenant engines (`None` when the engine runs on the event clock).
    pub engine: Option<Arc<TenantPool>>,
    /// Live updates.
    pub hub: Hub,
    /// Where API-made alert changes go.
    pub outlet: AlertOutlet,
    /// JetStream, for HTTP ingest.
    pub js: async_nats::jetstream::Context,
    /// Checks ack links (`None` when notifications are off: `/ack/…` answers 404).
    pub links: Option<Arc<LinkSigner>>,
    /// Exchange partners (empty when none is configured).
    pub partners: Vec<Arc<crate::partner::link::PartnerLink>>,
}

/// Every API route, the dashboard and `/ws`; merge with the operational routes and finish.
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/client/dashboard/overview", get(client::overview))
        .route("/api/v1/client/sla/compliance", get(client::compliance))
        .route(
            "/api/v1/client/tickets/{ticket_id}/sla",
            get(client::ticket_sla),
        )
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{alert_id}/ack", post(alerts::ack))
        .route("/api/v1/alerts/{alert_id}/resolve", post(alerts::resolve))
        .route("/api/v1/ingest/events", post(ingest::events))
        .route(
            "/api/v1/silences",
            get(silences::list).post(silences::create),
        )
        .route("/api/v1/silences/{silence_id}", delete(silences::expire))
        .route("/api/v1/notifications", get(notifications::list))
        .route(
            "/api/v1/notifications/{notification_id}/retry",
            post(notifications::retry),
        )
        .route("/ack/{token}", get(ack_link::open))
        .route("/api/v1/partners", get(partners::overview::list))
        .route(
            "/api/v1/partners/{partner_id}/outbox",
            get(partners::outbox::list),
        )
        .route(
            "/api/v1/partners/{partner_id}/outbox/retry",
            post(partners::outbox::retry_parked),
        )
        .route(
            "/api/v1/partners/{partner_id}/outbox/{record_id}/retry",
            post(partners::outbox::retry),
        )
        .route(
            "/api/v1/partners/{partner_id}/reconciliations",
            get(partners::reports::runs),
        )
        .route(
            "/api/v1/partners/{partner_id}/reconciliations/{run_id}",
            get(partners::reports::report),
        )
        .route(
            "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.json",
            get(partners::reports::report_json),
        )
        .route(
            "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.csv",
            get(partners::reports::report_csv),
        )
        .route("/ws", get(ws::upgrade))
        .merge(dashboard::routes())
        .with_state(state)
}

/// 50001 for a store that does not answer.
fn store_error(e: StoreError) -> ApiError {
    ApiError::store_unavailable(format!("the store is unavailable: {e}; retry shortly"))
}
