//! Who is on call: a weekly rotation handed over at a local weekday and time in the
//! schedule's time zone (DST-correct: the hand-over follows the wall clock), and overrides
//! that stand in for a while.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Serialize};
use vigil_schema::Millis;

/// `[[notify.schedules]]`: a weekly rotation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Referenced as `schedule:<id>`.
    pub id: String,
    /// IANA time zone of the hand-over.
    pub timezone: String,
    /// Contact ids, one week each, in turn.
    pub rotation: Vec<String>,
    /// Weekday and local time of the weekly hand-over, e.g. `"mon 09:00"`.
    pub handover: String,
    /// The first week of the rotation starts on the hand-over on or before this date
    /// (`YYYY-MM-DD`). Default 2026-01-05 (a Monday).
    #[serde(default)]
    pub start: Option<String>,
    /// Who stands in, when.
    #[serde(default)]
    pub overrides: Vec<OverrideSpec>,
}

/// A stand-in on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideSpec {
    /// The contact standing in.
    pub contact: String,
    /// From (RFC 3339).
    pub start: String,
    /// Until (RFC 3339, exclusive).
    pub end: String,
}

/// The default first week of a rotation: the hand-over on or before this Monday.
const DEFAULT_START: Date = jiff::civil::date(2026, 1, 5);

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn time(s: &str) -> Option<Time> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    Time::new(h, m, 0, 0).ok()
}

/// `"mon 09:00"` → (Monday, 09:00).
pub fn parse_handover(s: &str) -> Option<(Weekday, Time)> {
    let (day, at) = s.trim().split_once(' ')?;
    Some((weekday(day)?, time(at)?))
}

/// `"22:00-07:00"` → (22:00, 07:00); a range may cross midnight.
pub fn parse_range(s: &str) -> Option<(Time, Time)> {
    let (from, to) = s.split_once('-')?;
    let (from, to) = (time(from)?, time(to)?);
    (from != to).then_some((from, to))
}

/// Whether the local time of `t` in `tz` falls in `range` (which may cross midnight).
pub fn in_range(range: (Time, Time), tz: &TimeZone, t: Millis) -> bool {
    let Ok(ts) = Timestamp::from_millisecond(t) else {
        return false;
    };
    let local = ts.to_zoned(tz.clone()).time();
    let (from, to) = range;
    if from < to {
        from <= local && local < to
    } else {
        local >= from || local < to
    }
}

/// When the range that `t` falls in ends: the next local `range.1` after `t` in `tz` (a DST
/// gap moves it to the first instant after the gap).
pub fn range_end(range: (Time, Time), tz: &TimeZone, t: Millis) -> Millis {
    let Ok(ts) = Timestamp::from_millisecond(t) else {
        return t;
    };
    let here = ts.to_zoned(tz.clone());
    let mut date = here.date();
    for _ in 0..3 {
        if let Ok(end) = date.to_datetime(range.1).to_zoned(tz.clone()) {
            if end.timestamp() > ts {
                return end.timestamp().as_millisecond();
            }
        }
        date = date.tomorrow().unwrap_or(date);
    }
    t
}

/// The hand-over date on or before `date`.
fn handover_date_before(date: Date, day: Weekday) -> Date {
    let back = (date.weekday().to_monday_zero_offset() - day.to_monday_zero_offset()).rem_euclid(7);
    date.checked_sub(Span::new().days(i64::from(back)))
        .unwrap_or(date)
}

/// The contact on call in `schedule` at `t`, or `None` if the schedule is unusable (checked
/// by `vigil check-config`, so only for unchecked input).
pub fn on_call(schedule: &ScheduleSpec, t: Millis) -> Option<&str> {
    for o in &schedule.overrides {
        let (from, to) = (
            vigil_schema::parse_instant(&o.start)?,
            vigil_schema::parse_instant(&o.end)?,
        );
        if from <= t && t < to {
            return Some(&o.contact);
        }
    }
    if schedule.rotation.is_empty() {
        return None;
    }
    let tz = TimeZone::get(&schedule.timezone).ok()?;
    let (day, at) = parse_handover(&schedule.handover)?;
    let local = Timestamp::from_millisecond(t).ok()?.to_zoned(tz.clone());
    let mut handover = handover_date_before(local.date(), day);
    let starts = |d: Date| -> Option<Millis> {
        Some(
            d.to_datetime(at)
                .to_zoned(tz.clone())
                .ok()?
                .timestamp()
                .as_millisecond(),
        )
    };
    if starts(handover)? > t {
        handover = handover.checked_sub(Span::new().days(7)).ok()?;
    }
    let first = match &schedule.start {
        Some(s) => s.parse::<Date>().ok()?,
        None => DEFAULT_START,
    };
    let first = handover_date_before(first, day);
    let days = first.until(handover).ok()?.get_days();
    let week = i64::from(days).div_euclid(7);
    let n = i64::try_from(schedule.rotation.len()).ok()?;
    let index = usize::try_from(week.rem_euclid(n)).ok()?;
    Some(&schedule.rotation[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(handover: &str, tz: &str) -> ScheduleSpec {
        ScheduleSpec {
            id: "primary".into(),
            timezone: tz.into(),
            rotation: vec!["alice".into(), "bob".into(), "carol".into()],
            handover: handover.into(),
            start: Some("2026-11-02".into()),
            overrides: Vec::new(),
        }
    }

    fn at(s: &str) -> Millis {
        vigil_schema::parse_instant(s).unwrap()
    }

    #[test]
    fn the_rotation_hands_over_weekly_at_local_time() {
        // Monday 09:00 in Shanghai is 01:00 UTC; 2026-11-02 is a Monday.
        let s = schedule("mon 09:00", "Asia/Shanghai");
        assert_eq!(on_call(&s, at("2026-11-02T01:00:00Z")), Some("alice"));
        assert_eq!(on_call(&s, at("2026-11-09T00:59:59Z")), Some("alice"));
        assert_eq!(on_call(&s, at("2026-11-09T01:00:00Z")), Some("bob"));
        assert_eq!(on_call(&s, at("2026-11-20T12:00:00Z")), Some("carol"));
        assert_eq!(on_call(&s, at("2026-11-23T01:00:00Z")), Some("alice"));
        // Before the first hand-over, the rotation runs backwards: carol had the week before.
        assert_eq!(on_call(&s, at("2026-11-01T12:00:00Z")), Some("carol"));
    }

    #[test]
    fn the_hand_over_follows_the_wall_clock_across_dst() {
        // Europe/Berlin leaves summer time on 2026-10-25: Monday 09:00 is 07:00 UTC on
        // 2026-10-19 and 08:00 UTC on 2026-10-26.
        let mut s = schedule("mon 09:00", "Europe/Berlin");
        s.start = Some("2026-10-19".into());
        assert_eq!(on_call(&s, at("2026-10-19T07:00:00Z")), Some("alice"));
        assert_eq!(on_call(&s, at("2026-10-26T07:30:00Z")), Some("alice"));
        assert_eq!(on_call(&s, at("2026-10-26T08:00:00Z")), Some("bob"));
    }

    #[test]
    fn an_override_stands_in_for_its_hours_only() {
        let mut s = schedule("mon 09:00", "Asia/Shanghai");
        s.overrides.push(OverrideSpec {
            contact: "dave".into(),
            start: "2026-11-03T00:00:00Z".into(),
            end: "2026-11-04T00:00:00Z".into(),
        });
        assert_eq!(on_call(&s, at("2026-11-03T12:00:00Z")), Some("dave"));
        assert_eq!(on_call(&s, at("2026-11-04T00:00:00Z")), Some("alice"));
    }

    #[test]
    fn quiet_hours_may_cross_midnight() {
        let range = parse_range("22:00-07:00").unwrap();
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        // 23:30 and 06:59 local are quiet, 07:00 and 12:00 are not.
        assert!(in_range(range, &tz, at("2026-11-23T15:30:00Z")));
        assert!(in_range(range, &tz, at("2026-11-23T22:59:00Z")));
        assert!(!in_range(range, &tz, at("2026-11-23T23:00:00Z")));
        assert!(!in_range(range, &tz, at("2026-11-23T04:00:00Z")));
        assert_eq!(parse_range("07:00-07:00"), None);
        assert_eq!(parse_handover("someday 09:00"), None);
        assert_eq!(parse_handover("mon 25:00"), None);
    }

    #[test]
    fn quiet_hours_end_at_the_next_local_end_time() {
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let range = parse_range("22:00-07:00").unwrap();
        let at = |s: &str| vigil_schema::parse_instant(s).unwrap();
        // 23:30 local (15:30Z) is quiet until 07:00 local the next day (23:00Z).
        let t = at("2026-11-22T15:30:00Z");
        assert!(in_range(range, &tz, t));
        assert_eq!(range_end(range, &tz, t), at("2026-11-22T23:00:00Z"));
        // 05:00 local (21:00Z the day before) ends the same local morning.
        let t = at("2026-11-22T21:00:00Z");
        assert_eq!(range_end(range, &tz, t), at("2026-11-22T23:00:00Z"));
    }
}
