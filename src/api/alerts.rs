//! Alerts: the list, and the lifecycle a person drives (acknowledge, resolve), recorded with
//! who and when, pushed to live dashboards and published on `vigil.alerts.<tenant>`.

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use vigil_engine::AlertState;

use super::listing::{tenant_list, TenantListRefusals, TENANT_FILTER_DOC};
use super::params::Params;
use super::store_error;
use super::ApiState;
use crate::auth::Caller;
use crate::http::{ApiError, Envelope};
use crate::store::{StoredAlert, Transition};
use crate::views::AlertView;

/// `GET /api/v1/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertList {
    /// Newest `fired_at` first.
    pub alerts: Vec<AlertView>,
}

/// Most alerts one list holds.
pub const MAX_LISTED_ALERTS: u32 = 1000;

/// `state` of the alert list: any state when absent.
fn alert_state(asked: Option<&str>) -> Result<Option<AlertState>, ApiError> {
    asked
        .map(|s| {
            AlertState::parse(s).ok_or_else(|| {
                ApiError::invalid_field(
                    "state",
                    "expected firing, acknowledged, resolved or retracted",
                )
            })
        })
        .transpose()
}

/// Alerts of the caller's tenant (ops: of `tenant_id`, or of all), optionally in one state.
///
/// Roles: `client_admin`, `client_manager`, `client_user` (their own tenant), `ops` (any); not `service`.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    params(
        ("state" = Option<String>, Query, description = "firing, acknowledged, resolved or retracted"),
        ("limit" = Option<u32>, Query, description = "1 to 1000 (default 100)"),
        ("tenant_id" = Option<u64>, Query, description = TENANT_FILTER_DOC),
    ),
    responses(
        (status = 200, description = "envelope with `data`: AlertList", body = AlertList),
        (status = 403, description = "40003 another tenant"),
        TenantListRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> Result<Envelope<AlertList>, ApiError> {
    caller.require(caller.claims.role.can_read(), "read alerts")?;
    let asked = tenant_list(&caller, &params, alert_state, MAX_LISTED_ALERTS)?;
    let rows = state
        .store
        .alerts()
        .list(asked.tenant, asked.state, asked.limit)
        .await
        .map_err(store_error)?;
    Ok(Envelope::ok(AlertList {
        alerts: rows.iter().map(AlertView::from).collect(),
    }))
}

/// Acknowledges a firing alert. Idempotent: acknowledging it again answers the alert as it is.
///
/// Roles: `client_admin`, `client_manager` (their own tenant's alerts), `ops` (any); not `client_user` or `service`.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{alert_id}/ack",
    params(("alert_id" = String, Path, description = "the alert")),
    responses(
        (status = 200, description = "envelope with `data`: the alert, acknowledged", body = AlertView),
        (status = 400, description = "40001 the alert is resolved or retracted"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant, or a read-only role"),
        (status = 404, description = "41001 no such alert"),
    ),
    security(("bearer" = []))
)]
pub async fn ack(
    State(state): State<ApiState>,
    caller: Caller,
    Path(alert_id): Path<String>,
) -> Result<Envelope<AlertView>, ApiError> {
    caller.require(caller.claims.role.can_manage_alerts(), "acknowledge alerts")?;
    owned_alert(&state, &caller, &alert_id).await?;
    let outcome = acknowledge(&state, &alert_id, &caller.claims.sub, "api").await?;
    answer(outcome, &alert_id, AlertState::Acknowledged)
}

/// Acknowledges a firing alert on behalf of `by`, recording who and when; a change is pushed
/// to live dashboards and published. The one way alerts are acknowledged (also by ack links).
pub(super) async fn acknowledge(
    state: &ApiState,
    alert_id: &str,
    by: &str,
    via: &'static str,
) -> Result<Transition, ApiError> {
    let outcome = state
        .store
        .alerts()
        .acknowledge(alert_id, by)
        .await
        .map_err(store_error)?;
    if let Transition::Changed(_) = &outcome {
        crate::telemetry::metrics::alert_acks(via).increment(1);
    }
    Ok(passed_on(state, outcome).await)
}

/// Resolves a firing or acknowledged alert by hand. Idempotent.
///
/// Roles: `client_admin`, `client_manager` (their own tenant's alerts), `ops` (any); not `client_user` or `service`.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{alert_id}/resolve",
    params(("alert_id" = String, Path, description = "the alert")),
    responses(
        (status = 200, description = "envelope with `data`: the alert, resolved", body = AlertView),
        (status = 400, description = "40001 the alert was retracted"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant, or a read-only role"),
        (status = 404, description = "41001 no such alert"),
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    State(state): State<ApiState>,
    caller: Caller,
    Path(alert_id): Path<String>,
) -> Result<Envelope<AlertView>, ApiError> {
    caller.require(caller.claims.role.can_manage_alerts(), "resolve alerts")?;
    owned_alert(&state, &caller, &alert_id).await?;
    let outcome = state
        .store
        .alerts()
        .resolve(&alert_id, &caller.claims.sub)
        .await
        .map_err(store_error)?;
    answer(
        passed_on(&state, outcome).await,
        &alert_id,
        AlertState::Resolved,
    )
}

/// Hands a change made through the API to the fan-out (live, then published).
async fn passed_on(state: &ApiState, outcome: Transition) -> Transition {
    if let Transition::Changed(alert) = &outcome {
        state.fanout.api_change(alert).await;
    }
    outcome
}

/// The alert, if it exists (41001) and the caller may see it (40003).
async fn owned_alert(
    state: &ApiState,
    caller: &Caller,
    alert_id: &str,
) -> Result<StoredAlert, ApiError> {
    let alert = state
        .store
        .alerts()
        .get(alert_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("no alert {alert_id}")))?;
    caller.check_tenant(alert.record.tenant_id)?;
    Ok(alert)
}

fn answer(
    outcome: Transition,
    alert_id: &str,
    to: AlertState,
) -> Result<Envelope<AlertView>, ApiError> {
    match outcome {
        Transition::Changed(alert) => Ok(Envelope::new(
            200,
            format!("alert {}", to.as_str()),
            AlertView::from(&alert),
        )),
        Transition::Unchanged(alert) if alert.record.state == to => Ok(Envelope::new(
            200,
            format!("alert already {}", to.as_str()),
            AlertView::from(&alert),
        )),
        Transition::Unchanged(alert) => Err(ApiError::invalid_field(
            "state",
            format!(
                "alert {alert_id} is {}; it can no longer be {}",
                alert.record.state.as_str(),
                to.as_str()
            ),
        )),
        Transition::Unknown => Err(ApiError::not_found(format!("no alert {alert_id}"))),
    }
}
