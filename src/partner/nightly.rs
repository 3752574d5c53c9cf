//! The nightly reconciliation schedule (DESIGN.md §7): at each partner's `reconcile_at`, local
//! time of its zone, the previous local day is reconciled with [`Trigger::Nightly`].
//!
//! - One task per partner with a reconcile time (`"off"` has none). The partner's lease makes
//!   one instance run a day; the others hear [`ReconcileError::Busy`] (logged at debug) and
//!   look again later, when the nightly run they find finished is returned unchanged.
//! - A failed run is tried again every [`RETRY_EVERY`] until it finishes or the next day's
//!   run is due; each try resumes from the last saved page.
//! - On start the latest due run is caught up when it has not finished: an instance that was
//!   down at 02:00 reconciles the previous day when it comes back.
//! - When the time is due is a pure function ([`next_run`], [`last_due`]): a `reconcile_at`
//!   skipped by a DST gap runs at the first instant after the gap, one repeated by a fold
//!   runs once, at its first occurrence.

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use tokio::sync::watch;
use tracing::{debug, info, warn};
use vigil_engine::clock::Clock;

use super::config::ReconcileAt;
use super::link::PartnerLink;
use super::reconcile::{local_instant, ReconcileError, Reconciler, Trigger};
use crate::store::Store;

/// Wait between tries of a nightly run that failed (or found the lease taken).
pub const RETRY_EVERY: Duration = Duration::from_secs(300);

/// Longest sleep before the clock is read again (it may jump, or be a test's clock).
const CLOCK_POLL: Duration = Duration::from_secs(5);

/// A nightly run: when it is due and the local day it reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduled {
    /// When it is due.
    pub at: Timestamp,
    /// The local day it reconciles: the one before the day of `at`.
    pub day: Date,
}

/// The run of local date `date`'s `time` in `tz` (see [`local_instant`]).
fn scheduled_on(tz: &TimeZone, date: Date, time: Time) -> Option<Scheduled> {
    Some(Scheduled {
        at: local_instant(tz, date, time)?,
        day: date.yesterday().ok()?,
    })
}

/// The first nightly run due strictly after `after`.
pub fn next_run(after: Timestamp, tz: &TimeZone, time: Time) -> Option<Scheduled> {
    let today = after.to_zoned(tz.clone()).date();
    let mut date = today.yesterday().ok()?;
    // Local instants of successive dates only grow; a few dates always reach past `after`.
    for _ in 0..4 {
        if let Some(s) = scheduled_on(tz, date, time).filter(|s| s.at > after) {
            return Some(s);
        }
        date = date.tomorrow().ok()?;
    }
    None
}

/// The latest nightly run due at or before `now`.
pub fn last_due(now: Timestamp, tz: &TimeZone, time: Time) -> Option<Scheduled> {
    let today = now.to_zoned(tz.clone()).date();
    let mut date = today.tomorrow().ok()?;
    for _ in 0..4 {
        if let Some(s) = scheduled_on(tz, date, time).filter(|s| s.at <= now) {
            return Some(s);
        }
        date = date.yesterday().ok()?;
    }
    None
}

/// Tunables of [`run_nightly_with`].
#[derive(Debug, Clone, Copy)]
pub struct NightlyOptions {
    /// Wait between tries of a failed run.
    pub retry_every: Duration,
}

impl Default for NightlyOptions {
    fn default() -> Self {
        NightlyOptions {
            retry_every: RETRY_EVERY,
        }
    }
}

/// Runs the nightly reconciliation of every partner that has a reconcile time until `stop`
/// turns true. `holder` names this instance in the partners' leases.
pub async fn run_nightly(
    links: Vec<Arc<PartnerLink>>,
    store: Store,
    holder: String,
    clock: Arc<dyn Clock>,
    stop: watch::Receiver<bool>,
) {
    run_nightly_with(links, store, holder, clock, stop, NightlyOptions::default()).await;
}

/// [`run_nightly`] with its tunables.
pub async fn run_nightly_with(
    links: Vec<Arc<PartnerLink>>,
    store: Store,
    holder: String,
    clock: Arc<dyn Clock>,
    stop: watch::Receiver<bool>,
    options: NightlyOptions,
) {
    let mut tasks = Vec::new();
    for link in links {
        let partner = link.id().to_string();
        let Some(ReconcileAt::At(time)) = link.config().reconcile_time() else {
            debug!(partner = %partner, "nightly reconciliation is off");
            continue;
        };
        let Ok(tz) = TimeZone::get(&link.config().timezone) else {
            warn!(partner = %partner, zone = %link.config().timezone,
                "unknown time zone; no nightly reconciliation");
            continue;
        };
        let schedule = PartnerSchedule {
            reconciler: Reconciler::new(link, store.clone(), holder.clone()),
            tz,
            time,
            clock: clock.clone(),
            stop: stop.clone(),
            options,
        };
        tasks.push(tokio::spawn(schedule.run()));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// The nightly loop of one partner.
struct PartnerSchedule {
    reconciler: Reconciler,
    tz: TimeZone,
    time: Time,
    clock: Arc<dyn Clock>,
    stop: watch::Receiver<bool>,
    options: NightlyOptions,
}

impl PartnerSchedule {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.clock.now()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn partner(&self) -> &str {
        self.reconciler.link().id()
    }

    async fn run(mut self) {
        info!(partner = %self.partner(), at = %self.time, zone = %self.tz.iana_name().unwrap_or("?"),
            "nightly reconciliation scheduled");
        let mut done_up_to = self.now();
        if let Some(due) = last_due(done_up_to, &self.tz, self.time) {
            self.catch_up(due).await;
            done_up_to = done_up_to.max(due.at);
        }
        while !*self.stop.borrow() {
            let Some(due) = next_run(done_up_to, &self.tz, self.time) else {
                warn!(partner = %self.partner(), "no further nightly run can be scheduled");
                return;
            };
            debug!(partner = %self.partner(), at = %due.at, day = %due.day, "next nightly reconciliation");
            if !self.sleep_until(due.at).await {
                return;
            }
            self.run_until_done(due).await;
            done_up_to = due.at;
        }
    }

    /// Runs `due` now unless its nightly run finished already.
    async fn catch_up(&mut self, due: Scheduled) {
        let day = due.day.to_string();
        let finished = self
            .reconciler
            .store()
            .reconciliations()
            .finished(self.partner(), &day, Trigger::Nightly.as_str())
            .await;
        match finished {
            Ok(Some(_)) => {}
            Ok(None) => {
                info!(partner = %self.partner(), day = %due.day,
                    "the last nightly reconciliation has not finished; catching up");
                self.run_until_done(due).await;
            }
            Err(e) => {
                warn!(partner = %self.partner(), day = %due.day, error = %e,
                    "cannot tell whether the last nightly reconciliation finished; trying it");
                self.run_until_done(due).await;
            }
        }
    }

    /// Runs the day until it finishes, a permanent error, the next day's run being due, or
    /// stop.
    async fn run_until_done(&mut self, due: Scheduled) {
        let deadline = next_run(due.at, &self.tz, self.time).map(|s| s.at);
        loop {
            let noop = |_: &super::reconcile::RunProgress| {};
            let result = tokio::select! {
                r = self.reconciler.run(due.day, Trigger::Nightly, &noop) => r,
                _ = crate::stopped(&mut self.stop) => {
                    // The dropped run stays resumable; give its lease up at once.
                    let _ = self.reconciler.release_lease().await;
                    return;
                }
            };
            match result {
                Ok(run) => {
                    debug!(partner = %self.partner(), day = %due.day, run_id = %run.run_id,
                        "nightly reconciliation done");
                    return;
                }
                Err(ReconcileError::Busy { .. }) => {
                    debug!(partner = %self.partner(), day = %due.day,
                        "nightly reconciliation runs on another instance; looking again later");
                }
                Err(e) if !e.is_retryable() => {
                    warn!(partner = %self.partner(), day = %due.day, error = %e,
                        "nightly reconciliation failed for good; run `vigil reconcile` after fixing it");
                    return;
                }
                Err(e) => {
                    warn!(partner = %self.partner(), day = %due.day, error = %e,
                        retry_in_s = self.options.retry_every.as_secs(),
                        "nightly reconciliation failed; trying again");
                }
            }
            let retry_at = Timestamp::from_millisecond(
                self.clock
                    .now()
                    .saturating_add(self.options.retry_every.as_millis() as i64),
            )
            .unwrap_or(Timestamp::MAX);
            if deadline.is_some_and(|d| retry_at >= d) {
                warn!(partner = %self.partner(), day = %due.day,
                    "nightly reconciliation did not finish before the next one is due; run `vigil reconcile` for that day");
                return;
            }
            if !self.sleep_until(retry_at).await {
                return;
            }
        }
    }

    /// Sleeps until the clock reads `at`; false when stopped first.
    async fn sleep_until(&mut self, at: Timestamp) -> bool {
        loop {
            if *self.stop.borrow() {
                return false;
            }
            let left = at.as_millisecond().saturating_sub(self.clock.now());
            if left <= 0 {
                return true;
            }
            let nap = Duration::from_millis(left.unsigned_abs()).min(CLOCK_POLL);
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = crate::stopped(&mut self.stop) => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::{date, time};

    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("known zone")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("an instant")
    }

    #[test]
    fn the_next_run_is_local_time_in_the_partners_zone() {
        // (zone, reconcile_at, now, next run, day reconciled)
        let table = [
            // 02:00 Shanghai is 18:00 UTC the day before.
            (
                "Asia/Shanghai",
                time(2, 0, 0, 0),
                "2026-11-22T17:00:00Z",
                "2026-11-22T18:00:00Z",
                date(2026, 11, 22),
            ),
            (
                "Asia/Shanghai",
                time(2, 0, 0, 0),
                "2026-11-22T18:00:00Z",
                "2026-11-23T18:00:00Z",
                date(2026, 11, 23),
            ),
            (
                "UTC",
                time(0, 0, 0, 0),
                "2026-11-23T00:00:00Z",
                "2026-11-24T00:00:00Z",
                date(2026, 11, 23),
            ),
            (
                "UTC",
                time(23, 59, 0, 0),
                "2026-12-31T23:58:59Z",
                "2026-12-31T23:59:00Z",
                date(2026, 12, 30),
            ),
            // Spring forward in New York: 02:30 does not exist on 2026-03-08; the run goes at
            // the gap's end, 03:00 EDT.
            (
                "America/New_York",
                time(2, 30, 0, 0),
                "2026-03-07T08:00:00Z",
                "2026-03-08T07:00:00Z",
                date(2026, 3, 7),
            ),
            // ... and the day after at 02:30 EDT again.
            (
                "America/New_York",
                time(2, 30, 0, 0),
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:30:00Z",
                date(2026, 3, 8),
            ),
            // Fall back: 01:30 happens twice on 2026-11-01; the run goes at the first.
            (
                "America/New_York",
                time(1, 30, 0, 0),
                "2026-10-31T06:00:00Z",
                "2026-11-01T05:30:00Z",
                date(2026, 10, 31),
            ),
            // Between the two 01:30s the next run is the following day's.
            (
                "America/New_York",
                time(1, 30, 0, 0),
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z",
                date(2026, 11, 1),
            ),
            // Southern hemisphere, DST starts at midnight in Santiago.
            (
                "America/Santiago",
                time(0, 0, 0, 0),
                "2026-09-05T12:00:00Z",
                "2026-09-06T04:00:00Z",
                date(2026, 9, 5),
            ),
            // A zone whose offset is not whole hours.
            (
                "Asia/Kolkata",
                time(2, 0, 0, 0),
                "2026-11-22T00:00:00Z",
                "2026-11-22T20:30:00Z",
                date(2026, 11, 22),
            ),
        ];
        for (zone, reconcile_at, now, next, day) in table {
            assert_eq!(
                next_run(at(now), &tz(zone), reconcile_at),
                Some(Scheduled { at: at(next), day }),
                "{zone} {reconcile_at} after {now}"
            );
        }
    }

    #[test]
    fn the_last_due_run_is_the_one_to_catch_up() {
        let sh = tz("Asia/Shanghai");
        let two = time(2, 0, 0, 0);
        // 03:00 local on the 23rd: the 23rd's run (of the 22nd) was due at 02:00.
        assert_eq!(
            last_due(at("2026-11-22T19:00:00Z"), &sh, two),
            Some(Scheduled {
                at: at("2026-11-22T18:00:00Z"),
                day: date(2026, 11, 22)
            })
        );
        // 01:00 local on the 23rd: the last due one is the 22nd's (of the 21st).
        assert_eq!(
            last_due(at("2026-11-22T17:00:00Z"), &sh, two),
            Some(Scheduled {
                at: at("2026-11-21T18:00:00Z"),
                day: date(2026, 11, 21)
            })
        );
        // Exactly at the time it is due.
        assert_eq!(
            last_due(at("2026-11-22T18:00:00Z"), &sh, two).map(|s| s.day),
            Some(date(2026, 11, 22))
        );
        // Every next run comes after the last due one, a day later in local terms.
        let ny = tz("America/New_York");
        let mut now = at("2026-03-01T00:00:00Z");
        for _ in 0..300 {
            let last = last_due(now, &ny, time(2, 30, 0, 0)).expect("due");
            let next = next_run(now, &ny, time(2, 30, 0, 0)).expect("next");
            assert!(last.at <= now && now < next.at);
            assert_eq!(last.day.tomorrow().ok(), Some(next.day), "at {now}");
            now = next.at;
        }
    }
}
