//! Deserializing a whole document while collecting every problem: serde stops at the first
//! error, so each pass that fails records its error, removes the offending key (the field falls
//! back to its default) and tries again. Unknown keys come from `serde_ignored` (for types that
//! must accept unknown keys elsewhere, like policy specs in events) or from
//! `deny_unknown_fields` errors.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use toml::Value;

use super::env::EnvOverride;
use super::problem::{ConfigProblem, Origins};
use crate::setting::{FieldPath, Seg};

/// Most problems one document reports before giving up on the rest.
pub const MAX_PROBLEMS_PER_DOCUMENT: usize = 100;

/// Deserializes `doc`, pushing a problem for every bad or unknown key. Returns the value built
/// from the good keys (bad ones at their defaults), or `None` if the document as a whole is
/// unusable.
pub fn deserialize<T: DeserializeOwned>(
    mut doc: Value,
    origins: &Origins,
    env: &BTreeMap<FieldPath, EnvOverride>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    let mut removed: BTreeSet<FieldPath> = BTreeSet::new();
    let mut as_string: BTreeSet<FieldPath> = BTreeSet::new();
    let mut reported = 0;
    loop {
        let mut unknown: Vec<FieldPath> = Vec::new();
        let result = {
            let mut on_ignored = |p: serde_ignored::Path<'_>| unknown.push(ignored_path(&p));
            let de = serde_ignored::Deserializer::new(doc.clone(), &mut on_ignored);
            serde_path_to_error::deserialize::<_, T>(de)
        };
        let error = match result {
            Ok(value) => {
                let mut seen = BTreeSet::new();
                for path in unknown {
                    if seen.insert(path.clone()) {
                        problems.push(origins.problem(&path, "unknown key"));
                    }
                }
                return Some(value);
            }
            Err(e) => e,
        };
        let mut path = error_path(error.path());
        let message = error.inner().message().to_string();

        // A number or boolean from the environment where text is expected: take it as text.
        if let Some(over) = env.get(&path) {
            if !as_string.contains(&path) && message.starts_with("invalid type") {
                as_string.insert(path.clone());
                if replace(&mut doc, &path, Value::String(over.raw.clone())) {
                    continue;
                }
            }
        }

        let report = if let Some(rest) = message.strip_prefix("unknown field `") {
            let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
            // The path may or may not already end at the unknown key.
            if path.0.last() != Some(&Seg::Key(name.to_string())) {
                path = path.key(name);
            }
            let expected = expected.trim_start_matches(',').trim();
            Some(if expected.is_empty() {
                "unknown key".to_string()
            } else {
                format!("unknown key; {expected}")
            })
        } else if let Some(rest) = message.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or(rest);
            // Missing only because an earlier pass removed a bad value: already reported.
            (!removed.contains(&path.key(name))).then(|| format!("missing required key `{name}`"))
        } else {
            Some(message)
        };
        if let Some(msg) = report {
            problems.push(origins.problem(&path, msg));
            reported += 1;
        }
        if reported >= MAX_PROBLEMS_PER_DOCUMENT || !remove(&mut doc, &path) {
            return None;
        }
        removed.insert(path);
    }
}

fn error_path(path: &serde_path_to_error::Path) -> FieldPath {
    use serde_path_to_error::Segment;
    FieldPath(
        path.iter()
            .filter_map(|s| match s {
                Segment::Seq { index } => Some(Seg::Index(*index)),
                Segment::Map { key } => Some(Seg::Key(key.clone())),
                Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                Segment::Unknown => None,
            })
            .collect(),
    )
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> FieldPath {
    fn walk(p: &serde_ignored::Path<'_>, out: &mut Vec<Seg>) {
        use serde_ignored::Path;
        match p {
            Path::Root => {}
            Path::Seq { parent, index } => {
                walk(parent, out);
                out.push(Seg::Index(*index));
            }
            Path::Map { parent, key } => {
                walk(parent, out);
                out.push(Seg::Key(key.clone()));
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut out = Vec::new();
    walk(path, &mut out);
    FieldPath(out)
}

/// The value at `path`'s parent and the last step, for editing.
fn parent_mut<'a, 'p>(doc: &'a mut Value, path: &'p FieldPath) -> Option<(&'a mut Value, &'p Seg)> {
    let (last, init) = path.0.split_last()?;
    let mut at = doc;
    for seg in init {
        at = match (seg, at) {
            (Seg::Key(k), Value::Table(t)) => t.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some((at, last))
}

/// Removes the value at `path`; false if there is none (or `path` is the root).
fn remove(doc: &mut Value, path: &FieldPath) -> bool {
    match parent_mut(doc, path) {
        Some((Value::Table(t), Seg::Key(k))) => t.remove(k).is_some(),
        Some((Value::Array(a), Seg::Index(i))) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// Replaces the value at `path`; false if there is none.
fn replace(doc: &mut Value, path: &FieldPath, value: Value) -> bool {
    match parent_mut(doc, path) {
        Some((Value::Table(t), Seg::Key(k))) => match t.get_mut(k) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        },
        Some((Value::Array(a), Seg::Index(i))) => match a.get_mut(*i) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        },
        _ => false,
    }
}
