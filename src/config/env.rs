//! Environment overrides: `VIGIL__<SECTION>__<KEY>[__<KEY>…]=value` replaces one key of the
//! main file. The value is read as a TOML value when it is one (number, boolean, array, inline
//! table, quoted string), otherwise taken as a plain string (`VIGIL__NATS__URL=nats://h:4222`).
//!
//! Keys match the file's keys case-insensitively. A key the file does not have is lower-cased,
//! except priority names under `targets`, which are upper-cased
//! (`VIGIL__SLA__TARGETS__HIGH__RESPONSE=60`).

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::problem::{ConfigProblem, Origins};
use crate::setting::{FieldPath, Seg};

/// The prefix of override variables.
pub const ENV_PREFIX: &str = "VIGIL__";

/// One applied override, kept so a value that was read as a number where a string is
/// expected can be retried as the plain string.
#[derive(Debug, Clone)]
pub struct EnvOverride {
    /// The variable's name.
    pub var: String,
    /// The value as written.
    pub raw: String,
}

/// Applies every `VIGIL__…` variable of `vars` to `table`, recording each in `origins.env`.
/// Returns the overrides by path, and problems for malformed variable names.
pub fn apply(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
    origins: &mut Origins,
) -> (BTreeMap<FieldPath, EnvOverride>, Vec<ConfigProblem>) {
    let mut applied = BTreeMap::new();
    let mut problems = Vec::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let parts: Vec<&str> = var[ENV_PREFIX.len()..].split("__").collect();
        if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
            problems.push(ConfigProblem {
                file: format!("environment variable {var}"),
                line: None,
                field: var[ENV_PREFIX.len()..].to_string(),
                message: "expected VIGIL__<SECTION>__<KEY>, e.g. VIGIL__NATS__URL".into(),
            });
            continue;
        }
        match set(table, &parts, parse_value(&raw)) {
            Ok(path) => {
                origins.env.insert(path.clone(), var.clone());
                applied.insert(path, EnvOverride { var, raw });
            }
            Err(path) => problems.push(ConfigProblem {
                file: format!("environment variable {var}"),
                line: None,
                field: path.to_string(),
                message: "cannot set a key inside a value that is not a table".into(),
            }),
        }
    }
    (applied, problems)
}

/// The value of a variable: a TOML value if it reads as one (dates excepted), else the text.
pub fn parse_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match doc.parse::<Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(Value::Datetime(_)) | None => Value::String(raw.to_string()),
            Some(v) => v,
        },
        Err(_) => Value::String(raw.to_string()),
    }
}

/// Sets `value` at the path named by `parts`, creating tables on the way. Returns the path
/// with the keys as resolved, or the path of a non-table in the way.
fn set(table: &mut Table, parts: &[&str], value: Value) -> Result<FieldPath, FieldPath> {
    let mut path = FieldPath::default();
    let mut current = table;
    let mut parent_key = String::new();
    for (i, part) in parts.iter().enumerate() {
        let key = resolve_key(current, part, &parent_key);
        path.0.push(Seg::Key(key.clone()));
        if i + 1 == parts.len() {
            current.insert(key, value);
            return Ok(path);
        }
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        match entry {
            Value::Table(t) => current = t,
            _ => return Err(path),
        }
        parent_key = key;
    }
    Ok(path)
}

fn resolve_key(table: &Table, part: &str, parent_key: &str) -> String {
    if let Some(existing) = table.keys().find(|k| k.eq_ignore_ascii_case(part)) {
        return existing.clone();
    }
    if parent_key == "targets" {
        part.to_ascii_uppercase()
    } else {
        part.to_ascii_lowercase()
    }
}
