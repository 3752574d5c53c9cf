//! One UTC year of a business calendar's opening windows, with running sums.

use jiff::civil::{Date, DateTime};
use jiff::tz::AmbiguousOffset;
use jiff::Timestamp;
use vigil_schema::time::days_from_civil;
use vigil_schema::Millis;

use super::BusinessCalendar;

const DAY_MS: i64 = 86_400_000;

/// The UTC calendar year of an instant.
pub(super) fn utc_year(ms: Millis) -> i64 {
    // Civil-from-days (Howard Hinnant), year only.
    let z = ms.div_euclid(DAY_MS) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

fn year_start(year: i64) -> Millis {
    days_from_civil(year, 1, 1) * DAY_MS
}

/// Disjoint, sorted opening windows `[start, end)` clipped to one UTC year.
pub(super) struct YearWindows {
    starts: Vec<Millis>,
    ends: Vec<Millis>,
    /// SLA time before window `i` within the year.
    before: Vec<i64>,
    /// SLA time up to the end of window `i` within the year.
    after: Vec<i64>,
    total: i64,
}

impl YearWindows {
    pub(super) fn build(cal: &BusinessCalendar, year: i64) -> YearWindows {
        let (lo, hi) = (year_start(year), year_start(year + 1));
        let mut spans: Vec<(Millis, Millis)> = Vec::new();
        // Local dates from two days before to two days after the UTC year cover every offset
        // and every range that runs past midnight.
        if let (Ok(first), Ok(last)) = (
            Date::new(year as i16 - 1, 12, 30),
            Date::new(year as i16 + 1, 1, 2),
        ) {
            let mut day = first;
            while day <= last {
                if !cal.holidays.contains(&day) {
                    let weekday = day.weekday().to_monday_zero_offset() as usize;
                    for r in &cal.week[weekday] {
                        let open = cal.local_instant(day, r.start, Edge::Open);
                        let close_day = if r.end <= r.start {
                            day.tomorrow().ok()
                        } else {
                            Some(day)
                        };
                        if let (Some(open), Some(close_day)) = (open, close_day) {
                            if let Some(close) = cal.local_instant(close_day, r.end, Edge::Close) {
                                if close > open {
                                    spans.push((open.max(lo), close.min(hi)));
                                }
                            }
                        }
                    }
                }
                match day.tomorrow() {
                    Ok(d) => day = d,
                    Err(_) => break,
                }
            }
        }
        spans.retain(|(a, b)| b > a);
        spans.sort_unstable();
        let mut merged: Vec<(Millis, Millis)> = Vec::with_capacity(spans.len());
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut out = YearWindows {
            starts: Vec::with_capacity(merged.len()),
            ends: Vec::with_capacity(merged.len()),
            before: Vec::with_capacity(merged.len()),
            after: Vec::with_capacity(merged.len()),
            total: 0,
        };
        for (a, b) in merged {
            out.starts.push(a);
            out.ends.push(b);
            out.before.push(out.total);
            out.total += b - a;
            out.after.push(out.total);
        }
        out
    }

    /// SLA time in the whole year.
    pub(super) fn total(&self) -> i64 {
        self.total
    }

    /// SLA time from the start of the year up to `t` (clamped to the year).
    pub(super) fn cumulative(&self, t: Millis) -> i64 {
        let n = self.starts.partition_point(|s| *s <= t);
        match n.checked_sub(1) {
            None => 0,
            Some(i) => self.before[i] + (t.min(self.ends[i]) - self.starts[i]),
        }
    }

    /// The earliest instant in this year whose cumulative SLA time is `goal` (> 0), or `None`
    /// when the year holds less than that.
    pub(super) fn instant_reaching(&self, goal: i64) -> Option<Millis> {
        if goal > self.total {
            return None;
        }
        // First window whose end reaches the goal: a goal met exactly at a close is met there.
        let i = self.after.partition_point(|a| *a < goal);
        Some(self.starts[i] + (goal - self.before[i]))
    }
}

/// Which edge of a window a wall time stands for: it decides DST gaps and folds.
#[derive(Clone, Copy)]
pub(super) enum Edge {
    Open,
    Close,
}

impl BusinessCalendar {
    /// The instant of a local wall time (`minute` after midnight of `day`, 1440 = next midnight):
    /// a time in a DST gap maps to the transition; a repeated time opens at its first and closes
    /// at its last occurrence.
    pub(super) fn local_instant(&self, day: Date, minute: u32, edge: Edge) -> Option<Millis> {
        let (day, minute) = if minute >= 1440 {
            (day.tomorrow().ok()?, minute - 1440)
        } else {
            (day, minute)
        };
        let dt = DateTime::from_parts(
            day,
            jiff::civil::time((minute / 60) as i8, (minute % 60) as i8, 0, 0),
        );
        let amb = self.tz.to_ambiguous_timestamp(dt);
        let ts = match (amb.offset(), edge) {
            (AmbiguousOffset::Unambiguous { offset }, _) => offset.to_timestamp(dt).ok()?,
            (AmbiguousOffset::Gap { after, .. }, _) => {
                let before_transition = after.to_timestamp(dt).ok()?;
                self.tz.following(before_transition).next()?.timestamp()
            }
            (AmbiguousOffset::Fold { before, .. }, Edge::Open) => before.to_timestamp(dt).ok()?,
            (AmbiguousOffset::Fold { after, .. }, Edge::Close) => after.to_timestamp(dt).ok()?,
        };
        Some(ts_millis(ts))
    }
}

fn ts_millis(ts: Timestamp) -> Millis {
    ts.as_millisecond()
}
