//! `GET /api/v1/partners`: every configured partner at a glance.

use axum::extract::State;
use futures::future::try_join_all;
use serde::Serialize;
use utoipa::ToSchema;

use super::require_partner_role;
use super::views::PartnerView;
use crate::api::listing::PartnerRefusals;
use crate::api::{store_error, ApiState};
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::http::{ApiError, Envelope};
use crate::store::StoreError;

/// `GET /api/v1/partners`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PartnerList {
    /// In configuration order (empty when no partner is configured).
    pub partners: Vec<PartnerView>,
}

/// Every configured partner: its configuration (no credentials), circuit breaker, outbox
/// counts and newest reconciliation run.
///
/// Roles: `ops` only (partner data spans tenants).
#[utoipa::path(
    get,
    path = "/api/v1/partners",
    responses(
        (status = 200, description = "envelope with `data`: PartnerList", body = PartnerList),
        PartnerRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Envelope<PartnerList>, ApiError> {
    require_partner_role(&caller, "read exchange partners")?;
    let now = now_ms();
    let partners = try_join_all(state.partners.iter().map(|link| {
        let store = state.store.clone();
        async move {
            let stats = store.partner_outbox().stats(link.id()).await?;
            let last = store.reconciliations().runs(link.id(), None, 1).await?;
            Ok::<_, StoreError>(PartnerView::of(link, &stats, last.first(), now))
        }
    }))
    .await
    .map_err(store_error)?;
    Ok(Envelope::ok(PartnerList { partners }))
}
