//! `GET /api/v1/audit`: every configuration change (who, role, address, request id, key, old
//! and new value, why, when), oldest first, with cursor paging, as JSON or a CSV download.
//! The rows are append-only: the store refuses to update or delete them.
//!
//! Roles: `ops` (every change), `client_admin` (its own tenant's keys); no other role.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::Params;
use super::system_config::ConfigVersion;
use super::{store_error, ApiState};
use crate::auth::{Caller, Role};
use crate::csv::push_line;
use crate::http::{ApiError, Envelope};
use crate::store::config_changes::AuditFilter;

/// Most rows one page holds.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// The CSV columns.
pub const AUDIT_COLUMNS: [&str; 13] = [
    "seq",
    "changed_at",
    "key",
    "version",
    "op",
    "tenant_id",
    "actor",
    "role",
    "ip",
    "request_id",
    "reason",
    "old_value",
    "value",
];

/// One page of the audit.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditPage {
    /// The changes, oldest first.
    pub entries: Vec<ConfigVersion>,
    /// Send as `cursor` for the next page (`null`: this was the last).
    pub next_cursor: Option<String>,
}

/// Lists configuration changes.
///
/// Roles: `ops` (every change), `client_admin` (its own tenant's keys); not `client_manager`,
/// `client_user` or `service`.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    params(
        ("key" = Option<String>, Query, description = "only keys starting with this"),
        ("tenant_id" = Option<u64>, Query, description = "only this tenant's keys"),
        ("from" = Option<String>, Query, description = "changed at or after (RFC 3339)"),
        ("to" = Option<String>, Query, description = "changed before (RFC 3339)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1 to 1000 (default 100)"),
        ("format" = Option<String>, Query, description = "json (default) or csv (a download of the page)"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: AuditPage, or text/csv", body = AuditPage),
        (status = 400, description = "40001 bad parameter"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let tenant = match caller.claims.role {
        Role::Ops => params.tenant_id()?,
        Role::ClientAdmin => Some(caller.tenant_scope(params.tenant_id()?)?),
        _ => {
            caller.require(false, "read the configuration audit")?;
            None
        }
    };
    params.only(&[
        "key",
        "tenant_id",
        "from",
        "to",
        "cursor",
        "limit",
        "format",
    ])?;
    let limit = params.integer("limit", 1..=MAX_AUDIT_PAGE, 100)?;
    let after_seq = params
        .get("cursor")
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::invalid_field("cursor", "use next_cursor of a page"))
        })
        .transpose()?;
    let filter = AuditFilter {
        key_prefix: params.get("key").map(str::to_string),
        tenant_id: tenant,
        from_ms: params.instant("from")?,
        to_ms: params.instant("to")?,
        after_seq,
        limit,
    };
    let rows = state
        .config_center
        .store()
        .config_changes()
        .audit(&filter)
        .await
        .map_err(store_error)?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    let entries: Vec<ConfigVersion> = rows.iter().map(ConfigVersion::of).collect();
    match params.get("format").unwrap_or("json") {
        "json" => Ok(Envelope::new(
            200,
            "ok",
            AuditPage {
                entries,
                next_cursor,
            },
        )
        .into_response()),
        "csv" => {
            let mut out = String::new();
            push_line(&mut out, AUDIT_COLUMNS.iter().map(|c| (*c).to_string()));
            let text = |v: &Option<serde_json::Value>| {
                v.as_ref().map(|v| v.to_string()).unwrap_or_default()
            };
            for e in &entries {
                push_line(
                    &mut out,
                    [
                        e.seq.to_string(),
                        e.changed_at.clone(),
                        e.key.clone(),
                        e.version.to_string(),
                        e.op.clone(),
                        e.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
                        e.actor.clone(),
                        e.role.clone(),
                        e.ip.clone().unwrap_or_default(),
                        e.request_id.clone().unwrap_or_default(),
                        e.reason.clone(),
                        text(&e.old_value),
                        text(&e.value),
                    ],
                );
            }
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"vigil-config-audit.csv\"",
                    ),
                ],
                out,
            )
                .into_response())
        }
        _ => Err(ApiError::invalid_field("format", "json or csv")),
    }
}
