//! [`Pacer`]: one in-process limit whose permits a thread of its own hands out, sleeping to
//! the tenth of a millisecond, for callers that wait for every permit (an exchange partner's
//! outbox drain).
//!
//! Why a thread: tokio's timer wakes on whole milliseconds and a busy runtime wakes later
//! still, while GCRA keeps no more than `burst` permits for a late caller. A limit whose
//! burst is about a millisecond of its rate (10 at 10,000/s) was held at 0.81 of its rate by
//! callers sleeping on tokio's timer; this thread draws each permit when GCRA allows it and
//! hands it to the next waiting caller.
//!
//! At most one drawn permit waits for a caller (a spare). Waiters get permits in the order
//! they asked (tokio's semaphore is fair); while nobody waits the thread parks.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use governor::Quota;
use tokio::sync::Semaphore;

use super::LocalLimit;

/// Shortest sleep between draws: below this the wake-ups cost more than they save.
const MIN_NAP: Duration = Duration::from_micros(100);
/// Longest sleep between draws, so a dropped pacer's thread ends soon.
const MAX_NAP: Duration = Duration::from_millis(50);
/// How long the thread parks while its spare permit waits for a caller.
const IDLE_PARK: Duration = Duration::from_millis(100);

/// Hands out the permits of one in-process GCRA limit from a thread of its own.
#[derive(Debug)]
pub struct Pacer {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    permits: Semaphore,
    stop: AtomicBool,
}

impl Pacer {
    /// A pacer of `per_second` with `burst`, its thread named after `name`. Fails only when
    /// the thread cannot be started.
    pub fn spawn(name: &str, per_second: NonZeroU32, burst: NonZeroU32) -> std::io::Result<Pacer> {
        let limit = LocalLimit::<()>::new(Quota::per_second(per_second).allow_burst(burst));
        let shared = Arc::new(Shared {
            permits: Semaphore::new(0),
            stop: AtomicBool::new(false),
        });
        let paced = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pacer-{name}"))
            .spawn(move || pace(&limit, &paced))?;
        Ok(Pacer { shared, thread })
    }

    /// Waits for the next permit.
    pub async fn acquire(&self) {
        // The semaphore is never closed while the pacer lives.
        if let Ok(permit) = self.shared.permits.acquire().await {
            permit.forget();
        }
        if self.shared.permits.available_permits() == 0 {
            self.thread.thread().unpark();
        }
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
    }
}

/// Draws permits while callers wait for them (a drawn permit goes straight to the first
/// waiter, so none is left over), keeps one spare when nobody waits, and parks until that
/// spare is taken.
fn pace(limit: &LocalLimit<()>, shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        if shared.permits.available_permits() > 0 {
            std::thread::park_timeout(IDLE_PARK);
            continue;
        }
        match limit.check(&()) {
            Ok(()) => shared.permits.add_permits(1),
            Err(wait) => std::thread::sleep(wait.clamp(MIN_NAP, MAX_NAP)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_get_the_burst_at_once_then_the_rate() {
        let pacer = Arc::new(Pacer::spawn("test", nz(1_000), nz(10)).expect("pacer"));
        // Let the thread draw its spare, then take the burst and 200 more with 8 callers.
        let started = Instant::now();
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    for _ in 0..26 {
                        pacer.acquire().await;
                    }
                })
            })
            .collect();
        for c in callers {
            c.await.expect("caller");
        }
        let took = started.elapsed();
        // 208 permits at 1,000/s with a burst of 10: at least 197 ms, never sooner.
        assert!(took >= Duration::from_millis(197), "{took:?}");
    }
}
