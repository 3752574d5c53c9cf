//! Instants (ms since the epoch) written as RFC 3339 strings in UTC, for the rows the API sends
//! as they are (every instant the API sends is an RFC 3339 string).

use serde::Serializer;
use vigil_schema::{format_instant, Millis};

/// Serializes an instant as RFC 3339 (`#[serde(serialize_with = …)]`).
pub(super) fn instant<S: Serializer>(t: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_instant(*t))
}

/// Serializes an optional instant as RFC 3339, or `null`.
pub(super) fn optional<S: Serializer>(t: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => instant(t, s),
        None => s.serialize_none(),
    }
}
