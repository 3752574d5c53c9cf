//! Reading the runtime layer: the keys in reach, one key, its history, and what changed
//! between two of its versions.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::views::{
    diff_values, ConfigDiff, ConfigEntry, ConfigHistory, ConfigList, ConfigVersion, FieldChange,
    MAX_HISTORY,
};
use super::{
    check_key, entry, layer_and_versions, layer_and_versions_of, listed_keys, parse_key, scope,
};
use crate::api::params::Params;
use crate::api::{store_error, ApiState};
use crate::auth::Caller;
use crate::http::{ApiError, Envelope};
use crate::secrets::shown;

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
    let (layer, versions) =
        layer_and_versions_of(&state.config_center, std::slice::from_ref(&key)).await?;
    let e = entry(&state.config_center, &layer, &versions, &key);
    let etag = format!("\"{}\"", e.version);
    let mut response = Envelope::new(200, "ok", e).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
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
    if parsed.is_secret() {
        // A secret differs as a whole, masked: nothing of its value shows.
        if from_value != to_value {
            fields.push(FieldChange {
                path: String::new(),
                from: shown(&name, from_value.clone()),
                to: shown(&name, to_value.clone()),
            });
        }
    } else {
        diff_values("", &from_value, &to_value, &mut fields);
    }
    let (from_value, to_value) = (shown(&name, from_value), shown(&name, to_value));
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
