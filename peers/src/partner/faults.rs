//! Faults a test or benchmark injects into the partner API ([`Fault`]); `plan` decides, call
//! by call, which of them apply. There is one slot per [`FaultKind`]: setting a fault
//! replaces the one of its kind.
//!
//! Faults touch the record endpoints only; an outage also takes the OAuth2 token endpoint
//! down. Admin endpoints never see a fault. Order on a call: outage, latency, 429, error
//! status, hang, then (after authentication) the write faults of a PUT.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::rng::Rng;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Which calls a fault takes.
///
/// JSON: `"always"`, `{"next": 5}`, `{"fraction": 0.1}`, `{"ids": ["12345:T-1:response"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// Every call.
    Always,
    /// The next `n` calls it could apply to, counted down as they are taken.
    Next(u64),
    /// Each call with this probability (0 to 1), drawn from the partner's seeded generator.
    Fraction(f64),
    /// PUTs of these record ids, each once; other calls are never taken.
    Ids(BTreeSet<String>),
}

impl Share {
    /// Whether this call is taken; counts down `Next` and `Ids`.
    pub(super) fn take(&mut self, record_id: Option<&str>, rng: &mut Rng) -> bool {
        match self {
            Share::Always => true,
            Share::Next(0) => false,
            Share::Next(n) => {
                *n -= 1;
                true
            }
            Share::Fraction(p) => rng.chance(*p),
            Share::Ids(ids) => record_id.is_some_and(|id| ids.remove(id)),
        }
    }

    /// Whether no call can be taken any more.
    pub(super) fn spent(&self) -> bool {
        match self {
            Share::Next(n) => *n == 0,
            Share::Ids(ids) => ids.is_empty(),
            Share::Always | Share::Fraction(_) => false,
        }
    }

    fn check(&self) -> Result<(), FaultError> {
        match self {
            Share::Fraction(p) if !(0.0..=1.0).contains(p) => Err(FaultError::Fraction(*p)),
            _ => Ok(()),
        }
    }
}

/// What the partner does when a connection is down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageMode {
    /// Answer `503 Service Unavailable`.
    #[default]
    Unavailable,
    /// Close the connection without an answer.
    Close,
}

/// When an outage is on.
///
/// JSON: `"on"`, `{"for_ms": 45000}`, `{"between": {"from": "…Z", "to": "…Z"}}`,
/// `{"repeat": {"every_ms": 180000, "down_ms": 45000}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageWindow {
    /// Until the fault is cleared.
    On,
    /// From when it is set, for this long (read back as the time left).
    #[serde(rename = "for_ms")]
    For(#[serde(with = "millis")] Duration),
    /// From one wall-clock instant (included) to another (excluded).
    Between {
        /// The outage starts.
        from: Timestamp,
        /// The outage is over.
        to: Timestamp,
    },
    /// Repeating from when it is set: each period of `every` starts up and ends with `down`
    /// of outage ("down 45 s every 3 min").
    Repeat {
        /// The period.
        #[serde(rename = "every_ms", with = "millis")]
        every: Duration,
        /// The outage at the end of each period (at most `every`).
        #[serde(rename = "down_ms", with = "millis")]
        down: Duration,
    },
}

/// A fault of the partner API, set with [`set_fault`](super::FakePartner::set_fault) or
/// `POST /_admin/faults` (the JSON form, tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Every record call waits before anything else: `min` when `max` is not above it, else a
    /// uniform draw in `[min, max]`. JSON `{"kind":"latency","min_ms":50,"max_ms":200}`.
    Latency {
        /// The shortest added latency.
        #[serde(rename = "min_ms", with = "millis")]
        min: Duration,
        /// The longest; 0 or absent for a fixed latency.
        #[serde(rename = "max_ms", with = "millis", default)]
        max: Duration,
    },
    /// The calls taken are answered `status` and do nothing.
    /// JSON `{"kind":"errors","status":503,"share":{"fraction":0.1}}`.
    Errors {
        /// The HTTP status, e.g. 500 or 503.
        status: u16,
        /// Which calls.
        share: Share,
    },
    /// The calls taken are answered `429` with `Retry-After: retry_after_secs` and do nothing.
    Throttle {
        /// The `Retry-After` seconds.
        retry_after_secs: u64,
        /// Which calls.
        share: Share,
    },
    /// The calls taken are not answered until [`release_hung`](super::FakePartner::release_hung)
    /// (or `POST /_admin/release`) or the hang limit passes; then they are served normally.
    /// A client that gives up meanwhile is not noticed: the call stays hung, and a released
    /// PUT is still stored, as on a slow server.
    Hang {
        /// Which calls.
        share: Share,
        /// Apply a hung PUT before hanging (the record is stored, only the answer is missing)
        /// instead of after the release.
        #[serde(default)]
        store: bool,
    },
    /// The PUTs taken answer 200 but store nothing.
    DropWrites {
        /// Which writes (only PUTs that passed every other check count).
        share: Share,
    },
    /// The PUTs taken answer 200 but store the body with `field` altered (see
    /// [`corrupt`](super::table::corrupt)).
    CorruptWrites {
        /// Which writes.
        share: Share,
        /// The field to alter, as the partner names it. Default `outcome`.
        #[serde(default = "outcome")]
        field: String,
    },
    /// The partner is down while `window` says so.
    Outage {
        /// Answer 503 (default) or close the connection.
        #[serde(default)]
        mode: OutageMode,
        /// When.
        window: OutageWindow,
    },
}

fn outcome() -> String {
    "outcome".into()
}

impl Fault {
    /// Its kind (the slot it takes).
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Latency { .. } => FaultKind::Latency,
            Fault::Errors { .. } => FaultKind::Errors,
            Fault::Throttle { .. } => FaultKind::Throttle,
            Fault::Hang { .. } => FaultKind::Hang,
            Fault::DropWrites { .. } => FaultKind::DropWrites,
            Fault::CorruptWrites { .. } => FaultKind::CorruptWrites,
            Fault::Outage { .. } => FaultKind::Outage,
        }
    }

    /// Checks the values serde cannot.
    pub fn check(&self) -> Result<(), FaultError> {
        match self {
            Fault::Latency { .. } => Ok(()),
            Fault::Errors { status, share } => {
                if !(100..1000).contains(status) {
                    return Err(FaultError::Status(*status));
                }
                share.check()
            }
            Fault::Throttle { share, .. }
            | Fault::Hang { share, .. }
            | Fault::DropWrites { share }
            | Fault::CorruptWrites { share, .. } => share.check(),
            Fault::Outage {
                window: OutageWindow::Repeat { every, down },
                ..
            } if every.is_zero() || down > every => Err(FaultError::Repeat),
            Fault::Outage { .. } => Ok(()),
        }
    }
}

/// A fault that cannot be set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// Not an HTTP status.
    #[error("{0} is not an HTTP status")]
    Status(u16),
    /// A probability outside 0..=1.
    #[error("fraction {0} is not between 0 and 1")]
    Fraction(f64),
    /// `repeat` with a zero period or more down time than the period.
    #[error("a repeating outage needs 0 < down_ms <= every_ms")]
    Repeat,
    /// An unknown fault kind.
    #[error("unknown fault kind {0:?} (latency, errors, throttle, hang, drop_writes, corrupt_writes, outage)")]
    Kind(String),
}

/// The slot of a fault, as in `DELETE /_admin/faults/{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// [`Fault::Latency`].
    Latency,
    /// [`Fault::Errors`].
    Errors,
    /// [`Fault::Throttle`].
    Throttle,
    /// [`Fault::Hang`].
    Hang,
    /// [`Fault::DropWrites`].
    DropWrites,
    /// [`Fault::CorruptWrites`].
    CorruptWrites,
    /// [`Fault::Outage`].
    Outage,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Latency,
        FaultKind::Errors,
        FaultKind::Throttle,
        FaultKind::Hang,
        FaultKind::DropWrites,
        FaultKind::CorruptWrites,
        FaultKind::Outage,
    ];

    /// The name used in JSON and admin paths.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::Errors => "errors",
            FaultKind::Throttle => "throttle",
            FaultKind::Hang => "hang",
            FaultKind::DropWrites => "drop_writes",
            FaultKind::CorruptWrites => "corrupt_writes",
            FaultKind::Outage => "outage",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = FaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| FaultError::Kind(s.to_owned()))
    }
}

/// `Duration` as whole milliseconds in JSON.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_and_write_their_json_form() {
        let json =
            serde_json::json!({"kind": "errors", "status": 503, "share": {"fraction": 0.25}});
        let fault: Fault = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            fault,
            Fault::Errors {
                status: 503,
                share: Share::Fraction(0.25)
            }
        );
        assert_eq!(serde_json::to_value(&fault).unwrap(), json);
        let fault: Fault = serde_json::from_value(serde_json::json!(
            {"kind": "outage", "mode": "close", "window": {"repeat": {"every_ms": 180000, "down_ms": 45000}}}
        ))
        .unwrap();
        assert_eq!(fault.kind(), FaultKind::Outage);
        let fault: Fault =
            serde_json::from_value(serde_json::json!({"kind": "latency", "min_ms": 20})).unwrap();
        assert_eq!(
            fault,
            Fault::Latency {
                min: Duration::from_millis(20),
                max: Duration::ZERO
            }
        );
        let fault: Fault =
            serde_json::from_value(serde_json::json!({"kind": "drop_writes", "share": "always"}))
                .unwrap();
        assert_eq!(
            fault,
            Fault::DropWrites {
                share: Share::Always
            }
        );
        assert!(
            serde_json::from_value::<Fault>(serde_json::json!({"kind": "latency", "min": 1}))
                .is_err()
        );
        assert_eq!(
            "drop_writes".parse::<FaultKind>(),
            Ok(FaultKind::DropWrites)
        );
    }
}
