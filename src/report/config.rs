//! `[reports]` in `vigil.toml`, and `[report]` in a tenant file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::labels::Language;
use super::schedule::ReportSchedule;
use crate::setting::ConfigDuration;

/// `[reports]`: keeping the history reports are computed from, and generating them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Keep the facts of tickets (creations, stopped goals, reopens, ratings) for reports.
    /// Default true.
    pub enabled: bool,
    /// How long those facts and their daily rollups are kept. Default `"400d"`.
    pub retention: ConfigDuration,
    /// How long a generated report file can be downloaded (files are kept in the store, so
    /// any instance serves them). Default `"7d"`.
    pub file_retention: ConfigDuration,
    /// Report jobs queued or running at once, across instances; more are refused. Default 20.
    pub max_queued: u32,
    /// Report jobs this instance generates at once; 0 leaves them to other instances.
    /// Default 2.
    pub workers: u32,
    /// The font of PDF reports (it must cover Chinese); a TrueType/OpenType file or
    /// collection. Default Noto Sans CJK from Debian's `fonts-noto-cjk`.
    pub font_file: PathBuf,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            enabled: true,
            retention: ConfigDuration::from_days(400),
            file_retention: ConfigDuration::from_days(7),
            max_queued: 20,
            workers: 2,
            font_file: PathBuf::from("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
        }
    }
}

/// `[report]` in a tenant file: how the tenant's reports read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantReport {
    /// Labels and headings: `"en"` or `"zh-CN"`. Default `"en"`.
    pub language: Language,
    /// The IANA zone whose days, weeks and months periods and the trend count in. Default
    /// `"UTC"`. A change applies to the days rolled up after it.
    pub timezone: String,
    /// `[[report.schedules]]`: reports sent by email for each period that closes.
    pub schedules: Vec<ReportSchedule>,
}

impl Default for TenantReport {
    fn default() -> Self {
        TenantReport {
            language: Language::En,
            timezone: "UTC".into(),
            schedules: Vec::new(),
        }
    }
}
