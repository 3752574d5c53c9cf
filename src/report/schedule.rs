//! Scheduled reports: a tenant's `[[report.schedules]]` (daily, weekly or monthly at a local
//! time of its zone, to recipients by email), the runs they are due for, and their checks.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::ToSpan;
use serde::{Deserialize, Serialize};
use vigil_schema::Millis;

use super::format::Format;
use super::model::Period;
use super::period::{local_midnight, CalendarPeriod};
use crate::setting::field_path::{FieldPath, Seg};

/// How often a schedule runs; each run reports the period that just closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    /// Every day, on yesterday.
    Daily,
    /// Every week on `weekday`, on last week (Monday to Sunday).
    Weekly,
    /// Every month on `day`, on last month.
    Monthly,
}

impl Every {
    fn period(self) -> CalendarPeriod {
        match self {
            Every::Daily => CalendarPeriod::Day,
            Every::Weekly => CalendarPeriod::Week,
            Every::Monthly => CalendarPeriod::Month,
        }
    }
}

/// One `[[report.schedules]]` entry of a tenant file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSchedule {
    /// The schedule's name within its tenant: letters, digits, `-` and `_`.
    pub id: String,
    /// `daily`, `weekly` or `monthly`.
    pub every: Every,
    /// The local time it runs at, `HH:MM` in the tenant's zone. Default `"08:00"`.
    #[serde(default = "default_at")]
    pub at: String,
    /// Weekly: the day it runs (`mon` … `sun`). Default `mon`.
    #[serde(default = "default_weekday")]
    pub weekday: String,
    /// Monthly: the day of the month it runs, 1–28. Default 1.
    #[serde(default = "default_day")]
    pub day: u8,
    /// The attachment's format. Default `pdf`.
    #[serde(default = "default_format")]
    pub format: Format,
    /// Email addresses it goes to.
    pub recipients: Vec<String>,
}

fn default_at() -> String {
    "08:00".into()
}

fn default_weekday() -> String {
    "mon".into()
}

fn default_day() -> u8 {
    1
}

fn default_format() -> Format {
    Format::Pdf
}

/// One run of a schedule: when it was due, and the period it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// When it was due.
    pub due_at: Millis,
    /// The period that had just closed.
    pub period: Period,
}

impl ReportSchedule {
    /// The latest run due at or before `now` in `tz` (`None` only for a schedule that does not
    /// check, which the configuration refuses).
    pub fn latest_run(&self, now: Millis, tz: &TimeZone) -> Option<Run> {
        let at = parse_at(&self.at)?;
        let today = super::period::local_date(now, tz);
        // Candidate run dates, newest first: enough to find the latest due one.
        let mut date = today;
        for _ in 0..40 {
            if self.runs_on(date) {
                let due_at = local_instant(date, at, tz);
                if due_at <= now {
                    let yesterday = date.yesterday().ok()?;
                    return Some(Run {
                        due_at,
                        period: self.every.period().around(yesterday, tz),
                    });
                }
            }
            date = date.checked_sub(1.day()).ok()?;
        }
        None
    }

    fn runs_on(&self, date: Date) -> bool {
        match self.every {
            Every::Daily => true,
            Every::Weekly => parse_weekday(&self.weekday) == Some(date.weekday()),
            Every::Monthly => date.day() == self.day as i8,
        }
    }

    /// What is wrong with this entry, as `(field, message)`; `at` is its path.
    pub fn problems(&self, at: &FieldPath) -> Vec<(FieldPath, String)> {
        let mut out = Vec::new();
        let mut bad = |field: &str, message: String| out.push((at.key(field), message));
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bad("id", "use letters, digits, - and _".into());
        }
        if parse_at(&self.at).is_none() {
            bad("at", format!("{:?} is not a local time HH:MM", self.at));
        }
        if self.every == Every::Weekly && parse_weekday(&self.weekday).is_none() {
            bad(
                "weekday",
                format!(
                    "{:?}: expected mon, tue, wed, thu, fri, sat or sun",
                    self.weekday
                ),
            );
        }
        if self.every == Every::Monthly && !(1..=28).contains(&self.day) {
            bad(
                "day",
                format!("{}: a day from 1 to 28 (every month has it)", self.day),
            );
        }
        if self.recipients.is_empty() {
            bad("recipients", "name at least one email address".into());
        }
        for (i, r) in self.recipients.iter().enumerate() {
            if r.parse::<lettre::message::Mailbox>().is_err() {
                let mut path = at.key("recipients");
                path.0.push(Seg::Index(i));
                out.push((path, format!("{r:?} is not an email address")));
            }
        }
        out
    }
}

/// Problems of a tenant's schedules (ids must be unique too).
pub fn problems(schedules: &[ReportSchedule]) -> Vec<(FieldPath, String)> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in schedules.iter().enumerate() {
        let mut at = FieldPath::keys("report.schedules");
        at.0.push(Seg::Index(i));
        if !seen.insert(s.id.as_str()) {
            out.push((
                at.key("id"),
                format!("{:?} is used by an earlier schedule", s.id),
            ));
        }
        out.extend(s.problems(&at));
    }
    out
}

fn parse_at(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s {
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

/// The instant of a local date and time in `tz` (a time in a DST gap: the instant after it).
fn local_instant(date: Date, time: Time, tz: &TimeZone) -> Millis {
    date.to_datetime(time).to_zoned(tz.clone()).map_or_else(
        |_| local_midnight(date, tz),
        |z| z.timestamp().as_millisecond(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(every: Every) -> ReportSchedule {
        ReportSchedule {
            id: "monthly-pdf".into(),
            every,
            at: "08:00".into(),
            weekday: "mon".into(),
            day: 1,
            format: Format::Pdf,
            recipients: vec!["cm@example.com".into()],
        }
    }

    fn at(s: &str) -> Millis {
        vigil_schema::parse_instant(s).expect("instant")
    }

    #[test]
    fn each_run_reports_the_period_just_closed_in_the_tenants_zone() {
        let sh = TimeZone::get("Asia/Shanghai").expect("zone");
        // 2026-12-01 08:00 in Shanghai is 00:00Z.
        let m = schedule(Every::Monthly);
        let run = m
            .latest_run(at("2026-12-07T03:00:00Z"), &sh)
            .expect("a run");
        assert_eq!(run.due_at, at("2026-12-01T00:00:00Z"));
        assert_eq!(run.period.from, at("2026-10-31T16:00:00Z"));
        assert_eq!(run.period.to, at("2026-11-30T16:00:00Z"));
        // A minute before it is due, the latest run is November's.
        let before = m
            .latest_run(at("2026-11-30T23:59:00Z"), &sh)
            .expect("a run");
        assert_eq!(before.due_at, at("2026-11-01T00:00:00Z"));
        let d = schedule(Every::Daily).latest_run(at("2026-12-07T07:59:00Z"), &TimeZone::UTC);
        let d = d.expect("a run");
        assert_eq!(d.due_at, at("2026-12-06T08:00:00Z"));
        assert_eq!(
            (d.period.from, d.period.to),
            (at("2026-12-05T00:00:00Z"), at("2026-12-06T00:00:00Z"))
        );
        let w = schedule(Every::Weekly).latest_run(at("2026-12-07T09:00:00Z"), &TimeZone::UTC);
        let w = w.expect("a run");
        assert_eq!(w.due_at, at("2026-12-07T08:00:00Z"));
        assert_eq!(
            (w.period.from, w.period.to),
            (at("2026-11-30T00:00:00Z"), at("2026-12-07T00:00:00Z"))
        );
    }

    #[test]
    fn bad_entries_name_their_field() {
        let mut s = schedule(Every::Weekly);
        s.at = "8am".into();
        s.weekday = "monday".into();
        s.recipients = vec!["not an address".into()];
        let p: Vec<String> = problems(&[s.clone(), s])
            .iter()
            .map(|(path, _)| path.to_string())
            .collect();
        assert!(p.contains(&"report.schedules[0].at".to_string()), "{p:?}");
        assert!(
            p.contains(&"report.schedules[0].weekday".to_string()),
            "{p:?}"
        );
        assert!(
            p.contains(&"report.schedules[0].recipients[0]".to_string()),
            "{p:?}"
        );
        assert!(p.contains(&"report.schedules[1].id".to_string()), "{p:?}");
    }
}
