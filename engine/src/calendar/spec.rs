//! A business calendar as written in TOML (`[calendars.<name>]`), compiled by
//! [`BusinessCalendar::new`](super::BusinessCalendar::new).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A business calendar: `[calendars.<name>]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA time zone, e.g. `"Asia/Shanghai"`.
    pub timezone: String,
    /// Opening hours per weekday (`mon` … `sun`): `"09:00-18:00"`, several ranges separated by
    /// commas, `"24:00"` as an end means midnight; an end not after the start runs past midnight.
    /// A day not named is closed.
    #[serde(default)]
    pub hours: BTreeMap<String, String>,
    /// Local dates (`YYYY-MM-DD`) that are closed all day.
    #[serde(default)]
    pub holidays: Vec<String>,
}
