//! `/api/v1/system-config`: the runtime layer of the configuration center. List and read keys
//! (the effective value and the layer it comes from), change them with optimistic locking
//! (`If-Match: <version>`; 409 with the current value when another change got there first),
//! batches that apply all or nothing, a key's history with who, when and why, the difference
//! between two versions, rollback (itself a new version), and export and import.
//!
//! Roles: `client_admin` for its own tenant's keys (`tenant.<id>.…`), `ops` for every key;
//! no other role.
//!
//! # Layout
//! - `views`: the request and answer shapes, and the field difference of two values.
//! - `read`: list, get, history, diff.
//! - `write`: put, delete, batch, rollback.
//! - `transfer`: export and import.
//! - here: who may reach which key, `If-Match`, the author of a change, and refusals in the
//!   envelope.

mod read;
mod transfer;
mod views;
mod write;

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap};
use serde_json::{json, Value};

pub use read::*;
pub use transfer::*;
pub use views::*;
pub use write::*;

use super::{store_error, ApiState};
use crate::auth::{Caller, Role};
use crate::http::envelope::{current_request_id, CONFLICT};
use crate::http::{ApiError, Envelope};
use crate::runtime_config::keys::secret_variables;
use crate::runtime_config::layer::configured_field;
use crate::runtime_config::{
    known_switches, Author, ChangeError, ChangeRequest, ConfigCenter, HttpLimit, KeyError,
    NotifyField, RuntimeKey, RuntimeLayer, SlaField,
};
use crate::secrets::shown;

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
            "current_value": current_value.clone().map(|v| shown(key, v)),
        })),
        ChangeError::Store(e) => store_error(e),
        e @ ChangeError::NotAnnounced { .. } => ApiError::store_unavailable(e.to_string()),
    }
}

/// The keys a list shows: the global ones (for `ops`), then each tenant's SLA fields and
/// on-call lists.
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
            keys.extend(HttpLimit::ALL.into_iter().map(RuntimeKey::HttpLimit));
            keys.extend(NotifyField::ALL.into_iter().map(RuntimeKey::Notify));
            keys.extend(
                known_switches(center.config())
                    .into_iter()
                    .map(RuntimeKey::Flag),
            );
            keys.extend(
                secret_variables(center.config())
                    .into_iter()
                    .map(|(var, _)| RuntimeKey::Secret(var)),
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
        for field in NotifyField::ALL {
            keys.push(RuntimeKey::TenantNotify { tenant: t, field });
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
                RuntimeKey::HttpLimit(limit) => {
                    let http = &center.config().http;
                    json!(match limit {
                        HttpLimit::PerIp => http.rate_limit_per_ip,
                        HttpLimit::PerTenant => http.rate_limit_per_tenant,
                    })
                }
                RuntimeKey::Flag(_) => json!({ "on": true }),
                RuntimeKey::TenantSla { tenant, field } => {
                    configured_field(center.book(), *tenant, *field)
                }
                RuntimeKey::Notify(field) => notify_list(&center.config().notify, *field),
                RuntimeKey::TenantNotify { tenant, field } => center
                    .config()
                    .tenant_notify
                    .get(tenant)
                    .map_or(Value::Array(Vec::new()), |own| {
                        tenant_notify_list(own, *field)
                    }),
                // Whether the environment sets it; the value itself is never shown.
                RuntimeKey::Secret(var) => center
                    .secrets()
                    .from_environment(var)
                    .map_or(Value::Null, Value::String),
            },
            "files",
        ),
    };
    ConfigEntry {
        value: shown(&name, value),
        key: name,
        layer: from,
        version,
        tenant_id: key.tenant(),
    }
}

/// One list of the files' main routing, as JSON.
fn notify_list(notify: &crate::notify::NotifyConfig, field: NotifyField) -> Value {
    let value = match field {
        NotifyField::Contacts => serde_json::to_value(&notify.contacts),
        NotifyField::Schedules => serde_json::to_value(&notify.schedules),
        NotifyField::Policies => serde_json::to_value(&notify.policies),
        NotifyField::Routes => serde_json::to_value(&notify.routes),
    };
    value.unwrap_or(Value::Null)
}

/// One list of a tenant file's own routing, as JSON.
fn tenant_notify_list(own: &crate::notify::config::TenantNotify, field: NotifyField) -> Value {
    let value = match field {
        NotifyField::Contacts => serde_json::to_value(&own.contacts),
        NotifyField::Schedules => serde_json::to_value(&own.schedules),
        NotifyField::Policies => serde_json::to_value(&own.policies),
        NotifyField::Routes => serde_json::to_value(&own.routes),
    };
    value.unwrap_or(Value::Null)
}

/// The layer and the latest versions of `keys` only (read by key: what one key's answer
/// needs, whatever the history's length).
pub(in crate::api) async fn layer_and_versions_of(
    center: &ConfigCenter,
    keys: &[RuntimeKey],
) -> Result<(RuntimeLayer, BTreeMap<String, i64>), ApiError> {
    let names: Vec<String> = keys.iter().map(ToString::to_string).collect();
    let rows = center
        .store()
        .config_changes()
        .latest_of(&names)
        .await
        .map_err(store_error)?;
    let versions = rows.iter().map(|r| (r.key.clone(), r.version)).collect();
    Ok((crate::runtime_config::center::layer_of(&rows), versions))
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
