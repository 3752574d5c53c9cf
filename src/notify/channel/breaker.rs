//! A circuit breaker per provider: after `failures` consecutive failed sends the provider is
//! left alone for `cooldown`, then one trial send decides whether it is back.
//!
//! Pure logic: the caller passes the clock in, asks [`Breaker::admit`] before a send and
//! reports the outcome with [`Breaker::record`]. What counts as a failure is the caller's
//! call: a provider that is down or refusing everything (a transient error) is; one message
//! refused for its own sake (a malformed address) is not.

use vigil_streams::Millis;

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Sends go through.
    Closed,
    /// Sends are held back until the cool-down has passed.
    Open,
    /// One trial send is (or may go) out; its outcome closes or re-opens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`, for logs and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// The value of the breaker-state gauge: 0 closed, 1 open, 2 half-open.
    pub fn gauge_value(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Counting consecutive failures.
    Closed { failures: u32 },
    /// Nothing goes through before `until`.
    Open { until: Millis },
    /// A trial was admitted at `trial_at` and has not been recorded yet.
    HalfOpen { trial_at: Millis },
}

/// A circuit breaker for one provider.
///
/// Invariants: while closed every send is admitted; while open none is until the
/// cool-down has passed; half-open, at most one trial is outstanding at a time. A trial that
/// is never recorded (its task was dropped) does not wedge the breaker: after another
/// cool-down one more trial is let through.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown_ms: i64,
    phase: Phase,
}

impl Breaker {
    /// Opens after `failures` consecutive failures (0 is taken as 1) and waits `cooldown_ms`
    /// (negative is taken as 0) before a trial.
    pub fn new(failures: u32, cooldown_ms: i64) -> Breaker {
        Breaker {
            threshold: failures.max(1),
            cooldown_ms: cooldown_ms.max(0),
            phase: Phase::Closed { failures: 0 },
        }
    }

    /// Whether a send may go out at `now`. Admitting the half-open trial is a state change:
    /// call this only when the send will really be made, and [`record`](Self::record) its
    /// outcome.
    pub fn admit(&mut self, now: Millis) -> bool {
        match self.phase {
            Phase::Closed { .. } => true,
            Phase::Open { until } if now >= until => {
                self.phase = Phase::HalfOpen { trial_at: now };
                true
            }
            Phase::Open { .. } => false,
            Phase::HalfOpen { trial_at } if now >= trial_at.saturating_add(self.cooldown_ms) => {
                // The outstanding trial was lost; let another one try.
                self.phase = Phase::HalfOpen { trial_at: now };
                true
            }
            Phase::HalfOpen { .. } => false,
        }
    }

    /// Records the outcome of an admitted send. Outcomes arriving while open (sends that were
    /// in flight when the breaker opened) change nothing.
    pub fn record(&mut self, ok: bool, now: Millis) {
        let open = Phase::Open {
            until: now.saturating_add(self.cooldown_ms),
        };
        self.phase = match (self.phase, ok) {
            (Phase::Closed { .. }, true) | (Phase::HalfOpen { .. }, true) => {
                Phase::Closed { failures: 0 }
            }
            (Phase::Closed { failures }, false) => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    open
                } else {
                    Phase::Closed { failures }
                }
            }
            (Phase::HalfOpen { .. }, false) => open,
            (phase @ Phase::Open { .. }, _) => phase,
        };
    }

    /// Where the breaker is now (an open breaker whose cool-down has passed still says open
    /// until the next [`admit`](Self::admit)).
    pub fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_recovers_through_one_trial() {
        let mut b = Breaker::new(3, 1_000);
        for t in 0..2 {
            assert!(b.admit(t));
            b.record(false, t);
        }
        // A success resets the count.
        assert!(b.admit(2));
        b.record(true, 2);
        for t in 3..6 {
            assert_eq!(b.state(), BreakerState::Closed);
            assert!(b.admit(t));
            b.record(false, t);
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.admit(6));
        assert!(!b.admit(1_004));
        // Cool-down passed: exactly one trial.
        assert!(b.admit(1_005));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.admit(1_006));
        assert!(!b.admit(1_500));
        // The trial fails: open for another cool-down.
        b.record(false, 1_600);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.admit(2_599));
        assert!(b.admit(2_600));
        b.record(true, 2_700);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit(2_701));
    }

    #[test]
    fn late_outcomes_while_open_change_nothing() {
        let mut b = Breaker::new(1, 1_000);
        assert!(b.admit(0));
        assert!(b.admit(0));
        b.record(false, 10);
        b.record(true, 20);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.admit(500));
        assert!(b.admit(1_010));
    }

    #[test]
    fn a_lost_trial_does_not_wedge_the_breaker() {
        let mut b = Breaker::new(1, 1_000);
        b.record(false, 0);
        assert!(b.admit(1_000));
        assert!(!b.admit(1_999));
        assert!(b.admit(2_000));
        assert!(!b.admit(2_001));
    }

    #[test]
    fn zero_failures_is_one_and_states_have_names_and_gauge_values() {
        let mut b = Breaker::new(0, 10);
        b.record(false, 0);
        assert_eq!(b.state(), BreakerState::Open);
        let table = [
            (BreakerState::Closed, "closed", 0.0),
            (BreakerState::Open, "open", 1.0),
            (BreakerState::HalfOpen, "half_open", 2.0),
        ];
        for (state, name, gauge) in table {
            assert_eq!(state.as_str(), name);
            assert!((state.gauge_value() - gauge).abs() < f64::EPSILON);
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Admit,
        Record(bool),
    }

    fn step() -> impl Strategy<Value = (u16, Step)> {
        (
            0u16..400,
            prop_oneof![Just(Step::Admit), any::<bool>().prop_map(Step::Record)],
        )
    }

    proptest! {
        /// Against a model: closed admits everything; open admits nothing before the
        /// cool-down; half-open has at most one trial out per cool-down; the breaker opens
        /// exactly when `failures` consecutive failures are recorded while closed.
        #[test]
        fn follows_the_state_machine(
            failures in 1u32..5,
            cooldown in 0i64..1_000,
            steps in proptest::collection::vec(step(), 0..200),
        ) {
            let mut b = Breaker::new(failures, cooldown);
            let mut now: Millis = 0;
            let mut streak = 0u32;
            let mut opened_at: Option<Millis> = None;
            let mut trial_at: Option<Millis> = None;
            for (dt, step) in steps {
                now += i64::from(dt);
                let before = b.state();
                match step {
                    Step::Admit => {
                        let admitted = b.admit(now);
                        match before {
                            BreakerState::Closed => prop_assert!(admitted),
                            BreakerState::Open => {
                                let until = opened_at.map(|t| t + cooldown);
                                prop_assert_eq!(admitted, until.is_some_and(|u| now >= u));
                                if admitted {
                                    trial_at = Some(now);
                                }
                            }
                            BreakerState::HalfOpen => {
                                let due = trial_at.is_some_and(|t| now >= t + cooldown);
                                prop_assert_eq!(admitted, due);
                                if admitted {
                                    trial_at = Some(now);
                                }
                            }
                        }
                    }
                    Step::Record(ok) => {
                        b.record(ok, now);
                        let expected = match (before, ok) {
                            (BreakerState::Open, _) => BreakerState::Open,
                            (_, true) => {
                                streak = 0;
                                BreakerState::Closed
                            }
                            (BreakerState::HalfOpen, false) => {
                                opened_at = Some(now);
                                BreakerState::Open
                            }
                            (BreakerState::Closed, false) => {
                                streak += 1;
                                if streak >= failures {
                                    opened_at = Some(now);
                                    streak = 0;
                                    BreakerState::Open
                                } else {
                                    BreakerState::Closed
                                }
                            }
                        };
                        prop_assert_eq!(b.state(), expected);
                    }
                }
            }
        }
    }
}
