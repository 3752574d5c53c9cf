//! Reconciliation reports: a partner's runs (of a day, or the latest), one run's report with
//! the diffs it kept, and the report as a JSON or CSV file to download.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::csv::diffs_csv;
use super::views::{ReconciliationReport, RunList, RunView};
use super::{partner, require_partner_role};
use crate::api::listing::PartnerRefusals;
use crate::api::params::Params;
use crate::api::{store_error, ApiState};
use crate::auth::Caller;
use crate::http::{ApiError, Envelope};
use crate::partner::link::PartnerLink;
use crate::store::ReconciliationRun;

/// Most runs one list holds.
pub const MAX_RUNS: u32 = 100;
/// Runs listed when `limit` is not given (a month of nightly runs).
pub const DEFAULT_RUNS: u32 = 31;

/// A partner's reconciliation runs with their counts, newest first: those of one day, or the
/// latest ones.
///
/// Roles: `ops` only (partner data spans tenants).
#[utoipa::path(
    get,
    path = "/api/v1/partners/{partner_id}/reconciliations",
    params(
        ("partner_id" = String, Path, description = "the partner"),
        ("date" = Option<String>, Query, description = "YYYY-MM-DD, the day reconciled (in the partner's time zone); default: every day"),
        ("limit" = Option<u32>, Query, description = "1 to 100 (default 31)"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: RunList", body = RunList),
        (status = 400, description = "40001 bad parameter (`data.field`)"),
        (status = 404, description = "41001 no such partner (`data.partners`: the configured ones)"),
        PartnerRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn runs(
    State(state): State<ApiState>,
    caller: Caller,
    Path(partner_id): Path<String>,
    params: Params,
) -> Result<Envelope<RunList>, ApiError> {
    require_partner_role(&caller, "read reconciliation reports")?;
    params.only(&["date", "limit"])?;
    let link = partner(&state, &partner_id)?;
    let date = params.get("date").map(day).transpose()?;
    let limit = params.integer("limit", 1..=MAX_RUNS, DEFAULT_RUNS)?;
    let runs = state
        .store
        .reconciliations()
        .runs(link.id(), date, limit)
        .await
        .map_err(store_error)?;
    Ok(Envelope::ok(RunList {
        partner_id: link.id().to_string(),
        date: date.map(str::to_string),
        runs: runs.iter().map(RunView::from).collect(),
    }))
}

/// One run's report: its counts, the records flagged for review (the partner has them, we do
/// not), and the first diffs found (at most 1,000), masked as records leave for the partner.
///
/// Roles: `ops` only (partner data spans tenants).
#[utoipa::path(
    get,
    path = "/api/v1/partners/{partner_id}/reconciliations/{run_id}",
    params(
        ("partner_id" = String, Path, description = "the partner"),
        ("run_id" = String, Path, description = "the run"),
    ),
    responses(
        (status = 200, description = "envelope with `data`: ReconciliationReport", body = ReconciliationReport),
        (status = 404, description = "41001 no such partner, or no such run of it"),
        PartnerRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn report(
    State(state): State<ApiState>,
    caller: Caller,
    Path((partner_id, run_id)): Path<(String, String)>,
) -> Result<Envelope<ReconciliationReport>, ApiError> {
    require_partner_role(&caller, "read reconciliation reports")?;
    let link = partner(&state, &partner_id)?;
    let (_, report) = load(&state, &link, &run_id).await?;
    Ok(Envelope::ok(report))
}

/// The report as a JSON file (`Content-Disposition: attachment`): the document itself, as
/// `data` of the report endpoint holds it, not wrapped in the envelope (errors are).
///
/// Roles: `ops` only (partner data spans tenants).
#[utoipa::path(
    get,
    path = "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.json",
    params(
        ("partner_id" = String, Path, description = "the partner"),
        ("run_id" = String, Path, description = "the run"),
    ),
    responses(
        (status = 200, description = "reconciliation-<partner>-<day>-<run_id>.json", body = ReconciliationReport),
        (status = 404, description = "41001 no such partner, or no such run of it"),
        PartnerRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn report_json(
    State(state): State<ApiState>,
    caller: Caller,
    Path((partner_id, run_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_partner_role(&caller, "download reconciliation reports")?;
    let link = partner(&state, &partner_id)?;
    let (run, report) = load(&state, &link, &run_id).await?;
    let headers = download_headers(&run, "json", "application/json");
    Ok((headers, Json(report)).into_response())
}

/// The report's diffs as a CSV file (`Content-Disposition: attachment`): a header line
/// `seq,kind,record_id,ours,theirs`, then one line per kept diff with both records as JSON text
/// (empty for a side that has none); RFC 4180 quoting, CRLF line ends. The counts are in the
/// JSON report.
///
/// Roles: `ops` only (partner data spans tenants).
#[utoipa::path(
    get,
    path = "/api/v1/partners/{partner_id}/reconciliations/{run_id}/report.csv",
    params(
        ("partner_id" = String, Path, description = "the partner"),
        ("run_id" = String, Path, description = "the run"),
    ),
    responses(
        (status = 200, description = "reconciliation-<partner>-<day>-<run_id>.csv", content_type = "text/csv", body = String),
        (status = 404, description = "41001 no such partner, or no such run of it"),
        PartnerRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn report_csv(
    State(state): State<ApiState>,
    caller: Caller,
    Path((partner_id, run_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_partner_role(&caller, "download reconciliation reports")?;
    let link = partner(&state, &partner_id)?;
    let (run, report) = load(&state, &link, &run_id).await?;
    let headers = download_headers(&run, "csv", "text/csv; charset=utf-8");
    Ok((headers, diffs_csv(&report.diffs)).into_response())
}

/// The run `run_id` of the partner and its report, or 41001.
async fn load(
    state: &ApiState,
    link: &PartnerLink,
    run_id: &str,
) -> Result<(ReconciliationRun, ReconciliationReport), ApiError> {
    let run = state
        .store
        .reconciliations()
        .run(run_id)
        .await
        .map_err(store_error)?
        .filter(|r| r.partner_id == link.id())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no reconciliation run {run_id:?} of partner {}",
                link.id()
            ))
        })?;
    let diffs = state
        .store
        .reconciliations()
        .diffs(&run.run_id)
        .await
        .map_err(store_error)?;
    let report = ReconciliationReport::of(&run, diffs);
    Ok((run, report))
}

/// The headers of a download: its content type, the attachment's file name, and no caching
/// (reports hold record contents).
fn download_headers(
    run: &ReconciliationRun,
    ext: &str,
    content_type: &'static str,
) -> [(header::HeaderName, HeaderValue); 4] {
    let name = file_name(run, ext);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ]
}

/// `reconciliation-<partner>-<day>-<run_id>.<ext>`, with anything but letters, digits, `-`,
/// `_` and `.` replaced by `_` so the name is safe in a header and on any file system.
pub fn file_name(run: &ReconciliationRun, ext: &str) -> String {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "reconciliation-{}-{}-{}.{ext}",
        safe(&run.partner_id),
        safe(&run.day),
        safe(&run.run_id)
    )
}

/// `date` if it is a calendar day written `YYYY-MM-DD`, else 40001.
fn day(date: &str) -> Result<&str, ApiError> {
    let b = date.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let real = shape
        && date
            .parse::<jiff::civil::Date>()
            .is_ok_and(|d| d.to_string() == date);
    if real {
        Ok(date)
    } else {
        Err(ApiError::invalid_field(
            "date",
            "expected a day as YYYY-MM-DD, e.g. 2026-11-22",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_days_in_one_format() {
        assert_eq!(day("2026-11-22").ok(), Some("2026-11-22"));
        assert_eq!(day("2024-02-29").ok(), Some("2024-02-29"));
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-1-22",
            "20261122",
            "2026-11-22T00:00:00",
            "yesterday",
            "",
            "２０２６-11-22",
        ] {
            let e = day(bad).expect_err(bad);
            assert_eq!(e.data["field"], "date", "{bad}");
        }
    }

    #[test]
    fn file_names_keep_only_safe_characters() {
        let run = ReconciliationRun {
            run_id: "r/1\"x".into(),
            partner_id: "exchange-a".into(),
            day: "2026-11-22".into(),
            trigger: "nightly".into(),
            state: "finished".into(),
            started_at: 0,
            finished_at: None,
            pages_done: 0,
            partner_records: 0,
            our_records: 0,
            matched: 0,
            missing_at_partner: 0,
            missing_at_ours: 0,
            mismatched: 0,
            repaired: 0,
            diffs_kept: 0,
            error: None,
        };
        assert_eq!(
            file_name(&run, "csv"),
            "reconciliation-exchange-a-2026-11-22-r_1_x.csv"
        );
    }
}
