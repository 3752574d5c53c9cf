//! Policy settings as written in TOML (`[sla]`, `[policy]`) and in the `policy` object of
//! `sla.policy_updated` events; calendars are [`crate::calendar::CalendarSpec`]. Every field is
//! optional so that a tenant file or an update names only what it overrides. Unknown keys are
//! not rejected here (events must ignore them); the configuration loader reports them for files.

use std::collections::BTreeMap;
use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A policy, or the part of one that a tenant file or update overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct PolicySpec {
    /// `"24x7"` or the name of a calendar under `[calendars]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// Fractions of a target, each in (0, 1), that raise a warning; duplicates are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_at: Option<Vec<Fraction>>,
    /// Statuses during which running goals accrue nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_statuses: Option<Vec<String>>,
    /// Targets per priority; the keys are the known priorities. Merged per goal.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, GoalTargetsSpec>,
    /// Overrides per service type, merged over the policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_types: BTreeMap<String, ServiceTypeSpec>,
    /// Only in `sla.policy_updated`: the first ticket creation instant the version applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<String>,
}

/// The response and resolution targets of one priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
pub struct GoalTargetsSpec {
    /// Time to first response, in calendar time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<DurationSpec>,
    /// Time to resolution, in calendar time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<DurationSpec>,
}

/// A per-service-type override.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ServiceTypeSpec {
    /// Calendar for tickets of this service type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// Targets for tickets of this service type, merged per goal.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, GoalTargetsSpec>,
}

/// A target duration in milliseconds: written as minutes (a number) or a duration string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub i64);

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("minutes as a positive number, or a duration string such as \"90s\", \"4h\", \"7d\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationSpec, E> {
                v.checked_mul(60_000)
                    .filter(|ms| *ms > 0)
                    .map(DurationSpec)
                    .ok_or_else(|| E::custom("a target must be a positive number of minutes"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationSpec, E> {
                i64::try_from(v)
                    .map_err(|_| E::custom("target too large"))
                    .and_then(|v| self.visit_i64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationSpec, E> {
                let ms = (v * 60_000.0).round();
                if v.is_finite() && (1.0..9.0e15).contains(&ms) {
                    Ok(DurationSpec(ms as i64))
                } else {
                    Err(E::custom("a target must be a positive number of minutes"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationSpec, E> {
                match vigil_schema::parse_duration(v) {
                    Ok(ms) if ms > 0 => Ok(DurationSpec(ms)),
                    Ok(_) => Err(E::custom("a target must be longer than zero")),
                    Err(e) => Err(E::custom(e)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 60_000 == 0 {
            s.serialize_i64(self.0 / 60_000)
        } else {
            s.serialize_str(&format!("{}ms", self.0))
        }
    }
}

/// A decimal fraction kept exactly as written (`0.8` is 8/10), so that `f × target` can be
/// rounded up to the millisecond without binary floating-point error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fraction {
    /// Numerator over `10^scale`.
    pub numerator: i64,
    /// Decimal places.
    pub scale: u32,
}

impl Fraction {
    /// The fraction of a number as written, e.g. from `0.8` or `"0.85"`.
    pub fn parse(s: &str) -> Option<Fraction> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac = frac.trim_end_matches('0');
        let scale = u32::try_from(frac.len()).ok().filter(|s| *s <= 15)?;
        let numerator = format!("{int}{frac}").parse::<i64>().ok()?;
        Some(Fraction { numerator, scale })
    }

    /// The value as a float (for output only).
    pub fn as_f64(self) -> f64 {
        self.numerator as f64 / 10f64.powi(self.scale as i32)
    }

    /// `self × target`, rounded up to a whole millisecond.
    pub fn of(self, target_ms: i64) -> i64 {
        let den = 10i128.pow(self.scale);
        let prod = i128::from(target_ms) * i128::from(self.numerator);
        let q = prod.div_euclid(den) + i128::from(prod.rem_euclid(den) != 0);
        i64::try_from(q).unwrap_or(i64::MAX)
    }

    /// Whether it lies strictly between 0 and 1.
    pub fn is_proper(self) -> bool {
        self.numerator > 0 && i128::from(self.numerator) < 10i128.pow(self.scale)
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Fraction;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fraction between 0 and 1, such as 0.8")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Fraction, E> {
                // Rust prints the shortest text that reads back as the same float: the
                // number as it was written, for any literal of up to 15 digits.
                Fraction::parse(&format!("{v}")).ok_or_else(|| E::custom("not a decimal fraction"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fraction, E> {
                Fraction::parse(&v.to_string()).ok_or_else(|| E::custom("not a decimal fraction"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fraction, E> {
                Err(E::custom(format!("{v} is not between 0 and 1")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Fraction, E> {
                Fraction::parse(v).ok_or_else(|| E::custom("not a decimal fraction"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_times_target_rounds_up_exactly() {
        let f = Fraction::parse("0.8").unwrap();
        assert_eq!(f.of(1_800_000), 1_440_000);
        let third = Fraction::parse("0.3").unwrap();
        assert_eq!(third.of(10), 3);
        assert_eq!(Fraction::parse("0.333").unwrap().of(1000), 333);
        assert_eq!(Fraction::parse("0.3333").unwrap().of(1000), 334);
        assert!(f.is_proper());
        assert!(!Fraction::parse("1.0").unwrap().is_proper());
        assert!(!Fraction::parse("0").unwrap().is_proper());
    }

    #[test]
    fn fractions_deserialize_as_written() {
        let v: Vec<Fraction> = serde_json::from_str("[0.1, 0.8, 0.85]").unwrap();
        assert_eq!(
            v[0],
            Fraction {
                numerator: 1,
                scale: 1
            }
        );
        assert_eq!(
            v[2],
            Fraction {
                numerator: 85,
                scale: 2
            }
        );
    }

    #[test]
    fn targets_take_minutes_or_strings() {
        let t: GoalTargetsSpec = toml::from_str("response = 30\nresolution = \"4h\"").unwrap();
        assert_eq!(t.response, Some(DurationSpec(1_800_000)));
        assert_eq!(t.resolution, Some(DurationSpec(14_400_000)));
        assert!(toml::from_str::<GoalTargetsSpec>("response = 0").is_err());
        assert!(toml::from_str::<GoalTargetsSpec>("response = \"soon\"").is_err());
    }
}
