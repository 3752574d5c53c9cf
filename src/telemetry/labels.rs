//! Bounded `tenant` label values: the first `metrics.tenant_labels` tenants seen get a label of
//! their own, every later tenant shares `"other"`, so the series count stays bounded with
//! 100,000 tenants. Tenant actors ask once when they start and keep their [`TenantLabel`]; the
//! lock here is never taken per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use metrics::SharedString;

/// The label value shared by tenants beyond the limit.
pub const OTHER_TENANT: &str = "other";

/// The `tenant` label value of one tenant: its id, or `"other"`. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLabel(SharedString);

impl TenantLabel {
    /// The label shared by tenants beyond the limit.
    pub fn other() -> TenantLabel {
        TenantLabel(SharedString::const_str(OTHER_TENANT))
    }

    /// The label value, for a metrics macro.
    pub fn value(&self) -> SharedString {
        self.0.clone()
    }

    /// The label value as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hands out [`TenantLabel`]s, at most `limit` distinct tenant ids. Share it in an `Arc`.
#[derive(Debug)]
pub struct TenantLabels {
    limit: usize,
    given: Mutex<HashMap<u64, TenantLabel>>,
}

impl TenantLabels {
    /// Labels for at most `limit` tenants (config `metrics.tenant_labels`).
    pub fn new(limit: usize) -> TenantLabels {
        TenantLabels {
            limit,
            given: Mutex::new(HashMap::new()),
        }
    }

    /// The label of a tenant: its own while fewer than `limit` tenants have one, else `"other"`.
    /// A tenant keeps the label it got first.
    pub fn label(&self, tenant_id: u64) -> TenantLabel {
        // A panic while holding the lock leaves the map consistent (one insert), so a poisoned
        // lock is still usable.
        let mut given = self.given.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(label) = given.get(&tenant_id) {
            return label.clone();
        }
        if given.len() >= self.limit {
            return TenantLabel::other();
        }
        let label = TenantLabel(SharedString::from_shared(Arc::<str>::from(
            tenant_id.to_string(),
        )));
        given.insert(tenant_id, label.clone());
        label
    }
}
