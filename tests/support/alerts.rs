//! Alert records as the tests read and compare them.

use std::collections::BTreeMap;

use serde::Deserialize;

/// An alert record as published and written by `vigil replay` (DESIGN.md §4).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Alert {
    pub alert_id: String,
    pub state: String,
    pub tenant_id: u64,
    pub ticket_id: String,
    pub goal: String,
    pub level: String,
    pub threshold: f64,
    pub target_ms: i64,
    pub elapsed_ms: i64,
    pub fired_at: String,
    pub deadline: String,
    pub priority: String,
    pub service_type: String,
    pub policy_version: u32,
}

/// What the tests compare: `(tenant_id, ticket_id, goal, level, threshold, state, fired_at)`,
/// the threshold as written (`0.8`, `1`).
pub type AlertKey = (u64, String, String, String, String, String, String);

impl Alert {
    /// The comparable key of this record.
    pub fn key(&self) -> AlertKey {
        (
            self.tenant_id,
            self.ticket_id.clone(),
            self.goal.clone(),
            self.level.clone(),
            format!("{}", self.threshold),
            self.state.clone(),
            self.fired_at.clone(),
        )
    }

    /// The `Nats-Msg-Id` this record is published with: dedupe key + state.
    pub fn message_id(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}",
            self.tenant_id, self.ticket_id, self.goal, self.level, self.threshold, self.state
        )
    }

    /// The dedupe key `(tenant, ticket, goal, level, threshold)` as text.
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.tenant_id, self.ticket_id, self.goal, self.level, self.threshold
        )
    }
}

/// An expected key, written compactly: `key(7, "T1", "response", "warning", "0.8", "firing", "2026-…")`.
pub fn key(
    tenant: u64,
    ticket: &str,
    goal: &str,
    level: &str,
    threshold: &str,
    state: &str,
    fired_at: &str,
) -> AlertKey {
    (
        tenant,
        ticket.into(),
        goal.into(),
        level.into(),
        threshold.into(),
        state.into(),
        fired_at.into(),
    )
}

/// Parses NDJSON alert records.
pub fn parse_alerts(ndjson: &str) -> Vec<Alert> {
    ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad alert record {l}: {e}")))
        .collect()
}

/// Keys, sorted.
pub fn sorted_keys(alerts: &[Alert]) -> Vec<AlertKey> {
    let mut keys: Vec<AlertKey> = alerts.iter().map(Alert::key).collect();
    keys.sort();
    keys
}

/// The final state of every dedupe key after a sequence of records, with its `fired_at`:
/// dedupe key → (state, fired_at).
pub fn final_states(alerts: &[Alert]) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for a in alerts {
        out.insert(a.dedupe_key(), (a.state.clone(), a.fired_at.clone()));
    }
    out
}
