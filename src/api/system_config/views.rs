//! The shapes `/api/v1/system-config` reads and answers, and the difference of two values.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use vigil_schema::format_instant;

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
        let parse = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| serde_json::from_str(v).ok())
                .map(|v| crate::secrets::shown(&row.key, v))
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
