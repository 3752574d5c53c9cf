//! Local days and local times of a partner's time zone as instants, DST-correct: a local time
//! that a spring-forward gap skips is the first instant after the gap, and a local time that
//! a fall-back fold repeats is its first occurrence.

use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use vigil_schema::Millis;

/// The instant of local `time` on `date` in `tz`: the first instant after a gap that skips
/// it, the first occurrence when a fold repeats it. `None` only outside jiff's range.
pub fn local_instant(tz: &TimeZone, date: Date, time: Time) -> Option<Timestamp> {
    let ambiguous = tz.to_ambiguous_timestamp(date.to_datetime(time));
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => {
            // `later` reads the skipped time with the offset before the gap, landing at or
            // after the transition; the transition itself is the gap's end.
            let later = ambiguous.later().ok()?;
            let probe = later.checked_add(SignedDuration::from_nanos(1)).ok()?;
            tz.preceding(probe).next().map(|t| t.timestamp())
        }
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.earlier().ok()
        }
    }
}

/// `[start, end)` of local `day` in `tz`, in ms since the epoch: from the first instant of the
/// day to the first instant of the next. 23 or 25 hours long on DST change days.
pub fn day_bounds(tz: &TimeZone, day: Date) -> Option<(Millis, Millis)> {
    let next = day.tomorrow().ok()?;
    let start = local_instant(tz, day, Time::midnight())?;
    let end = local_instant(tz, next, Time::midnight())?;
    Some((start.as_millisecond(), end.as_millisecond()))
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
    fn days_are_local_and_dst_aware() {
        let table = [
            (
                "Asia/Shanghai",
                date(2026, 11, 23),
                "2026-11-22T16:00:00Z",
                "2026-11-23T16:00:00Z",
            ),
            (
                "UTC",
                date(2026, 11, 23),
                "2026-11-23T00:00:00Z",
                "2026-11-24T00:00:00Z",
            ),
            // Spring forward: a 23-hour day.
            (
                "America/New_York",
                date(2026, 3, 8),
                "2026-03-08T05:00:00Z",
                "2026-03-09T04:00:00Z",
            ),
            // Fall back: a 25-hour day.
            (
                "Europe/Berlin",
                date(2026, 10, 25),
                "2026-10-24T22:00:00Z",
                "2026-10-25T23:00:00Z",
            ),
            // Midnight itself is skipped: the day starts at 01:00 local.
            (
                "America/Santiago",
                date(2026, 9, 6),
                "2026-09-06T04:00:00Z",
                "2026-09-07T03:00:00Z",
            ),
        ];
        for (zone, day, start, end) in table {
            assert_eq!(
                day_bounds(&tz(zone), day),
                Some((at(start).as_millisecond(), at(end).as_millisecond())),
                "{zone} {day}"
            );
        }
    }

    #[test]
    fn skipped_times_are_the_gaps_end_and_repeated_times_their_first_occurrence() {
        let ny = tz("America/New_York");
        // 02:00 to 03:00 local does not exist on 2026-03-08.
        for t in [time(2, 0, 0, 0), time(2, 30, 0, 0), time(2, 59, 0, 0)] {
            assert_eq!(
                local_instant(&ny, date(2026, 3, 8), t),
                Some(at("2026-03-08T07:00:00Z")),
                "{t}"
            );
        }
        assert_eq!(
            local_instant(&ny, date(2026, 3, 8), time(3, 0, 0, 0)),
            Some(at("2026-03-08T07:00:00Z"))
        );
        // 01:30 happens twice on 2026-11-01: the first is EDT.
        assert_eq!(
            local_instant(&ny, date(2026, 11, 1), time(1, 30, 0, 0)),
            Some(at("2026-11-01T05:30:00Z"))
        );
        assert_eq!(
            local_instant(&ny, date(2026, 7, 1), time(2, 0, 0, 0)),
            Some(at("2026-07-01T06:00:00Z"))
        );
    }
}
