//! `/api/v1/system-config`: the runtime layer of the configuration center. List and read keys
//! (the effective value and the layer it comes from), change them with optimistic locking
//! (`If-Match: <version>`; 409 with the current value when another change got there first),
//! batches that apply all or nothing, a key's history with who, when and why, the difference
//! between two versions, rollback (itself a new version), and export and import.
//!
//! Roles: `client_admin` for its own tenant's keys (`tenant.<id>.…`), `ops` for every key;
//! no other role.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use vigil_schema::format_instant;

use super::params::{json_body, Params};
use super::{store_error, ApiState};
use crate::auth::{Caller, Role};
use crate::http::envelope::{current_request_id, CONFLICT};
use crate::http::{ApiError, Envelope};
use crate::runtime_config::center::MAX_BATCH;
use crate::runtime_config::layer::configured_field;
use crate::runtime_config::{
    Author, ChangeError, ChangeRequest, ConfigCenter, KeyError, RuntimeKey, RuntimeLayer, SlaField,
};
use crate::store::config_changes::StoredChange;

/// Most versions one history holds.
pub const MAX_HISTORY: u32 = 1000;

/// A key with its effective value.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConfigEntry {
    /// The key.
    pub key: String,
    /// The value in force (`null`: none, the built-in behaviour).
    pub value: Value,
    /// Where it comes from: `runtime` (this layer) or `files` (defaults, `vigil.toml`, tenant
    /// files and the environment, as the service started).
    pub layer: &'static str,
    /// The key's latest version in the runtime layer (0: never set; send it as `If-Match`).
    pub version: i64,
    /// The tenant a tenant key belongs to.
    pub tenant_id: Option<u64>,
}

/// `GET /api/v1/system-config`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConfigList {
    /// The keys, in key order.
    pub entries: Vec<ConfigEntry>,
}

/// One stored version of a key.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConfigVersion {
    /// Global order of the change (the audit cursor).
    pub seq: i64,
    /// The key.
    pub key: String,
    /// The version this change made.
    pub version: i64,
    /// `set`, `delete` or `rollback`.
    pub op: String,
    /// The version a rollback restored.
    pub rolled_back_to: Option<i64>,
    /// The value after the change (`null` for a delete).
    pub value: Option<Value>,
    /// The value before it.
    pub old_value: Option<Value>,
    /// The tenant of a tenant key.
    pub tenant_id: Option<u64>,
    /// Who (the token's subject).
    pub actor: String,
    /// The token's role.
    pub role: String,
    /// The client's address.
    pub ip: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub changed_at: String,
}

impl ConfigVersion {
    /// The API view of a stored change.
    pub fn of(row: &StoredChange) -> ConfigVersion {
        let parse = |v: &Option<String>| v.as_deref().and_then(|v| serde_json::from_str(v).ok());
        let (op, rolled_back_to) = match row.op {
            crate::store::config_changes::ChangeOp::Rollback { to_version } => {
                ("rollback", Some(to_version))
            }
            ref other => (other.as_str(), None),
        };
        ConfigVersion {
            seq: row.seq,
            key: row.key.clone(),
            version: row.version,
            op: op.into(),
            rolled_back_to,
            value: parse(&row.value),
            old_value: parse(&row.old_value),
            tenant_id: row.tenant_id,
            actor: row.actor.clone(),
            role: row.role.clone(),
            ip: row.ip.clone(),
            request_id: row.request_id.clone(),
            reason: row.reason.clone(),
            changed_at: format_instant(row.changed_at),
        }
    }
}

/// `GET …/{key}/history`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConfigHistory {
    /// The key.
    pub key: String,
    /// Its versions, newest first.
    pub versions: Vec<ConfigVersion>,
}

/// `GET …/{key}/diff`: what changed between two versions.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConfigDiff {
    /// The key.
    pub key: String,
    /// The older version.
    pub from: i64,
    /// The newer version.
    pub to: i64,
    /// The value at `from` (`null`: not set).
    pub from_value: Value,
    /// The value at `to` (`null`: not set).
    pub to_value: Value,
    /// Each field that differs: `path` (dotted, `""` for the whole value), `from`, `to`.
    pub changes: Vec<FieldChange>,
}

/// One field that differs between two versions.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldChange {
    /// Dotted path inside the value (`""`: the value as a whole).
    pub path: String,
    /// Before (`null`: absent).
    pub from: Value,
    /// After (`null`: absent).
    pub to: Value,
}

/// `PUT …/{key}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// The new value (JSON of the key's type).
    pub value: Value,
    /// Why (required; kept in the audit).
    pub reason: String,
    /// The version the change is based on, when not sent as `If-Match`.
    #[serde(default)]
    pub if_match: Option<i64>,
}

/// `DELETE …/{key}` and `POST …/{key}/rollback`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The version whose value comes back (rollback only).
    #[serde(default)]
    pub version: Option<i64>,
    /// Why (required).
    pub reason: String,
    /// The version the change is based on, when not sent as `If-Match`.
    #[serde(default)]
    pub if_match: Option<i64>,
}

/// One change of a batch.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// The key.
    pub key: String,
    /// The new value; absent with `delete: true`.
    #[serde(default)]
    pub value: Option<Value>,
    /// Delete the key instead (the layers below apply again).
    #[serde(default)]
    pub delete: bool,
    /// The version the change is based on (0: never set).
    pub if_match: i64,
}

/// `POST /api/v1/system-config/batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// The changes, applied all or nothing.
    pub changes: Vec<BatchItem>,
    /// Why (required).
    pub reason: String,
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChangeResult {
    /// The versions written, in the order asked.
    pub changes: Vec<ConfigVersion>,
}

/// The caller's reach: every key (`ops`), or one tenant's (`client_admin`).
fn scope(caller: &Caller) -> Result<Option<u64>, ApiError> {
    match caller.claims.role {
        Role::Ops => Ok(None),
        Role::ClientAdmin => Ok(Some(caller.claims.tenant_id)),
        _ => caller
            .require(false, "read or change the configuration")
            .map(|()| None),
    }
}

/// Ok if the caller may read and change `key`.
fn check_key(caller: &Caller, key: &RuntimeKey) -> Result<(), ApiError> {
    match (scope(caller)?, key.tenant()) {
        (None, _) => Ok(()),
        (Some(own), Some(t)) => caller.check_tenant(t).map(|()| debug_assert_eq!(own, t)),
        (Some(_), None) => caller.require(false, "change global keys (ops only)"),
    }
}

/// The key of a path, or 400 saying why it is not a runtime key.
fn parse_key(key: &str) -> Result<RuntimeKey, ApiError> {
    RuntimeKey::parse(key).map_err(|e| {
        let reason = match &e {
            KeyError::Unknown { .. } => e.to_string(),
            KeyError::StartOnly { reason, .. } => format!("cannot change at run time: {reason}"),
        };
        ApiError::invalid_field("key", reason)
    })
}

/// The version a change is based on: `If-Match` or the body's `if_match`.
fn if_match(headers: &HeaderMap, body: Option<i64>) -> Result<i64, ApiError> {
    let header = headers
        .get(header::IF_MATCH)
        .map(|v| {
            v.to_str()
                .ok()
                .map(|s| s.trim().trim_matches('"'))
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "If-Match",
                        "expected the key's version, a whole number (0 for a key never set)",
                    )
                })
        })
        .transpose()?;
    header.or(body).ok_or_else(|| {
        ApiError::invalid_field(
            "If-Match",
            "required: send the version you read (GET answers it; 0 for a key never set)",
        )
    })
}

fn author(caller: &Caller, reason: &str) -> Result<Author, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::invalid_field(
            "reason",
            "required: say why (it is kept in the audit)",
        ));
    }
    if reason.chars().count() > crate::runtime_config::center::MAX_REASON_CHARS {
        return Err(ApiError::invalid_field(
            "reason",
            format!(
                "at most {} characters",
                crate::runtime_config::center::MAX_REASON_CHARS
            ),
        ));
    }
    Ok(Author {
        actor: caller.claims.sub.clone(),
        role: caller.claims.role.as_str().into(),
        ip: Some(caller.ip.to_string()),
        request_id: Some(current_request_id().as_str().to_string()),
        reason: reason.to_string(),
    })
}

/// A refused change in the envelope: 40001 listing every problem, 409 with the current value.
fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::Invalid(problems) => {
            let text = problems
                .iter()
                .map(|p| {
                    if p.field.is_empty() {
                        format!("{}: {}", p.key, p.reason)
                    } else {
                        format!("{} {}: {}", p.key, p.field, p.reason)
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            ApiError::invalid_parameter(format!("nothing was applied: {text}"))
                .with_data(json!({ "problems": problems }))
        }
        ChangeError::Conflict {
            ref key,
            current_version,
            ref current_value,
        } => ApiError::new(CONFLICT, e.to_string()).with_data(json!({
            "key": key,
            "current_version": current_version,
            "current_value": current_value,
        })),
        ChangeError::Store(e) => store_error(e),
        e @ ChangeError::NotAnnounced { .. } => ApiError::store_unavailable(e.to_string()),
    }
}

/// The keys a list shows: the global ones (for `ops`), then each tenant's SLA fields.
fn listed_keys(
    center: &ConfigCenter,
    layer: &RuntimeLayer,
    reach: Option<u64>,
    tenant: Option<u64>,
) -> Vec<RuntimeKey> {
    let mut keys: Vec<RuntimeKey> = Vec::new();
    let tenants: Vec<u64> = match (reach, tenant) {
        (Some(own), _) => vec![own],
        (None, Some(t)) => vec![t],
        (None, None) => {
            keys.push(RuntimeKey::LogFilter);
            keys.extend(
                super::feature_flags::known_switches(center.config())
                    .into_iter()
                    .map(RuntimeKey::Flag),
            );
            let mut set: Vec<u64> = layer.iter().filter_map(|(k, _)| k.tenant()).collect();
            set.extend(center.config().tenant_policies.keys());
            set.sort_unstable();
            set.dedup();
            set
        }
    };
    for t in tenants {
        for field in SlaField::ALL {
            keys.push(RuntimeKey::TenantSla { tenant: t, field });
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The effective value of `key`, with its layer.
fn entry(
    center: &ConfigCenter,
    layer: &RuntimeLayer,
    versions: &BTreeMap<String, i64>,
    key: &RuntimeKey,
) -> ConfigEntry {
    let name = key.to_string();
    let version = versions.get(&name).copied().unwrap_or(0);
    let (value, from) = match layer.get(key) {
        Some(v) => (v.clone(), "runtime"),
        None => (
            match key {
                RuntimeKey::LogFilter => Value::String(center.config().log.filter.clone()),
                RuntimeKey::Flag(_) => json!({ "on": true }),
                RuntimeKey::TenantSla { tenant, field } => {
                    configured_field(center.book(), *tenant, *field)
                }
            },
            "files",
        ),
    };
    ConfigEntry {
        key: name,
        value,
        layer: from,
        version,
        tenant_id: key.tenant(),
    }
}

/// The layer and every key's latest version (deletes included).
async fn layer_and_versions(
    center: &ConfigCenter,
) -> Result<(RuntimeLayer, BTreeMap<String, i64>), ApiError> {
    let latest = center
        .store()
        .config_changes()
        .latest_versions()
        .await
        .map_err(store_error)?;
    let layer = center.layer().await.map_err(store_error)?;
    Ok((layer, latest))
}

/// Lists keys with their effective values.
///
/// Roles: `client_admin` (its own tenant's keys), `ops` (every key; `tenant_id` narrows to one
/// tenant); not `client_manager`, `client_user` or `service`.
#[utoipa::path(
    get,
    path = "/api/v1/system-config",
    params(
        ("prefix" = Option<String>, Query, description = "only keys starting with this"),
        ("tenant_id" = Option<u64>, Query, description = "only this tenant's keys (ops)"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: ConfigList", body = ConfigList),
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
) -> Result<Envelope<ConfigList>, ApiError> {
    let reach = scope(&caller)?;
    params.only(&["prefix", "tenant_id"])?;
    let tenant = params.tenant_id()?;
    if let Some(t) = tenant {
        caller.check_tenant(t)?;
    }
    let center = &state.config_center;
    let (layer, versions) = layer_and_versions(center).await?;
    let prefix = params.get("prefix").unwrap_or("");
    let entries = listed_keys(center, &layer, reach, tenant)
        .iter()
        .map(|k| entry(center, &layer, &versions, k))
        .filter(|e| e.key.starts_with(prefix))
        .collect();
    Ok(Envelope::new(200, "ok", ConfigList { entries }))
}

/// Reads one key: its effective value, the layer it comes from, and its version.
///
/// Roles: `client_admin` (its own tenant's keys), `ops`.
#[utoipa::path(
    get,
    path = "/api/v1/system-config/{key}",
    params(("key" = String, Path, description = "e.g. tenant.7.sla.targets")),
    responses(
        (status = 200, description = "envelope with `data`: ConfigEntry; `ETag` is the version", body = ConfigEntry),
        (status = 400, description = "40001 not a runtime key (with the reason)"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    scope(&caller)?;
    let key = parse_key(&key)?;
    check_key(&caller, &key)?;
    let (layer, versions) = layer_and_versions(&state.config_center).await?;
    let e = entry(&state.config_center, &layer, &versions, &key);
    let etag = format!("\"{}\"", e.version);
    let mut response = Envelope::new(200, "ok", e).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

async fn apply(
    state: &ApiState,
    caller: &Caller,
    requests: Vec<ChangeRequest>,
    reason: &str,
) -> Result<Envelope<ChangeResult>, ApiError> {
    let who = author(caller, reason)?;
    let stored = state
        .config_center
        .change(&requests, &who)
        .await
        .map_err(change_error)?;
    let changes: Vec<ConfigVersion> = stored.iter().map(ConfigVersion::of).collect();
    let message = format!("{} change(s) applied", changes.len());
    Ok(Envelope::new(200, message, ChangeResult { changes }))
}

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
    let expected = if_match(&headers, body.if_match)?;
    let request = ChangeRequest {
        key: parsed.to_string(),
        value: Some(body.value),
        expected_version: expected,
        rollback_to: None,
    };
    apply(&state, &caller, vec![request], &body.reason).await
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

/// A key's versions with who changed it, when and why, newest first.
///
/// Roles: `client_admin` (its own tenant's keys), `ops`.
#[utoipa::path(
    get,
    path = "/api/v1/system-config/{key}/history",
    params(
        ("key" = String, Path, description = "the key"),
        ("limit" = Option<u32>, Query, description = "1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: ConfigHistory", body = ConfigHistory),
        (status = 400, description = "40001 not a runtime key, or a bad limit"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    params: Params,
) -> Result<Envelope<ConfigHistory>, ApiError> {
    scope(&caller)?;
    let parsed = parse_key(&key)?;
    check_key(&caller, &parsed)?;
    params.only(&["limit"])?;
    let limit = params.integer("limit", 1..=MAX_HISTORY, 100)?;
    let name = parsed.to_string();
    let rows = state
        .config_center
        .store()
        .config_changes()
        .history(&name, limit)
        .await
        .map_err(store_error)?;
    Ok(Envelope::new(
        200,
        "ok",
        ConfigHistory {
            key: name,
            versions: rows.iter().map(ConfigVersion::of).collect(),
        },
    ))
}

/// What changed in a key between two versions (`to` defaults to the latest).
///
/// Roles: `client_admin` (its own tenant's keys), `ops`.
#[utoipa::path(
    get,
    path = "/api/v1/system-config/{key}/diff",
    params(
        ("key" = String, Path, description = "the key"),
        ("from" = i64, Query, description = "the older version (0: before the first)"),
        ("to" = Option<i64>, Query, description = "the newer version (default: the latest)"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: ConfigDiff", body = ConfigDiff),
        (status = 400, description = "40001 not a runtime key, or a bad version"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 404, description = "41001 no such version"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn diff(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    params: Params,
) -> Result<Envelope<ConfigDiff>, ApiError> {
    scope(&caller)?;
    let parsed = parse_key(&key)?;
    check_key(&caller, &parsed)?;
    params.only(&["from", "to"])?;
    let version = |name: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| ApiError::invalid_field(name, "expected a version number"))
            })
            .transpose()
    };
    let from = version("from")?
        .ok_or_else(|| ApiError::invalid_field("from", "required: the older version"))?;
    let name = parsed.to_string();
    let changes = state.config_center.store().config_changes();
    let to = match version("to")? {
        Some(to) => to,
        None => changes
            .latest(&name)
            .await
            .map_err(store_error)?
            .map_or(0, |r| r.version),
    };
    let value_at = |v: i64| {
        let name = name.clone();
        async move {
            if v == 0 {
                return Ok(Value::Null);
            }
            match changes.version(&name, v).await.map_err(store_error)? {
                Some(row) => Ok(row
                    .value
                    .as_deref()
                    .and_then(|v| serde_json::from_str(v).ok())
                    .unwrap_or(Value::Null)),
                None => Err(ApiError::not_found(format!("{name} has no version {v}"))),
            }
        }
    };
    let from_value = value_at(from).await?;
    let to_value = value_at(to).await?;
    let mut fields = Vec::new();
    diff_values("", &from_value, &to_value, &mut fields);
    Ok(Envelope::new(
        200,
        "ok",
        ConfigDiff {
            key: name,
            from,
            to,
            from_value,
            to_value,
            changes: fields,
        },
    ))
}

/// The fields that differ between two JSON values: objects key by key, anything else whole.
pub fn diff_values(path: &str, a: &Value, b: &Value, out: &mut Vec<FieldChange>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(
                    &sub,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(FieldChange {
            path: path.to_string(),
            from: a.clone(),
            to: b.clone(),
        }),
        _ => {}
    }
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

/// Every runtime value in reach as one document: `{"key": value, …}` (JSON), or the same as
/// TOML with quoted keys (`format=toml`), to keep or to import elsewhere.
///
/// Roles: `client_admin` (its own tenant's keys), `ops`.
#[utoipa::path(
    get,
    path = "/api/v1/system-config/export",
    params(("format" = Option<String>, Query, description = "json (default) or toml")),
    responses(
        (status = 200, description = "the document (a download)", content_type = "application/json", body = String),
        (status = 400, description = "40001 bad format"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn export(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let reach = scope(&caller)?;
    params.only(&["format"])?;
    let layer = state.config_center.layer().await.map_err(store_error)?;
    let doc: serde_json::Map<String, Value> = layer
        .iter()
        .filter(|(k, _)| reach.is_none() || k.tenant() == reach)
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let (text, content_type, ext) = match params.get("format").unwrap_or("json") {
        "json" => (
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
            "application/json",
            "json",
        ),
        "toml" => (
            toml::to_string(&doc).map_err(|e| {
                ApiError::new(
                    500,
                    format!("cannot write the layer as TOML: {e}; use format=json"),
                )
            })?,
            "application/toml",
            "toml",
        ),
        _ => return Err(ApiError::invalid_field("format", "json or toml")),
    };
    let disposition = format!("attachment; filename=\"vigil-runtime-config.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

/// Sets every key of a document (as `export` writes it: JSON, or TOML with `format=toml`),
/// checked whole first and applied all or nothing, each key based on its current version.
///
/// Roles: `client_admin` (its own tenant's keys only), `ops`.
#[utoipa::path(
    post,
    path = "/api/v1/system-config/import",
    params(
        ("format" = Option<String>, Query, description = "json (default) or toml"),
        ("reason" = String, Query, description = "why (required)"),
    ),
    request_body(content = String, description = "the document", content_type = "application/json"),
    responses(
        (status = 200, description = "envelope with `data`: ChangeResult", body = ChangeResult),
        (status = 400, description = "40001 unreadable document, bad keys or values (`data.problems`), or no reason"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not, or another tenant's key"),
        (status = 409, description = "a key changed while importing"),
        (status = 503, description = "50001 store or NATS unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn import(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
    body: Bytes,
) -> Result<Envelope<ChangeResult>, ApiError> {
    scope(&caller)?;
    params.only(&["format", "reason"])?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid_field("body", "not UTF-8 text"))?;
    let doc: serde_json::Map<String, Value> = match params.get("format").unwrap_or("json") {
        "json" => serde_json::from_str(text)
            .map_err(|e| ApiError::invalid_field("body", format!("not a JSON object: {e}")))?,
        "toml" => toml::from_str(text)
            .map_err(|e| ApiError::invalid_field("body", format!("not a TOML document: {e}")))?,
        _ => return Err(ApiError::invalid_field("format", "json or toml")),
    };
    if doc.is_empty() || doc.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "body",
            format!("import 1 to {MAX_BATCH} keys"),
        ));
    }
    let versions = state
        .config_center
        .store()
        .config_changes()
        .latest_versions()
        .await
        .map_err(store_error)?;
    let mut requests = Vec::with_capacity(doc.len());
    for (key, value) in doc {
        let canonical = match RuntimeKey::parse(&key) {
            Ok(k) => {
                check_key(&caller, &k)?;
                k.to_string()
            }
            Err(_) => key,
        };
        requests.push(ChangeRequest {
            expected_version: versions.get(&canonical).copied().unwrap_or(0),
            key: canonical,
            value: Some(value),
            rollback_to: None,
        });
    }
    apply(
        &state,
        &caller,
        requests,
        params.get("reason").unwrap_or(""),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_name_each_changed_field() {
        let a = json!({"HIGH": {"response": "1h", "resolution": "8h"}, "LOW": {"response": "1d"}});
        let b =
            json!({"HIGH": {"response": "2h", "resolution": "8h"}, "MEDIUM": {"response": "4h"}});
        let mut out = Vec::new();
        diff_values("", &a, &b, &mut out);
        let paths: Vec<&str> = out.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["HIGH.response", "LOW", "MEDIUM"]);
        let mut whole = Vec::new();
        diff_values("", &json!([0.5]), &json!([0.8]), &mut whole);
        assert_eq!(whole[0].path, "");
    }
}
