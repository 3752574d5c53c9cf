//! What emails scheduled reports: the notification providers (their SMTP relay), rebuilt when
//! their secrets change, behind a circuit breaker of their own.

use std::sync::Mutex;
use std::time::Duration;

use vigil_schema::Millis;

use crate::breaker::Breaker;
use crate::notify::channel::Providers;
use crate::secrets::Rebuilt;

/// The email side of scheduled reports.
pub struct Mailer {
    pub(super) providers: Rebuilt<Providers>,
    breaker: Mutex<Breaker>,
    /// Retries stop this long after a delivery was due.
    pub(super) give_up_after_ms: i64,
}

impl Mailer {
    /// Emails through `providers` (their SMTP relay); a delivery is given up
    /// `give_up_after` after its schedule was due; the breaker opens after `failures`
    /// failures in a row, for `cooldown`.
    pub fn new(
        providers: Rebuilt<Providers>,
        give_up_after: Duration,
        (failures, cooldown): (u32, Duration),
    ) -> Mailer {
        Mailer {
            providers,
            breaker: Mutex::new(Breaker::consecutive(
                failures.max(1),
                cooldown.as_millis() as i64,
            )),
            give_up_after_ms: give_up_after.as_millis() as i64,
        }
    }

    pub(super) fn admit(&self, now: Millis) -> bool {
        match self.breaker.lock() {
            Ok(mut b) => b.admit(now),
            Err(poisoned) => poisoned.into_inner().admit(now),
        }
    }

    pub(super) fn record(&self, ok: bool, now: Millis) {
        match self.breaker.lock() {
            Ok(mut b) => b.record(ok, now),
            Err(poisoned) => poisoned.into_inner().record(ok, now),
        }
    }
}
