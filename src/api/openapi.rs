//! The OpenAPI 3 document of the REST API, generated from the handlers' annotations so it
//! cannot drift from them. Served without authentication at `/api/v1/openapi.json`.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    ack, ack_outcome, alerts, audit, feature_flags, gray_release, ingest, notifications, partners,
    reports, silences, system_config, tenant_data,
};
use crate::views;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil API",
        description = "Live SLA figures, ticket clocks, alerts, ingest and exchange partners. Every \
JSON answer is the platform envelope {code, message, data, timestamp, request_id}; the schemas \
below are of `data` (the reconciliation report downloads are plain files). \
Errors: 40001 invalid parameter (400), 40003 forbidden (403), 40004 unauthenticated (401), \
40005 rate limited (429, Retry-After), 41001 not found (404), 50001 store unavailable (503). \
Live updates: GET /ws (see the README). \
Roles: client_user reads its own tenant; client_admin and client_manager also manage its \
alerts, silences and notifications; ops does all of that for every tenant and alone administers \
exchange partners; service only ingests events of its own tenant and reads nothing. Each \
endpoint states its roles."
    ),
    paths(
        tenant_data::overview,
        tenant_data::compliance,
        tenant_data::ticket_sla,
        reports::generate,
        reports::progress,
        reports::download,
        reports::what_if,
        alerts::list,
        alerts::ack,
        alerts::resolve,
        ingest::events,
        partners::overview::list,
        partners::outbox::list,
        partners::outbox::retry,
        partners::outbox::retry_parked,
        partners::reports::runs,
        partners::reports::report,
        partners::reports::report_json,
        partners::reports::report_csv,
        silences::create,
        silences::list,
        silences::expire,
        notifications::list,
        notifications::retry,
        ack::open,
        ack::acknowledge,
        system_config::list,
        system_config::get,
        system_config::put,
        system_config::delete,
        system_config::batch,
        system_config::history,
        system_config::diff,
        system_config::rollback,
        system_config::export,
        system_config::import,
        feature_flags::list,
        feature_flags::put,
        gray_release::list,
        gray_release::advance,
        audit::list,
    ),
    components(schemas(
        reports::GenerateRequest,
        reports::JobView,
        reports::WhatIfRequest,
        tenant_data::Overview,
        tenant_data::Summary,
        tenant_data::TrendPoint,
        tenant_data::ComplianceReport,
        tenant_data::TicketSla,
        alerts::AlertList,
        ingest::IngestReport,
        ingest::EventResult,
        views::AlertView,
        views::TicketClocks,
        views::GoalClock,
        views::LiveMetrics,
        views::ComplianceRow,
        views::GoalCompliance,
        silences::NewSilence,
        silences::SilenceView,
        silences::SilenceList,
        notifications::NotificationView,
        notifications::NotificationList,
        ack_outcome::AckLinkResult,
        ack_outcome::AckedAlert,
        partners::overview::PartnerList,
        partners::views::PartnerView,
        partners::views::RateLimitView,
        partners::views::OutboxStatsView,
        crate::store::PartnerOutboxEntry,
        partners::views::OutboxPage,
        partners::views::RetriedRecords,
        partners::views::RunView,
        partners::views::RunList,
        partners::views::ReconciliationReport,
        crate::store::ReconciliationDiff,
        crate::store::DiffKind,
        system_config::ConfigEntry,
        system_config::ConfigList,
        system_config::ConfigVersion,
        system_config::ConfigHistory,
        system_config::ConfigDiff,
        system_config::FieldChange,
        system_config::PutBody,
        system_config::RollbackBody,
        system_config::BatchItem,
        system_config::BatchBody,
        system_config::ChangeResult,
        crate::runtime_config::ValueProblem,
        feature_flags::FlagView,
        feature_flags::FlagList,
        feature_flags::FlagBody,
        gray_release::RolloutStep,
        gray_release::Rollout,
        gray_release::RolloutList,
        gray_release::RolloutBody,
        audit::AuditPage,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as JSON text.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// `GET /api/v1/openapi.json`. Roles: none (public).
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}
