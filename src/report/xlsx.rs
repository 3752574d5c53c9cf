//! The report as an Excel workbook: a sheet per part (summary, each breakdown, the trend, the
//! breaches, satisfaction), in the report's language.
//!
//! Every figure is a real cell of its kind: counts are numbers, compliance is a fraction shown
//! as a percentage, SLA times are hours (a number shown with ` h`), instants are date cells in
//! the report's time zone. Header rows are bold and frozen.

use anyhow::Context as _;
use jiff::tz::TimeZone;
use rust_xlsxwriter::{
    Chart, ChartFormat, ChartLine, ChartType, ColNum, DocProperties, ExcelDateTime, Format,
    FormatAlign, FormatBorder, RowNum, Workbook, Worksheet,
};
use vigil_schema::Millis;

use super::labels::{Label, Language};
use super::model::{Breakdown, GoalFigures, Summary};
use super::Report;

/// Renders `report` as an `.xlsx` workbook.
///
/// Fails if the report's time zone is unknown or an instant is outside what Excel can show
/// (before 1900).
pub fn render(report: &Report) -> anyhow::Result<Vec<u8>> {
    let tz = TimeZone::get(&report.timezone)
        .with_context(|| format!("unknown time zone {:?} in the report", report.timezone))?;
    let cx = Cx {
        lang: report.language,
        tz,
        f: Formats::new(),
    };
    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "{} · {} {}",
                Label::Title.text(cx.lang),
                Label::Tenant.text(cx.lang),
                report.tenant_id
            ))
            .set_author("vigil"),
    );

    summary_sheet(&cx, workbook.add_worksheet(), report)?;
    breakdown_sheet(
        &cx,
        workbook.add_worksheet(),
        Label::ByPriority,
        Label::Priority,
        &report.by_priority,
        true,
    )?;
    breakdown_sheet(
        &cx,
        workbook.add_worksheet(),
        Label::ByServiceType,
        Label::ServiceType,
        &report.by_service_type,
        true,
    )?;
    // Tickets opened are not counted per engineer (always 0): no column for them.
    breakdown_sheet(
        &cx,
        workbook.add_worksheet(),
        Label::ByEngineer,
        Label::Engineer,
        &report.by_engineer,
        false,
    )?;
    trend_sheet(&cx, workbook.add_worksheet(), report)?;
    breaches_sheet(&cx, workbook.add_worksheet(), report)?;
    satisfaction_sheet(&cx, workbook.add_worksheet(), report)?;

    workbook
        .save_to_buffer()
        .context("writing the Excel workbook")
}

/// What every sheet needs: the language, the zone and the cell formats.
struct Cx {
    lang: Language,
    tz: TimeZone,
    f: Formats,
}

impl Cx {
    fn t(&self, label: Label) -> &'static str {
        label.text(self.lang)
    }

    /// `ms` as a date cell value: the wall-clock time in the report's zone.
    fn datetime(&self, ms: Millis) -> anyhow::Result<ExcelDateTime> {
        let local = jiff::Timestamp::from_millisecond(ms)
            .with_context(|| format!("instant {ms} out of range"))?
            .to_zoned(self.tz.clone())
            .datetime();
        let date = ExcelDateTime::from_ymd(
            u16::try_from(local.year()).context("year before 0")?,
            u8::try_from(local.month()).context("month")?,
            u8::try_from(local.day()).context("day")?,
        )
        .with_context(|| format!("instant {ms} cannot be an Excel date"))?;
        date.and_hms_milli(
            u16::try_from(local.hour()).context("hour")?,
            u8::try_from(local.minute()).context("minute")?,
            u8::try_from(local.second()).context("second")?,
            u16::try_from(local.millisecond()).context("millisecond")?,
        )
        .with_context(|| format!("instant {ms} cannot be an Excel date"))
    }
}

/// The cell formats.
struct Formats {
    title: Format,
    label: Format,
    header: Format,
    header_num: Format,
    header_group: Format,
    section: Format,
    text: Format,
    note: Format,
    id: Format,
    count: Format,
    count_change: Format,
    pct: Format,
    pct_change: Format,
    hours: Format,
    hours_change: Format,
    rating: Format,
    rating_change: Format,
    date: Format,
    datetime: Format,
}

impl Formats {
    fn new() -> Formats {
        const HEADER_FILL: u32 = 0xDCE6F1;
        const BORDER: u32 = 0x8EA9C8;
        let header = Format::new()
            .set_bold()
            .set_background_color(HEADER_FILL)
            .set_border_bottom(FormatBorder::Thin)
            .set_border_bottom_color(BORDER)
            .set_align(FormatAlign::VerticalCenter);
        Formats {
            title: Format::new()
                .set_bold()
                .set_font_size(16)
                .set_font_color(0x1F3A5F),
            label: Format::new().set_bold(),
            header_num: header.clone().set_align(FormatAlign::Right),
            header_group: header.clone().set_align(FormatAlign::Center),
            header,
            section: Format::new()
                .set_bold()
                .set_font_color(0x1F3A5F)
                .set_background_color(0xF2F5F9),
            text: Format::new(),
            note: Format::new().set_italic().set_font_color(0x595959),
            id: Format::new()
                .set_num_format("0")
                .set_align(FormatAlign::Left),
            count: Format::new().set_num_format("#,##0"),
            count_change: Format::new().set_num_format("+#,##0;-#,##0;0"),
            pct: Format::new().set_num_format("0.0%"),
            pct_change: Format::new().set_num_format("+0.0%;-0.0%;0.0%"),
            hours: Format::new().set_num_format("0.00\" h\""),
            hours_change: Format::new().set_num_format("+0.00\" h\";-0.00\" h\";0.00\" h\""),
            rating: Format::new().set_num_format("0.00"),
            rating_change: Format::new().set_num_format("+0.00;-0.00;0.00"),
            date: Format::new()
                .set_num_format("yyyy-mm-dd")
                .set_align(FormatAlign::Left),
            datetime: Format::new()
                .set_num_format("yyyy-mm-dd hh:mm")
                .set_align(FormatAlign::Left),
        }
    }
}

/// What a numeric cell holds, which decides its value and format.
#[derive(Clone, Copy)]
enum Kind {
    /// A count.
    Count,
    /// A fraction in `[0, 1]`, shown as a percentage.
    Pct,
    /// Milliseconds of SLA time, written as hours.
    Hours,
    /// A mean star rating.
    Rating,
}

impl Kind {
    fn format(self, f: &Formats) -> &Format {
        match self {
            Kind::Count => &f.count,
            Kind::Pct => &f.pct,
            Kind::Hours => &f.hours,
            Kind::Rating => &f.rating,
        }
    }

    fn change_format(self, f: &Formats) -> &Format {
        match self {
            Kind::Count => &f.count_change,
            Kind::Pct => &f.pct_change,
            Kind::Hours => &f.hours_change,
            Kind::Rating => &f.rating_change,
        }
    }

    /// The cell value of a figure (milliseconds become hours).
    fn value(self, v: f64) -> f64 {
        match self {
            Kind::Hours => v / 3_600_000.0,
            _ => v,
        }
    }

    /// Roughly how many characters wide its cells get.
    fn width(self) -> f64 {
        match self {
            Kind::Count => 9.0,
            Kind::Pct => 8.0,
            Kind::Hours => 10.0,
            Kind::Rating => 7.0,
        }
    }
}

/// A worksheet being written, remembering how wide each column needs to be.
struct Sheet<'a> {
    ws: &'a mut Worksheet,
    widths: Vec<f64>,
}

impl<'a> Sheet<'a> {
    fn new(ws: &'a mut Worksheet, name: &str) -> anyhow::Result<Sheet<'a>> {
        ws.set_name(name)
            .with_context(|| format!("naming the sheet {name:?}"))?;
        Ok(Sheet {
            ws,
            widths: Vec::new(),
        })
    }

    fn fit(&mut self, col: ColNum, width: f64) {
        let col = usize::from(col);
        if self.widths.len() <= col {
            self.widths.resize(col + 1, 0.0);
        }
        self.widths[col] = self.widths[col].max(width);
    }

    fn str(&mut self, row: RowNum, col: ColNum, s: &str, f: &Format) -> anyhow::Result<()> {
        self.ws.write_string_with_format(row, col, s, f)?;
        self.fit(col, text_width(s));
        Ok(())
    }

    fn num(&mut self, row: RowNum, col: ColNum, v: f64, f: &Format, w: f64) -> anyhow::Result<()> {
        self.ws.write_number_with_format(row, col, v, f)?;
        self.fit(col, w);
        Ok(())
    }

    /// A figure of `kind`, or an empty cell for none.
    fn figure(
        &mut self,
        f: &Formats,
        row: RowNum,
        col: ColNum,
        kind: Kind,
        v: Option<f64>,
    ) -> anyhow::Result<()> {
        match v {
            Some(v) => self.num(row, col, kind.value(v), kind.format(f), kind.width()),
            None => Ok(()),
        }
    }

    fn date(
        &mut self,
        row: RowNum,
        col: ColNum,
        dt: &ExcelDateTime,
        f: &Format,
        w: f64,
    ) -> anyhow::Result<()> {
        self.ws.write_datetime_with_format(row, col, dt, f)?;
        self.fit(col, w);
        Ok(())
    }

    /// Sets the column widths (with a little padding, at most 60 characters) and freezes the
    /// rows above `rows` and the columns left of `cols`.
    fn finish(self, rows: RowNum, cols: ColNum) -> anyhow::Result<()> {
        for (col, width) in self.widths.iter().enumerate() {
            let col = ColNum::try_from(col).context("too many columns")?;
            self.ws.set_column_width(col, (width + 2.0).min(60.0))?;
        }
        self.ws.set_freeze_panes(rows, cols)?;
        Ok(())
    }
}

/// About how many character widths Excel takes to show `s` (East Asian characters are wide).
fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if u32::from(c) >= 0x2E80 { 2.0 } else { 1.0 })
        .sum::<f64>()
        * 1.1
}

/// Counts as cell values (exact below 2^53).
fn n(v: u64) -> f64 {
    v as f64
}

fn summary_sheet(cx: &Cx, ws: &mut Worksheet, report: &Report) -> anyhow::Result<()> {
    let f = &cx.f;
    let mut s = Sheet::new(ws, cx.t(Label::Summary))?;
    s.ws.write_string_with_format(0, 0, cx.t(Label::Title), &f.title)?;
    s.ws.set_row_height(0, 24)?;

    s.str(2, 0, cx.t(Label::Tenant), &f.label)?;
    s.num(2, 1, n(report.tenant_id), &f.id, 10.0)?;
    for (row, label, period) in [
        (3, Label::Period, report.period),
        (4, Label::PreviousPeriod, report.previous_period),
    ] {
        s.str(row, 0, cx.t(label), &f.label)?;
        s.date(row, 1, &cx.datetime(period.from)?, &f.datetime, 16.0)?;
        s.date(row, 2, &cx.datetime(period.to)?, &f.datetime, 16.0)?;
    }
    s.str(3, 3, &report.timezone, &f.note)?;
    s.str(5, 0, cx.t(Label::Generated), &f.label)?;
    s.date(5, 1, &cx.datetime(report.generated_at)?, &f.datetime, 16.0)?;

    const HEAD: RowNum = 7;
    s.str(HEAD, 0, cx.t(Label::Summary), &f.header)?;
    for (col, label) in [Label::Period, Label::PreviousPeriod, Label::Change]
        .into_iter()
        .enumerate()
    {
        let col = ColNum::try_from(col + 1).context("column")?;
        s.str(HEAD, col, cx.t(label), &f.header_num)?;
    }

    for (row, line) in (HEAD + 1..).zip(kpis(&report.summary, &report.previous)) {
        match line {
            KpiLine::Section(label) => {
                for col in 0..4 {
                    s.ws.write_blank(row, col, &f.section)?;
                }
                s.str(row, 0, cx.t(label), &f.section)?;
            }
            KpiLine::Figure {
                label,
                kind,
                now,
                before,
            } => {
                s.str(row, 0, cx.t(label), &f.text)?;
                s.figure(f, row, 1, kind, now)?;
                s.figure(f, row, 2, kind, before)?;
                if let (Some(now), Some(before)) = (now, before) {
                    let change = kind.value(now) - kind.value(before);
                    s.num(row, 3, change, kind.change_format(f), kind.width())?;
                }
            }
        }
    }
    s.finish(HEAD + 1, 1)
}

/// A line of the summary: a goal's heading or one figure with the previous period's.
enum KpiLine {
    Section(Label),
    Figure {
        label: Label,
        kind: Kind,
        now: Option<f64>,
        before: Option<f64>,
    },
}

/// The summary's lines, in order.
fn kpis(now: &Summary, before: &Summary) -> Vec<KpiLine> {
    let count = |label, a: u64, b: u64| KpiLine::Figure {
        label,
        kind: Kind::Count,
        now: Some(n(a)),
        before: Some(n(b)),
    };
    let mut lines = vec![
        count(Label::Opened, now.opened, before.opened),
        count(Label::Resolved, now.resolved, before.resolved),
        count(Label::OpenAtEnd, now.open_at_end, before.open_at_end),
        count(Label::Warnings, now.warnings, before.warnings),
        count(Label::BreachAlerts, now.breach_alerts, before.breach_alerts),
        KpiLine::Figure {
            label: Label::Satisfaction,
            kind: Kind::Rating,
            now: now.satisfaction,
            before: before.satisfaction,
        },
    ];
    for (label, a, b) in [
        (Label::Response, &now.response, &before.response),
        (Label::Resolution, &now.resolution, &before.resolution),
    ] {
        lines.push(KpiLine::Section(label));
        let hours = |label, x: fn(&GoalFigures) -> Option<f64>| KpiLine::Figure {
            label,
            kind: Kind::Hours,
            now: x(a),
            before: x(b),
        };
        lines.extend([
            KpiLine::Figure {
                label: Label::Compliance,
                kind: Kind::Pct,
                now: a.compliance,
                before: b.compliance,
            },
            count(Label::Met, a.met, b.met),
            count(Label::Breached, a.breached, b.breached),
            count(Label::Cancelled, a.cancelled, b.cancelled),
            hours(Label::MeanTime, |g| g.mean_ms),
            hours(Label::MedianTime, |g| g.p50_ms.map(|v| v as f64)),
            hours(Label::P95Time, |g| g.p95_ms.map(|v| v as f64)),
        ]);
    }
    lines
}

/// The measures a breakdown or the trend shows of one goal.
struct Measure {
    label: Label,
    kind: Kind,
    get: fn(&GoalFigures) -> Option<f64>,
}

const BREAKDOWN_MEASURES: [Measure; 7] = [
    Measure {
        label: Label::Compliance,
        kind: Kind::Pct,
        get: |g| g.compliance,
    },
    Measure {
        label: Label::Met,
        kind: Kind::Count,
        get: |g| Some(n(g.met)),
    },
    Measure {
        label: Label::Breached,
        kind: Kind::Count,
        get: |g| Some(n(g.breached)),
    },
    Measure {
        label: Label::Cancelled,
        kind: Kind::Count,
        get: |g| Some(n(g.cancelled)),
    },
    Measure {
        label: Label::MeanTime,
        kind: Kind::Hours,
        get: |g| g.mean_ms,
    },
    Measure {
        label: Label::MedianTime,
        kind: Kind::Hours,
        get: |g| g.p50_ms.map(|v| v as f64),
    },
    Measure {
        label: Label::P95Time,
        kind: Kind::Hours,
        get: |g| g.p95_ms.map(|v| v as f64),
    },
];

/// Two header rows: the leading columns span both, each goal's name spans its measures.
/// Returns the first column after the goals.
fn goal_headers(
    cx: &Cx,
    s: &mut Sheet<'_>,
    leading: &[Label],
    measures: &[Measure],
) -> anyhow::Result<ColNum> {
    let f = &cx.f;
    let mut col: ColNum = 0;
    for (i, label) in leading.iter().enumerate() {
        let format = if i == 0 { &f.header } else { &f.header_num };
        s.ws.merge_range(0, col, 1, col, cx.t(*label), format)?;
        s.fit(col, text_width(cx.t(*label)));
        col += 1;
    }
    let span = ColNum::try_from(measures.len()).context("columns")?;
    for goal in [Label::Response, Label::Resolution] {
        s.ws.merge_range(0, col, 0, col + span - 1, cx.t(goal), &f.header_group)?;
        for m in measures {
            s.str(1, col, cx.t(m.label), &f.header_num)?;
            col += 1;
        }
    }
    Ok(col)
}

fn breakdown_sheet(
    cx: &Cx,
    ws: &mut Worksheet,
    name: Label,
    key: Label,
    rows: &[Breakdown],
    with_opened: bool,
) -> anyhow::Result<()> {
    let f = &cx.f;
    let mut s = Sheet::new(ws, cx.t(name))?;
    let leading: &[Label] = if with_opened {
        &[key, Label::Opened]
    } else {
        &[key]
    };
    goal_headers(cx, &mut s, leading, &BREAKDOWN_MEASURES)?;
    for (i, b) in rows.iter().enumerate() {
        let row = RowNum::try_from(i + 2).context("too many rows")?;
        let name = if b.key.is_empty() {
            cx.t(Label::Unassigned)
        } else {
            &b.key
        };
        s.str(row, 0, name, &f.text)?;
        let mut col: ColNum = 1;
        if with_opened {
            s.num(row, col, n(b.opened), &f.count, Kind::Count.width())?;
            col += 1;
        }
        for goal in [&b.response, &b.resolution] {
            for m in &BREAKDOWN_MEASURES {
                s.figure(f, row, col, m.kind, (m.get)(goal))?;
                col += 1;
            }
        }
    }
    s.finish(2, 1)
}

fn trend_sheet(cx: &Cx, ws: &mut Worksheet, report: &Report) -> anyhow::Result<()> {
    let f = &cx.f;
    let name = cx.t(Label::Trend);
    let mut s = Sheet::new(ws, name)?;
    let step = match report.trend.step {
        super::model::TrendStep::Day => Label::Day,
        super::model::TrendStep::Week => Label::Week,
    };
    let measures = &BREAKDOWN_MEASURES[..3];
    let end = goal_headers(cx, &mut s, &[step, Label::Opened], measures)?;
    let points = &report.trend.points;
    for (i, p) in points.iter().enumerate() {
        let row = RowNum::try_from(i + 2).context("too many rows")?;
        s.date(row, 0, &cx.datetime(p.start)?, &f.date, 11.0)?;
        s.num(row, 1, n(p.opened), &f.count, Kind::Count.width())?;
        let mut col: ColNum = 2;
        for goal in [&p.response, &p.resolution] {
            for m in measures {
                s.figure(f, row, col, m.kind, (m.get)(goal))?;
                col += 1;
            }
        }
    }
    if !points.is_empty() {
        // A line chart of both compliances beside the table (their columns: 2 and 2 + 3).
        let last = RowNum::try_from(points.len() + 1).context("too many rows")?;
        let mut chart = Chart::new(ChartType::Line);
        for (col, color) in [(2, 0x2F6DB5), (5, 0xE07B39)] {
            chart
                .add_series()
                .set_name((name, 0, col))
                .set_categories((name, 2, 0, last, 0))
                .set_values((name, 2, col, last, col))
                .set_format(
                    ChartFormat::new().set_line(ChartLine::new().set_color(color).set_width(2.0)),
                );
        }
        chart.title().set_name(name);
        chart
            .y_axis()
            .set_min(0.0)
            .set_max(1.0)
            .set_num_format("0%");
        chart.x_axis().set_num_format("mm-dd");
        chart.set_width(720).set_height(320);
        s.ws.insert_chart(2, end + 1, &chart)?;
    }
    s.finish(2, 1)
}

fn breaches_sheet(cx: &Cx, ws: &mut Worksheet, report: &Report) -> anyhow::Result<()> {
    let f = &cx.f;
    let mut s = Sheet::new(ws, cx.t(Label::Breaches))?;
    let headers = [
        (Label::Ticket, false),
        (Label::Goal, false),
        (Label::Priority, false),
        (Label::ServiceType, false),
        (Label::Engineer, false),
        (Label::Target, true),
        (Label::Elapsed, true),
        (Label::OverBy, true),
        (Label::StoppedAt, false),
    ];
    for (col, (label, numeric)) in headers.into_iter().enumerate() {
        let col = ColNum::try_from(col).context("column")?;
        let format = if numeric { &f.header_num } else { &f.header };
        s.str(0, col, cx.t(label), format)?;
    }
    for (i, b) in report.breaches.iter().enumerate() {
        let row = RowNum::try_from(i + 1).context("too many rows")?;
        s.str(row, 0, &b.ticket_id, &f.text)?;
        s.str(row, 1, goal_name(cx.lang, &b.goal), &f.text)?;
        s.str(row, 2, &b.priority, &f.text)?;
        s.str(row, 3, &b.service_type, &f.text)?;
        let engineer = if b.engineer.is_empty() {
            cx.t(Label::Unassigned)
        } else {
            &b.engineer
        };
        s.str(row, 4, engineer, &f.text)?;
        for (col, ms) in [(5, b.target_ms), (6, b.elapsed_ms), (7, b.over_ms)] {
            s.figure(f, row, col, Kind::Hours, Some(ms as f64))?;
        }
        s.date(row, 8, &cx.datetime(b.stopped_at)?, &f.datetime, 16.0)?;
    }
    let last = RowNum::try_from(report.breaches.len()).context("too many rows")?;
    s.ws.autofilter(0, 0, last, 8)?;
    if report.breaches_total > n_u64(report.breaches.len()) {
        // Not every breach is listed: say so beside the header, where it is seen.
        let note = format!(
            "{} {} {}",
            report.breaches.len(),
            cx.t(Label::ListedOf),
            report.breaches_total
        );
        s.ws.write_string_with_format(0, 10, &note, &f.note)?;
    }
    s.finish(1, 1)
}

fn n_u64(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// A breach's goal (`response` or `resolution`) in the report's language.
fn goal_name(lang: Language, goal: &str) -> &str {
    match goal {
        "response" => Label::Response.text(lang),
        "resolution" => Label::Resolution.text(lang),
        other => other,
    }
}

fn satisfaction_sheet(cx: &Cx, ws: &mut Worksheet, report: &Report) -> anyhow::Result<()> {
    let f = &cx.f;
    let sat = &report.satisfaction;
    let mut s = Sheet::new(ws, cx.t(Label::Satisfaction))?;
    s.str(0, 0, cx.t(Label::Stars), &f.header)?;
    s.str(0, 1, cx.t(Label::Ratings), &f.header_num)?;
    let mut row: RowNum = 1;
    for stars in (1..=5u8).rev() {
        s.num(row, 0, f64::from(stars), &f.id, 6.0)?;
        let count = sat.distribution[usize::from(stars - 1)];
        s.num(row, 1, n(count), &f.count, Kind::Count.width())?;
        row += 1;
    }
    row += 1;
    s.str(row, 0, cx.t(Label::Ratings), &f.label)?;
    s.num(row, 1, n(sat.count), &f.count, Kind::Count.width())?;
    row += 1;
    s.str(row, 0, cx.t(Label::Satisfaction), &f.label)?;
    s.figure(f, row, 1, Kind::Rating, sat.mean)?;
    s.finish(1, 0)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Cursor;

    use calamine::{open_workbook_from_rs, Data, DataType as _, Reader, Xlsx};

    use super::*;
    use crate::report::model::{Breach, Period, Satisfaction, Trend, TrendPoint, TrendStep};

    const DAY: i64 = 86_400_000;
    const HOUR: i64 = 3_600_000;
    /// 2026-03-01T00:00:00+08:00.
    const FROM: i64 = 1_772_294_400_000;

    fn goal(met: u64, breached: u64, mean_h: f64) -> GoalFigures {
        GoalFigures {
            met,
            breached,
            cancelled: 1,
            compliance: (met + breached > 0).then(|| met as f64 / (met + breached) as f64),
            mean_ms: Some(mean_h * HOUR as f64),
            p50_ms: Some((mean_h * 0.8 * HOUR as f64) as i64),
            p95_ms: Some((mean_h * 2.5 * HOUR as f64) as i64),
        }
    }

    /// A report of tenant 4217 over March 2026 in Shanghai, with `listed` breaches listed.
    pub(crate) fn sample(language: Language, listed: usize) -> Report {
        let summary = Summary {
            opened: 1234,
            resolved: 1180,
            open_at_end: 57,
            response: goal(1100, 34, 0.7),
            resolution: goal(1090, 90, 4.2),
            warnings: 210,
            breach_alerts: 124,
            satisfaction: Some(4.31),
        };
        let previous = Summary {
            opened: 1150,
            resolved: 1122,
            open_at_end: 61,
            response: goal(1040, 52, 0.8),
            resolution: goal(1010, 112, 4.6),
            warnings: 240,
            breach_alerts: 164,
            satisfaction: Some(4.12),
        };
        let breakdown = |key: &str, scale: u64| Breakdown {
            key: key.to_owned(),
            opened: 100 * scale,
            response: goal(90 * scale, 3 * scale, 0.5 + scale as f64 / 10.0),
            resolution: goal(85 * scale, 8 * scale, 3.0 + scale as f64 / 3.0),
        };
        let points = (0..31)
            .map(|d| TrendPoint {
                start: FROM + d * DAY,
                opened: 30 + (d as u64 * 7) % 13,
                response: goal(35 + (d as u64 * 5) % 7, (d as u64 * 3) % 4, 0.7),
                // A day without any resolution stopping: no compliance.
                resolution: if d == 12 {
                    GoalFigures::default()
                } else {
                    goal(30 + (d as u64 * 3) % 9, (d as u64 * 7) % 6, 4.0)
                },
            })
            .collect();
        let engineers = ["alice", "王伟", "", "bob.smith"];
        let breaches = (0..listed)
            .map(|i| {
                let target = if i % 2 == 0 { HOUR } else { 8 * HOUR };
                let over = (i as i64 % 97 + 1) * 60_000 * 7;
                Breach {
                    ticket_id: format!("TCK-{:06}", 100_000 + i),
                    goal: if i % 2 == 0 { "response" } else { "resolution" }.to_owned(),
                    priority: ["P1", "P2", "P3"][i % 3].to_owned(),
                    service_type: ["network", "数据库", "email"][i % 3].to_owned(),
                    engineer: engineers[i % 4].to_owned(),
                    target_ms: target,
                    elapsed_ms: target + over,
                    over_ms: over,
                    stopped_at: FROM + (i as i64 * 263_000) % (30 * DAY),
                }
            })
            .collect();
        Report {
            tenant_id: 4217,
            language,
            timezone: "Asia/Shanghai".to_owned(),
            period: Period {
                from: FROM,
                to: FROM + 31 * DAY,
            },
            previous_period: Period {
                from: FROM - 31 * DAY,
                to: FROM,
            },
            generated_at: FROM + 31 * DAY + 2 * HOUR + 17 * 60_000,
            summary,
            previous,
            by_priority: vec![breakdown("P1", 1), breakdown("P2", 3), breakdown("P3", 5)],
            by_service_type: vec![
                breakdown("email", 2),
                breakdown("network", 4),
                breakdown("数据库", 3),
            ],
            by_engineer: vec![
                breakdown("", 1),
                breakdown("alice", 4),
                breakdown("bob.smith", 3),
                breakdown("王伟", 2),
            ],
            trend: Trend {
                step: TrendStep::Day,
                points,
            },
            breaches,
            breaches_total: 124 + listed as u64,
            satisfaction: Satisfaction {
                count: 412,
                mean: Some(4.31),
                distribution: [9, 14, 37, 120, 232],
            },
        }
    }

    fn open(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
        open_workbook_from_rs(Cursor::new(bytes)).expect("the workbook opens")
    }

    fn cell(xlsx: &mut Xlsx<Cursor<Vec<u8>>>, sheet: &str, row: u32, col: u32) -> Data {
        let range = xlsx
            .worksheet_range(sheet)
            .unwrap_or_else(|e| panic!("sheet {sheet}: {e}"));
        range.get_value((row, col)).cloned().unwrap_or(Data::Empty)
    }

    /// A date cell's Excel serial number.
    fn serial(data: &Data) -> Option<f64> {
        match data {
            Data::DateTime(dt) => Some(dt.as_f64()),
            _ => None,
        }
    }

    #[test]
    fn english_workbook_has_a_sheet_per_part_with_typed_cells() {
        let report = sample(Language::En, 40);
        let mut xlsx = open(render(&report).expect("renders"));
        assert_eq!(
            xlsx.sheet_names(),
            [
                "Summary",
                "By priority",
                "By service type",
                "By engineer",
                "Compliance trend",
                "Breaches",
                "Satisfaction"
            ]
        );

        // Summary: header, tenant, a date cell for the period, counts and a compliance.
        assert_eq!(
            cell(&mut xlsx, "Summary", 0, 0),
            Data::String("SLA report".into())
        );
        assert_eq!(cell(&mut xlsx, "Summary", 2, 1), Data::Float(4217.0));
        let from = cell(&mut xlsx, "Summary", 3, 1);
        assert!(from.is_datetime(), "period start is a date cell: {from:?}");
        // 2026-03-01 00:00 in Shanghai, not 2026-02-28 16:00 UTC.
        assert_eq!(serial(&from), Some(46082.0));
        assert_eq!(
            cell(&mut xlsx, "Summary", 7, 1),
            Data::String("Period".into())
        );
        assert_eq!(
            cell(&mut xlsx, "Summary", 7, 3),
            Data::String("Change".into())
        );
        assert_eq!(
            cell(&mut xlsx, "Summary", 8, 0),
            Data::String("Tickets opened".into())
        );
        assert_eq!(cell(&mut xlsx, "Summary", 8, 1), Data::Float(1234.0));
        assert_eq!(cell(&mut xlsx, "Summary", 8, 2), Data::Float(1150.0));
        assert_eq!(cell(&mut xlsx, "Summary", 8, 3), Data::Float(84.0));
        assert_eq!(
            cell(&mut xlsx, "Summary", 11, 0),
            Data::String("Warnings".into())
        );
        assert_eq!(cell(&mut xlsx, "Summary", 13, 1), Data::Float(4.31));
        let Data::Float(change) = cell(&mut xlsx, "Summary", 13, 3) else {
            panic!("a change is a number");
        };
        assert!((change - 0.19).abs() < 1e-9);
        assert_eq!(
            cell(&mut xlsx, "Summary", 14, 0),
            Data::String("Response".into())
        );
        assert_eq!(
            cell(&mut xlsx, "Summary", 15, 0),
            Data::String("Compliance".into())
        );
        let Data::Float(compliance) = cell(&mut xlsx, "Summary", 15, 1) else {
            panic!("compliance is a number");
        };
        assert!((compliance - 1100.0 / 1134.0).abs() < 1e-12);
        // Mean response time: 0.7 h as hours.
        let Data::Float(mean) = cell(&mut xlsx, "Summary", 19, 1) else {
            panic!("mean time is a number");
        };
        assert!((mean - 0.7).abs() < 1e-9);

        // Breakdowns: two header rows, then one row per group.
        assert_eq!(
            cell(&mut xlsx, "By priority", 0, 0),
            Data::String("Priority".into())
        );
        assert_eq!(
            cell(&mut xlsx, "By priority", 0, 2),
            Data::String("Response".into())
        );
        assert_eq!(
            cell(&mut xlsx, "By priority", 1, 2),
            Data::String("Compliance".into())
        );
        assert_eq!(
            cell(&mut xlsx, "By priority", 3, 0),
            Data::String("P2".into())
        );
        assert_eq!(cell(&mut xlsx, "By priority", 3, 1), Data::Float(300.0));
        assert_eq!(
            cell(&mut xlsx, "By engineer", 2, 0),
            Data::String("(unassigned)".into())
        );

        // Trend: date cells.
        assert_eq!(
            cell(&mut xlsx, "Compliance trend", 0, 0),
            Data::String("Day".into())
        );
        let day = cell(&mut xlsx, "Compliance trend", 3, 0);
        assert!(day.is_datetime(), "a trend step is a date cell: {day:?}");
        assert_eq!(serial(&day), Some(46083.0));
        assert_eq!(cell(&mut xlsx, "Compliance trend", 14, 5), Data::Empty);

        // Breaches: every listed one, hours and date cells, the note on how many are listed.
        assert_eq!(
            cell(&mut xlsx, "Breaches", 0, 0),
            Data::String("Ticket".into())
        );
        assert_eq!(
            cell(&mut xlsx, "Breaches", 1, 0),
            Data::String("TCK-100000".into())
        );
        assert_eq!(
            cell(&mut xlsx, "Breaches", 1, 1),
            Data::String("Response".into())
        );
        assert_eq!(cell(&mut xlsx, "Breaches", 1, 5), Data::Float(1.0));
        assert!(cell(&mut xlsx, "Breaches", 1, 8).is_datetime());
        assert_eq!(
            cell(&mut xlsx, "Breaches", 40, 0),
            Data::String("TCK-100039".into())
        );
        assert_eq!(cell(&mut xlsx, "Breaches", 41, 0), Data::Empty);
        assert_eq!(
            cell(&mut xlsx, "Breaches", 0, 10),
            Data::String("40 listed of 164".into())
        );

        // Satisfaction: five stars first.
        assert_eq!(cell(&mut xlsx, "Satisfaction", 1, 0), Data::Float(5.0));
        assert_eq!(cell(&mut xlsx, "Satisfaction", 1, 1), Data::Float(232.0));
        assert_eq!(cell(&mut xlsx, "Satisfaction", 8, 1), Data::Float(4.31));
    }

    #[test]
    fn chinese_workbook_names_its_sheets_and_headers_in_chinese() {
        let report = sample(Language::ZhCn, 3);
        let mut xlsx = open(render(&report).expect("renders"));
        assert_eq!(
            xlsx.sheet_names(),
            [
                "概览",
                "按优先级",
                "按服务类型",
                "按工程师",
                "达标率趋势",
                "违约明细",
                "满意度"
            ]
        );
        assert_eq!(
            cell(&mut xlsx, "概览", 0, 0),
            Data::String("SLA 服务报告".into())
        );
        assert_eq!(
            cell(&mut xlsx, "概览", 7, 1),
            Data::String("统计周期".into())
        );
        assert_eq!(
            cell(&mut xlsx, "按工程师", 2, 0),
            Data::String("（未分配）".into())
        );
        assert_eq!(
            cell(&mut xlsx, "违约明细", 0, 8),
            Data::String("停止时间".into())
        );
        assert_eq!(
            cell(&mut xlsx, "违约明细", 2, 1),
            Data::String("解决".into())
        );
    }

    #[test]
    fn an_empty_report_renders() {
        let mut report = sample(Language::En, 0);
        report.by_priority.clear();
        report.by_service_type.clear();
        report.by_engineer.clear();
        report.trend.points.clear();
        report.breaches_total = 0;
        report.summary = Summary::default();
        report.previous = Summary::default();
        report.satisfaction = Satisfaction::default();
        let mut xlsx = open(render(&report).expect("renders"));
        assert_eq!(cell(&mut xlsx, "Summary", 15, 1), Data::Empty);
        assert_eq!(cell(&mut xlsx, "Breaches", 0, 10), Data::Empty);
    }

    #[test]
    fn an_unknown_time_zone_is_an_error() {
        let mut report = sample(Language::En, 1);
        report.timezone = "Mars/Olympus_Mons".into();
        let err = render(&report).expect_err("unknown zone");
        assert!(format!("{err:#}").contains("Mars/Olympus_Mons"), "{err:#}");
    }
}
