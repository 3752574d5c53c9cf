//! The report as one CSV table (RFC 4180, formula-safe): a row per figure set, named by its
//! `section` and `key`, with the same columns throughout, so a spreadsheet or a script reads it
//! without knowing the report's layout. Column names are fixed (English) whatever the
//! tenant's language; the JSON and PDF forms carry the labels.
//!
//! Sections: `summary` (`key` `current` or `previous`), `priority`, `service_type`,
//! `engineer`, `trend` (`key` the step's first local day), `satisfaction` (`key` the stars),
//! `breach` (`key` the ticket id).

use super::model::{Breakdown, GoalFigures, Report, Summary};
use crate::csv::push_line;

/// The header.
pub const COLUMNS: [&str; 31] = [
    "section",
    "key",
    "opened",
    "resolved",
    "open_at_end",
    "response_met",
    "response_breached",
    "response_cancelled",
    "response_compliance",
    "response_mean_ms",
    "response_p50_ms",
    "response_p95_ms",
    "resolution_met",
    "resolution_breached",
    "resolution_cancelled",
    "resolution_compliance",
    "resolution_mean_ms",
    "resolution_p50_ms",
    "resolution_p95_ms",
    "warnings",
    "breach_alerts",
    "satisfaction",
    "count",
    "goal",
    "priority",
    "service_type",
    "engineer",
    "target_ms",
    "elapsed_ms",
    "over_ms",
    "stopped_at",
];

/// Renders `report` as CSV text (lines end in CRLF).
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(4096 + report.breaches.len() * 160);
    push_line(&mut out, COLUMNS.iter().map(|c| (*c).to_string()));
    let mut row = |cells: Row| push_line(&mut out, cells.0);
    row(summary("current", &report.summary));
    row(summary("previous", &report.previous));
    for (section, rows) in [
        ("priority", &report.by_priority),
        ("service_type", &report.by_service_type),
        ("engineer", &report.by_engineer),
    ] {
        for b in rows {
            row(breakdown(section, b));
        }
    }
    for p in &report.trend.points {
        let mut r = Row::new("trend", vigil_schema::format_instant(p.start));
        r.set(2, p.opened.to_string());
        r.goals(&p.response, &p.resolution);
        row(r);
    }
    for (i, n) in report.satisfaction.distribution.iter().enumerate() {
        let mut r = Row::new("satisfaction", (i + 1).to_string());
        r.set(22, n.to_string());
        row(r);
    }
    for b in &report.breaches {
        let mut r = Row::new("breach", b.ticket_id.clone());
        for (i, v) in [
            b.goal.clone(),
            b.priority.clone(),
            b.service_type.clone(),
            b.engineer.clone(),
            b.target_ms.to_string(),
            b.elapsed_ms.to_string(),
            b.over_ms.to_string(),
            vigil_schema::format_instant(b.stopped_at),
        ]
        .into_iter()
        .enumerate()
        {
            r.set(23 + i, v);
        }
        row(r);
    }
    out
}

/// One line's cells.
struct Row(Vec<String>);

impl Row {
    fn new(section: &str, key: String) -> Row {
        let mut cells = vec![String::new(); COLUMNS.len()];
        cells[0] = section.to_string();
        cells[1] = key;
        Row(cells)
    }

    fn set(&mut self, column: usize, value: String) {
        self.0[column] = value;
    }

    fn goals(&mut self, response: &GoalFigures, resolution: &GoalFigures) {
        for (first, g) in [(5, response), (12, resolution)] {
            let cells = [
                g.met.to_string(),
                g.breached.to_string(),
                g.cancelled.to_string(),
                opt(g.compliance.map(|c| format!("{c:.6}"))),
                opt(g.mean_ms.map(|m| format!("{m:.0}"))),
                opt(g.p50_ms.map(|m| m.to_string())),
                opt(g.p95_ms.map(|m| m.to_string())),
            ];
            for (i, v) in cells.into_iter().enumerate() {
                self.set(first + i, v);
            }
        }
    }
}

fn opt(v: Option<String>) -> String {
    v.unwrap_or_default()
}

fn summary(key: &str, s: &Summary) -> Row {
    let mut r = Row::new("summary", key.to_string());
    r.set(2, s.opened.to_string());
    r.set(3, s.resolved.to_string());
    r.set(4, s.open_at_end.to_string());
    r.goals(&s.response, &s.resolution);
    r.set(19, s.warnings.to_string());
    r.set(20, s.breach_alerts.to_string());
    r.set(21, opt(s.satisfaction.map(|m| format!("{m:.2}"))));
    r
}

fn breakdown(section: &str, b: &Breakdown) -> Row {
    let mut r = Row::new(section, b.key.clone());
    r.set(2, b.opened.to_string());
    r.goals(&b.response, &b.resolution);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::labels::Language;
    use crate::report::xlsx::tests::sample;

    /// RFC 4180 fields of one CSV text (quotes doubled inside quoted fields, CRLF lines).
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let (mut row, mut field, mut quoted, mut chars) =
            (Vec::new(), String::new(), false, text.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => row.push(std::mem::take(&mut field)),
                ('\r', false) if chars.peek() == Some(&'\n') => {
                    chars.next();
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (c, _) => field.push(c),
            }
        }
        rows
    }

    #[test]
    fn the_csv_reads_back_to_the_reports_figures() {
        let mut report = sample(Language::ZhCn, 3);
        report.breaches[0].ticket_id = "=cmd|' /C calc'!A0".into();
        report.breaches[1].engineer = "Zhang, \"Wei\"".into();
        let rows = parse(&render(&report));
        assert_eq!(rows[0], COLUMNS);
        assert!(
            rows.iter().all(|r| r.len() == COLUMNS.len()),
            "every line has every column"
        );
        let find = |section: &str, key: &str| {
            rows.iter()
                .find(|r| r[0] == section && r[1] == key)
                .unwrap_or_else(|| panic!("no {section} {key}"))
        };
        let current = find("summary", "current");
        assert_eq!(current[2], report.summary.opened.to_string());
        assert_eq!(current[5], report.summary.response.met.to_string());
        let compliance: f64 = current[8].parse().expect("a number");
        let expected = report.summary.response.compliance.expect("compliance");
        assert!((compliance - expected).abs() < 1e-6);
        for b in &report.by_priority {
            assert_eq!(find("priority", &b.key)[12], b.resolution.met.to_string());
        }
        let breaches: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "breach").collect();
        assert_eq!(breaches.len(), report.breaches.len());
        // A field a spreadsheet would run as a formula is defused; quotes and commas survive.
        assert_eq!(breaches[0][1], "'=cmd|' /C calc'!A0");
        assert_eq!(breaches[1][26], "Zhang, \"Wei\"");
        assert_eq!(breaches[1][29], report.breaches[1].over_ms.to_string());
        let stars: u64 = rows
            .iter()
            .filter(|r| r[0] == "satisfaction")
            .map(|r| r[22].parse::<u64>().expect("a count"))
            .sum();
        assert_eq!(stars, report.satisfaction.distribution.iter().sum::<u64>());
    }
}
