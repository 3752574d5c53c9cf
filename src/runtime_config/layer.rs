//! The runtime layer: the current value of every runtime key, checked against the rest of the
//! configuration with the rules `vigil check-config` applies, and what applying it means for
//! each kind of key.

use std::collections::BTreeMap;

use serde_json::Value;
use vigil_engine::policy::{PolicyBook, PolicySpec};

use super::keys::{HttpLimit, RuntimeKey, SlaField};
use crate::config::VigilConfig;
use crate::flags::{FlagRule, FlagSet, Switch};

/// One reason a value is refused: the key, the field inside its value (`""` for the value
/// itself) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ValueProblem {
    /// The runtime key.
    pub key: String,
    /// The field inside the value, e.g. `HIGH.response` in `tenant.7.sla.targets`; empty for
    /// the value as a whole.
    pub field: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// The current value of every runtime key that has one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeLayer {
    values: BTreeMap<RuntimeKey, Value>,
}

impl RuntimeLayer {
    /// A layer of the given values (keys whose text no longer parses are left out: a key the
    /// service stopped knowing changes nothing).
    pub fn from_values<'a>(values: impl IntoIterator<Item = (&'a str, Value)>) -> RuntimeLayer {
        RuntimeLayer {
            values: values
                .into_iter()
                .filter_map(|(k, v)| RuntimeKey::parse(k).ok().map(|k| (k, v)))
                .collect(),
        }
    }

    /// The value of `key`, if the layer sets it.
    pub fn get(&self, key: &RuntimeKey) -> Option<&Value> {
        self.values.get(key)
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&RuntimeKey, &Value)> {
        self.values.iter()
    }

    /// Sets (`Some`) or removes (`None`) a key.
    pub fn set(&mut self, key: RuntimeKey, value: Option<Value>) {
        match value {
            Some(v) => self.values.insert(key, v),
            None => self.values.remove(&key),
        };
    }

    /// The flag rules the layer sets (the layer has been validated).
    pub fn flags(&self) -> FlagSet {
        FlagSet::new(self.values.iter().filter_map(|(k, v)| {
            match k {
                RuntimeKey::Flag(switch) => serde_json::from_value::<FlagRule>(v.clone())
                    .ok()
                    .map(|rule| (switch.clone(), rule)),
                _ => None,
            }
        }))
    }

    /// The secrets the layer sets, opened with `seal` (variable → value), and the variables
    /// that could not be opened, with why (no key here, another key, altered).
    pub fn secrets(
        &self,
        seal: Option<&crate::secrets::SealKey>,
    ) -> (
        BTreeMap<String, String>,
        Vec<(String, crate::secrets::SealError)>,
    ) {
        let mut open = BTreeMap::new();
        let mut failed = Vec::new();
        for (key, value) in &self.values {
            let RuntimeKey::Secret(name) = key else {
                continue;
            };
            let opened = match (seal, sealed_text(value)) {
                (None, _) => Err(crate::secrets::SealError::NoKey),
                (Some(seal), Some(sealed)) => seal.open(name, sealed),
                (Some(_), None) => Err(crate::secrets::SealError::Corrupt),
            };
            match opened {
                Ok(plain) => {
                    open.insert(name.clone(), plain);
                }
                Err(e) => failed.push((name.clone(), e)),
            }
        }
        (open, failed)
    }

    /// The request limits per minute (per IP, per tenant): the layer's, else `config`'s.
    pub fn http_limits(&self, config: &crate::http::config::HttpConfig) -> (u32, u32) {
        let limit = |which: HttpLimit, configured: u32| {
            self.values
                .get(&RuntimeKey::HttpLimit(which))
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(configured)
        };
        (
            limit(HttpLimit::PerIp, config.rate_limit_per_ip),
            limit(HttpLimit::PerTenant, config.rate_limit_per_tenant),
        )
    }

    /// The log filter the layer sets.
    pub fn log_filter(&self) -> Option<&str> {
        self.values.get(&RuntimeKey::LogFilter)?.as_str()
    }

    /// Checks every value of the layer against `config` (the files and environment) with the
    /// rules of `vigil check-config`: every problem, none skipped. `touched` limits the check
    /// to those keys and, for tenant policies, the tenants they belong to (a change is not
    /// refused for a problem it did not make). The on-call lists are checked as a whole by
    /// [`super::notify::problems`].
    pub fn problems(&self, config: &VigilConfig, touched: &[RuntimeKey]) -> Vec<ValueProblem> {
        let mut out = Vec::new();
        let mut tenants: BTreeMap<u64, PolicySpec> = BTreeMap::new();
        for (key, value) in &self.values {
            let wanted = touched.iter().any(|t| match (t, key) {
                (
                    RuntimeKey::TenantSla { tenant: a, .. },
                    RuntimeKey::TenantSla { tenant: b, .. },
                ) => a == b,
                _ => t == key,
            });
            if !wanted {
                continue;
            }
            let mut bad = |field: &str, reason: String| {
                out.push(ValueProblem {
                    key: key.to_string(),
                    field: field.to_string(),
                    reason,
                })
            };
            match key {
                RuntimeKey::LogFilter => match value.as_str() {
                    Some(filter) => {
                        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(filter) {
                            bad("", format!("not a valid filter: {e}"));
                        }
                    }
                    None => bad("", "expected a string such as \"info,vigil=debug\"".into()),
                },
                RuntimeKey::Flag(switch) => {
                    if let Switch::Partner(id) = switch {
                        if !config.partners.iter().any(|p| &p.id == id) {
                            bad("", format!("no partner {id:?} is configured"));
                        }
                    }
                    match serde_path_to_error::deserialize::<_, FlagRule>(value.clone()) {
                        Ok(rule) => {
                            for (field, reason) in rule.problems(switch) {
                                bad(&field, reason);
                            }
                        }
                        Err(e) => bad(&json_path(e.path()), e.inner().to_string()),
                    }
                }
                RuntimeKey::TenantSla { tenant, field } => {
                    let policy = tenants.entry(*tenant).or_default();
                    if let Err(reason) = set_policy_field(policy, *field, value) {
                        bad(&reason.0, reason.1);
                    }
                }
                RuntimeKey::HttpLimit(_) => {
                    if value.as_u64().is_none_or(|n| n > u64::from(u32::MAX)) {
                        bad(
                            "",
                            "expected requests per minute, a whole number (0 switches the limit off)"
                                .into(),
                        );
                    }
                }
                RuntimeKey::Secret(name) => {
                    let named = super::keys::secret_variables(config);
                    if !named.iter().any(|(var, _)| var == name) {
                        let names: Vec<&str> = named.iter().map(|(v, _)| v.as_str()).collect();
                        bad("", format!("no setting names the environment variable {name}; the secrets of this configuration are {names:?} (named by notify.smtp.password_env, notify.sms.auth_header_env, notify.webhook.secret_env and the partners' auth.*_env)"));
                    }
                    if let Err(reason) = secret_value_problem(value) {
                        bad("", reason);
                    }
                }
                // Checked as a whole by `notify::problems`: references cross lists and tenants.
                RuntimeKey::Notify(_) | RuntimeKey::TenantNotify { .. } => {}
            }
        }
        for (tenant, runtime) in tenants {
            out.extend(tenant_policy_problems(config, tenant, &runtime));
        }
        out
    }
}

/// Problems of `tenant`'s policy with `runtime` merged over its file's, as `check-config` finds
/// them (policy compilation), each placed under the runtime key of its field.
fn tenant_policy_problems(
    config: &VigilConfig,
    tenant: u64,
    runtime: &PolicySpec,
) -> Vec<ValueProblem> {
    let configured = config
        .tenant_policies
        .get(&tenant)
        .cloned()
        .unwrap_or_default();
    let merged = vigil_engine::policy::merge(&configured, runtime);
    let policies = BTreeMap::from([(tenant, merged)]);
    let Err(errors) = PolicyBook::build(&config.sla, &config.calendars, &policies) else {
        return Vec::new();
    };
    errors
        .into_iter()
        .filter(|e| e.tenant == Some(tenant))
        .map(|e| {
            let (first, rest) = e.path.split_once('.').unwrap_or((e.path.as_str(), ""));
            let field = SlaField::ALL
                .into_iter()
                .find(|f| f.as_str() == first.split('[').next().unwrap_or(first));
            match field {
                Some(field) => ValueProblem {
                    key: RuntimeKey::TenantSla { tenant, field }.to_string(),
                    field: rest.to_string(),
                    reason: e.message,
                },
                None => ValueProblem {
                    key: format!("tenant.{tenant}.sla"),
                    field: e.path,
                    reason: e.message,
                },
            }
        })
        .collect()
}

/// Longest secret, in bytes.
pub const MAX_SECRET_BYTES: usize = 4096;

/// What is wrong with a secret's value: it must be a non-empty string of at most
/// [`MAX_SECRET_BYTES`] without control characters (they would break the headers it goes
/// into), or a sealed value as the store keeps it (a rollback).
fn secret_value_problem(value: &Value) -> Result<(), String> {
    if sealed_text(value).is_some() {
        return Ok(());
    }
    let Some(text) = value.as_str() else {
        return Err("expected the secret as a string".into());
    };
    if text.is_empty() {
        return Err("is empty; delete the key to fall back to the environment".into());
    }
    if text == crate::secrets::MASK {
        return Err("is the mask shown in place of a secret; give the secret itself".into());
    }
    if text.len() > MAX_SECRET_BYTES {
        return Err(format!(
            "is {} bytes; at most {MAX_SECRET_BYTES}",
            text.len()
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("contains control characters (line breaks, tabs)".into());
    }
    Ok(())
}

/// The sealed text of a secret's stored value `{"sealed": "v1:…"}`.
pub fn sealed_text(value: &Value) -> Option<&str> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get("sealed")?.as_str()
}

/// Sets one field of a policy from its JSON value, or says which part of it is wrong.
pub fn set_policy_field(
    policy: &mut PolicySpec,
    field: SlaField,
    value: &Value,
) -> Result<(), (String, String)> {
    let object = Value::Object(serde_json::Map::from_iter([(
        field.as_str().to_string(),
        value.clone(),
    )]));
    let parsed: PolicySpec = serde_path_to_error::deserialize(object).map_err(|e| {
        let path = json_path(e.path());
        let inner = path
            .strip_prefix(field.as_str())
            .map(|p| p.trim_start_matches('.').to_string())
            .unwrap_or(path);
        (inner, e.inner().to_string())
    })?;
    match field {
        SlaField::Calendar => policy.calendar = parsed.calendar,
        SlaField::WarnAt => policy.warn_at = parsed.warn_at,
        SlaField::PauseStatuses => policy.pause_statuses = parsed.pause_statuses,
        SlaField::Targets => policy.targets = parsed.targets,
        SlaField::ServiceTypes => policy.service_types = parsed.service_types,
    }
    Ok(())
}

/// The value a tenant's policy field has in the files (what deleting its runtime key restores).
pub fn configured_field(book: &PolicyBook, tenant: u64, field: SlaField) -> Value {
    let spec = &book.initial(tenant).spec;
    let value = match field {
        SlaField::Calendar => serde_json::to_value(&spec.calendar),
        SlaField::WarnAt => serde_json::to_value(&spec.warn_at),
        SlaField::PauseStatuses => serde_json::to_value(&spec.pause_statuses),
        SlaField::Targets => serde_json::to_value(&spec.targets),
        SlaField::ServiceTypes => serde_json::to_value(&spec.service_types),
    };
    value.unwrap_or(Value::Null)
}

/// A serde path as a dotted field path (`""` for the root).
fn json_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." {
        String::new()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> VigilConfig {
        VigilConfig::default()
    }

    fn layer(values: &[(&str, Value)]) -> RuntimeLayer {
        RuntimeLayer::from_values(values.iter().map(|(k, v)| (*k, v.clone())))
    }

    fn keys(values: &[&str]) -> Vec<RuntimeKey> {
        values
            .iter()
            .map(|k| RuntimeKey::parse(k).unwrap())
            .collect()
    }

    #[test]
    fn a_valid_layer_has_no_problems() {
        let l = layer(&[
            ("log.filter", json!("info,vigil=debug")),
            ("flags.ws.tickets", json!({"on": true, "percent": 10})),
            ("tenant.7.sla.targets", json!({"HIGH": {"response": "2h"}})),
            ("tenant.7.sla.warn_at", json!([0.5, 0.9])),
        ]);
        let all: Vec<RuntimeKey> = l.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(l.problems(&config(), &all), []);
        assert_eq!(l.log_filter(), Some("info,vigil=debug"));
        assert!(l.flags().rule(&Switch::WsTickets).is_some());
    }

    #[test]
    fn every_problem_is_listed_with_its_key_and_field() {
        let l = layer(&[
            ("log.filter", json!("vigil=[")),
            ("flags.ws.tickets", json!({"on": true, "percent": 200})),
            ("flags.partner.acme", json!({"on": false})),
            ("tenant.7.sla.calendar", json!("nope")),
            ("tenant.7.sla.warn_at", json!([1.5])),
        ]);
        let all: Vec<RuntimeKey> = l.iter().map(|(k, _)| k.clone()).collect();
        let problems = l.problems(&config(), &all);
        let at: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.field.as_str()))
            .collect();
        assert!(at.contains(&("log.filter", "")), "{problems:?}");
        assert!(
            at.contains(&("flags.ws.tickets", "percent")),
            "{problems:?}"
        );
        assert!(at.contains(&("flags.partner.acme", "")), "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.key == "tenant.7.sla.calendar" || p.key == "tenant.7.sla.warn_at"),
            "{problems:?}"
        );
        assert!(problems.len() >= 4, "{problems:?}");
    }

    #[test]
    fn a_change_is_judged_on_the_keys_it_touches() {
        let l = layer(&[
            ("log.filter", json!("vigil=[")),
            ("tenant.7.sla.targets", json!({"HIGH": {"response": "2h"}})),
        ]);
        assert_eq!(l.problems(&config(), &keys(&["tenant.7.sla.targets"])), []);
        assert_eq!(l.problems(&config(), &keys(&["log.filter"])).len(), 1);
    }

    #[test]
    fn a_bad_target_is_placed_inside_its_key() {
        let l = layer(&[(
            "tenant.7.sla.targets",
            json!({"HIGH": {"response": "soon"}}),
        )]);
        let problems = l.problems(&config(), &keys(&["tenant.7.sla.targets"]));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "tenant.7.sla.targets");
        assert!(problems[0].field.starts_with("HIGH"), "{problems:?}");
    }

    #[test]
    fn deleting_restores_the_files_value() {
        let book = config().policy_book().unwrap();
        let targets = configured_field(&book, 7, SlaField::Targets);
        assert!(targets.get("CRITICAL").is_some(), "{targets}");
    }
}
