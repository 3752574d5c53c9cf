//! A circuit breaker: opens when at least `failure_rate` of the last `window` calls failed,
//! lets no call through for `open_for`, then admits `half_open_calls` probes: all of them
//! succeeding closes it, any failing opens it again.
//!
//! Pure logic with the clock passed in: ask [`Breaker::admit`] before a call and report its
//! outcome with [`Breaker::record`]. What counts as a failure is the caller's call: a peer
//! that is down or times out is; one request refused for its own sake is not.
//! A window of N calls at rate 1.0 is "N consecutive failures" ([`Breaker::consecutive`]).

use std::collections::VecDeque;

use vigil_schema::Millis;

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are held back until `open_for` has passed.
    Open,
    /// Probe calls are (or may go) out; their outcomes close or re-open the breaker.
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

    /// The value of the breaker-state gauges: 0 closed, 1 open, 2 half-open.
    pub fn gauge_value(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }
}

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    /// Opens when at least this share of the last `window` calls failed (0 < rate ≤ 1).
    pub failure_rate: f64,
    /// Calls the rate is measured over; nothing opens before this many calls were seen.
    pub window: u32,
    /// How long no call goes through once open (negative is taken as 0).
    pub open_for_ms: i64,
    /// Probes admitted after `open_for`; all must succeed to close (0 is taken as 1).
    pub half_open_calls: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    /// Nothing goes through before `until`.
    Open {
        until: Millis,
    },
    /// `admitted` probes went out since `since`, `succeeded` of them came back fine.
    HalfOpen {
        since: Millis,
        admitted: u32,
        succeeded: u32,
    },
}

/// A circuit breaker for one peer.
///
/// Invariants: while closed every call is admitted; while open none is until `open_for` has
/// passed; half-open, at most `half_open_calls` probes go out per `open_for`. Probes that are
/// never recorded (their task was dropped) do not wedge it: after another `open_for` a new
/// round of probes is let through.
#[derive(Debug, Clone)]
pub struct Breaker {
    policy: BreakerPolicy,
    phase: Phase,
    /// Outcomes of the last `window` calls while closed (`true` = failed).
    recent: VecDeque<bool>,
    failed: u32,
}

impl Breaker {
    /// A closed breaker with this policy.
    pub fn new(policy: BreakerPolicy) -> Breaker {
        let policy = BreakerPolicy {
            failure_rate: policy.failure_rate.clamp(f64::MIN_POSITIVE, 1.0),
            window: policy.window.max(1),
            open_for_ms: policy.open_for_ms.max(0),
            half_open_calls: policy.half_open_calls.max(1),
        };
        Breaker {
            recent: VecDeque::with_capacity(policy.window as usize),
            policy,
            phase: Phase::Closed,
            failed: 0,
        }
    }

    /// Opens after `failures` consecutive failures (0 is taken as 1), waits `open_for_ms`,
    /// then one probe decides.
    pub fn consecutive(failures: u32, open_for_ms: i64) -> Breaker {
        Breaker::new(BreakerPolicy {
            failure_rate: 1.0,
            window: failures,
            open_for_ms,
            half_open_calls: 1,
        })
    }

    /// Whether a call may go out at `now`. Admitting a probe is a state change: call this
    /// only when the call will really be made, and [`record`](Self::record) its outcome.
    pub fn admit(&mut self, now: Millis) -> bool {
        let open_for = self.policy.open_for_ms;
        match self.phase {
            Phase::Closed => true,
            Phase::Open { until } if now >= until => {
                self.phase = Phase::HalfOpen {
                    since: now,
                    admitted: 1,
                    succeeded: 0,
                };
                true
            }
            Phase::Open { .. } => false,
            Phase::HalfOpen {
                since,
                admitted,
                succeeded,
            } => {
                if admitted < self.policy.half_open_calls {
                    self.phase = Phase::HalfOpen {
                        since,
                        admitted: admitted + 1,
                        succeeded,
                    };
                    true
                } else if now >= since.saturating_add(open_for) {
                    // Probes were lost; start a new round.
                    self.phase = Phase::HalfOpen {
                        since: now,
                        admitted: 1,
                        succeeded: 0,
                    };
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Records the outcome of an admitted call. Outcomes arriving while open (calls that
    /// were in flight when it opened) change nothing.
    pub fn record(&mut self, ok: bool, now: Millis) {
        match self.phase {
            Phase::Open { .. } => {}
            Phase::HalfOpen { .. } if !ok => self.open(now),
            Phase::HalfOpen {
                since,
                admitted,
                succeeded,
            } => {
                let succeeded = succeeded + 1;
                if succeeded >= self.policy.half_open_calls {
                    self.phase = Phase::Closed;
                } else {
                    self.phase = Phase::HalfOpen {
                        since,
                        admitted,
                        succeeded,
                    };
                }
            }
            Phase::Closed => {
                if self.recent.len() == self.policy.window as usize
                    && self.recent.pop_front() == Some(true)
                {
                    self.failed -= 1;
                }
                self.recent.push_back(!ok);
                self.failed += u32::from(!ok);
                let full = self.recent.len() == self.policy.window as usize;
                let rate = f64::from(self.failed) / f64::from(self.policy.window);
                if full && rate + 1e-9 >= self.policy.failure_rate {
                    self.open(now);
                }
            }
        }
    }

    fn open(&mut self, now: Millis) {
        self.phase = Phase::Open {
            until: now.saturating_add(self.policy.open_for_ms),
        };
        self.recent.clear();
        self.failed = 0;
    }

    /// Where the breaker is now (an open breaker whose `open_for` has passed still says open
    /// until the next [`admit`](Self::admit)).
    pub fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// When an open breaker lets the next probe through, if it is open.
    pub fn open_until(&self) -> Option<Millis> {
        match self.phase {
            Phase::Open { until } => Some(until),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_recovers_through_one_trial() {
        let mut b = Breaker::consecutive(3, 1_000);
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
        let mut b = Breaker::consecutive(1, 1_000);
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
        let mut b = Breaker::consecutive(1, 1_000);
        b.record(false, 0);
        assert!(b.admit(1_000));
        assert!(!b.admit(1_999));
        assert!(b.admit(2_000));
        assert!(!b.admit(2_001));
    }

    #[test]
    fn zero_failures_is_one_and_states_have_names_and_gauge_values() {
        let mut b = Breaker::consecutive(0, 10);
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
            let mut b = Breaker::consecutive(failures, cooldown);
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

    fn partner_policy() -> BreakerPolicy {
        BreakerPolicy {
            failure_rate: 0.5,
            window: 20,
            open_for_ms: 30_000,
            half_open_calls: 3,
        }
    }

    #[test]
    fn opens_at_half_of_the_last_twenty_calls_failing() {
        let mut b = Breaker::new(partner_policy());
        // 9 failures among 19 calls, then a success: 9/20 stays closed.
        for i in 0..19 {
            assert!(b.admit(i));
            b.record(!(i % 2 == 0 && i < 18), i);
        }
        b.record(true, 19);
        assert_eq!(b.state(), BreakerState::Closed);
        // Fewer than `window` calls never open, even if all failed.
        let mut young = Breaker::new(partner_policy());
        for i in 0..19 {
            young.record(false, i);
        }
        assert_eq!(young.state(), BreakerState::Closed);
        young.record(false, 19);
        assert_eq!(young.state(), BreakerState::Open);
        // The window slides: alternate outcomes reach exactly 10 of 20.
        let mut sliding = Breaker::new(partner_policy());
        for i in 0..19 {
            sliding.record(i % 2 == 1, i);
        }
        assert_eq!(sliding.state(), BreakerState::Closed);
        sliding.record(false, 19);
        assert_eq!(sliding.state(), BreakerState::Open);
        assert_eq!(sliding.open_until(), Some(30_019));
    }

    #[test]
    fn three_probes_must_all_succeed_to_close() {
        let mut b = Breaker::new(partner_policy());
        for i in 0..20 {
            b.record(false, i);
        }
        assert!(!b.admit(30_018));
        for _ in 0..3 {
            assert!(b.admit(30_019));
        }
        assert!(!b.admit(30_020), "only three probes");
        b.record(true, 30_100);
        b.record(true, 30_101);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(true, 30_102);
        assert_eq!(b.state(), BreakerState::Closed);
        // A failed probe re-opens for another `open_for`.
        for i in 0..20 {
            b.record(false, 40_000 + i);
        }
        assert!(b.admit(70_019));
        b.record(true, 70_020);
        b.record(false, 70_021);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.admit(100_020));
        assert!(b.admit(100_021));
    }

    proptest! {
        /// Against a model of the sliding window: while closed, the breaker opens exactly
        /// when the last `window` recorded outcomes hold at least `failure_rate` failures.
        #[test]
        fn opens_exactly_at_the_failure_rate(
            window in 1u32..30,
            rate_pct in 1u32..=100,
            outcomes in proptest::collection::vec(any::<bool>(), 0..120),
        ) {
            let rate = f64::from(rate_pct) / 100.0;
            let mut b = Breaker::new(BreakerPolicy {
                failure_rate: rate,
                window,
                open_for_ms: 1_000,
                half_open_calls: 2,
            });
            let mut recent: Vec<bool> = Vec::new();
            for (i, ok) in outcomes.into_iter().enumerate() {
                b.record(ok, i as i64);
                recent.push(!ok);
                if recent.len() > window as usize {
                    recent.remove(0);
                }
                let failed = recent.iter().filter(|f| **f).count() as f64;
                let opens = recent.len() == window as usize
                    && failed / f64::from(window) + 1e-9 >= rate;
                prop_assert_eq!(b.state() == BreakerState::Open, opens);
                if opens {
                    break;
                }
            }
        }
    }
}
