//! Exchange partners for operators (DESIGN.md §5, §7): each partner's breaker, outbox and
//! latest reconciliation; the outbox's records, and sending parked ones again; reconciliation
//! reports, also as JSON and CSV downloads. Partner data spans tenants, so only `ops` tokens
//! may see it or act on it: a `service` token (an upstream's ingest credential) reads nothing,
//! and client roles would see other tenants' records.
//!
//! # Layout
//! - `overview`: `GET /api/v1/partners`.
//! - `outbox`: the outbox listing (by record id, with a cursor) and retries.
//! - `reports`: reconciliation runs, one run's report, and its downloads.
//! - `views`: the JSON shapes.
//! - `csv`: the CSV download's text.

pub mod csv;
pub mod outbox;
pub mod overview;
pub mod reports;
pub mod views;

use std::sync::Arc;

use crate::auth::{Caller, Role};
use crate::http::ApiError;
use crate::partner::link::PartnerLink;

use super::ApiState;

/// Ok for the one role that administers partners (`ops`), else 403 naming `what`.
fn require_partner_role(caller: &Caller, what: &str) -> Result<(), ApiError> {
    caller.require(caller.claims.role == Role::Ops, what)
}

/// The configured partner `partner_id`, or 41001 naming the ones that are configured.
fn partner(state: &ApiState, partner_id: &str) -> Result<Arc<PartnerLink>, ApiError> {
    if let Some(link) = state.partners.iter().find(|l| l.id() == partner_id) {
        return Ok(link.clone());
    }
    let ids: Vec<&str> = state.partners.iter().map(|l| l.id()).collect();
    let known = if ids.is_empty() {
        "no partner is configured".to_string()
    } else {
        format!("configured: {}", ids.join(", "))
    };
    Err(
        ApiError::not_found(format!("no partner {partner_id:?} ({known})"))
            .with_data(serde_json::json!({ "partners": ids })),
    )
}
