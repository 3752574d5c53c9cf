//! Reconciliation reports of exchange partners. Partner sync and the nightly reconciliation
//! are not part of this build yet, so every partner is unknown here.

use axum::extract::{Path, State};

use super::params::Params;
use super::ApiState;
use crate::auth::Caller;
use crate::http::ApiError;

/// The reconciliation reports of a partner on a date.
#[utoipa::path(
    get,
    path = "/api/v1/partners/{partner_id}/reconciliations",
    params(
        ("partner_id" = String, Path, description = "the partner"),
        ("date" = Option<String>, Query, description = "YYYY-MM-DD"),
    ),
    responses(
        (status = 401, description = "40004 no valid token"),
        (status = 404, description = "41001 partner exchange is not enabled: no partner is configured"),
    ),
    security(("bearer" = []))
)]
pub async fn reconciliations(
    State(_state): State<ApiState>,
    caller: Caller,
    Path(partner_id): Path<String>,
    params: Params,
) -> Result<(), ApiError> {
    caller.require(caller.claims.role.can_read(), "read reconciliation reports")?;
    params.only(&["date", "tenant_id"])?;
    Err(ApiError::not_found(format!(
        "no partner {partner_id}: partner exchange and nightly reconciliation are not enabled \
         in this version, so there are no reports"
    )))
}
