//! `/api/v1/feature-flags`: the flags of Vigil's own behaviour, with their rollout (tenant
//! list, stable percentage), kept as the runtime keys `flags.<name>` (so they share the
//! configuration center's versions, audit and rollback).
//!
//! Roles: `ops` only (a flag spans tenants).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::params::json_body;
use super::system_config::{self, ChangeResult};
use super::ApiState;
use crate::auth::{Caller, Role};
use crate::http::{ApiError, Envelope};
use crate::runtime_config::{known_switches, FlagRule, RuntimeKey, Switch};

/// A flag with its rule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlagView {
    /// The flag's name (`notify.sms`, `ws.tickets`, `partner.<id>`, …).
    pub name: String,
    /// What it switches.
    pub description: String,
    /// The rule in force (`{"on": true}` when none was set).
    #[schema(value_type = Object)]
    pub rule: Value,
    /// Whether the rule was set at run time (`false`: the default, on).
    pub set: bool,
    /// The rule's version (send it as `If-Match`; 0: never set).
    pub version: i64,
}

/// `GET /api/v1/feature-flags`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlagList {
    /// Every flag.
    pub flags: Vec<FlagView>,
}

/// `PUT /api/v1/feature-flags/{name}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagBody {
    /// `{"on": bool, "tenants": [ids], "percent": 0-100}`.
    #[schema(value_type = Object)]
    pub rule: FlagRule,
    /// Why (required).
    pub reason: String,
    /// The version the change is based on, when not sent as `If-Match`.
    #[serde(default)]
    pub if_match: Option<i64>,
}

fn ops_only(caller: &Caller) -> Result<(), ApiError> {
    caller.require(
        caller.claims.role == Role::Ops,
        "manage feature flags (ops only)",
    )
}

/// Lists every flag with its rule and version.
///
/// Roles: `ops` only.
#[utoipa::path(
    get,
    path = "/api/v1/feature-flags",
    responses(
        (status = 200, description = "envelope with `data`: FlagList", body = FlagList),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 not an ops token"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Envelope<FlagList>, ApiError> {
    ops_only(&caller)?;
    let center = &state.config_center;
    let switches = known_switches(center.config());
    let keys: Vec<RuntimeKey> = switches.iter().cloned().map(RuntimeKey::Flag).collect();
    let (layer, versions) = super::system_config::layer_and_versions_of(center, &keys).await?;
    let flags = switches
        .into_iter()
        .map(|switch| {
            let key = RuntimeKey::Flag(switch.clone());
            let set = layer.get(&key);
            FlagView {
                name: switch.to_string(),
                description: switch.description().into(),
                rule: set
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({"on": true})),
                set: set.is_some(),
                version: versions.get(&key.to_string()).copied().unwrap_or(0),
            }
        })
        .collect();
    Ok(Envelope::new(200, "ok", FlagList { flags }))
}

/// Sets a flag's rule; every instance follows within a second.
///
/// Roles: `ops` only.
#[utoipa::path(
    put,
    path = "/api/v1/feature-flags/{name}",
    params(
        ("name" = String, Path, description = "e.g. ws.tickets"),
        ("If-Match" = Option<String>, Header, description = "the version the change is based on"),
    ),
    request_body = FlagBody,
    responses(
        (status = 200, description = "envelope with `data`: ChangeResult", body = ChangeResult),
        (status = 400, description = "40001 unknown flag, a bad rule (`data.problems`), no If-Match or no reason"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 not an ops token"),
        (status = 409, description = "another change came first"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn put(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Envelope<ChangeResult>, ApiError> {
    ops_only(&caller)?;
    let parsed: FlagBody = json_body(&body)?;
    set_rule(
        &state,
        &caller,
        &name,
        &parsed.rule,
        &parsed.reason,
        &headers,
        parsed.if_match,
    )
    .await
}

/// Sets the rule of the flag `name` (an ops caller's change): what `PUT` here and the
/// rollout endpoint share.
pub(super) async fn set_rule(
    state: &ApiState,
    caller: &Caller,
    name: &str,
    rule: &FlagRule,
    reason: &str,
    headers: &HeaderMap,
    body_if_match: Option<i64>,
) -> Result<Envelope<ChangeResult>, ApiError> {
    let switch = Switch::parse(name).ok_or_else(|| {
        ApiError::invalid_field(
            "name",
            "unknown flag: notify.sms, notify.retractions, ws.tickets or partner.<id>",
        )
    })?;
    let value = serde_json::to_value(rule).map_err(|e| ApiError::invalid_field("rule", e))?;
    system_config::set(
        state,
        caller,
        RuntimeKey::Flag(switch),
        value,
        reason,
        headers,
        body_if_match,
    )
    .await
}
