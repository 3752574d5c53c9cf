//! The period a report covers, as callers name it: a calendar period of the tenant's zone (a
//! day, week, month, quarter or year, by default the last one closed), or a range whose ends
//! are local dates (`2026-11-01`, the day's start) or RFC 3339 instants.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::ToSpan;
use vigil_schema::Millis;

use super::model::Period;

/// A calendar period of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarPeriod {
    /// One local day.
    Day,
    /// Monday to Sunday.
    Week,
    /// A month.
    Month,
    /// Three months from January, April, July or October.
    Quarter,
    /// A year.
    Year,
}

impl CalendarPeriod {
    /// Parses `day`, `week`, `month`, `quarter` or `year`.
    pub fn parse(s: &str) -> Option<CalendarPeriod> {
        Some(match s {
            "day" | "daily" => CalendarPeriod::Day,
            "week" | "weekly" => CalendarPeriod::Week,
            "month" | "monthly" => CalendarPeriod::Month,
            "quarter" | "quarterly" => CalendarPeriod::Quarter,
            "year" | "yearly" => CalendarPeriod::Year,
            _ => return None,
        })
    }

    /// The first local date of the period holding `date`, and the first of the next one.
    pub fn dates_around(self, date: Date) -> (Date, Date) {
        let start = match self {
            CalendarPeriod::Day => date,
            CalendarPeriod::Week => {
                let back = i64::from(date.weekday().since(Weekday::Monday));
                date.checked_sub(back.days()).unwrap_or(date)
            }
            CalendarPeriod::Month => date.first_of_month(),
            CalendarPeriod::Quarter => {
                let month = (date.month() - 1) / 3 * 3 + 1;
                Date::new(date.year(), month, 1).unwrap_or(date)
            }
            CalendarPeriod::Year => date.first_of_year(),
        };
        let step = match self {
            CalendarPeriod::Day => 1.day(),
            CalendarPeriod::Week => 1.week(),
            CalendarPeriod::Month => 1.month(),
            CalendarPeriod::Quarter => 3.months(),
            CalendarPeriod::Year => 1.year(),
        };
        (start, start.checked_add(step).unwrap_or(start))
    }

    /// The period holding the local date `date` in `tz`.
    pub fn around(self, date: Date, tz: &TimeZone) -> Period {
        let (start, end) = self.dates_around(date);
        Period {
            from: local_midnight(start, tz),
            to: local_midnight(end, tz),
        }
    }

    /// The last period closed before `now` in `tz`.
    pub fn last_closed(self, now: Millis, tz: &TimeZone) -> Period {
        let today = local_date(now, tz);
        let (start, _) = self.dates_around(today);
        let yesterday = start.yesterday().unwrap_or(start);
        self.around(yesterday, tz)
    }
}

/// The local date of `at` in `tz`.
pub fn local_date(at: Millis, tz: &TimeZone) -> Date {
    jiff::Timestamp::from_millisecond(at)
        .map(|ts| ts.to_zoned(tz.clone()).date())
        .unwrap_or(Date::constant(1970, 1, 1))
}

/// The first instant of the local date `date` in `tz`.
pub fn local_midnight(date: Date, tz: &TimeZone) -> Millis {
    date.to_zoned(tz.clone())
        .map_or(0, |z| z.timestamp().as_millisecond())
}

/// Parses one end of a range: a local date (its first instant in `tz`) or an RFC 3339
/// instant.
pub fn parse_end(s: &str, tz: &TimeZone) -> Option<Millis> {
    if let Ok(date) = s.parse::<Date>() {
        if s.len() == 10 {
            return Some(local_midnight(date, tz));
        }
    }
    vigil_schema::parse_instant(s)
}

/// Why a period was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PeriodError {
    /// The parameter at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> PeriodError {
    PeriodError {
        field,
        message: message.into(),
    }
}

/// The longest period a report covers: 400 days and a bit (a year and its edges).
pub const MAX_PERIOD_MS: i64 = 367 * 86_400_000;

/// The period named by `period` (with an optional `date` inside it) or by `from` and `to`,
/// in the zone `tz`; by default last month.
pub fn resolve(
    (period, date, from, to): (Option<&str>, Option<&str>, Option<&str>, Option<&str>),
    tz: &TimeZone,
    now: Millis,
) -> Result<Period, PeriodError> {
    let resolved = match (from, to) {
        (Some(f), Some(t)) => {
            if period.is_some() || date.is_some() {
                return Err(bad(
                    "period",
                    "give either period (and date) or from and to",
                ));
            }
            let from = parse_end(f, tz).ok_or_else(|| {
                bad(
                    "from",
                    "expected a date (2026-11-01) or an RFC 3339 instant",
                )
            })?;
            let to = parse_end(t, tz)
                .ok_or_else(|| bad("to", "expected a date (2026-12-01) or an RFC 3339 instant"))?;
            Period { from, to }
        }
        (Some(_), None) => return Err(bad("to", "required with from")),
        (None, Some(_)) => return Err(bad("from", "required with to")),
        (None, None) => {
            let kind = match period {
                None => CalendarPeriod::Month,
                Some(p) => CalendarPeriod::parse(p)
                    .ok_or_else(|| bad("period", "expected day, week, month, quarter or year"))?,
            };
            match date {
                None => kind.last_closed(now, tz),
                Some(d) => {
                    let date = d
                        .parse::<Date>()
                        .map_err(|_| bad("date", "expected a date such as 2026-11-01"))?;
                    kind.around(date, tz)
                }
            }
        }
    };
    if resolved.to <= resolved.from {
        return Err(bad("to", "must be after from"));
    }
    if resolved.to - resolved.from > MAX_PERIOD_MS {
        return Err(bad("to", "a report covers at most 367 days"));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_796_601_600_000; // 2026-12-07T00:00:00Z, a Monday

    #[test]
    fn calendar_periods_are_local_and_default_to_last_month() {
        let sh = TimeZone::get("Asia/Shanghai").expect("zone");
        let m = resolve((None, None, None, None), &sh, NOW).expect("period");
        assert_eq!(vigil_schema::format_instant(m.from), "2026-10-31T16:00:00Z");
        assert_eq!(vigil_schema::format_instant(m.to), "2026-11-30T16:00:00Z");
        let utc = TimeZone::UTC;
        let w = resolve((Some("week"), Some("2026-12-09"), None, None), &utc, NOW).expect("week");
        assert_eq!(vigil_schema::format_instant(w.from), "2026-12-07T00:00:00Z");
        assert_eq!(w.to - w.from, 7 * 86_400_000);
        let q = resolve((Some("quarter"), Some("2026-11-15"), None, None), &utc, NOW).expect("q");
        assert_eq!(vigil_schema::format_instant(q.from), "2026-10-01T00:00:00Z");
        assert_eq!(vigil_schema::format_instant(q.to), "2027-01-01T00:00:00Z");
        let y = CalendarPeriod::Year.last_closed(NOW, &utc);
        assert_eq!(vigil_schema::format_instant(y.from), "2025-01-01T00:00:00Z");
    }

    #[test]
    fn ranges_take_dates_or_instants_and_bad_ones_name_the_field() {
        let utc = TimeZone::UTC;
        let r = resolve(
            (None, None, Some("2026-11-01"), Some("2026-11-02T12:00:00Z")),
            &utc,
            NOW,
        )
        .expect("range");
        assert_eq!(r.to - r.from, 36 * 3_600_000);
        let err = |p| resolve(p, &utc, NOW).expect_err("refused").field;
        assert_eq!(
            err((None, None, Some("yesterday"), Some("2026-11-02"))),
            "from"
        );
        assert_eq!(err((None, None, Some("2026-11-02"), None)), "to");
        assert_eq!(
            err((None, None, Some("2026-11-02"), Some("2026-11-01"))),
            "to"
        );
        assert_eq!(err((Some("fortnight"), None, None, None)), "period");
        assert_eq!(
            err((None, None, Some("2024-01-01"), Some("2026-01-01"))),
            "to"
        );
    }
}
