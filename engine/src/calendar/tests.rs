//! Business calendar arithmetic (DESIGN.md §3 rule 1 and §3.1): table-driven edge cases with
//! expected instants worked out by hand, and property tests of the invariants the engine relies
//! on (monotonic, additive, bounded by wall time, `add_business` the inverse of
//! `business_between`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use proptest::prelude::*;
use vigil_schema::{format_instant, parse_instant};

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn at(s: &str) -> Millis {
    parse_instant(s).unwrap_or_else(|| panic!("bad instant {s}"))
}

fn spec(tz: &str, hours: &[(&str, &str)], holidays: &[&str]) -> CalendarSpec {
    CalendarSpec {
        timezone: tz.to_string(),
        hours: hours
            .iter()
            .map(|(d, h)| ((*d).to_string(), (*h).to_string()))
            .collect(),
        holidays: holidays.iter().map(|h| (*h).to_string()).collect(),
    }
}

fn cal(tz: &str, hours: &[(&str, &str)], holidays: &[&str]) -> Calendar {
    Calendar::Business(Box::new(
        BusinessCalendar::new("test", &spec(tz, hours, holidays))
            .unwrap_or_else(|e| panic!("calendar {tz} {hours:?}: {e:?}")),
    ))
}

const WEEKDAYS_9_18: [(&str, &str); 5] = [
    ("mon", "09:00-18:00"),
    ("tue", "09:00-18:00"),
    ("wed", "09:00-18:00"),
    ("thu", "09:00-18:00"),
    ("fri", "09:00-18:00"),
];

const EVERY_DAY_9_18: [(&str, &str); 7] = [
    ("mon", "09:00-18:00"),
    ("tue", "09:00-18:00"),
    ("wed", "09:00-18:00"),
    ("thu", "09:00-18:00"),
    ("fri", "09:00-18:00"),
    ("sat", "09:00-18:00"),
    ("sun", "09:00-18:00"),
];

const ALL_DAY: [(&str, &str); 7] = [
    ("mon", "00:00-24:00"),
    ("tue", "00:00-24:00"),
    ("wed", "00:00-24:00"),
    ("thu", "00:00-24:00"),
    ("fri", "00:00-24:00"),
    ("sat", "00:00-24:00"),
    ("sun", "00:00-24:00"),
];

/// The calendars the tables refer to by name. 2026-11-23 is a Monday; 2026-11-26 (Thursday)
/// is a holiday of `office`.
static CALENDARS: LazyLock<BTreeMap<&'static str, Calendar>> = LazyLock::new(|| {
    BTreeMap::from([
        ("24x7", Calendar::Always),
        ("office", cal("UTC", &WEEKDAYS_9_18, &["2026-11-26"])),
        (
            "lunch",
            cal("UTC", &[("mon", "09:00-12:00, 13:00-18:00")], &[]),
        ),
        ("night", cal("UTC", &[("mon", "22:00-06:00")], &[])),
        (
            "night_hol",
            cal("UTC", &[("mon", "22:00-06:00")], &["2026-11-30"]),
        ),
        (
            "evening",
            cal(
                "UTC",
                &[("mon", "18:00-24:00"), ("tue", "00:00-02:00")],
                &[],
            ),
        ),
        ("allday", cal("UTC", &[("mon", "00:00-24:00")], &[])),
        (
            "ny_gap",
            cal("America/New_York", &[("sun", "02:30-10:00")], &[]),
        ),
        (
            "ny_midnight",
            cal("America/New_York", &[("sun", "00:00-12:00")], &[]),
        ),
        (
            "ny_fold",
            cal("America/New_York", &[("sun", "01:15-01:45")], &[]),
        ),
        (
            "london_open",
            cal("Europe/London", &[("sun", "01:30-09:00")], &[]),
        ),
        (
            "london_close",
            cal("Europe/London", &[("sun", "00:00-01:30")], &[]),
        ),
        ("new_year", cal("UTC", &EVERY_DAY_9_18, &["2027-01-01"])),
        ("auckland", cal("Pacific/Auckland", &EVERY_DAY_9_18, &[])),
        // Santiago changes clocks at local midnight (a day starts in a gap; 23:00 repeats).
        ("santiago_full", cal("America/Santiago", &ALL_DAY, &[])),
        // Lord Howe shifts by 30 minutes at 02:00; both ends of the first range meet a
        // transition once a year each.
        (
            "lord_howe",
            cal(
                "Australia/Lord_Howe",
                &[
                    ("sat", "01:45-02:15, 09:00-17:00"),
                    ("sun", "01:45-02:15, 22:00-02:00"),
                ],
                &["2027-04-04"],
            ),
        ),
    ])
});

fn named(name: &str) -> &'static Calendar {
    CALENDARS
        .get(name)
        .unwrap_or_else(|| panic!("no calendar {name}"))
}

/// `(calendar, from, to, expected SLA time)`.
#[rustfmt::skip]
const BETWEEN: &[(&str, &str, &str, i64)] = &[
    // Plain weekdays in UTC.
    ("office", "2026-11-23T10:00:00Z", "2026-11-23T12:00:00Z", 2 * HOUR),
    ("office", "2026-11-23T12:00:00Z", "2026-11-23T10:00:00Z", 0),
    ("office", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z", 0),
    // Started before opening: nothing accrues until 09:00.
    ("office", "2026-11-23T07:00:00Z", "2026-11-23T10:00:00Z", HOUR),
    ("office", "2026-11-23T07:00:00Z", "2026-11-23T09:00:00Z", 0),
    // Started after close: nothing until the next day's opening.
    ("office", "2026-11-23T19:00:00Z", "2026-11-24T10:00:00Z", HOUR),
    ("office", "2026-11-23T18:00:00Z", "2026-11-24T09:00:00Z", 0),
    // Friday 17:00 → Monday 10:00: one hour each side of the weekend.
    ("office", "2026-11-27T17:00:00Z", "2026-11-30T10:00:00Z", 2 * HOUR),
    ("office", "2026-11-28T00:00:00Z", "2026-11-30T00:00:00Z", 0),
    // Wednesday 17:00 → Friday 10:00 over the Thursday holiday.
    ("office", "2026-11-25T17:00:00Z", "2026-11-27T10:00:00Z", 2 * HOUR),
    ("office", "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z", 0),
    // A whole week: four open days of 9 h (Thursday is a holiday).
    ("office", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z", 36 * HOUR),
    // Millisecond precision at the edges.
    ("office", "2026-11-23T08:59:59.999Z", "2026-11-23T09:00:00.001Z", 1),
    ("office", "2026-11-23T17:59:59.999Z", "2026-11-23T18:00:00.001Z", 1),
    // Two ranges a day: the lunch hour does not count.
    ("lunch", "2026-11-23T11:00:00Z", "2026-11-23T14:00:00Z", 2 * HOUR),
    ("lunch", "2026-11-23T12:00:00Z", "2026-11-23T13:00:00Z", 0),
    ("lunch", "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z", 8 * HOUR),
    // Overnight range: Monday 22:00 → Tuesday 06:00.
    ("night", "2026-11-23T21:00:00Z", "2026-11-24T07:00:00Z", 8 * HOUR),
    ("night", "2026-11-24T00:00:00Z", "2026-11-24T12:00:00Z", 6 * HOUR),
    ("night", "2026-11-23T00:00:00Z", "2026-11-23T23:00:00Z", HOUR),
    // A holiday on Monday removes the whole range that opens that Monday, including its
    // hours after midnight on Tuesday.
    ("night_hol", "2026-11-30T00:00:00Z", "2026-12-01T12:00:00Z", 0),
    ("night_hol", "2026-11-23T00:00:00Z", "2026-12-08T12:00:00Z", 16 * HOUR),
    // "24:00" is the next midnight, and meets Tuesday's 00:00 opening without a seam.
    ("evening", "2026-11-23T17:00:00Z", "2026-11-24T03:00:00Z", 8 * HOUR),
    ("evening", "2026-11-23T23:30:00Z", "2026-11-24T00:30:00Z", HOUR),
    ("allday", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z", 24 * HOUR),
    ("allday", "2026-11-22T12:00:00Z", "2026-11-24T12:00:00Z", 24 * HOUR),
    // New York, spring forward on Sunday 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT.
    // "02:30" lies in the gap, so the day opens at the transition, 07:00Z; 10:00 EDT is 14:00Z.
    ("ny_gap", "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", 7 * HOUR),
    ("ny_gap", "2026-03-08T06:59:59Z", "2026-03-08T07:00:01Z", 1_000),
    // The Sunday before is all EST: 02:30 EST = 07:30Z to 10:00 EST = 15:00Z.
    ("ny_gap", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", 7 * HOUR + 30 * MIN),
    // 00:00 EST (05:00Z) to 12:00 EDT (16:00Z): 12 wall hours but 11 real ones.
    ("ny_midnight", "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", 11 * HOUR),
    // New York, fall back on Sunday 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST, so
    // 01:00–01:59 happens twice. "01:15" opens at its first occurrence (EDT, 05:15Z) and
    // "01:45" closes at its last (EST, 06:45Z): 90 real minutes for 30 wall minutes.
    ("ny_fold", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", 90 * MIN),
    ("ny_fold", "2026-11-01T05:00:00Z", "2026-11-01T05:15:00Z", 0),
    ("ny_fold", "2026-11-01T06:45:00Z", "2026-11-01T07:00:00Z", 0),
    // A plain Sunday: 01:15–01:45 EDT.
    ("ny_fold", "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z", 30 * MIN),
    // London, spring forward on Sunday 2026-03-29: 01:00 GMT (01:00Z) becomes 02:00 BST.
    // "01:30" is in the gap → opens at 01:00Z; 09:00 BST = 08:00Z.
    ("london_open", "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z", 7 * HOUR),
    // A closing time in the gap closes at the transition: 00:00 GMT → 01:00Z.
    ("london_close", "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z", HOUR),
    // London, fall back on Sunday 2026-10-25: 02:00 BST (01:00Z) becomes 01:00 GMT.
    // "01:30" opens at its first occurrence, 01:30 BST = 00:30Z; 09:00 GMT = 09:00Z.
    ("london_open", "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z", 8 * HOUR + 30 * MIN),
    // 00:00 BST (2026-10-24T23:00Z) to "01:30" at its last occurrence, 01:30 GMT = 01:30Z.
    ("london_close", "2026-10-24T00:00:00Z", "2026-10-26T00:00:00Z", 2 * HOUR + 30 * MIN),
    // A plain Sunday in GMT.
    ("london_open", "2026-03-22T00:00:00Z", "2026-03-23T00:00:00Z", 7 * HOUR + 30 * MIN),
    // Year boundary, New Year's Day a holiday: 1 h on Dec 31, 1 h on Jan 2.
    ("new_year", "2026-12-31T17:00:00Z", "2027-01-02T10:00:00Z", 2 * HOUR),
    ("new_year", "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", 0),
    ("new_year", "2026-12-31T00:00:00Z", "2027-01-03T00:00:00Z", 18 * HOUR),
    // Auckland in January is UTC+13: 09:00–18:00 of Jan 1 2027 local is
    // 2026-12-31T20:00Z – 2027-01-01T05:00Z, straddling the UTC new year.
    ("auckland", "2026-12-31T19:00:00Z", "2027-01-01T06:00:00Z", 9 * HOUR),
    ("auckland", "2026-12-31T22:00:00Z", "2027-01-01T00:00:00Z", 2 * HOUR),
    ("auckland", "2027-01-01T00:00:00Z", "2027-01-01T02:00:00Z", 2 * HOUR),
    // Lord Howe moves 30 min at 02:00. Sunday 2026-10-04: 01:45 LHST (+10:30) is 15:15Z and
    // "02:15" lies in the gap, so the range closes at the transition, 15:30Z.
    ("lord_howe", "2026-10-03T15:00:00Z", "2026-10-03T16:00:00Z", 15 * MIN),
    // Sunday 2026-04-05: 01:30–01:59 repeats; "01:45" opens at its first occurrence, LHDT
    // (+11) = 14:45Z, and 02:15 LHST (+10:30) is 15:45Z.
    ("lord_howe", "2026-04-04T14:00:00Z", "2026-04-04T16:00:00Z", HOUR),
    // Sunday 2027-04-04 is a holiday: both of its ranges are gone.
    ("lord_howe", "2027-04-03T12:00:00Z", "2027-04-04T18:00:00Z", 0),
    // Several years at once: 24x7 is wall time.
    ("24x7", "2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z", 3653 * DAY),
];

#[test]
fn business_between_counts_only_opening_hours() {
    for (name, from, to, want) in BETWEEN {
        let got = named(name).business_between(at(from), at(to));
        assert_eq!(got, *want, "{name}: between({from}, {to})");
    }
}

/// `(calendar, from, amount, expected instant)`.
#[rustfmt::skip]
const ADD: &[(&str, &str, i64, &str)] = &[
    ("office", "2026-11-23T10:00:00Z", 2 * HOUR, "2026-11-23T12:00:00Z"),
    // Nothing to add: `from` itself, even outside hours.
    ("office", "2026-11-28T12:00:00Z", 0, "2026-11-28T12:00:00Z"),
    // Started before opening.
    ("office", "2026-11-23T07:00:00Z", HOUR, "2026-11-23T10:00:00Z"),
    // Reached exactly at close: the close, not the next opening.
    ("office", "2026-11-23T17:00:00Z", HOUR, "2026-11-23T18:00:00Z"),
    ("office", "2026-11-23T09:00:00Z", 9 * HOUR, "2026-11-23T18:00:00Z"),
    // One millisecond more lands just after the next opening.
    ("office", "2026-11-23T17:00:00Z", HOUR + 1, "2026-11-24T09:00:00.001Z"),
    ("office", "2026-11-23T18:00:00Z", 1, "2026-11-24T09:00:00.001Z"),
    // Weekend and holiday skipped.
    ("office", "2026-11-27T17:00:00Z", 2 * HOUR, "2026-11-30T10:00:00Z"),
    ("office", "2026-11-28T12:00:00Z", 9 * HOUR, "2026-11-30T18:00:00Z"),
    ("office", "2026-11-25T17:00:00Z", 2 * HOUR, "2026-11-27T10:00:00Z"),
    ("office", "2026-11-23T00:00:00Z", 36 * HOUR, "2026-11-27T18:00:00Z"),
    // Two ranges a day: the morning close is reached at 12:00, not at 13:00.
    ("lunch", "2026-11-23T11:00:00Z", HOUR, "2026-11-23T12:00:00Z"),
    ("lunch", "2026-11-23T11:00:00Z", HOUR + MIN, "2026-11-23T13:01:00Z"),
    ("lunch", "2026-11-23T12:30:00Z", 5 * HOUR, "2026-11-23T18:00:00Z"),
    ("lunch", "2026-11-23T12:30:00Z", 5 * HOUR + 1, "2026-11-30T09:00:00.001Z"),
    // Overnight range.
    ("night", "2026-11-23T23:00:00Z", 7 * HOUR, "2026-11-24T06:00:00Z"),
    ("night", "2026-11-24T06:00:00Z", HOUR, "2026-11-30T23:00:00Z"),
    ("night", "2026-11-23T12:00:00Z", 3 * HOUR, "2026-11-24T01:00:00Z"),
    ("night_hol", "2026-11-24T06:00:00Z", HOUR, "2026-12-07T23:00:00Z"),
    // "24:00": Monday's close and Tuesday's opening are one instant.
    ("evening", "2026-11-23T23:00:00Z", HOUR, "2026-11-24T00:00:00Z"),
    ("evening", "2026-11-23T23:00:00Z", 2 * HOUR, "2026-11-24T01:00:00Z"),
    ("evening", "2026-11-23T23:00:00Z", 3 * HOUR, "2026-11-24T02:00:00Z"),
    ("allday", "2026-11-23T00:00:00Z", DAY, "2026-11-24T00:00:00Z"),
    ("allday", "2026-11-23T00:00:00Z", DAY + 1, "2026-11-30T00:00:00.001Z"),
    // New York spring forward: opens at the transition 07:00Z, closes 14:00Z.
    ("ny_gap", "2026-03-08T00:00:00Z", 1, "2026-03-08T07:00:00.001Z"),
    ("ny_gap", "2026-03-08T00:00:00Z", 7 * HOUR, "2026-03-08T14:00:00Z"),
    ("ny_gap", "2026-03-08T00:00:00Z", 7 * HOUR + 1, "2026-03-15T06:30:00.001Z"),
    ("ny_midnight", "2026-03-08T00:00:00Z", 11 * HOUR, "2026-03-08T16:00:00Z"),
    // New York fall back: opens 05:15Z (first 01:15), closes 06:45Z (last 01:45).
    ("ny_fold", "2026-11-01T00:00:00Z", 1, "2026-11-01T05:15:00.001Z"),
    ("ny_fold", "2026-11-01T00:00:00Z", 90 * MIN, "2026-11-01T06:45:00Z"),
    // The Sunday after is EST: 01:15 EST = 06:15Z.
    ("ny_fold", "2026-11-01T00:00:00Z", 90 * MIN + 1, "2026-11-08T06:15:00.001Z"),
    // London.
    ("london_open", "2026-03-29T00:00:00Z", 7 * HOUR, "2026-03-29T08:00:00Z"),
    ("london_open", "2026-10-25T00:00:00Z", 1, "2026-10-25T00:30:00.001Z"),
    ("london_open", "2026-10-25T00:00:00Z", 8 * HOUR + 30 * MIN, "2026-10-25T09:00:00Z"),
    ("london_close", "2026-03-29T00:00:00Z", HOUR, "2026-03-29T01:00:00Z"),
    ("london_close", "2026-10-24T00:00:00Z", 2 * HOUR + 30 * MIN, "2026-10-25T01:30:00Z"),
    // Year boundary: Dec 31 → (Jan 1 holiday) → Jan 2.
    ("new_year", "2026-12-31T17:00:00Z", HOUR, "2026-12-31T18:00:00Z"),
    ("new_year", "2026-12-31T17:00:00Z", 2 * HOUR, "2027-01-02T10:00:00Z"),
    // Auckland's Jan 1 window straddles the UTC new year; Jan 2 09:00 NZDT = Jan 1 20:00Z.
    ("auckland", "2026-12-31T22:00:00Z", 2 * HOUR, "2027-01-01T00:00:00Z"),
    ("auckland", "2026-12-31T22:00:00Z", 3 * HOUR, "2027-01-01T01:00:00Z"),
    ("auckland", "2026-12-31T22:00:00Z", 7 * HOUR, "2027-01-01T05:00:00Z"),
    ("auckland", "2026-12-31T22:00:00Z", 7 * HOUR + 1, "2027-01-01T20:00:00.001Z"),
    // Many years ahead.
    // 156 weeks of 45 h, less the 9 h holiday of the first week: 9 h into week 157.
    ("office", "2026-11-23T09:00:00Z", 156 * 45 * HOUR, "2029-11-19T18:00:00Z"),
    ("24x7", "2026-11-23T10:00:00Z", 90 * DAY, "2027-02-21T10:00:00Z"),
];

#[test]
fn add_business_finds_the_earliest_instant_reaching_the_amount() {
    for (name, from, amount, want) in ADD {
        let got = named(name).add_business(at(from), *amount);
        assert_eq!(
            format_instant(got),
            *want,
            "{name}: add_business({from}, {amount} ms)"
        );
    }
}

#[test]
fn add_business_at_a_close_is_reached_at_the_close_for_every_close_of_a_week() {
    // Every close of the office week is where its day's 9 h run out, never the next opening.
    let c = named("office");
    let monday = at("2026-11-23T00:00:00Z");
    for (day, open) in [(0, true), (1, true), (2, true), (3, false), (4, true)] {
        let from = monday + day * DAY + 9 * HOUR;
        let reached = c.add_business(from, 9 * HOUR);
        if open {
            assert_eq!(reached, from + 9 * HOUR, "day {day}");
        } else {
            // The holiday: the 9 h are Friday's.
            assert_eq!(format_instant(reached), "2026-11-27T18:00:00Z");
        }
    }
}

#[test]
fn a_calendar_whose_hours_run_out_never_reaches_the_amount() {
    // 2399 is the last year with windows: asking for more than is left returns NEVER.
    let c = named("office");
    let from = at("2399-12-01T00:00:00Z");
    let left = c.business_between(from, at("2399-12-31T23:59:59.999Z"));
    assert!(left > 0);
    assert_ne!(c.add_business(from, left), NEVER);
    assert_eq!(c.add_business(from, left + DAY), NEVER);
}

fn fields(result: Result<BusinessCalendar, Vec<CalendarError>>) -> Vec<String> {
    match result {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(errors) => errors.into_iter().map(|e| e.field).collect(),
    }
}

#[test]
fn every_problem_of_a_calendar_is_reported_at_once() {
    let s = spec(
        "Mars/Olympus_Mons",
        &[
            ("mon", "9:00-18:00"),
            ("funday", "09:00-10:00"),
            ("tue", "10:00-10:00"),
            ("wed", "09:00-18:00"),
        ],
        &["2026-13-01", "2026-12-25", "Christmas"],
    );
    assert_eq!(
        fields(BusinessCalendar::new("bad", &s)),
        [
            "timezone",
            "hours.funday",
            "hours.mon",
            "hours.tue",
            "holidays",
            "holidays"
        ]
    );
}

#[test]
fn calendar_errors_name_the_field_and_the_fix() {
    let errors =
        BusinessCalendar::new("bad", &spec("Mars/Olympus_Mons", &WEEKDAYS_9_18, &[])).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "timezone");
    assert!(
        errors[0].message.contains("Mars/Olympus_Mons"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].to_string().starts_with("timezone: "),
        "{}",
        errors[0]
    );

    let errors = BusinessCalendar::new("bad", &spec("UTC", &[("mon", "09:00")], &[])).unwrap_err();
    assert_eq!(errors[0].field, "hours.mon");
    assert!(errors[0].message.contains("HH:MM-HH:MM"), "{}", errors[0]);
}

#[test]
fn a_calendar_without_opening_hours_is_rejected() {
    assert_eq!(
        fields(BusinessCalendar::new("x", &spec("UTC", &[], &[]))),
        ["hours"]
    );
    // An empty string is a closed day: still no hours at all.
    assert_eq!(
        fields(BusinessCalendar::new(
            "x",
            &spec("UTC", &[("mon", ""), ("sun", " ")], &[])
        )),
        ["hours"]
    );
}

#[test]
fn no_hours_is_reported_together_with_a_bad_timezone() {
    // Nothing is wrong with the hours as far as they go: there are simply none. That is a
    // problem of its own and should be reported along with the time zone.
    assert_eq!(
        fields(BusinessCalendar::new(
            "x",
            &spec("Mars/Olympus_Mons", &[], &["someday"])
        )),
        ["timezone", "hours", "holidays"]
    );
}

/// Ranges as `(start, end)` minutes, or `None` for an error.
type Parsed = Option<&'static [(u32, u32)]>;

/// `(hours as written, how they parse)`.
#[rustfmt::skip]
const HOURS: &[(&str, Parsed)] = &[
    ("09:00-18:00", Some(&[(540, 1080)])),
    (" 09:00 - 12:00 , 13:00-18:00 ", Some(&[(540, 720), (780, 1080)])),
    ("22:00-06:00", Some(&[(1320, 360)])),
    ("18:00-24:00", Some(&[(1080, 1440)])),
    ("00:00-24:00", Some(&[(0, 1440)])),
    ("00:00-00:30", Some(&[(0, 30)])),
    ("", Some(&[])),
    ("09:00-18:00,", Some(&[(540, 1080)])),
    ("24:00-02:00", None),
    ("18:00-24:30", None),
    ("9:00-18:00", None),
    ("09:60-18:00", None),
    ("25:00-26:00", None),
    ("09:00", None),
    ("09:00-09:00", None),
    ("nine to five", None),
];

#[test]
fn opening_hours_parse_as_written() {
    for (text, want) in HOURS {
        let got = parse_hours(text)
            .ok()
            .map(|v| v.iter().map(|r| (r.start, r.end)).collect::<Vec<_>>());
        assert_eq!(got.as_deref(), *want, "{text:?}");
    }
    assert!(matches!(
        parse_hours("10:00-10:00"),
        Err(HoursError::Empty(_))
    ));
    assert!(matches!(
        parse_hours("10:00~11:00"),
        Err(HoursError::Malformed(_))
    ));
}

// ----- properties -----

/// Calendars the properties run over: every shape above (overnight, 24:00, split days, DST gap
/// and fold in two zones, holidays, a zone that straddles the UTC new year) and 24x7.
const PROPERTY_CALENDARS: [&str; 12] = [
    "24x7",
    "santiago_full",
    "lord_howe",
    "office",
    "lunch",
    "night_hol",
    "evening",
    "ny_gap",
    "ny_fold",
    "london_close",
    "new_year",
    "auckland",
];

static Y2020: LazyLock<Millis> = LazyLock::new(|| at("2020-01-01T00:00:00Z"));
static Y2030: LazyLock<Millis> = LazyLock::new(|| at("2030-01-01T00:00:00Z"));

/// An instant in 2020–2030: often on a quarter hour, or a millisecond either side of one, so
/// that openings, closes and DST transitions are hit exactly, not just almost.
fn instant() -> impl Strategy<Value = Millis> {
    let (lo, hi) = (*Y2020, *Y2030);
    let quarter = 15 * MIN;
    prop_oneof![
        lo..hi,
        (lo / quarter..hi / quarter).prop_map(move |q| q * quarter),
        (lo / quarter..hi / quarter, -1..=1i64).prop_map(move |(q, d)| q * quarter + d),
    ]
}

/// How far after another instant: within a day, a month, or up to a year and a half; often a
/// whole number of quarter hours.
fn span() -> impl Strategy<Value = i64> {
    prop_oneof![
        0..DAY,
        0..31 * DAY,
        0..550 * DAY,
        (0..4 * 24 * 7i64).prop_map(|q| q * 15 * MIN),
        (0..550 * 24i64).prop_map(|h| h * HOUR),
    ]
}

fn calendar() -> impl Strategy<Value = (&'static str, &'static Calendar)> {
    prop::sample::select(&PROPERTY_CALENDARS[..]).prop_map(|n| (n, named(n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn elapsed_is_monotonic_in_to((_n, c) in calendar(), from in instant(), a in span(), b in span()) {
        let (near, far) = (from + a.min(b), from + a.max(b));
        prop_assert!(c.business_between(from, near) <= c.business_between(from, far));
    }

    #[test]
    fn elapsed_never_exceeds_wall_time((_n, c) in calendar(), from in instant(), d in span()) {
        let e = c.business_between(from, from + d);
        prop_assert!((0..=d).contains(&e), "elapsed {} over wall {}", e, d);
    }

    #[test]
    fn always_elapsed_is_wall_time(from in instant(), to in instant()) {
        prop_assert_eq!(Calendar::Always.business_between(from, to), (to - from).max(0));
    }

    #[test]
    fn open_all_day_every_day_is_wall_time_in_any_zone(from in instant(), d in span()) {
        // Local midnight to midnight, every day: the windows tile time even where a DST change
        // falls at midnight, so nothing is lost or counted twice.
        prop_assert_eq!(named("santiago_full").business_between(from, from + d), d);
    }

    #[test]
    fn splitting_an_interval_keeps_the_sum((_n, c) in calendar(), a in instant(), x in span(), y in span()) {
        let (b, d) = (a + x, a + x + y);
        prop_assert_eq!(
            c.business_between(a, d),
            c.business_between(a, b) + c.business_between(b, d)
        );
    }

    #[test]
    fn add_business_is_the_inverse_of_between((n, c) in calendar(), from in instant(), x in 1..200 * DAY) {
        let t = c.add_business(from, x);
        prop_assert_ne!(t, NEVER);
        prop_assert!(t > from);
        prop_assert_eq!(c.business_between(from, t), x, "{}: from {}", n, format_instant(from));
        // The earliest such instant: a millisecond before, the amount is not yet reached.
        prop_assert!(c.business_between(from, t - 1) < x, "{}: {} is not the earliest", n, format_instant(t));
    }

    #[test]
    fn add_business_of_whole_hours_matches_between((_n, c) in calendar(), from in instant(), h in 1..2_000i64) {
        let t = c.add_business(from, h * HOUR);
        prop_assert_eq!(c.business_between(from, t), h * HOUR);
        prop_assert!(c.business_between(from, t - 1) < h * HOUR);
    }

    #[test]
    fn add_business_is_monotonic_in_the_amount((_n, c) in calendar(), from in instant(), x in 1..60 * DAY, y in 1..60 * DAY) {
        prop_assert!(c.add_business(from, x.min(y)) <= c.add_business(from, x.max(y)));
    }
}
