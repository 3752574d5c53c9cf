//! What recording one alert change means, shared by the one-at-a-time and the batched writes:
//! the forward-only rule of a row's state, a record checked and converted for binding, and the
//! outcome reported.

use vigil_engine::alert::alert_id;
use vigil_engine::{AlertRecord, AlertState};

use super::error::StoreError;

/// What recording one alert change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertWrite {
    /// First time this dedupe key was seen: a row was inserted.
    Inserted,
    /// The row moved forward to the record's state.
    Advanced,
    /// Nothing changed: the row already has this state or a later one (a replay, a restart, or
    /// a change that would move backwards).
    Unchanged,
}

impl AlertWrite {
    /// Whether the change is new and should be published and notified.
    pub fn is_new(self) -> bool {
        !matches!(self, AlertWrite::Unchanged)
    }
}

/// The states a row may be in for a move to `to` to be forward.
pub(super) fn forward_from(to: AlertState) -> &'static [AlertState] {
    match to {
        AlertState::Firing => &[],
        AlertState::Acknowledged => &[AlertState::Firing],
        AlertState::Resolved | AlertState::Retracted => {
            &[AlertState::Firing, AlertState::Acknowledged]
        }
    }
}

/// A record checked and converted for binding.
#[derive(Debug)]
pub(super) struct Prepared<'a> {
    pub(super) record: &'a AlertRecord,
    pub(super) dedupe_key: String,
    pub(super) tenant_id: i64,
}

/// Checks a record and converts what it binds.
pub(super) fn prepare(record: &AlertRecord) -> Result<Prepared<'_>, StoreError> {
    let invalid = |reason| StoreError::InvalidRecord {
        record: format!("alert {}", record.alert_id),
        reason,
    };
    let tenant_id =
        i64::try_from(record.tenant_id).map_err(|_| invalid("tenant id above 2^63-1"))?;
    let dedupe_key = record.dedupe_key();
    if alert_id(&dedupe_key) != record.alert_id {
        return Err(invalid("alert_id is not the id of its dedupe key"));
    }
    Ok(Prepared {
        record,
        dedupe_key,
        tenant_id,
    })
}
