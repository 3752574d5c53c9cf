//! Local days: the days, weeks and months of a tenant's report zone, as day numbers and the
//! instants they start at.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use vigil_schema::Millis;

use super::config::TenantReport;

const DAY_MS: i64 = 86_400_000;

/// The local day `at` falls on in `tz`: days since 1970-01-01 of its local date.
pub fn local_day(tz: &TimeZone, at: Millis) -> i32 {
    let offset = Timestamp::from_millisecond(at)
        .map(|ts| i64::from(tz.to_offset(ts).seconds()) * 1000)
        .unwrap_or(0);
    (at + offset).div_euclid(DAY_MS) as i32
}

/// The local date of a day number.
pub fn date_of_day(day: i32) -> Date {
    let epoch = Date::constant(1970, 1, 1);
    epoch
        .checked_add(jiff::Span::new().days(i64::from(day)))
        .unwrap_or(epoch)
}

/// The day number of a local date.
pub fn day_of_date(date: Date) -> i32 {
    (date
        .to_zoned(TimeZone::UTC)
        .map_or(0, |z| z.timestamp().as_millisecond()))
    .div_euclid(DAY_MS) as i32
}

/// The instant local day `day` starts at in `tz` (its first instant, also across a DST gap).
pub fn day_start(tz: &TimeZone, day: i32) -> Millis {
    date_of_day(day)
        .to_zoned(tz.clone())
        .map_or(i64::from(day) * DAY_MS, |z| z.timestamp().as_millisecond())
}

/// Each tenant's report zone (UTC unless its `[report]` names one).
#[derive(Debug, Clone, Default)]
pub struct ReportZones {
    by_tenant: HashMap<u64, TimeZone>,
}

impl ReportZones {
    /// The zones the tenant files name (unknown names were refused when the files loaded).
    pub fn new<'a>(reports: impl IntoIterator<Item = (&'a u64, &'a TenantReport)>) -> Self {
        ReportZones {
            by_tenant: reports
                .into_iter()
                .filter_map(|(t, r)| TimeZone::get(&r.timezone).ok().map(|tz| (*t, tz)))
                .collect(),
        }
    }

    /// A tenant's zone.
    pub fn zone(&self, tenant: u64) -> TimeZone {
        self.by_tenant
            .get(&tenant)
            .cloned()
            .unwrap_or(TimeZone::UTC)
    }

    /// The local day of `at` in a tenant's zone.
    pub fn day_of(&self, tenant: u64, at: Millis) -> i32 {
        match self.by_tenant.get(&tenant) {
            Some(tz) => local_day(tz, at),
            None => at.div_euclid(DAY_MS) as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_start_at_local_midnight_also_across_dst() {
        let sh = TimeZone::get("Asia/Shanghai").expect("zone");
        // 2026-03-01T15:59:59.999Z is 23:59:59.999 in Shanghai on Mar 1; a ms later is Mar 2.
        let at = 1_772_380_799_999;
        let day = local_day(&sh, at);
        assert_eq!(date_of_day(day), Date::constant(2026, 3, 1));
        assert_eq!(local_day(&sh, at + 1), day + 1);
        assert_eq!(day_start(&sh, day + 1), at + 1);
        assert_eq!(day_of_date(Date::constant(2026, 3, 1)), day);
        // Berlin springs forward on 2026-03-29: that day is 23 hours long.
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        let d = day_of_date(Date::constant(2026, 3, 29));
        assert_eq!(
            day_start(&berlin, d + 1) - day_start(&berlin, d),
            23 * 3_600_000
        );
        assert_eq!(local_day(&berlin, day_start(&berlin, d + 1) - 1), d);
        assert_eq!(
            ReportZones::default().day_of(7, at),
            at.div_euclid(DAY_MS) as i32
        );
    }
}
