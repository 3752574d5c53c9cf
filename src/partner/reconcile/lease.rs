//! The lease a run holds (`reconcile:<partner>`): its name, renewing it, giving it up, and
//! sleeping while keeping it.

use std::time::Duration;

use vigil_schema::Millis;

use super::{ReconcileError, Reconciler};
use crate::store::StoreError;

/// How long a reconciliation lease holds without renewal: a crashed holder's run can be
/// resumed by another instance this long after its last renewal.
pub const LEASE_TTL_MS: Millis = 120_000;

/// Longest sleep between lease renewals while waiting.
const RENEW_EVERY: Duration = Duration::from_secs(30);

impl Reconciler {
    /// Takes `lease` for a run ([`LEASE_TTL_MS`]); `false` while another holder has it.
    pub(super) async fn take_lease(&self, lease: &str) -> Result<bool, StoreError> {
        self.store
            .leases()
            .try_take(lease, &self.holder, LEASE_TTL_MS, self.link.now())
            .await
    }

    /// The lease runs of this partner hold: `reconcile:<partner>`.
    pub fn lease_name(&self) -> String {
        format!("reconcile:{}", self.link.id())
    }

    /// Gives the lease up if this reconciler holds it (after a run was dropped mid-way).
    pub async fn release_lease(&self) -> Result<bool, StoreError> {
        self.store
            .leases()
            .release(&self.lease_name(), &self.holder)
            .await
    }

    /// Sleeps `total`, renewing the lease on the way.
    pub(super) async fn wait(&self, total: Duration) -> Result<(), ReconcileError> {
        let mut left = total;
        while !left.is_zero() {
            let step = left.min(RENEW_EVERY);
            tokio::time::sleep(step).await;
            left -= step;
            if !left.is_zero() {
                self.renew().await?;
            }
        }
        Ok(())
    }

    /// Extends the lease; fails when another holder took it.
    pub(super) async fn renew(&self) -> Result<(), ReconcileError> {
        let lease = self.lease_name();
        if self
            .store
            .leases()
            .try_take(&lease, &self.holder, LEASE_TTL_MS, self.link.now())
            .await?
        {
            Ok(())
        } else {
            Err(ReconcileError::LeaseLost {
                partner: self.link.id().to_string(),
                lease,
            })
        }
    }
}
