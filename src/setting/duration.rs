//! Durations in service settings, written as strings (`"90s"`, `"5m"`, `"35d"`, `"1h30m"`).

use std::fmt;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration with millisecond precision, read from a duration string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigDuration {
    ms: i64,
}

impl ConfigDuration {
    /// Whole seconds.
    pub const fn from_secs(secs: u32) -> ConfigDuration {
        ConfigDuration {
            ms: secs as i64 * 1000,
        }
    }

    /// Whole minutes.
    pub const fn from_mins(mins: u32) -> ConfigDuration {
        ConfigDuration {
            ms: mins as i64 * 60_000,
        }
    }

    /// Whole days of 24 hours.
    pub const fn from_days(days: u32) -> ConfigDuration {
        ConfigDuration {
            ms: days as i64 * 86_400_000,
        }
    }

    /// Parses a duration string of `<number><unit>` parts (units `ms`, `s`, `m`, `h`, `d`).
    pub fn parse(s: &str) -> Result<ConfigDuration, vigil_schema::DurationError> {
        vigil_schema::parse_duration(s).map(|ms| ConfigDuration { ms })
    }

    /// Milliseconds (never negative).
    pub const fn as_millis(self) -> i64 {
        self.ms
    }

    /// As a standard duration.
    pub fn as_std(self) -> Duration {
        Duration::from_millis(u64::try_from(self.ms).unwrap_or(0))
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(i64, &str); 4] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ];
        if self.ms == 0 {
            return f.write_str("0s");
        }
        for (size, unit) in UNITS {
            if self.ms % size == 0 {
                return write!(f, "{}{unit}", self.ms / size);
            }
        }
        write!(f, "{}ms", self.ms)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"90s\", \"5m\", \"4h\" or \"35d\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigDuration, E> {
                ConfigDuration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
