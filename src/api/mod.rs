//! The REST API and the `/ws` endpoint of DESIGN.md §5, behind authentication, tenant
//! isolation and rate limits. Every answer is in the platform envelope; the OpenAPI document
//! at `/api/v1/openapi.json` is generated from the handlers. Every route is declared once, in
//! [`ROUTES`], from which the router is built.
//!
//! Roles (DESIGN.md §5): client roles read their own tenant (`client_user`) and manage its
//! alerts, silences and notifications (`client_admin`, `client_manager`); `ops` does all of
//! that for every tenant and alone administers exchange partners; `service` only ingests events
//! of its own tenant and reads nothing.
//!
//! # Layout
//! - The JSON shapes it shares with the WebSocket hub live below both, in [`crate::views`].
//! - `auth`: the authenticated-caller extractor (token, role, rate limits).
//! - `params`: query parameters, each bad one answered 40001 naming the field.
//! - `listing`: what the lists share: whose rows a caller may list, and the refusals their
//!   OpenAPI annotations document alike.
//! - `tenant_data`: a tenant's dashboard data: overview, compliance report, one ticket's SLA
//!   clocks (`/api/v1/client/…`).
//! - `alerts`: the alert list and lifecycle (ack, resolve).
//! - `ack`: the `/ack/{token}` handlers for the signed link in a notification (the token is
//!   [`crate::notify::ack_token`]): `GET` shows what it acknowledges, `POST` acknowledges;
//!   `ack_page` renders its pages; `ack_outcome` is what a link did or would do.
//! - `silences`: maintenance windows that hold notifications back.
//! - `notifications`: the notification outbox: failed notifications, sending one again.
//! - `ingest`: HTTP ingest onto JetStream.
//! - `partners`: exchange partners: breakers, outboxes (retrying parked records) and
//!   reconciliation reports with their downloads (`ops` tokens only).
//! - `system_config`: the configuration center's runtime layer: keys, versions with
//!   `If-Match`, batches, history, diff, rollback, export and import; `feature_flags`: the
//!   flags among those keys; `gray_release`: their rollouts, step by step; `audit`: every
//!   configuration change.
//! - `reports`: SLA reports as asynchronous jobs (generate, progress, download), and
//!   what-if.
//! - `ws`: the WebSocket upgrade.
//! - `openapi`: the generated document.
//! - `dashboard`: the live dashboard page and its assets.

mod ack;
mod ack_outcome;
mod ack_page;
mod alerts;
mod audit;
mod auth;
mod dashboard;
mod feature_flags;
mod gray_release;
mod ingest;
mod listing;
mod notifications;
mod openapi;
mod params;
mod partners;
mod reports;
mod silences;
mod system_config;
mod tenant_data;
mod ws;

use std::sync::Arc;

use crate::tenant_reads::{ReadError, TenantReads};
use axum::Router;

use crate::alert_fanout::AlertFanout;
use crate::auth::Verifier;
use crate::http::{ApiError, RateLimits};
use crate::hub::Hub;
use crate::notify::ack_token::LinkSigner;
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
    /// Live reads of tenant engines, wherever their partition is owned.
    pub reads: TenantReads,
    /// Live updates.
    pub hub: Hub,
    /// Where API-made alert changes go (hub, JetStream).
    pub fanout: AlertFanout,
    /// JetStream, for HTTP ingest.
    pub js: async_nats::jetstream::Context,
    /// Checks ack links (`None` when notifications are off: `/ack/…` answers 404).
    pub links: Option<Arc<LinkSigner>>,
    /// Exchange partners (empty when none is configured).
    pub partners: Vec<Arc<crate::partner::link::PartnerLink>>,
    /// The configuration center: the runtime layer, its versions and audit.
    pub config_center: crate::runtime_config::ConfigCenter,
    /// SLA reports: tenants' settings and the job queue.
    pub reports: crate::report::Reports,
}

/// Declares every route of the API once: [`ROUTES`] (what tests and reviews walk) and the
/// router built from exactly that list, so a route cannot be served without being listed.
macro_rules! api_routes {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// Every `(method, path)` the API serves (besides the dashboard's files, see
        /// [`served_routes`]), in axum's path syntax. The router is built from this list.
        pub const ROUTES: &[(&str, &str)] = &[ $( (stringify!($method), $path) ),* ];

        fn api_router() -> Router<ApiState> {
            Router::new() $( .route($path, axum::routing::$method($handler)) )*
        }
    };
}

// Who may call each route is stated in its handler's doc comment and OpenAPI description.
api_routes! {
    get "/api/v1/openapi.json" => openapi::document,
    get "/api/v1/client/dashboard/overview" => tenant_data::overview,
    get "/api/v1/client/sla/compliance" => tenant_data::compliance,
    get "/api/v1/client/tickets/{ticket_id}/sla" => tenant_data::ticket_sla,
    post "/api/v1/client/reports/generate" => reports::generate,
    get "/api/v1/client/reports/progress/{task_id}" => reports::progress,
    get "/api/v1/client/reports/download/{file}" => reports::download,
    post "/api/v1/client/reports/what-if" => reports::what_if,
    get "/api/v1/alerts" => alerts::list,
    post "/api/v1/alerts/{alert_id}/ack" => alerts::ack,
    post "/api/v1/alerts/{alert_id}/resolve" => alerts::resolve,
    post "/api/v1/ingest/events" => ingest::events,
    get "/api/v1/silences" => silences::list,
    post "/api/v1/silences" => silences::create,
    delete "/api/v1/silences/{silence_id}" => silences::expire,
    get "/api/v1/notifications" => notifications::list,
    post "/api/v1/notifications/{notification_id}/retry" => notifications::retry,
    get "/ack/{token}" => ack::open,
    post "/ack/{token}" => ack::acknowledge,
    get "/api/v1/partners" => partners::overview::list,
    get "/api/v1/partners/{partner_id}/outbox" => partners::outbox::list,
    post "/api/v1/partners/{partner_id}/outbox/retry" => partners::outbox::retry_parked,
    post "/api/v1/partners/{partner_id}/outbox/{record_id}/retry" => partners::outbox::retry,
    get "/api/v1/partners/{partner_id}/reconciliations" => partners::reports::runs,
    get "/api/v1/partners/{partner_id}/reconciliations/{run_id}" => partners::reports::report,
    get "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.json" => partners::reports::report_json,
    get "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.csv" => partners::reports::report_csv,
    get "/api/v1/system-config" => system_config::list,
    post "/api/v1/system-config/batch" => system_config::batch,
    get "/api/v1/system-config/export" => system_config::export,
    post "/api/v1/system-config/import" => system_config::import,
    get "/api/v1/system-config/{key}" => system_config::get,
    put "/api/v1/system-config/{key}" => system_config::put,
    delete "/api/v1/system-config/{key}" => system_config::delete,
    get "/api/v1/system-config/{key}/history" => system_config::history,
    get "/api/v1/system-config/{key}/diff" => system_config::diff,
    post "/api/v1/system-config/{key}/rollback" => system_config::rollback,
    get "/api/v1/feature-flags" => feature_flags::list,
    put "/api/v1/feature-flags/{name}" => feature_flags::put,
    get "/api/v1/gray-release" => gray_release::list,
    put "/api/v1/gray-release/{name}" => gray_release::advance,
    get "/api/v1/audit" => audit::list,
    get "/ws" => ws::upgrade,
}

/// Every `(method, path)` [`routes`] serves: [`ROUTES`] and the dashboard's files (`get`).
/// The operational routes (`/metrics`, `/healthz`, `/readyz`) are added by the HTTP layer.
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    ROUTES
        .iter()
        .copied()
        .chain(dashboard::paths().map(|p| ("get", p)))
        .collect()
}

/// Every API route, the dashboard and `/ws`; merge with the operational routes and finish.
pub fn routes(state: ApiState) -> Router {
    api_router().merge(dashboard::routes()).with_state(state)
}

/// 503 for a tenant whose partition's owner does not answer (a failover is under way).
fn read_error(e: ReadError) -> ApiError {
    ApiError::new(crate::http::envelope::NOT_READY, e.to_string())
}

/// 50001 for a store that does not answer.
fn store_error(e: StoreError) -> ApiError {
    ApiError::store_unavailable(format!("the store is unavailable: {e}; retry shortly"))
}
