//! The on-call routing of the runtime layer: the lists `notify.<list>` and
//! `tenant.<id>.notify.<list>` (contacts, schedules, policies, routes) put in place of the
//! files' lists, checked with the rules `check-config` applies to `[notify]`, and the routing
//! the notifier then follows. Providers, delivery settings and limits stay as the service
//! started.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::keys::{NotifyField, RuntimeKey};
use super::layer::{RuntimeLayer, ValueProblem};
use crate::config::VigilConfig;
use crate::notify::config::TenantNotify;
use crate::notify::{NotifyConfig, Routing};
use crate::setting::{FieldPath, Seg};

/// The main and tenant routing with the layer's lists in place, and the values that could not
/// be read (as problems).
pub fn routing_parts(
    layer: &RuntimeLayer,
    config: &VigilConfig,
) -> (NotifyConfig, BTreeMap<u64, TenantNotify>, Vec<ValueProblem>) {
    let mut main = config.notify.clone();
    let mut tenants = config.tenant_notify.clone();
    let mut problems = Vec::new();
    for (key, value) in layer.iter() {
        let result = match key {
            RuntimeKey::Notify(field) => set_list(
                field,
                value,
                &mut main.contacts,
                &mut main.schedules,
                &mut main.policies,
                &mut main.routes,
            ),
            RuntimeKey::TenantNotify { tenant, field } => {
                let own = tenants.entry(*tenant).or_default();
                set_list(
                    field,
                    value,
                    &mut own.contacts,
                    &mut own.schedules,
                    &mut own.policies,
                    &mut own.routes,
                )
            }
            _ => Ok(()),
        };
        if let Err((field, reason)) = result {
            problems.push(ValueProblem {
                key: key.to_string(),
                field,
                reason,
            });
        }
    }
    (main, tenants, problems)
}

/// The routing the notifier follows under `layer`.
pub fn routing_of(layer: &RuntimeLayer, config: &VigilConfig) -> Routing {
    let (main, tenants, _) = routing_parts(layer, config);
    Routing::new(main, &tenants)
}

/// Problems of the notify keys among `touched`: values that cannot be read, then what
/// `check-config` finds in the main routing and in each touched tenant's own items.
pub fn problems(
    layer: &RuntimeLayer,
    config: &VigilConfig,
    touched: &[RuntimeKey],
) -> Vec<ValueProblem> {
    if !touched.iter().any(RuntimeKey::is_notify) {
        return Vec::new();
    }
    if !Routing::new(config.notify.clone(), &config.tenant_notify).enabled() {
        return touched
            .iter()
            .filter(|k| k.is_notify())
            .map(|k| ValueProblem {
                key: k.to_string(),
                field: String::new(),
                reason: "notifications are off on this instance (no route in the files at start, so no provider was set up); add [notify] providers and a route to config/vigil.toml and restart".into(),
            })
            .collect();
    }
    let (main, tenants, mut out) = routing_parts(layer, config);
    if !out.is_empty() {
        return out;
    }
    let main_touched = touched.iter().any(|k| matches!(k, RuntimeKey::Notify(_)));
    if main_touched {
        for (path, message) in main.problems() {
            out.push(placed(&path, None, message));
        }
    }
    // A tenant changed, or every tenant when the main lists changed (their references may
    // point into them).
    let wanted: BTreeSet<u64> = if main_touched {
        tenants.keys().copied().collect()
    } else {
        touched
            .iter()
            .filter_map(|k| match k {
                RuntimeKey::TenantNotify { tenant, .. } => Some(*tenant),
                _ => None,
            })
            .collect()
    };
    for tenant in wanted {
        let Some(own) = tenants.get(&tenant) else {
            continue;
        };
        for (path, message) in main.for_tenant(own).problems() {
            // Only the tenant's own items (they come first in each merged list).
            let own_len = match path.0.get(1) {
                Some(Seg::Key(k)) if k == "contacts" => own.contacts.len(),
                Some(Seg::Key(k)) if k == "schedules" => own.schedules.len(),
                Some(Seg::Key(k)) if k == "policies" => own.policies.len(),
                Some(Seg::Key(k)) if k == "routes" => own.routes.len(),
                _ => 0,
            };
            if matches!(path.0.get(2), Some(Seg::Index(i)) if *i < own_len) {
                out.push(placed(&path, Some(tenant), message));
            }
        }
    }
    out
}

/// A problem at `notify.<list>[i]…` as a problem of the runtime key of that list.
fn placed(path: &FieldPath, tenant: Option<u64>, reason: String) -> ValueProblem {
    let list = match path.0.get(1) {
        Some(Seg::Key(k)) => NotifyField::ALL.into_iter().find(|f| f.as_str() == k),
        _ => None,
    };
    let key = match (list, tenant) {
        (Some(field), None) => RuntimeKey::Notify(field).to_string(),
        (Some(field), Some(tenant)) => RuntimeKey::TenantNotify { tenant, field }.to_string(),
        (None, None) => "notify".into(),
        (None, Some(tenant)) => format!("tenant.{tenant}.notify"),
    };
    let inner = FieldPath(path.0.iter().skip(2).cloned().collect());
    let field = if inner.is_root() {
        String::new()
    } else {
        inner.to_string()
    };
    ValueProblem { key, field, reason }
}

/// Replaces one list with the JSON `value`, or says which part of it is wrong.
fn set_list(
    field: &NotifyField,
    value: &Value,
    contacts: &mut Vec<crate::notify::config::ContactSpec>,
    schedules: &mut Vec<crate::notify::schedule::ScheduleSpec>,
    policies: &mut Vec<crate::notify::config::PolicySpec>,
    routes: &mut Vec<crate::notify::config::RouteSpec>,
) -> Result<(), (String, String)> {
    match field {
        NotifyField::Contacts => *contacts = read(value)?,
        NotifyField::Schedules => *schedules = read(value)?,
        NotifyField::Policies => *policies = read(value)?,
        NotifyField::Routes => *routes = read(value)?,
    }
    Ok(())
}

fn read<T: DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.inner().to_string())
    })
}
