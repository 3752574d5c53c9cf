//! Alert records (DESIGN.md §4): one shape for replay output, published messages and store rows.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use vigil_schema::{format_instant, parse_instant, Millis};

/// Which goal of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Time to first response.
    Response,
    /// Time to resolution.
    Resolution,
}

impl Goal {
    /// Both goals, in index order.
    pub const ALL: [Goal; 2] = [Goal::Response, Goal::Resolution];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Response => "response",
            Goal::Resolution => "resolution",
        }
    }

    /// 0 for response, 1 for resolution.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A warning (a `warn_at` threshold) or the breach (the target itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A fraction of the target was reached.
    Warning,
    /// The target was reached.
    Breach,
}

impl Level {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Breach => "breach",
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Raised and not yet over.
    Firing,
    /// Somebody took ownership; still not over.
    Acknowledged,
    /// Its goal stopped.
    Resolved,
    /// Late data showed the threshold was not crossed after all.
    Retracted,
}

impl AlertState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
            AlertState::Retracted => "retracted",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<AlertState> {
        Some(match s {
            "firing" => AlertState::Firing,
            "acknowledged" => AlertState::Acknowledged,
            "resolved" => AlertState::Resolved,
            "retracted" => AlertState::Retracted,
            _ => return None,
        })
    }

    /// Whether the alert is over (no further change can happen).
    pub fn is_over(self) -> bool {
        matches!(self, AlertState::Resolved | AlertState::Retracted)
    }
}

/// One alert state change, exactly the record of DESIGN.md §4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Stable id derived from the dedupe key, the same in replay and in the service.
    pub alert_id: String,
    /// The state this record announces.
    pub state: AlertState,
    /// The tenant.
    pub tenant_id: u64,
    /// The ticket.
    pub ticket_id: String,
    /// Response or resolution.
    pub goal: Goal,
    /// Warning or breach.
    pub level: Level,
    /// The fraction of the target (1.0 for a breach).
    pub threshold: f64,
    /// The goal's target, in milliseconds of calendar time.
    pub target_ms: i64,
    /// Calendar time elapsed at `fired_at`.
    pub elapsed_ms: i64,
    /// The instant the threshold was crossed, in SLA time.
    #[serde(with = "instant")]
    pub fired_at: Millis,
    /// When the goal breaches (or breached) if it keeps running.
    #[serde(with = "instant")]
    pub deadline: Millis,
    /// The ticket's priority when it fired.
    pub priority: String,
    /// The ticket's service type.
    pub service_type: String,
    /// The policy version the ticket runs under.
    pub policy_version: u32,
}

impl AlertRecord {
    /// `(tenant_id, ticket_id, goal, level, threshold)` as text: `12345:TKT-001:response:warning:0.8`.
    /// Replays and restarts never notify the same key twice.
    pub fn dedupe_key(&self) -> String {
        dedupe_key(
            self.tenant_id,
            &self.ticket_id,
            self.goal,
            self.level,
            self.threshold,
        )
    }

    /// Sets `alert_id` from the dedupe key, for a record of an engine that leaves it to its
    /// sink ([`EngineSettings::alert_ids`](crate::EngineSettings::alert_ids) off).
    pub fn derive_alert_id(&mut self) {
        self.alert_id = alert_id(&self.dedupe_key());
    }

    /// The `Nats-Msg-Id` of this state change: the dedupe key and the state.
    pub fn message_id(&self) -> String {
        format!("{}:{}", self.dedupe_key(), self.state.as_str())
    }
}

/// The dedupe key of an alert, as text.
pub fn dedupe_key(
    tenant_id: u64,
    ticket_id: &str,
    goal: Goal,
    level: Level,
    threshold: f64,
) -> String {
    format!(
        "{tenant_id}:{ticket_id}:{}:{}:{threshold}",
        goal.as_str(),
        level.as_str()
    )
}

/// The alert id of a dedupe key: a name-based (v5) UUID, so every instance and every replay
/// derives the same id.
pub fn alert_id(dedupe_key: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5d1c_7a4e_96b3_4c1f_8e2a_0b6f_3c9d_e471);
    uuid::Uuid::new_v5(&NAMESPACE, dedupe_key.as_bytes()).to_string()
}

pub(crate) mod instant {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_instant(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let s = String::deserialize(d)?;
        parse_instant(&s).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 instant"))
    }
}
