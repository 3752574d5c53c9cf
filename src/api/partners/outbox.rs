//! A partner's outbox: its records by state, page by page, and sending parked records again
//! once the cause of their refusal is fixed.

use axum::extract::{Path, State};

use super::views::{OutboxPage, RetriedRecords};
use super::{partner, require_partner_role};
use crate::api::listing::PartnerRefusals;
use crate::api::params::Params;
use crate::api::{store_error, ApiState};
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::http::{ApiError, Envelope};
use crate::store::PartnerOutboxEntry;

/// Most records one page lists.
pub const MAX_PAGE: u32 = 500;
/// Records listed when `limit` is not given.
pub const DEFAULT_PAGE: u32 = 100;
/// Longest `after` cursor, in bytes (record ids are `<tenant>:<ticket>:<goal>`).
pub const MAX_CURSOR_BYTES: usize = 512;
/// The states `state` may name.
const STATES: [&str; 4] = ["parked", "pending", "delivered", "all"];

/// A partner's outbox records in one state (default `parked`), by record id, after the cursor
/// `after`.
///
/// Roles: `ops` only (partner data spans tenants).
#[utoipa::path(
    get,
    path = "/api/v1/partners/{partner_id}/outbox",
    params(
        ("partner_id" = String, Path, description = "the partner"),
        ("state" = Option<String>, Query, description = "parked (the default), pending, delivered or all"),
        ("after" = Option<String>, Query, description = "the cursor: `next` of the previous page (a record id)"),
        ("limit" = Option<u32>, Query, description = "1 to 500 (default 100)"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: OutboxPage", body = OutboxPage),
        (status = 400, description = "40001 bad parameter (`data.field`)"),
        (status = 404, description = "41001 no such partner (`data.partners`: the configured ones)"),
        PartnerRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(partner_id): Path<String>,
    params: Params,
) -> Result<Envelope<OutboxPage>, ApiError> {
    require_partner_role(&caller, "read partner outboxes")?;
    params.only(&["state", "after", "limit"])?;
    let link = partner(&state, &partner_id)?;
    let wanted = params.get("state").unwrap_or("parked");
    if !STATES.contains(&wanted) {
        return Err(ApiError::invalid_field(
            "state",
            "expected parked, pending, delivered or all",
        ));
    }
    let after = params.get("after");
    if after.is_some_and(|a| a.is_empty() || a.len() > MAX_CURSOR_BYTES) {
        return Err(ApiError::invalid_field(
            "after",
            format!("expected a record id of 1 to {MAX_CURSOR_BYTES} bytes"),
        ));
    }
    let limit = params.integer("limit", 1..=MAX_PAGE, DEFAULT_PAGE)?;
    // One more than asked says whether another page follows.
    let mut rows = state
        .store
        .partner_outbox()
        .list(
            link.id(),
            (wanted != "all").then_some(wanted),
            limit + 1,
            after,
        )
        .await
        .map_err(store_error)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().map(|r| r.record_id.clone()))
        .flatten();
    Ok(Envelope::ok(OutboxPage {
        partner_id: link.id().to_string(),
        state: wanted.to_string(),
        records: rows,
        next,
    }))
}

/// Sends one record to the partner again: a parked record re-enters the queue at its end, a
/// pending one is due at once; attempts start over. Its last error stays until the next
/// attempt.
///
/// Roles: `ops` only (partner data spans tenants).
#[utoipa::path(
    post,
    path = "/api/v1/partners/{partner_id}/outbox/{record_id}/retry",
    params(
        ("partner_id" = String, Path, description = "the partner"),
        ("record_id" = String, Path, description = "the record (`<tenant_id>:<ticket_id>:<goal>`)"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: the record, pending (or already delivered by the time it is read)", body = PartnerOutboxEntry),
        (status = 400, description = "40001 the record was delivered already (`data.field` = state)"),
        (status = 404, description = "41001 no such partner, or no such record in its outbox"),
        PartnerRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<ApiState>,
    caller: Caller,
    Path((partner_id, record_id)): Path<(String, String)>,
) -> Result<Envelope<PartnerOutboxEntry>, ApiError> {
    require_partner_role(&caller, "retry partner deliveries")?;
    let link = partner(&state, &partner_id)?;
    let found = entry(&state, link.id(), &record_id).await?;
    if found.state == "delivered" {
        return Err(delivered(&found, link.id()));
    }
    let changed = state
        .store
        .partner_outbox()
        .retry(link.id(), &record_id, now_ms())
        .await
        .map_err(store_error)?;
    // Read back either way: the worker may have moved the row on meanwhile.
    let now = entry(&state, link.id(), &record_id).await?;
    if !changed {
        return Err(delivered(&now, link.id()));
    }
    Ok(Envelope::new(200, "record queued to be sent again", now))
}

/// Sends every parked record of a partner again, at the end of its queue.
///
/// Roles: `ops` only (partner data spans tenants).
#[utoipa::path(
    post,
    path = "/api/v1/partners/{partner_id}/outbox/retry",
    params(("partner_id" = String, Path, description = "the partner")),
    responses(
        (status = 200, description = "envelope with `data`: RetriedRecords", body = RetriedRecords),
        (status = 404, description = "41001 no such partner"),
        PartnerRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn retry_parked(
    State(state): State<ApiState>,
    caller: Caller,
    Path(partner_id): Path<String>,
) -> Result<Envelope<RetriedRecords>, ApiError> {
    require_partner_role(&caller, "retry partner deliveries")?;
    let link = partner(&state, &partner_id)?;
    let retried = state
        .store
        .partner_outbox()
        .retry_parked(link.id(), now_ms())
        .await
        .map_err(store_error)?;
    let message = format!("{retried} parked record(s) queued to be sent again");
    Ok(Envelope::new(200, message, RetriedRecords { retried }))
}

/// The record's row in the partner's outbox, or 41001.
async fn entry(
    state: &ApiState,
    partner_id: &str,
    record_id: &str,
) -> Result<PartnerOutboxEntry, ApiError> {
    state
        .store
        .partner_outbox()
        .get(partner_id, record_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no record {record_id:?} in the outbox of partner {partner_id}"
            ))
        })
}

fn delivered(e: &PartnerOutboxEntry, partner_id: &str) -> ApiError {
    ApiError::invalid_field(
        "state",
        format!(
            "record {} is {} at partner {partner_id}; only a parked or pending record can be \
             retried (reconciliation sends delivered records again when they differ)",
            e.record_id, e.state
        ),
    )
}
