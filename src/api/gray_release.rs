//! `/api/v1/gray-release`: gradual rollouts of feature flags, the rollout view of
//! `/api/v1/feature-flags`. A rollout is a flag that is on for part of the tenants (a tenant
//! list and/or a stable percentage), with an optional automatic rollback condition; its steps
//! are the flag's versions. Advancing a rollout writes the flag's rule like any change
//! (versions, `If-Match`, audit).
//!
//! Roles: `ops` only (a flag spans tenants).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_schema::format_instant;

use super::params::json_body;
use super::system_config::{layer_and_versions_of, ChangeResult};
use super::{store_error, ApiState};
use crate::auth::{Caller, Role};
use crate::flags::{FlagRule, RollbackWhen};
use crate::http::{ApiError, Envelope};
use crate::runtime_config::{known_switches, RuntimeKey};

/// Steps of a rollout shown, newest first.
pub const STEPS_SHOWN: u32 = 20;

/// One step of a rollout: a version of the flag's rule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RolloutStep {
    /// The flag's version.
    pub version: i64,
    /// Whether the flag was on.
    pub on: bool,
    /// The share of tenants (`null`: none by percentage).
    pub percent: Option<u8>,
    /// How many tenants the rule listed.
    pub listed_tenants: usize,
    /// Who.
    pub actor: String,
    /// Why (an automatic rollback says so).
    pub reason: String,
    /// When (RFC 3339).
    pub changed_at: String,
}

/// A flag's rollout.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Rollout {
    /// The flag.
    pub name: String,
    /// `partial` (on for part of the tenants), `full` (on for all), or `off`.
    pub stage: String,
    /// The share of tenants now (`null`: none by percentage).
    pub percent: Option<u8>,
    /// The tenants listed now.
    pub tenants: Vec<u64>,
    /// The users listed now.
    pub users: Vec<String>,
    /// The automatic rollback condition, if any.
    #[schema(value_type = Option<Object>)]
    pub rollback_when: Option<RollbackWhen>,
    /// The rule's version (send it as `If-Match` to advance).
    pub version: i64,
    /// Its versions, newest first.
    pub steps: Vec<RolloutStep>,
}

/// `GET /api/v1/gray-release`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RolloutList {
    /// Every flag that has a rule set, with its steps.
    pub rollouts: Vec<Rollout>,
}

/// `PUT /api/v1/gray-release/{name}`: the next step.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutBody {
    /// The share of tenants (0–100; 100 is every tenant).
    pub percent: u8,
    /// Tenants on whatever the percentage (default: none).
    #[serde(default)]
    pub tenants: Vec<u64>,
    /// Users (token subjects) on whatever their tenant, for flags a user acts through
    /// (`ws.tickets`; default: none).
    #[serde(default)]
    pub users: Vec<String>,
    /// The automatic rollback condition (default: none).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub rollback_when: Option<RollbackWhen>,
    /// Why (required).
    pub reason: String,
    /// The version the step is based on, when not sent as `If-Match`.
    #[serde(default)]
    pub if_match: Option<i64>,
}

fn stage(rule: &FlagRule) -> &'static str {
    match (
        rule.on,
        rule.tenants.is_empty() && rule.users.is_empty() && rule.percent.is_none(),
    ) {
        (false, _) => "off",
        (true, true) => "full",
        (true, false) if rule.percent == Some(100) => "full",
        (true, false) => "partial",
    }
}

/// Lists the rollouts: every flag with a rule set, its stage and its steps.
///
/// Roles: `ops` only.
#[utoipa::path(
    get,
    path = "/api/v1/gray-release",
    responses(
        (status = 200, description = "envelope with `data`: RolloutList", body = RolloutList),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 not an ops token"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Envelope<RolloutList>, ApiError> {
    caller.require(caller.claims.role == Role::Ops, "see rollouts (ops only)")?;
    let center = &state.config_center;
    let keys: Vec<RuntimeKey> = known_switches(center.config())
        .into_iter()
        .map(RuntimeKey::Flag)
        .collect();
    let (layer, versions) = layer_and_versions_of(center, &keys).await?;
    let mut rollouts = Vec::new();
    for key in keys {
        let Some(rule) = layer
            .get(&key)
            .and_then(|v| serde_json::from_value::<FlagRule>(v.clone()).ok())
        else {
            continue;
        };
        let name = key.to_string();
        let history = center
            .store()
            .config_changes()
            .history(&name, STEPS_SHOWN)
            .await
            .map_err(store_error)?;
        let steps = history
            .iter()
            .map(|row| {
                let rule = row
                    .value
                    .as_deref()
                    .and_then(|v| serde_json::from_str::<FlagRule>(v).ok());
                RolloutStep {
                    version: row.version,
                    // A deleted rule is the default: on for everyone.
                    on: rule.as_ref().is_none_or(|r| r.on),
                    percent: rule.as_ref().and_then(|r| r.percent),
                    listed_tenants: rule.as_ref().map_or(0, |r| r.tenants.len()),
                    actor: row.actor.clone(),
                    reason: row.reason.clone(),
                    changed_at: format_instant(row.changed_at),
                }
            })
            .collect();
        rollouts.push(Rollout {
            name: name.trim_start_matches("flags.").to_string(),
            stage: stage(&rule).into(),
            percent: rule.percent,
            tenants: rule.tenants.clone(),
            users: rule.users.clone(),
            rollback_when: rule.rollback_when.clone(),
            version: versions.get(&name).copied().unwrap_or(0),
            steps,
        });
    }
    Ok(Envelope::new(200, "ok", RolloutList { rollouts }))
}

/// Sets the next step of a flag's rollout: on for `percent` of the tenants (and those listed),
/// with its rollback condition; every instance follows within a second.
///
/// Roles: `ops` only.
#[utoipa::path(
    put,
    path = "/api/v1/gray-release/{name}",
    params(
        ("name" = String, Path, description = "the flag, e.g. notify.sms"),
        ("If-Match" = Option<String>, Header, description = "the version the step is based on"),
    ),
    request_body = RolloutBody,
    responses(
        (status = 200, description = "envelope with `data`: ChangeResult", body = ChangeResult),
        (status = 400, description = "40001 unknown flag, a bad step (`data.problems`), no If-Match or no reason"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 not an ops token"),
        (status = 409, description = "another change came first"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn advance(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Envelope<ChangeResult>, ApiError> {
    caller.require(caller.claims.role == Role::Ops, "roll out flags (ops only)")?;
    let step: RolloutBody = json_body(&body)?;
    let rule = FlagRule {
        on: true,
        tenants: step.tenants,
        users: step.users,
        percent: Some(step.percent),
        rollback_when: step.rollback_when,
    };
    super::feature_flags::set_rule(
        &state,
        &caller,
        &name,
        &rule,
        &step.reason,
        &headers,
        step.if_match,
    )
    .await
}
