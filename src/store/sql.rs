//! SQL helpers the feature stores share: a list of ids bound as one JSON array, and the
//! subquery that reads it back in each dialect (one bound value, whatever the list's length).

use super::Backend;

/// Ids as one JSON array of strings, to bind as one value.
pub(super) fn ids_json(ids: &[String]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

/// A subquery yielding the strings of the JSON array bound as `param`.
pub(super) fn json_ids(backend: &Backend, param: &str) -> String {
    match backend {
        Backend::Sqlite(_) => format!("SELECT value FROM json_each({param})"),
        Backend::Postgres(_) => format!("SELECT json_array_elements_text({param}::json)"),
    }
}

/// Ids per statement when they travel as one JSON array.
pub(super) const ID_CHUNK: usize = 10_000;
