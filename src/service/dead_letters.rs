//! Rows the store refused for good: dead-lettered on `vigil.dlq.<tenant_id>` with reason
//! `store_rejected` and the store's answer, counted and logged, so nothing is dropped silently
//! and an operator can replay them once the cause is fixed.

use serde::Serialize;
use tracing::error;
use vigil::store::StoreError;
use vigil::telemetry::metrics;

/// The `Vigil-Reject-Reason` of a row the store refused.
pub const STORE_REJECTED: &str = "store_rejected";

/// Dead-letters `row` of `tenant_id`, a `kind` (`alert`, `ticket_fact` or `sla_record`) the store refused.
pub async fn store_refused<R: Serialize>(
    js: &async_nats::jetstream::Context,
    kind: &'static str,
    tenant_id: u64,
    row: &R,
    reason: &StoreError,
) {
    metrics::store_rows_refused(kind).increment(1);
    let payload = match serde_json::to_vec(row) {
        Ok(json) => json,
        Err(e) => {
            error!(tenant_id, kind, error = %e, "a refused row cannot even be encoded; it is lost");
            return;
        }
    };
    let detail = format!("{kind}: {reason}");
    error!(tenant_id, kind, error = %reason, "the store refused a row for good; dead-lettering it");
    if let Err(e) = vigil_streams::jetstream::publish_to_dead_letters(
        js,
        Some(tenant_id),
        payload.into(),
        STORE_REJECTED,
        &detail,
    )
    .await
    {
        error!(tenant_id, kind, error = %e, "cannot dead-letter a refused row; it is only in this log");
    }
}
