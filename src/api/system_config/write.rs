//! Changing the runtime layer: one key (set, delete, roll back) or a batch.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::Value;

use super::views::{BatchBody, ChangeResult, PutBody, RollbackBody};
use super::{apply, check_key, if_match, parse_key, scope};
use crate::api::params::{json_body, Params};
use crate::api::{store_error, ApiState};
use crate::auth::Caller;
use crate::http::{ApiError, Envelope};
use crate::runtime_config::center::MAX_BATCH;
use crate::runtime_config::{ChangeRequest, RuntimeKey};

/// Sets a key. The change is checked with the rules of `vigil check-config` first and refused
/// with every problem listed; a tenant's SLA change becomes a new policy version for tickets
/// created from now on.
///
/// Roles: `client_admin` (its own tenant's keys), `ops`.
#[utoipa::path(
    put,
    path = "/api/v1/system-config/{key}",
    params(
        ("key" = String, Path, description = "e.g. tenant.7.sla.targets"),
        ("If-Match" = Option<String>, Header, description = "the version the change is based on (or `if_match` in the body)"),
    ),
    request_body = PutBody,
    responses(
        (status = 200, description = "envelope with `data`: ChangeResult", body = ChangeResult),
        (status = 400, description = "40001 not a runtime key, a bad value (`data.problems`: key, field, reason), no If-Match or no reason"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 409, description = "another change came first (`data.current_version`, `data.current_value`)"),
        (status = 503, description = "50001 store or NATS unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn put(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Envelope<ChangeResult>, ApiError> {
    scope(&caller)?;
    let parsed = parse_key(&key)?;
    check_key(&caller, &parsed)?;
    let body: PutBody = json_body(&body)?;
    set(
        &state,
        &caller,
        parsed,
        body.value,
        &body.reason,
        &headers,
        body.if_match,
    )
    .await
}

/// Sets `key` to `value` for `caller` (whose reach over the key is checked already), based on
/// the version `If-Match` (or `body_if_match`) names: what the flag and rollout endpoints share
/// with `PUT /api/v1/system-config/{key}`.
pub(in crate::api) async fn set(
    state: &ApiState,
    caller: &Caller,
    key: RuntimeKey,
    value: Value,
    reason: &str,
    headers: &HeaderMap,
    body_if_match: Option<i64>,
) -> Result<Envelope<ChangeResult>, ApiError> {
    let request = ChangeRequest {
        key: key.to_string(),
        value: Some(value),
        expected_version: if_match(headers, body_if_match)?,
        rollback_to: None,
    };
    apply(state, caller, vec![request], reason).await
}

/// Deletes a key from the runtime layer: the files' value applies again (for a tenant's SLA
/// field, as a new policy version).
///
/// Roles: `client_admin` (its own tenant's keys), `ops`.
#[utoipa::path(
    delete,
    path = "/api/v1/system-config/{key}",
    params(
        ("key" = String, Path, description = "e.g. tenant.7.sla.targets"),
        ("If-Match" = Option<String>, Header, description = "the version the change is based on"),
        ("reason" = Option<String>, Query, description = "why (required, here or in the body)"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: ChangeResult", body = ChangeResult),
        (status = 400, description = "40001 not a runtime key, no If-Match or no reason"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 409, description = "another change came first"),
        (status = 503, description = "50001 store or NATS unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    params: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Envelope<ChangeResult>, ApiError> {
    scope(&caller)?;
    let parsed = parse_key(&key)?;
    check_key(&caller, &parsed)?;
    params.only(&["reason"])?;
    let (reason, body_match) = if body.is_empty() {
        (params.get("reason").unwrap_or("").to_string(), None)
    } else {
        let b: RollbackBody = json_body(&body)?;
        (b.reason, b.if_match)
    };
    let expected = if_match(&headers, body_match)?;
    let request = ChangeRequest {
        key: parsed.to_string(),
        value: None,
        expected_version: expected,
        rollback_to: None,
    };
    apply(&state, &caller, vec![request], &reason).await
}

/// Applies several changes at once: all of them, or (with every problem listed) none.
///
/// Roles: `client_admin` (its own tenant's keys only), `ops`.
#[utoipa::path(
    post,
    path = "/api/v1/system-config/batch",
    request_body = BatchBody,
    responses(
        (status = 200, description = "envelope with `data`: ChangeResult", body = ChangeResult),
        (status = 400, description = "40001 bad keys or values (`data.problems`), or no reason"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 409, description = "a key moved since it was read"),
        (status = 503, description = "50001 store or NATS unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn batch(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<Envelope<ChangeResult>, ApiError> {
    scope(&caller)?;
    let body: BatchBody = json_body(&body)?;
    if body.changes.is_empty() || body.changes.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "changes",
            format!("send 1 to {MAX_BATCH} changes"),
        ));
    }
    let mut requests = Vec::with_capacity(body.changes.len());
    for (i, item) in body.changes.into_iter().enumerate() {
        if let Ok(key) = RuntimeKey::parse(&item.key) {
            check_key(&caller, &key)?;
        }
        let value = match (item.delete, item.value) {
            (true, None) => None,
            (false, Some(v)) => Some(v),
            _ => {
                return Err(ApiError::invalid_field(
                    &format!("changes[{i}]"),
                    "give a value, or delete: true",
                ))
            }
        };
        requests.push(ChangeRequest {
            key: item.key,
            value,
            expected_version: item.if_match,
            rollback_to: None,
        });
    }
    apply(&state, &caller, requests, &body.reason).await
}

/// Puts an earlier version's value back, as a new version (a version that deleted the key
/// deletes it again).
///
/// Roles: `client_admin` (its own tenant's keys), `ops`.
#[utoipa::path(
    post,
    path = "/api/v1/system-config/{key}/rollback",
    params(
        ("key" = String, Path, description = "the key"),
        ("If-Match" = Option<String>, Header, description = "the version the change is based on"),
    ),
    request_body = RollbackBody,
    responses(
        (status = 200, description = "envelope with `data`: ChangeResult", body = ChangeResult),
        (status = 400, description = "40001 not a runtime key, no version, no If-Match or no reason; or the old value no longer passes the checks (`data.problems`)"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 404, description = "41001 no such version"),
        (status = 409, description = "another change came first"),
        (status = 503, description = "50001 store or NATS unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn rollback(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Envelope<ChangeResult>, ApiError> {
    scope(&caller)?;
    let parsed = parse_key(&key)?;
    check_key(&caller, &parsed)?;
    let body: RollbackBody = json_body(&body)?;
    let to = body
        .version
        .ok_or_else(|| ApiError::invalid_field("version", "required: the version to restore"))?;
    let expected = if_match(&headers, body.if_match)?;
    let name = parsed.to_string();
    let row = state
        .config_center
        .store()
        .config_changes()
        .version(&name, to)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("{name} has no version {to}")))?;
    let value = row
        .value
        .as_deref()
        .map(serde_json::from_str::<Value>)
        .transpose()
        .map_err(|e| ApiError::new(500, format!("version {to} of {name} is unreadable: {e}")))?;
    let request = ChangeRequest {
        key: name,
        value,
        expected_version: expected,
        rollback_to: Some(to),
    };
    apply(&state, &caller, vec![request], &body.reason).await
}
