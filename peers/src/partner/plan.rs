//! The pure plan behind the faults: which of the faults in force apply to a call, decided on
//! arrival with the partner's seeded generator, and what becomes of an accepted write. No
//! I/O: the caller passes the time.

use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::faults::{Fault, FaultError, FaultKind, OutageMode, OutageWindow};
use super::observe::Endpoint;
use crate::rng::Rng;

/// What to do with a call before its work, decided on arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Down: answer or close as the outage says, do nothing.
    Down(OutageMode),
    /// Serve, with these faults.
    Serve {
        /// Wait this long first.
        latency: Duration,
        /// Answer this instead of working.
        refusal: Option<Refusal>,
        /// Hang before or after the work.
        hang: Option<HangAt>,
    },
}

/// An injected refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// This status.
    Status(u16),
    /// 429 with `Retry-After` seconds.
    Throttle(u64),
}

/// Where a hung call waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HangAt {
    /// Before anything (a PUT stores only after the release).
    BeforeWork,
    /// After a PUT's work, so it is stored though unanswered.
    AfterWork,
}

/// What becomes of an accepted PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WriteAction {
    /// Store it.
    Store,
    /// Answer 200, store nothing.
    Drop,
    /// Store it with this field altered.
    Corrupt(String),
}

/// An outage anchored in time.
#[derive(Debug, Clone)]
enum Anchored {
    On,
    Until(Instant),
    Between {
        from: Timestamp,
        to: Timestamp,
    },
    Repeat {
        start: Instant,
        every: Duration,
        down: Duration,
    },
}

impl Anchored {
    fn down(&self, now: Instant, wall: Timestamp) -> bool {
        match self {
            Anchored::On => true,
            Anchored::Until(end) => now < *end,
            Anchored::Between { from, to } => *from <= wall && wall < *to,
            Anchored::Repeat { start, every, down } => {
                let every_ns = every.as_nanos().max(1);
                let phase = now.saturating_duration_since(*start).as_nanos() % every_ns;
                phase >= every_ns - down.as_nanos()
            }
        }
    }

    fn over(&self, now: Instant, wall: Timestamp) -> bool {
        match self {
            Anchored::Until(end) => now >= *end,
            Anchored::Between { to, .. } => wall >= *to,
            Anchored::On | Anchored::Repeat { .. } => false,
        }
    }

    fn window(&self, now: Instant) -> OutageWindow {
        match self {
            Anchored::On => OutageWindow::On,
            Anchored::Until(end) => OutageWindow::For(end.saturating_duration_since(now)),
            Anchored::Between { from, to } => OutageWindow::Between {
                from: *from,
                to: *to,
            },
            Anchored::Repeat { every, down, .. } => OutageWindow::Repeat {
                every: *every,
                down: *down,
            },
        }
    }
}

/// The faults in force and the generator behind fractions and latency ranges. No I/O: the
/// caller passes the time.
#[derive(Debug)]
pub(super) struct FaultPlan {
    rng: Rng,
    /// Every slot but the outage, by kind; spent ones are removed as they run out.
    slots: Vec<Fault>,
    outage: Option<(OutageMode, Anchored)>,
}

impl FaultPlan {
    /// No faults; fractions drawn from `seed`.
    pub fn new(seed: u64) -> FaultPlan {
        FaultPlan {
            rng: Rng::new(seed),
            slots: Vec::new(),
            outage: None,
        }
    }

    /// Sets `fault` in its slot (checked first).
    pub fn set(&mut self, fault: Fault, now: Instant) -> Result<(), FaultError> {
        fault.check()?;
        self.clear(fault.kind());
        match fault {
            Fault::Outage { mode, window } => {
                let anchored = match window {
                    OutageWindow::On => Anchored::On,
                    OutageWindow::For(duration) => Anchored::Until(now + duration),
                    OutageWindow::Between { from, to } => Anchored::Between { from, to },
                    OutageWindow::Repeat { every, down } => Anchored::Repeat {
                        start: now,
                        every,
                        down,
                    },
                };
                self.outage = Some((mode, anchored));
            }
            other => self.slots.push(other),
        }
        Ok(())
    }

    /// Clears one slot.
    pub fn clear(&mut self, kind: FaultKind) {
        if kind == FaultKind::Outage {
            self.outage = None;
        } else {
            self.slots.retain(|fault| fault.kind() != kind);
        }
    }

    /// Clears every slot.
    pub fn clear_all(&mut self) {
        self.slots.clear();
        self.outage = None;
    }

    /// The faults in force, as they stand (counts left, outage time left).
    pub fn active(&self, now: Instant, wall: Timestamp) -> Vec<Fault> {
        let mut faults = self.slots.clone();
        if let Some((mode, anchored)) = &self.outage {
            if !anchored.over(now, wall) {
                faults.push(Fault::Outage {
                    mode: *mode,
                    window: anchored.window(now),
                });
            }
        }
        faults
    }

    /// Whether an outage is on now.
    pub fn down(&self, now: Instant, wall: Timestamp) -> Option<OutageMode> {
        let (mode, anchored) = self.outage.as_ref()?;
        anchored.down(now, wall).then_some(*mode)
    }

    /// Decides the faults of a call on arrival.
    pub fn on_call(
        &mut self,
        endpoint: Endpoint,
        record_id: Option<&str>,
        now: Instant,
        wall: Timestamp,
    ) -> Verdict {
        if let Some(mode) = self.down(now, wall) {
            return Verdict::Down(mode);
        }
        let serve = |latency| Verdict::Serve {
            latency,
            refusal: None,
            hang: None,
        };
        if endpoint == Endpoint::Token {
            return serve(Duration::ZERO);
        }
        let latency = self.latency();
        let mut refusal = None;
        if let Some(Fault::Throttle {
            retry_after_secs,
            share,
        }) = slot(&mut self.slots, FaultKind::Throttle)
        {
            let secs = *retry_after_secs;
            if share.take(record_id, &mut self.rng) {
                refusal = Some(Refusal::Throttle(secs));
            }
        }
        if refusal.is_none() {
            if let Some(Fault::Errors { status, share }) = slot(&mut self.slots, FaultKind::Errors)
            {
                let status = *status;
                if share.take(record_id, &mut self.rng) {
                    refusal = Some(Refusal::Status(status));
                }
            }
        }
        let mut hang = None;
        if refusal.is_none() {
            if let Some(Fault::Hang { share, store }) = slot(&mut self.slots, FaultKind::Hang) {
                let at = if *store && endpoint == Endpoint::PutRecord {
                    HangAt::AfterWork
                } else {
                    HangAt::BeforeWork
                };
                if share.take(record_id, &mut self.rng) {
                    hang = Some(at);
                }
            }
        }
        self.drop_spent();
        Verdict::Serve {
            latency,
            refusal,
            hang,
        }
    }

    /// Decides what becomes of a PUT that passed every check.
    pub fn on_write(&mut self, record_id: &str) -> WriteAction {
        let mut action = WriteAction::Store;
        if let Some(Fault::DropWrites { share }) = slot(&mut self.slots, FaultKind::DropWrites) {
            if share.take(Some(record_id), &mut self.rng) {
                action = WriteAction::Drop;
            }
        }
        if action == WriteAction::Store {
            if let Some(Fault::CorruptWrites { share, field }) =
                slot(&mut self.slots, FaultKind::CorruptWrites)
            {
                let field = field.clone();
                if share.take(Some(record_id), &mut self.rng) {
                    action = WriteAction::Corrupt(field);
                }
            }
        }
        self.drop_spent();
        action
    }

    fn latency(&mut self) -> Duration {
        let Some(Fault::Latency { min, max }) = slot(&mut self.slots, FaultKind::Latency) else {
            return Duration::ZERO;
        };
        let (min, max) = (*min, *max);
        if max <= min {
            return min;
        }
        let span = u64::try_from((max - min).as_micros()).unwrap_or(u64::MAX);
        min + Duration::from_micros(self.rng.below(span.saturating_add(1)))
    }

    fn drop_spent(&mut self) {
        self.slots.retain(|fault| match fault {
            Fault::Errors { share, .. }
            | Fault::Throttle { share, .. }
            | Fault::Hang { share, .. }
            | Fault::DropWrites { share }
            | Fault::CorruptWrites { share, .. } => !share.spent(),
            Fault::Latency { .. } | Fault::Outage { .. } => true,
        });
    }
}

/// The fault in `kind`'s slot.
fn slot(slots: &mut [Fault], kind: FaultKind) -> Option<&mut Fault> {
    slots.iter_mut().find(|fault| fault.kind() == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::faults::Share;

    fn plan() -> FaultPlan {
        FaultPlan::new(7)
    }

    fn wall() -> Timestamp {
        "2026-11-23T00:00:00Z".parse().unwrap()
    }

    fn put(plan: &mut FaultPlan, id: &str, now: Instant) -> Verdict {
        plan.on_call(Endpoint::PutRecord, Some(id), now, wall())
    }

    fn refused(verdict: &Verdict) -> Option<Refusal> {
        match verdict {
            Verdict::Serve { refusal, .. } => *refusal,
            Verdict::Down(_) => None,
        }
    }

    #[test]
    fn counted_faults_run_out_and_leave_their_slot() {
        let now = Instant::now();
        let mut plan = plan();
        plan.set(
            Fault::Throttle {
                retry_after_secs: 3,
                share: Share::Next(1),
            },
            now,
        )
        .unwrap();
        plan.set(
            Fault::Errors {
                status: 503,
                share: Share::Next(2),
            },
            now,
        )
        .unwrap();
        let got: Vec<_> = (0..4).map(|_| refused(&put(&mut plan, "a", now))).collect();
        assert_eq!(
            got,
            [
                Some(Refusal::Throttle(3)),
                Some(Refusal::Status(503)),
                Some(Refusal::Status(503)),
                None
            ]
        );
        assert!(plan.active(now, wall()).is_empty());
    }

    #[test]
    fn fractions_are_reproducible_with_a_seed() {
        let now = Instant::now();
        let run = || {
            let mut plan = plan();
            let errors = Fault::Errors {
                status: 500,
                share: Share::Fraction(0.3),
            };
            plan.set(errors, now).unwrap();
            (0..1000)
                .map(|_| refused(&put(&mut plan, "a", now)).is_some())
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let hits = first.iter().filter(|&&hit| hit).count();
        assert!((250..350).contains(&hits), "{hits} of 1000");
    }

    #[test]
    fn write_faults_by_id_apply_once_each() {
        let now = Instant::now();
        let mut plan = plan();
        let ids = ["b".to_string()].into_iter().collect();
        plan.set(
            Fault::DropWrites {
                share: Share::Ids(ids),
            },
            now,
        )
        .unwrap();
        plan.set(
            Fault::CorruptWrites {
                share: Share::Next(1),
                field: "result".into(),
            },
            now,
        )
        .unwrap();
        assert_eq!(plan.on_write("b"), WriteAction::Drop);
        assert_eq!(plan.on_write("b"), WriteAction::Corrupt("result".into()));
        assert_eq!(plan.on_write("b"), WriteAction::Store);
        assert!(plan.active(now, wall()).is_empty());
    }

    #[test]
    fn outages_follow_their_window() {
        let start = Instant::now();
        let mut plan = plan();
        let repeat = OutageWindow::Repeat {
            every: Duration::from_secs(180),
            down: Duration::from_secs(45),
        };
        let outage = |window| Fault::Outage {
            mode: OutageMode::Unavailable,
            window,
        };
        plan.set(outage(repeat), start).unwrap();
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(plan.down(at(0), wall()), None);
        assert_eq!(plan.down(at(134), wall()), None);
        assert_eq!(plan.down(at(135), wall()), Some(OutageMode::Unavailable));
        assert_eq!(plan.down(at(179), wall()), Some(OutageMode::Unavailable));
        assert_eq!(plan.down(at(180), wall()), None);
        assert_eq!(plan.down(at(315), wall()), Some(OutageMode::Unavailable));

        plan.set(outage(OutageWindow::For(Duration::from_secs(10))), start)
            .unwrap();
        assert!(matches!(
            put(&mut plan, "a", at(9)),
            Verdict::Down(OutageMode::Unavailable)
        ));
        assert!(matches!(put(&mut plan, "a", at(10)), Verdict::Serve { .. }));
        assert!(plan.active(at(10), wall()).is_empty());

        let from: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        let to: Timestamp = "2026-11-23T00:01:00Z".parse().unwrap();
        plan.set(outage(OutageWindow::Between { from, to }), start)
            .unwrap();
        assert_eq!(plan.down(start, from), Some(OutageMode::Unavailable));
        assert_eq!(plan.down(start, to), None);
        assert!(plan
            .set(
                outage(OutageWindow::Repeat {
                    every: Duration::from_secs(1),
                    down: Duration::from_secs(2)
                }),
                start
            )
            .is_err());
    }
}
