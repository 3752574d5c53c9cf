//! Automatic rollback of feature flags: a flag whose rule names a condition
//! ([`crate::flags::RollbackWhen`]) goes back to its previous version when the condition trips,
//! as a change by `vigil` (role `system`) whose reason says what tripped it. Every instance
//! checks at each of its rounds; the change is based on the version it saw (`If-Match`), so
//! when several instances trip at once one change is made and the others get a conflict, which
//! they let be.

use serde_json::Value;
use tracing::{info, warn};

use super::center::{Author, ChangeError, ChangeRequest, ConfigCenter};
use crate::clock::now_ms;
use crate::flags::{FlagRule, RollbackMetric};
use crate::store::config_changes::StoredChange;

/// The author of automatic rollbacks in the audit.
pub const SYSTEM_ACTOR: &str = "vigil";

/// Checks the rollback condition of every flag in `rows` (the current layer's rows) and rolls
/// back those that tripped. Returns how many were rolled back.
pub async fn check(center: &ConfigCenter, rows: &[StoredChange]) -> usize {
    let mut rolled = 0;
    for row in rows.iter().filter(|r| r.key.starts_with("flags.")) {
        let Some(rule) = row
            .value
            .as_deref()
            .and_then(|v| serde_json::from_str::<FlagRule>(v).ok())
        else {
            continue;
        };
        let Some(when) = rule.rollback_when.filter(|_| rule.on) else {
            continue;
        };
        let now = now_ms();
        let since = row.changed_at.max(now - when.within.as_millis());
        let observed = match when.metric {
            RollbackMetric::NotificationsFailed => {
                center
                    .store()
                    .notifications()
                    .failed_since(&when.channel, since)
                    .await
            }
        };
        let observed = match observed {
            Ok(n) => n,
            Err(e) => {
                warn!(key = %row.key, error = %e, "cannot check the flag's rollback condition");
                continue;
            }
        };
        if observed <= when.above {
            continue;
        }
        let previous = match center.store().config_changes().history(&row.key, 2).await {
            Ok(rows) => rows.into_iter().nth(1),
            Err(e) => {
                warn!(key = %row.key, error = %e, "cannot read the flag's previous version");
                continue;
            }
        };
        let value: Option<Value> = previous
            .as_ref()
            .and_then(|p| p.value.as_deref())
            .and_then(|v| serde_json::from_str(v).ok());
        let reason = format!(
            "automatic rollback: {observed} notifications on channel {} failed since the flag changed (within {}), above {}",
            when.channel, when.within, when.above
        );
        let request = ChangeRequest {
            key: row.key.clone(),
            value,
            expected_version: row.version,
            rollback_to: previous.as_ref().map(|p| p.version),
        };
        let author = Author {
            actor: SYSTEM_ACTOR.into(),
            role: "system".into(),
            ip: None,
            request_id: None,
            reason: reason.clone(),
        };
        match center.change(&[request], &author).await {
            Ok(_) => {
                info!(key = %row.key, %reason, "flag rolled back");
                rolled += 1;
            }
            // Another instance rolled it back first, or somebody changed it meanwhile.
            Err(ChangeError::Conflict { .. }) => {}
            Err(e) => warn!(key = %row.key, error = %e, "cannot roll the flag back"),
        }
    }
    rolled
}
