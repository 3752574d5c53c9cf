//! A tenant's dashboard data: the overview, the compliance report, and one ticket's live SLA
//! clocks. All read the tenant's actor; a tenant without events yet has zero figures.

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use vigil_engine::metrics::{GroupBy, WindowStats};
use vigil_schema::{format_instant, Millis};

use super::params::Params;
use super::{read_error, store_error, ApiState};
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::http::{ApiError, Envelope};
use crate::tenant_reads::{Answer, Read};
use crate::views::{
    open_alerts, overall_compliance, AlertView, ComplianceRow, LiveMetrics, TicketClocks,
};

/// Open alerts in the overview, at most.
const OVERVIEW_ALERTS: u32 = 50;

/// The overview's headline figures over the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    /// Tickets created in the period.
    pub total: u64,
    /// Open (not final) tickets now.
    pub open: u64,
    /// Open tickets in status PENDING now.
    pub pending: u64,
    /// Resolution goals stopped in the period.
    pub resolved: u64,
    /// Resolution goals stopped since local midnight.
    pub resolved_today: u64,
    /// Met over all stopped goals (both kinds) in the period; null when none stopped.
    pub sla_compliance: Option<f64>,
    /// Response goals met over stopped.
    pub response_compliance: Option<f64>,
    /// Resolution goals met over stopped.
    pub resolution_compliance: Option<f64>,
    /// Mean SLA time to first response.
    pub avg_response_ms: Option<f64>,
    /// Mean SLA time to resolution.
    pub avg_resolution_ms: Option<f64>,
    /// Warnings fired in the period.
    pub warnings: u64,
    /// Breaches fired in the period.
    pub breaches: u64,
}

/// One point of the trend: a bucket of the period (5 minutes for 1h, hours for 24h, days
/// for 7d and 30d).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrendPoint {
    /// Start of the bucket.
    pub at: String,
    /// Tickets created.
    pub created: u64,
    /// Resolution goals stopped.
    pub resolved: u64,
    /// Breaches fired.
    pub breaches: u64,
    /// Response compliance of goals stopped in the bucket.
    pub response_compliance: Option<f64>,
    /// Resolution compliance of goals stopped in the bucket.
    pub resolution_compliance: Option<f64>,
}

/// `GET /api/v1/client/dashboard/overview`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Overview {
    /// The tenant.
    pub tenant_id: u64,
    /// `1h`, `24h`, `7d` or `30d`.
    pub period: String,
    /// Headline figures.
    pub summary: Summary,
    /// Oldest first.
    pub trends: Vec<TrendPoint>,
    /// Firing and acknowledged alerts, newest first (at most 50).
    pub open_alerts: Vec<AlertView>,
    /// When the figures were taken.
    pub last_updated: String,
}

/// `GET /api/v1/client/sla/compliance`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComplianceReport {
    /// The tenant.
    pub tenant_id: u64,
    /// The named period, when one was used.
    pub period: Option<String>,
    /// Start of the range.
    pub from: String,
    /// End of the range.
    pub to: String,
    /// `priority` or `service_type`, when grouped.
    pub group_by: Option<String>,
    /// All tickets.
    pub total: ComplianceRow,
    /// Per group, sorted by key (empty when not grouped).
    pub groups: Vec<ComplianceRow>,
}

/// The live SLA clocks of one ticket (`GET /api/v1/client/tickets/{ticket_id}/sla`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketSla {
    /// The tenant.
    pub tenant_id: u64,
    /// When the clocks were read.
    pub at: String,
    /// The clocks.
    #[serde(flatten)]
    pub ticket: TicketClocks,
}

fn trend(at: Millis, w: &WindowStats) -> TrendPoint {
    TrendPoint {
        at: format_instant(at),
        created: w.created,
        resolved: w.resolved,
        breaches: w.breaches,
        response_compliance: w.response.compliance,
        resolution_compliance: w.resolution.compliance,
    }
}

/// The tenant's overview: figures over the period, the trend, open alerts.
///
/// Roles: `client_admin`, `client_manager`, `client_user` (their own tenant), `ops` (any tenant, named by `tenant_id`); not `service`.
#[utoipa::path(
    get,
    path = "/api/v1/client/dashboard/overview",
    tag = "client",
    params(
        ("period" = Option<String>, Query, description = "1h, 24h, 7d or 30d (default 30d)"),
        ("tenant_id" = Option<u64>, Query, description = "required for ops tokens; others may name only their own"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: Overview", body = Overview),
        (status = 400, description = "40001 bad parameter"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant"),
        (status = 429, description = "40005 rate limited"),
    ),
    security(("bearer" = []))
)]
pub async fn overview(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> Result<Envelope<Overview>, ApiError> {
    caller.require(caller.claims.role.can_read(), "read dashboards")?;
    params.only(&["period", "tenant_id"])?;
    let tenant = caller.tenant_scope(params.tenant_id()?)?;
    let (period, len) = params.period()?;
    let read = match state
        .reads
        .read(tenant, Read::Overview { len_ms: len })
        .await
        .map_err(read_error)?
    {
        Some(Answer::Overview(live, window, series)) => Some((live, window, series)),
        _ => None,
    };
    let (live, window, series) = read.unwrap_or_else(|| {
        let now = now_ms();
        let empty = vigil_engine::metrics::RollingMetrics::default();
        (
            LiveMetrics::empty(now),
            WindowStats::default(),
            empty.series(now, len),
        )
    });
    let open_alerts = open_alerts(&state.store, Some(tenant), OVERVIEW_ALERTS)
        .await
        .map_err(store_error)?;
    Ok(Envelope::ok(Overview {
        tenant_id: tenant,
        period: period.into(),
        summary: Summary {
            total: window.created,
            open: live.open,
            pending: live.pending,
            resolved: window.resolved,
            resolved_today: live.resolved_today,
            sla_compliance: overall_compliance(&window),
            response_compliance: window.response.compliance,
            resolution_compliance: window.resolution.compliance,
            avg_response_ms: window.response.mean_ms,
            avg_resolution_ms: window.resolution.mean_ms,
            warnings: window.warnings,
            breaches: window.breaches,
        },
        trends: series.iter().map(|(at, w)| trend(*at, w)).collect(),
        open_alerts,
        last_updated: live.at,
    }))
}

/// Compliance and violations over a period or range, optionally grouped.
///
/// Roles: `client_admin`, `client_manager`, `client_user` (their own tenant), `ops` (any tenant, named by `tenant_id`); not `service`.
#[utoipa::path(
    get,
    path = "/api/v1/client/sla/compliance",
    tag = "client",
    params(
        ("period" = Option<String>, Query, description = "1h, 24h, 7d or 30d (default 30d); or give from and to"),
        ("from" = Option<String>, Query, description = "RFC 3339 start, within the last 30 days"),
        ("to" = Option<String>, Query, description = "RFC 3339 end"),
        ("group_by" = Option<String>, Query, description = "service_type or priority"),
        ("tenant_id" = Option<u64>, Query, description = "required for ops tokens"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: ComplianceReport", body = ComplianceReport),
        (status = 400, description = "40001 bad parameter"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant"),
    ),
    security(("bearer" = []))
)]
pub async fn compliance(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> Result<Envelope<ComplianceReport>, ApiError> {
    caller.require(caller.claims.role.can_read(), "read compliance")?;
    params.only(&["period", "from", "to", "group_by", "tenant_id"])?;
    let tenant = caller.tenant_scope(params.tenant_id()?)?;
    let group_by = params
        .get("group_by")
        .map(|g| {
            GroupBy::parse(g).ok_or_else(|| {
                ApiError::invalid_field("group_by", "expected service_type or priority")
            })
        })
        .transpose()?;
    let range = params.range(now_ms())?;
    // Ranges are inclusive of `from`; the metrics sum `(from, to]`.
    let (from, to) = (range.from - 1, range.to);
    let read = match state
        .reads
        .read(tenant, Read::Compliance { from, to, group_by })
        .await
        .map_err(read_error)?
    {
        Some(Answer::Compliance(total, groups)) => Some((total, groups)),
        _ => None,
    };
    let (total, groups) = read.unwrap_or_default();
    Ok(Envelope::ok(ComplianceReport {
        tenant_id: tenant,
        period: range.period.map(String::from),
        from: format_instant(range.from),
        to: format_instant(range.to),
        group_by: group_by.map(|g| g.as_str().to_string()),
        total: ComplianceRow::total(&total),
        groups: groups
            .iter()
            .map(|(key, c)| ComplianceRow::of(Some(key.clone()), c))
            .collect(),
    }))
}

/// The live SLA clocks of one open ticket.
///
/// Roles: `client_admin`, `client_manager`, `client_user` (their own tenant), `ops` (any tenant, named by `tenant_id`); not `service`.
#[utoipa::path(
    get,
    path = "/api/v1/client/tickets/{ticket_id}/sla",
    tag = "client",
    params(
        ("ticket_id" = String, Path, description = "the ticket"),
        ("tenant_id" = Option<u64>, Query, description = "required for ops tokens"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: TicketSla", body = TicketSla),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant"),
        (status = 404, description = "41001 the ticket is not open"),
    ),
    security(("bearer" = []))
)]
pub async fn ticket_sla(
    State(state): State<ApiState>,
    caller: Caller,
    Path(ticket_id): Path<String>,
    params: Params,
) -> Result<Envelope<TicketSla>, ApiError> {
    caller.require(caller.claims.role.can_read(), "read tickets")?;
    params.only(&["tenant_id"])?;
    let tenant = caller.tenant_scope(params.tenant_id()?)?;
    let read = match state
        .reads
        .read(
            tenant,
            Read::Ticket {
                ticket_id: ticket_id.clone(),
            },
        )
        .await
        .map_err(read_error)?
    {
        Some(Answer::Ticket(read)) => read,
        _ => None,
    };
    let (at, ticket) = read.ok_or_else(|| {
        ApiError::not_found(format!(
            "ticket {ticket_id} is not open in tenant {tenant} (unknown, or already final)"
        ))
    })?;
    Ok(Envelope::ok(TicketSla {
        tenant_id: tenant,
        at: format_instant(at),
        ticket,
    }))
}
