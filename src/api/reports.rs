//! SLA reports as asynchronous jobs: `generate` queues one and answers its task id,
//! `progress` follows it, `download` hands its file over. Jobs and files are in the store, so
//! any instance answers for any job.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::json_body;
use super::{store_error, ApiState};
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::http::{ApiError, Envelope};
use crate::report::jobs::WhatIfError;
use crate::report::period::resolve;
use crate::report::what_if::WhatIf;
use crate::report::{Breakdowns, Format, JobRequest};
use crate::store::{EnqueueError, ReportJob};

/// `POST /api/v1/client/reports/generate`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// The tenant; required for ops tokens, others may name only their own.
    pub tenant_id: Option<u64>,
    /// `json`, `csv`, `xlsx` or `pdf`.
    pub format: String,
    /// `day`, `week`, `month`, `quarter` or `year` of the tenant's zone: the one holding
    /// `date`, or the last one closed. Default `month`. Not with `from` and `to`.
    pub period: Option<String>,
    /// A local date (`2026-11-15`) inside the period.
    pub date: Option<String>,
    /// Start of a range: a local date (its first instant) or an RFC 3339 instant.
    pub from: Option<String>,
    /// End of a range (exclusive), like `from`.
    pub to: Option<String>,
    /// Breakdowns to include: `priority`, `service_type`, `engineer` (default all).
    pub breakdowns: Option<Vec<String>>,
}

/// A report job as `progress` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobView {
    /// The job.
    pub task_id: String,
    /// The tenant reported on.
    pub tenant_id: u64,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Progress, 0–100.
    pub percent: u8,
    /// The file format.
    pub format: String,
    /// The period's start.
    pub from: String,
    /// The period's end (exclusive).
    pub to: String,
    /// The file's size in bytes, once done.
    pub size_bytes: Option<u64>,
    /// Goal outcomes the report counts, once done.
    pub records: Option<u64>,
    /// Where to download the file, once done.
    pub download_url: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Until when the file can be downloaded.
    pub expires_at: Option<String>,
}

impl JobView {
    fn of(job: &ReportJob) -> JobView {
        let r = &job.request;
        JobView {
            task_id: r.task_id.clone(),
            tenant_id: r.tenant_id,
            state: job.state.clone(),
            percent: job.percent,
            format: r.format.clone(),
            from: vigil_schema::format_instant(r.period.0),
            to: vigil_schema::format_instant(r.period.1),
            size_bytes: job.size_bytes,
            records: job.records,
            download_url: job
                .file_name
                .as_ref()
                .map(|f| format!("/api/v1/client/reports/download/{f}")),
            error: job.error.clone(),
            created_at: vigil_schema::format_instant(job.created_at),
            finished_at: job.finished_at.map(vigil_schema::format_instant),
            expires_at: job.expires_at.map(vigil_schema::format_instant),
        }
    }
}

/// Refuses callers whose role does not take reports.
fn require_report_role(caller: &Caller, what: &str) -> Result<(), ApiError> {
    caller.require(caller.claims.role.can_manage_alerts(), what)
}

/// Queues a report of a tenant over a period; answers the job (state `queued`) with its task
/// id. At most `[reports] max_queued` jobs (default 20) are queued or running at once; beyond
/// that the request is refused with 429 and nothing is queued.
///
/// Roles: `client_admin`, `client_manager` (their own tenant), `ops` (any tenant, named by
/// `tenant_id`); not `client_user` or `service`.
#[utoipa::path(
    post,
    path = "/api/v1/client/reports/generate",
    tag = "reports",
    request_body = GenerateRequest,
    responses(
        (status = 201, description = "envelope with `data`: JobView", body = JobView),
        (status = 400, description = "40001 bad field (named)"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant, or a role that takes no reports"),
        (status = 429, description = "40005 the report queue is full, or rate limited"),
    ),
    security(("bearer" = []))
)]
pub async fn generate(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<Envelope<JobView>, ApiError> {
    require_report_role(&caller, "generate reports")?;
    let asked: GenerateRequest = json_body(&body)?;
    let tenant = caller.tenant_scope(asked.tenant_id)?;
    let format = Format::parse(&asked.format)
        .ok_or_else(|| ApiError::invalid_field("format", "expected json, csv, xlsx or pdf"))?;
    let breakdowns = match &asked.breakdowns {
        None => Breakdowns::default(),
        Some(names) => Breakdowns::parse(names.iter().map(String::as_str)).ok_or_else(|| {
            ApiError::invalid_field("breakdowns", "expected priority, service_type or engineer")
        })?,
    };
    let settings = state.reports.tenant(tenant);
    let period = period_of(
        &settings.timezone,
        (&asked.period, &asked.date, &asked.from, &asked.to),
    )?;
    let request = JobRequest {
        tenant_id: tenant,
        period,
        format,
        breakdowns,
        requested_by: caller.claims.sub.clone(),
        settings,
    };
    let task_id = state.reports.queue(&request).await.map_err(|e| match e {
        EnqueueError::Full { .. } => ApiError::rate_limited(e.to_string(), 30),
        EnqueueError::Store(e) => store_error(e),
    })?;
    let job = load(&state, &caller, &task_id).await?;
    Ok(Envelope::created(JobView::of(&job)))
}

/// A report job's state and progress, with the download link once it is done.
///
/// Roles: `client_admin`, `client_manager` (jobs of their own tenant), `ops` (any); not
/// `client_user` or `service`.
#[utoipa::path(
    get,
    path = "/api/v1/client/reports/progress/{task_id}",
    tag = "reports",
    params(("task_id" = String, Path, description = "the job's task id")),
    responses(
        (status = 200, description = "envelope with `data`: JobView", body = JobView),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant's job, or a role that takes no reports"),
        (status = 404, description = "41001 no such job (or it expired)"),
    ),
    security(("bearer" = []))
)]
pub async fn progress(
    State(state): State<ApiState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Envelope<JobView>, ApiError> {
    require_report_role(&caller, "follow reports")?;
    let job = load(&state, &caller, &task_id).await?;
    Ok(Envelope::ok(JobView::of(&job)))
}

/// A finished report's file, as an attachment of its format's media type.
///
/// Roles: `client_admin`, `client_manager` (files of their own tenant), `ops` (any); not
/// `client_user` or `service`.
#[utoipa::path(
    get,
    path = "/api/v1/client/reports/download/{file}",
    tag = "reports",
    params(("file" = String, Path, description = "the file name progress gave")),
    responses(
        (status = 200, description = "the report file (JSON, CSV, XLSX or PDF)", body = Vec<u8>),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant's file, or a role that takes no reports"),
        (status = 404, description = "41001 no such file (or it expired)"),
    ),
    security(("bearer" = []))
)]
pub async fn download(
    State(state): State<ApiState>,
    caller: Caller,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    require_report_role(&caller, "download reports")?;
    let found = state
        .store
        .report_jobs()
        .file(&file, now_ms())
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::not_found(format!("no report file {file:?} (it may have expired)"))
        })?;
    caller.check_tenant(found.tenant_id)?;
    let format = file
        .rsplit_once('.')
        .and_then(|(_, ext)| Format::parse(ext))
        .unwrap_or(Format::Json);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"sla-report-{file}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        ),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    Ok((headers, found.content).into_response())
}

/// `POST /api/v1/client/reports/what-if`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// The tenant; required for ops tokens, others may name only their own.
    pub tenant_id: Option<u64>,
    /// The proposed policy: the fields of a tenant file's `[policy]` (as in
    /// `sla.policy_updated`), merged over the tenant's policy.
    #[schema(value_type = Object)]
    pub policy: vigil_engine::PolicySpec,
    /// `day`, `week`, `month`, `quarter` or `year` (default `month`: the last one closed).
    pub period: Option<String>,
    /// A local date inside the period.
    pub date: Option<String>,
    /// Start of a range: a local date or an RFC 3339 instant.
    pub from: Option<String>,
    /// End of a range (exclusive).
    pub to: Option<String>,
}

/// Replays the tenant's history from the events stream twice, under the policy in force and
/// under the proposed one, and answers both side by side: compliance per priority and service
/// type, goals whose outcome would change, alerts that would appear or disappear. Touches no
/// live state, alert or notification. Runs within the request (`[http] request_timeout`);
/// for long histories use `vigil what-if`.
///
/// Roles: `client_admin` (their own tenant), `ops` (any tenant, named by `tenant_id`); not
/// `client_manager`, `client_user` or `service`.
#[utoipa::path(
    post,
    path = "/api/v1/client/reports/what-if",
    tag = "reports",
    request_body = WhatIfRequest,
    responses(
        (status = 200, description = "envelope with `data`: the comparison (current, proposed, outcome_changes, alerts_appearing, alerts_disappearing)"),
        (status = 400, description = "40001 bad field (named), or a proposed policy that does not compile"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant, or a role that may not"),
    ),
    security(("bearer" = []))
)]
pub async fn what_if(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<Envelope<WhatIf>, ApiError> {
    let role = caller.claims.role;
    caller.require(
        matches!(
            role,
            crate::auth::Role::ClientAdmin | crate::auth::Role::Ops
        ),
        "run what-if",
    )?;
    let asked: WhatIfRequest = json_body(&body)?;
    let tenant = caller.tenant_scope(asked.tenant_id)?;
    let settings = state.reports.tenant(tenant);
    let period = period_of(
        &settings.timezone,
        (&asked.period, &asked.date, &asked.from, &asked.to),
    )?;
    match state.reports.what_if(tenant, period, &asked.policy).await {
        None => Err(ApiError::not_found(
            "what-if is not available on this instance",
        )),
        Some(Ok(result)) => Ok(Envelope::ok(result)),
        Some(Err(WhatIfError::Policy(e))) => {
            Err(ApiError::invalid_field("policy", format!("{e:#}")))
        }
        Some(Err(WhatIfError::History(e))) => Err(ApiError::new(
            crate::http::envelope::NOT_READY,
            format!("cannot read the history: {e:#}; retry shortly"),
        )),
    }
}

/// The period a request names, in the tenant's zone: 40001 naming the field at fault.
fn period_of(
    timezone: &str,
    (period, date, from, to): (
        &Option<String>,
        &Option<String>,
        &Option<String>,
        &Option<String>,
    ),
) -> Result<crate::report::model::Period, ApiError> {
    let tz = TimeZone::get(timezone).unwrap_or(TimeZone::UTC);
    resolve(
        (
            period.as_deref(),
            date.as_deref(),
            from.as_deref(),
            to.as_deref(),
        ),
        &tz,
        now_ms(),
    )
    .map_err(|e| ApiError::invalid_field(e.field, e.message))
}

/// The job `task_id` if the caller may see it: 404 when there is none, 403 for another
/// tenant's.
async fn load(state: &ApiState, caller: &Caller, task_id: &str) -> Result<ReportJob, ApiError> {
    let job = state
        .store
        .report_jobs()
        .get(task_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("no report job {task_id:?}")))?;
    caller.check_tenant(job.request.tenant_id)?;
    Ok(job)
}
