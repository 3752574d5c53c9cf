//! Business calendars: how much SLA time passes between two instants, and when a given amount
//! of SLA time will have passed (DESIGN.md §3 rule 1 and §3.1).
//!
//! A business calendar's opening windows are computed once per UTC year, lazily, as sorted
//! instants with running sums, so both questions are a binary search. Each year's table is built
//! at most once and then read without locks from any thread.
//!
//! # Layout
//! - `spec`: [`CalendarSpec`], a calendar as written (`[calendars.<name>]`).
//! - `hours`: opening hours of a weekday (`"09:00-18:00"`).
//! - `windows`: one UTC year's opening windows with running sums.
//! - here: [`Calendar`] (24x7 or business) and [`BusinessCalendar`], compiled from a spec.

mod hours;
mod spec;
mod windows;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use hashbrown::HashSet;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use vigil_schema::Millis;

pub use hours::{parse_hours, DayRange, HoursError};
use windows::YearWindows;

pub use spec::CalendarSpec;

/// An instant that is never reached (a goal that cannot accrue any more time).
pub const NEVER: Millis = Millis::MAX;

/// First and last UTC years (inclusive, exclusive) a business calendar has windows for.
const FIRST_YEAR: i64 = 1900;
const END_YEAR: i64 = 2400;

/// The calendar name that counts all time.
pub const ALWAYS_NAME: &str = "24x7";

/// How SLA time passes.
#[derive(Debug)]
pub enum Calendar {
    /// All time counts.
    Always,
    /// Only opening hours count.
    Business(Box<BusinessCalendar>),
}

impl Calendar {
    /// The time zone of a business calendar; `None` for 24x7.
    pub fn time_zone(&self) -> Option<&TimeZone> {
        match self {
            Calendar::Always => None,
            Calendar::Business(b) => Some(&b.tz),
        }
    }

    /// The instant local midnight began on the day holding `t`, in the calendar's time zone
    /// (UTC for 24x7).
    pub fn start_of_day(&self, t: Millis) -> Millis {
        let tz = self.time_zone().cloned().unwrap_or(TimeZone::UTC);
        jiff::Timestamp::from_millisecond(t)
            .ok()
            .and_then(|ts| ts.to_zoned(tz).start_of_day().ok())
            .map_or(t - t.rem_euclid(86_400_000), |z| {
                z.timestamp().as_millisecond()
            })
    }
    /// SLA time in `[from, to)`; zero when `to <= from`.
    pub fn business_between(&self, from: Millis, to: Millis) -> i64 {
        if to <= from {
            return 0;
        }
        match self {
            Calendar::Always => to - from,
            Calendar::Business(b) => b.between(from, to),
        }
    }

    /// The earliest instant `t >= from` with `business_between(from, t) == amount`: a threshold
    /// reached exactly at a window's close is reached at the close, not at the next opening.
    /// [`NEVER`] if the calendar has no more opening hours.
    pub fn add_business(&self, from: Millis, amount: i64) -> Millis {
        if amount <= 0 {
            return from;
        }
        match self {
            Calendar::Always => from.saturating_add(amount),
            Calendar::Business(b) => b.add(from, amount),
        }
    }
}

/// A calendar of weekly opening hours in a time zone, less holidays.
pub struct BusinessCalendar {
    name: String,
    tz: TimeZone,
    /// Opening ranges per weekday, Monday first.
    week: [Vec<DayRange>; 7],
    holidays: HashSet<Date>,
    years: Box<[OnceLock<YearWindows>]>,
}

impl std::fmt::Debug for BusinessCalendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusinessCalendar")
            .field("name", &self.name)
            .field("timezone", &self.tz.iana_name())
            .finish_non_exhaustive()
    }
}

/// A problem with a `[calendars.<name>]` table; `field` is relative to the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CalendarError {
    /// e.g. `timezone`, `hours.mon`, `holidays`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl BusinessCalendar {
    /// Compiles a calendar, reporting every problem at once.
    pub fn new(name: &str, spec: &CalendarSpec) -> Result<BusinessCalendar, Vec<CalendarError>> {
        let mut errors = Vec::new();
        let err = |field: &str, message: String| CalendarError {
            field: field.to_string(),
            message,
        };
        let tz = match TimeZone::get(&spec.timezone) {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push(err(
                    "timezone",
                    format!(
                        "unknown time zone {:?}; use an IANA name such as \"Asia/Shanghai\"",
                        spec.timezone
                    ),
                ));
                None
            }
        };
        let mut week: [Vec<DayRange>; 7] = Default::default();
        for (day, ranges) in &spec.hours {
            match WEEKDAYS.iter().position(|d| d == day) {
                None => errors.push(err(
                    &format!("hours.{day}"),
                    "unknown day; use mon, tue, wed, thu, fri, sat or sun".into(),
                )),
                Some(i) => match parse_hours(ranges) {
                    Ok(r) => week[i] = r,
                    Err(e) => errors.push(err(&format!("hours.{day}"), e.to_string())),
                },
            }
        }
        let bad_days = errors.iter().any(|e| e.field.starts_with("hours."));
        if week.iter().all(Vec::is_empty) && !bad_days {
            errors.push(err(
                "hours",
                "no opening hours: name at least one day, e.g. mon = \"09:00-18:00\"".into(),
            ));
        }
        let mut holidays = HashSet::new();
        for h in &spec.holidays {
            match h.parse::<Date>() {
                Ok(d) => {
                    holidays.insert(d);
                }
                Err(_) => errors.push(err(
                    "holidays",
                    format!("{h:?} is not a date; write YYYY-MM-DD"),
                )),
            }
        }
        match tz {
            Some(tz) if errors.is_empty() => Ok(BusinessCalendar {
                name: name.to_string(),
                tz,
                week,
                holidays,
                years: (FIRST_YEAR..END_YEAR).map(|_| OnceLock::new()).collect(),
            }),
            _ => Err(errors),
        }
    }

    fn year(&self, year: i64) -> Option<&YearWindows> {
        let slot = self.years.get(usize::try_from(year - FIRST_YEAR).ok()?)?;
        Some(slot.get_or_init(|| YearWindows::build(self, year)))
    }

    fn between(&self, from: Millis, to: Millis) -> i64 {
        let (y_from, y_to) = (windows::utc_year(from), windows::utc_year(to));
        let Some(first) = self.year(y_from) else {
            return 0;
        };
        if y_from == y_to {
            return first.cumulative(to) - first.cumulative(from);
        }
        let mut total = first.total() - first.cumulative(from);
        for y in y_from + 1..y_to {
            total += self.year(y).map_or(0, YearWindows::total);
        }
        total + self.year(y_to).map_or(0, |w| w.cumulative(to))
    }

    fn add(&self, from: Millis, amount: i64) -> Millis {
        let mut year = windows::utc_year(from);
        let Some(first) = self.year(year) else {
            return NEVER;
        };
        let mut goal = first.cumulative(from) + amount;
        let mut windows = first;
        loop {
            if let Some(t) = windows.instant_reaching(goal) {
                return t;
            }
            goal -= windows.total();
            year += 1;
            match self.year(year) {
                Some(w) => windows = w,
                None => return NEVER,
            }
        }
    }
}
