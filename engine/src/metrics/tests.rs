//! Rolling windows (1 h, 24 h, 7 d, 30 d): what each window counts, expiry of old buckets, the
//! goal figures (compliance, mean, p95) and the memory bound.

use vigil_schema::parse_instant;

use super::*;
use crate::alert::{Goal, Level};
use crate::engine::GoalOutcome;

const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const H1: i64 = WINDOWS[0].1;
const H24: i64 = WINDOWS[1].1;
const D7: i64 = WINDOWS[2].1;
const D30: i64 = WINDOWS[3].1;

/// Midnight UTC, Monday 2026-11-23.
fn t0() -> Millis {
    parse_instant("2026-11-23T00:00:00Z").unwrap()
}

fn stopped(goal: Goal, outcome: GoalOutcome, elapsed_min: i64) -> StoppedGoal {
    StoppedGoal {
        goal,
        outcome,
        elapsed_ms: elapsed_min * MINUTE,
        wall_ms: elapsed_min * MINUTE,
    }
}

fn created_in_windows(m: &RollingMetrics, now: Millis) -> [u64; 4] {
    WINDOWS.map(|(_, len)| m.window(now, len).created)
}

#[test]
fn window_lengths_are_as_named() {
    assert_eq!(WINDOWS.map(|(n, _)| n), ["1h", "24h", "7d", "30d"]);
    assert_eq!([H1, H24, D7, D30], [HOUR, DAY, 7 * DAY, 30 * DAY]);
}

/// `(age of the event at `now`, in minutes, whether it counts in [1h, 24h, 7d, 30d])`, with
/// `now` at 12:00 UTC: windows hold whole buckets after the one `now - len` falls in (5 min,
/// 1 h, 1 day), up to the one holding `now`.
#[rustfmt::skip]
const AGES: &[(i64, [bool; 4])] = &[
    (0, [true, true, true, true]),
    (1, [true, true, true, true]),
    (30, [true, true, true, true]),
    (54, [true, true, true, true]),
    (61, [false, true, true, true]),
    (120, [false, true, true, true]),
    (23 * 60, [false, true, true, true]),
    (24 * 60 + 1, [false, false, true, true]),
    (25 * 60, [false, false, true, true]),
    (3 * 24 * 60, [false, false, true, true]),
    (6 * 24 * 60, [false, false, true, true]),
    // 12:00 now, so 6 d 13 h ago is on the day 7 d ago began in: out of the 7 d window.
    (6 * 24 * 60 + 13 * 60, [false, false, false, true]),
    (8 * 24 * 60, [false, false, false, true]),
    (29 * 24 * 60, [false, false, false, true]),
    (31 * 24 * 60, [false, false, false, false]),
    (45 * 24 * 60, [false, false, false, false]),
];

#[test]
fn each_window_counts_what_happened_within_it() {
    let now = t0() + 40 * DAY + 12 * HOUR;
    // One metric per case, alone, so that each row is checked on its own.
    for (age, want) in AGES {
        let mut m = RollingMetrics::default();
        m.ticket_created(now - age * MINUTE);
        let got = created_in_windows(&m, now).map(|n| n == 1);
        assert_eq!(got, *want, "event {age} min before now");
    }
    // All at once, recorded oldest first: the windows sum them.
    let mut m = RollingMetrics::default();
    for (age, _) in AGES.iter().rev() {
        m.ticket_created(now - age * MINUTE);
    }
    let want = [0, 1, 2, 3].map(|w| AGES.iter().filter(|(_, c)| c[w]).count() as u64);
    assert_eq!(created_in_windows(&m, now), want);
    assert_eq!(want, [4, 7, 11, 14]);
}

#[test]
fn events_in_buckets_after_now_are_not_counted() {
    let mut m = RollingMetrics::default();
    let now = t0() + 12 * HOUR;
    // 10 min on is a later 5-minute bucket, but the same hour and day as `now`.
    m.ticket_created(now + 10 * MINUTE);
    assert_eq!(created_in_windows(&m, now), [0, 1, 1, 1]);
    assert_eq!(created_in_windows(&m, now + 10 * MINUTE), [1; 4]);
    m.ticket_created(now + 25 * HOUR);
    assert_eq!(created_in_windows(&m, now + 25 * HOUR), [1, 1, 2, 2]);
}

#[test]
fn old_buckets_expire_from_every_window() {
    let mut m = RollingMetrics::default();
    let t = t0() + 12 * HOUR + 2 * MINUTE;
    for _ in 0..5 {
        m.ticket_created(t);
        m.alert_fired(t, Level::Warning);
    }
    let table: &[(i64, [u64; 4])] = &[
        (0, [5, 5, 5, 5]),
        (50 * MINUTE, [5, 5, 5, 5]),
        (2 * HOUR, [0, 5, 5, 5]),
        (2 * DAY, [0, 0, 5, 5]),
        (10 * DAY, [0, 0, 0, 5]),
        (40 * DAY, [0, 0, 0, 0]),
        (400 * DAY, [0, 0, 0, 0]),
    ];
    for (later, want) in table {
        assert_eq!(created_in_windows(&m, t + later), *want, "{later} ms later");
        let warnings = WINDOWS.map(|(_, len)| m.window(t + later, len).warnings);
        assert_eq!(warnings, *want, "{later} ms later");
    }
    // New activity a month on drops the old buckets from memory too.
    assert_eq!(m.buckets(), 3);
    m.ticket_created(t + 40 * DAY);
    assert_eq!(m.buckets(), 3);
    assert_eq!(created_in_windows(&m, t + 40 * DAY), [1; 4]);
}

#[test]
fn late_events_within_reach_count_and_older_ones_are_dropped() {
    let mut m = RollingMetrics::default();
    let now = t0() + 40 * DAY + 12 * HOUR;
    m.ticket_created(now);
    m.ticket_created(now - 10 * MINUTE);
    m.ticket_created(now - 3 * HOUR);
    m.ticket_created(now - 3 * DAY);
    let before = m.buckets();
    // Beyond the 30-day ring: ignored, nothing allocated.
    m.ticket_created(now - 45 * DAY);
    assert_eq!(m.buckets(), before);
    assert_eq!(created_in_windows(&m, now), [2, 3, 4, 4]);
}

#[test]
fn goal_figures_compliance_mean_and_p95() {
    let mut m = RollingMetrics::default();
    let t = t0() + 12 * HOUR;
    for (min, outcome) in [
        (10, GoalOutcome::Met),
        (20, GoalOutcome::Met),
        (30, GoalOutcome::Met),
        (90, GoalOutcome::Breached),
        (500, GoalOutcome::Cancelled),
    ] {
        m.goal_stopped(t, stopped(Goal::Response, outcome, min));
    }
    for len in [H1, H24, D7, D30] {
        let w = m.window(t, len);
        assert_eq!(w.response.met, 3);
        assert_eq!(w.response.breached, 1);
        assert_eq!(w.response.compliance, Some(0.75));
        // Cancelled goals are left out of the mean too.
        assert_eq!(w.response.mean_ms, Some(37.5 * MINUTE as f64));
        // 4 goals: the 95th percentile is the 4th, 90 min, in the [60, 120) bucket.
        assert_eq!(w.response.p95_ms, Some(120 * MINUTE));
        // No resolution goal stopped: no figures, not zeros.
        assert_eq!(w.resolved, 0);
        assert_eq!(
            w.resolution,
            GoalStats {
                met: 0,
                breached: 0,
                compliance: None,
                mean_ms: None,
                p95_ms: None
            }
        );
    }
    m.goal_stopped(
        t,
        stopped(Goal::Resolution, GoalOutcome::Breached, 2 * 24 * 60),
    );
    let w = m.window(t, H24);
    assert_eq!(w.resolved, 1);
    assert_eq!(w.resolution.compliance, Some(0.0));
    assert_eq!(w.resolution.mean_ms, Some((2 * DAY) as f64));
    assert_eq!(w.resolution.p95_ms, Some(4320 * MINUTE));
    // The response figures are untouched by the resolution goal.
    assert_eq!(w.response.met + w.response.breached, 4);
}

#[test]
fn only_cancelled_goals_give_no_compliance() {
    let mut m = RollingMetrics::default();
    let t = t0();
    m.goal_stopped(t, stopped(Goal::Resolution, GoalOutcome::Cancelled, 5));
    let w = m.window(t, H24);
    assert_eq!(
        (w.resolved, w.resolution.compliance, w.resolution.mean_ms),
        (0, None, None)
    );
}

/// `(elapsed minutes of each stopped goal, expected p95 in minutes)`.
#[rustfmt::skip]
const P95: &[(&[(i64, usize)], i64)] = &[
    (&[(0, 1)], 1),
    (&[(1, 1)], 5),
    (&[(14, 1)], 15),
    (&[(15, 1)], 30),
    (&[(1439, 1)], 1440),
    (&[(1440, 1)], 4320),
    // 19 quick ones and one slow one: the 19th of 20 is the 95th percentile.
    (&[(2, 19), (1000, 1)], 5),
    (&[(2, 18), (1000, 2)], 1440),
    // 100 goals: rank 95.
    (&[(3, 95), (200, 5)], 5),
    (&[(3, 94), (200, 6)], 240),
];

#[test]
fn p95_is_the_upper_bound_of_the_bucket_holding_the_95th_percentile() {
    let t = t0();
    for (goals, want) in P95 {
        let mut m = RollingMetrics::default();
        for (min, n) in *goals {
            for _ in 0..*n {
                m.goal_stopped(t, stopped(Goal::Response, GoalOutcome::Met, *min));
            }
        }
        assert_eq!(
            m.window(t, H24).response.p95_ms,
            Some(want * MINUTE),
            "{goals:?}"
        );
    }
}

#[test]
fn figures_sum_over_the_buckets_of_a_window() {
    let mut m = RollingMetrics::default();
    let now = t0() + 20 * DAY;
    // One met and one breached response goal a day for 10 days, ending today.
    for d in 0..10 {
        let at = now - d * DAY;
        m.goal_stopped(at, stopped(Goal::Response, GoalOutcome::Met, 10));
        m.goal_stopped(at, stopped(Goal::Response, GoalOutcome::Breached, 50));
        m.satisfaction(at, 4.5);
        m.satisfaction(at, 3.0);
        m.alert_fired(at, Level::Breach);
    }
    let w7 = m.window(now, D7);
    assert_eq!((w7.response.met, w7.response.breached), (7, 7));
    assert_eq!(w7.response.compliance, Some(0.5));
    assert_eq!(w7.response.mean_ms, Some(30.0 * MINUTE as f64));
    assert_eq!(w7.response.p95_ms, Some(60 * MINUTE));
    assert_eq!(w7.satisfaction, Some(3.75));
    assert_eq!((w7.breaches, w7.warnings), (7, 0));
    let w30 = m.window(now, D30);
    assert_eq!(
        (w30.response.met, w30.response.breached, w30.breaches),
        (10, 10, 10)
    );
    let w1 = m.window(now, H1);
    assert_eq!(
        (w1.response.met, w1.response.breached, w1.breaches),
        (1, 1, 1)
    );
}

#[test]
fn satisfaction_is_kept_to_the_hundredth() {
    let mut m = RollingMetrics::default();
    let t = t0();
    assert_eq!(m.window(t, H1).satisfaction, None);
    for r in [1.0, 5.0, 4.25] {
        m.satisfaction(t, r);
    }
    assert_eq!(m.window(t, H1).satisfaction, Some(10.25 / 3.0));
}

#[test]
fn memory_stays_bounded_after_a_year_of_activity() {
    // Every 5 minutes for a year: each ring is full, and no more.
    let mut m = RollingMetrics::default();
    let start = t0();
    let steps = 365 * 24 * 12;
    for i in 0..steps {
        let t = start + i * 5 * MINUTE;
        m.ticket_created(t);
        m.goal_stopped(t, stopped(Goal::Resolution, GoalOutcome::Met, 30));
        m.alert_fired(t, Level::Warning);
        assert!(m.buckets() <= 66, "{} buckets after {i} steps", m.buckets());
    }
    assert_eq!(m.buckets(), 66);
    let now = start + (steps - 1) * 5 * MINUTE;
    // Whole buckets after the one `now - len` is in, through the one `now` is in.
    assert_eq!(
        created_in_windows(&m, now),
        [12, 24 * 12, 7 * 24 * 12, 30 * 24 * 12]
    );
    assert_eq!(m.window(now, D30).resolution.compliance, Some(1.0));

    // Hourly for a year: one fine bucket (the last hour's), a day of hours, a month of days.
    let mut m = RollingMetrics::default();
    for h in 0..365 * 24 {
        m.ticket_created(start + h * HOUR);
        assert!(m.buckets() <= 66);
    }
    assert_eq!(m.buckets(), 1 + 24 + 30);
    let now = start + (365 * 24 - 1) * HOUR;
    assert_eq!(created_in_windows(&m, now), [1, 24, 7 * 24, 30 * 24]);
}

#[test]
fn p95_of_a_busy_month_is_not_lost_to_histogram_saturation() {
    // 3 000 response goals a day, each 10 min, for 30 days: 90 000 goals in the 30 d window,
    // all in the [5, 15) min bucket. The 30 d sum saturates that bucket at 65 535 while the
    // rank of the 95th percentile is 85 500, so no bucket reaches it and p95 falls through to
    // the open-ended bucket.
    let mut m = RollingMetrics::default();
    let now = t0() + 40 * DAY;
    for d in (0..30).rev() {
        for _ in 0..3_000 {
            m.goal_stopped(now - d * DAY, stopped(Goal::Response, GoalOutcome::Met, 10));
        }
    }
    let w = m.window(now, D30);
    assert_eq!(w.response.met, 90_000);
    assert_eq!(w.response.p95_ms, Some(15 * MINUTE));
}

#[test]
fn series_has_one_point_per_bucket_including_empty_ones() {
    let mut m = RollingMetrics::default();
    let now = t0() + 12 * HOUR + 30 * MINUTE;
    m.ticket_created(now - 2 * HOUR);
    m.ticket_created(now);
    let s = m.series(now, H24);
    assert_eq!(s.len(), 24);
    assert_eq!(s.last().unwrap().0, t0() + 12 * HOUR);
    assert_eq!(s[0].0, t0() - 11 * HOUR);
    let created: Vec<u64> = s.iter().map(|(_, w)| w.created).collect();
    // 10:30 is in the 10:00 bucket, 12:30 in the last one (12:00).
    assert_eq!(created[21..], [1, 0, 1]);
    assert_eq!(created.iter().sum::<u64>(), 2);
    assert_eq!(m.series(now, H1).len(), 12);
    assert_eq!(m.series(now, D7).len(), 7);
    assert_eq!(m.series(now, D30).len(), 30);
}

#[test]
fn between_counts_a_range_that_starts_on_a_bucket_boundary() {
    let mut m = RollingMetrics::default();
    let now = t0() + 5 * HOUR;
    m.ticket_created(t0() + 10 * MINUTE);
    m.ticket_created(t0() - 10 * MINUTE);
    // From just before midnight: the first hour of the day counts, the day before does not.
    assert_eq!(m.between(now, t0() - 1, now).created, 1);
}

#[test]
fn the_last_24_hours_given_as_an_inclusive_range_are_summed_by_the_hour_across_midnight() {
    // 00:30 on the 24th: a goal stopped at 23:30 on the 23rd is within the last 24 h.
    let now = t0() + DAY + 30 * MINUTE;
    let at = t0() + DAY - 30 * MINUTE;
    let met = stopped(Goal::Response, GoalOutcome::Met, 60);
    let mut m = RollingMetrics::default();
    m.goal_stopped(at, met);
    // The API's range `[now - 24 h, now]` arrives as `(now - 24 h - 1, now]`.
    let from = now - H24 - 1;
    assert_eq!(
        m.between(now, from, now).response.met,
        m.window(now, H24).response.met
    );
    assert_eq!(m.between(now, from, now).response.met, 1);
    let mut grouped = GroupedCompliance::default();
    grouped.goal_stopped(at, met, "HIGH", "request");
    let groups = grouped.by(GroupBy::ServiceType, now, from, now);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].0, "request");
    assert_eq!(groups[0].1.response.met, 1);
}
