//! Query parameters, parsed by hand so that every bad one answers 40001 naming the field and
//! the reason (axum's `Query` answers plain text).

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use vigil_schema::Millis;

use crate::http::ApiError;

/// The windows a `period` may name.
pub const PERIODS: [(&str, i64); 4] = vigil_engine::metrics::WINDOWS;

/// The query string of a request.
#[derive(Debug, Clone, Default)]
pub struct Params(BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params, ApiError> {
        let Query(map) = Query::<BTreeMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_parameter(format!("query string: {e}")))?;
        Ok(Params(map))
    }
}

impl Params {
    /// A parameter list from pairs (for tests).
    #[cfg(test)]
    pub fn of(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        )
    }

    /// 40001 if any parameter is not one of `known`.
    pub fn only(&self, known: &[&str]) -> Result<&Params, ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ApiError::invalid_field(
                k,
                format!("unknown parameter (expected one of: {})", known.join(", ")),
            )),
            None => Ok(self),
        }
    }

    /// The raw value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// An optional tenant id.
    pub fn tenant_id(&self) -> Result<Option<u64>, ApiError> {
        self.get("tenant_id")
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::invalid_field("tenant_id", "expected a positive integer")
                })
            })
            .transpose()
    }

    /// An optional integer in `range`, else `default`.
    pub fn integer(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
        default: u32,
    ) -> Result<u32, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        name,
                        format!(
                            "expected an integer from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        }
    }

    /// `period` as `(name, length)`, default `30d`.
    pub fn period(&self) -> Result<(&'static str, i64), ApiError> {
        let name = self.get("period").unwrap_or("30d");
        PERIODS
            .iter()
            .find(|(n, _)| *n == name)
            .copied()
            .ok_or_else(|| ApiError::invalid_field("period", "expected one of 1h, 24h, 7d, 30d"))
    }

    /// An optional RFC 3339 instant.
    pub fn instant(&self, name: &str) -> Result<Option<Millis>, ApiError> {
        self.get(name)
            .map(|v| {
                vigil_schema::parse_instant(v).ok_or_else(|| {
                    ApiError::invalid_field(
                        name,
                        "expected an RFC 3339 instant, e.g. 2026-11-22T00:00:00Z",
                    )
                })
            })
            .transpose()
    }

    /// The range asked for, `[from, to)` ending now by default: `period` (default 30d), or
    /// `from` and `to`, within the last 30 days the rolling metrics keep.
    pub fn range(&self, now: Millis) -> Result<Range, ApiError> {
        let (from, to) = (self.instant("from")?, self.instant("to")?);
        match (from, to) {
            (None, None) => {
                let (name, len) = self.period()?;
                Ok(Range {
                    period: Some(name),
                    from: now - len,
                    to: now,
                })
            }
            (Some(from), Some(to)) => {
                if self.get("period").is_some() {
                    return Err(ApiError::invalid_field(
                        "period",
                        "give either period or from and to, not both",
                    ));
                }
                if from >= to {
                    return Err(ApiError::invalid_field("from", "must be before to"));
                }
                let oldest = now - vigil_engine::metrics::RETAINED_MS;
                if from < oldest {
                    return Err(ApiError::invalid_field(
                        "from",
                        "rolling metrics reach back 30 days; give a later from",
                    ));
                }
                Ok(Range {
                    period: None,
                    from,
                    to: to.min(now),
                })
            }
            (Some(_), None) => Err(ApiError::invalid_field("to", "required with from")),
            (None, Some(_)) => Err(ApiError::invalid_field("from", "required with to")),
        }
    }
}

/// A range of time a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The named period, if one was used.
    pub period: Option<&'static str>,
    /// Start (inclusive).
    pub from: Millis,
    /// End (inclusive).
    pub to: Millis,
}

/// A JSON body as `T`; 40001 naming the field that does not fit.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body" } else { path.as_str() };
        ApiError::invalid_field(field, e.inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::envelope::INVALID_PARAMETER;

    const NOW: Millis = 1_795_000_000_000;

    #[test]
    fn periods_and_ranges_are_checked_with_the_field_named() {
        assert_eq!(Params::default().range(NOW).unwrap().period, Some("30d"));
        let r = Params::of(&[("period", "24h")]).range(NOW).unwrap();
        assert_eq!(r.to - r.from, 86_400_000);
        let bad = Params::of(&[("period", "2w")]).range(NOW).unwrap_err();
        assert_eq!(bad.code, INVALID_PARAMETER);
        assert_eq!(bad.data["field"], "period");
        let only_from = Params::of(&[("from", "2026-11-20T00:00:00Z")])
            .range(NOW)
            .unwrap_err();
        assert_eq!(only_from.data["field"], "to");
        let reversed = Params::of(&[
            ("from", "2026-11-20T00:00:00Z"),
            ("to", "2026-11-19T00:00:00Z"),
        ]);
        assert_eq!(reversed.range(NOW).unwrap_err().data["field"], "from");
        let garbage = Params::of(&[("from", "yesterday"), ("to", "today")]);
        assert_eq!(garbage.range(NOW).unwrap_err().data["field"], "from");
    }

    #[test]
    fn unknown_parameters_and_bad_numbers_are_refused() {
        let p = Params::of(&[("limt", "5")]);
        assert_eq!(p.only(&["limit"]).unwrap_err().data["field"], "limt");
        let p = Params::of(&[("limit", "0"), ("tenant_id", "-3")]);
        assert_eq!(
            p.integer("limit", 1..=1000, 100).unwrap_err().data["field"],
            "limit"
        );
        assert_eq!(p.tenant_id().unwrap_err().data["field"], "tenant_id");
        assert_eq!(
            Params::default().integer("limit", 1..=1000, 100).unwrap(),
            100
        );
    }
}
