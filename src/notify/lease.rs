//! The claim lease of a round. A round claims its notifications for `claim_timeout`; another
//! instance (or this one after a crash) takes them again once that passes. A round of 2,000
//! notifications can take minutes to send, far longer than a 60 s claim, so while a round runs
//! a [`LeaseKeeper`] claims its notifications again every third of `claim_timeout`; once the
//! round is over (or the process dies) the renewals stop and the claim lapses as before. A
//! round that ends early (the store went away mid-round) gives back what it did not settle, so
//! those notifications are due again as soon as the store answers instead of after the claim.
//! `vigil check-config` refuses a `claim_timeout` too short for renewals to keep up
//! ([`lease_problem`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};
use vigil_engine::clock::Clock;
use vigil_schema::Millis;

use crate::retry::Backoff;
use crate::store::Store;

/// How much longer than `send_timeout` a send may take before the dispatcher gives up on it
/// (the provider's own time-out normally ends it first, with a better message).
pub const BACKSTOP_MARGIN: Duration = Duration::from_secs(1);

/// The shortest `claim_timeout`: renewed every third of it, a shorter claim could lapse while
/// one renewal waits for the store.
pub const MIN_CLAIM_TIMEOUT: Duration = Duration::from_secs(1);

/// What is wrong with `[notify.delivery].claim_timeout` for the lease, if anything: the field
/// to name and why.
pub fn lease_problem(claim_timeout: Duration) -> Option<(&'static str, String)> {
    (claim_timeout < MIN_CLAIM_TIMEOUT).then(|| {
        (
            "claim_timeout",
            format!(
                "must be at least {} s: a round's claim is renewed every third of it, and a \
                 shorter one could lapse while a renewal waits for the store, so that another \
                 instance sends the same notifications again",
                MIN_CLAIM_TIMEOUT.as_secs()
            ),
        )
    })
}

/// How often a round's claim is renewed: every third of `claim_timeout`.
pub fn renew_every(claim_timeout: Millis) -> Duration {
    Duration::from_millis((claim_timeout / 3).max(1).unsigned_abs())
}

/// Renews the claim of one round's notifications until dropped. Runs on its own task, so a
/// renewal never waits for the round's own store work, nor the round for a renewal. Dropped
/// before [`finish`](LeaseKeeper::finish), it gives back what the round did not settle.
pub struct LeaseKeeper {
    task: tokio::task::JoinHandle<()>,
    give_back: Option<GiveBack>,
}

/// The claim of the notifications a round did not settle, to be given back.
struct GiveBack {
    store: Store,
    clock: Arc<dyn Clock>,
    ids: Vec<String>,
    /// Until when the claim is held, as last written.
    held: Arc<AtomicI64>,
}

impl LeaseKeeper {
    /// Keeps `ids`, claimed until `until`, claimed `claim_timeout` ahead of `clock` until the
    /// keeper is dropped. Only notifications still pending under this claim are renewed: one
    /// the round settled (sent, failed, given a retry time) is left alone, and so is one
    /// another instance took after a lapse.
    pub fn start(
        store: Store,
        clock: Arc<dyn Clock>,
        ids: Vec<String>,
        until: Millis,
        claim_timeout: Millis,
    ) -> LeaseKeeper {
        let every = renew_every(claim_timeout);
        let held = Arc::new(AtomicI64::new(until));
        let give_back = GiveBack {
            store: store.clone(),
            clock: clock.clone(),
            ids: ids.clone(),
            held: held.clone(),
        };
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let next = clock.now().saturating_add(claim_timeout);
                let current = held.load(Ordering::Acquire);
                if next <= current {
                    continue;
                }
                match store.notifications().renew_claim(&ids, current, next).await {
                    Ok(renewed) => {
                        debug!(renewed, until = next, "notification claim renewed");
                        held.store(next, Ordering::Release);
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot renew the claim of notifications in flight")
                    }
                }
            }
        });
        LeaseKeeper {
            task,
            give_back: Some(give_back),
        }
    }

    /// The round is over and settled everything it claimed: nothing to give back.
    pub fn finish(mut self) {
        self.give_back = None;
    }
}

impl GiveBack {
    /// Makes the claimed notifications the round did not settle due now (those it settled no
    /// longer carry the claim and are left alone), trying again while the store is away, until
    /// the claim would have lapsed anyway.
    async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        loop {
            let held = self.held.load(Ordering::Acquire);
            let now = self.clock.now();
            if now >= held {
                return;
            }
            match self
                .store
                .notifications()
                .renew_claim(&self.ids, held, now)
                .await
            {
                Ok(given_back) => {
                    debug!(given_back, "unsettled notifications are due again");
                    return;
                }
                Err(_) => tokio::time::sleep(backoff.next_delay()).await,
            }
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
        if let (Some(give_back), Ok(runtime)) =
            (self.give_back.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(give_back.run());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_under_a_second_are_refused_and_renewed_every_third() {
        assert_eq!(lease_problem(Duration::from_secs(60)), None);
        assert_eq!(lease_problem(Duration::from_secs(1)), None);
        assert_eq!(
            lease_problem(Duration::from_millis(999)).map(|(f, _)| f),
            Some("claim_timeout")
        );
        assert_eq!(renew_every(60_000), Duration::from_secs(20));
        assert_eq!(renew_every(0), Duration::from_millis(1));
    }
}
