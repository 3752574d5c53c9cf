//! Silences (maintenance windows): created, listed and expired by people. Client managers and
//! admins silence their own tenant; ops silence any tenant, or every tenant at once.
//! Expiring keeps the silence (with who expired it, and when) for audit.

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_schema::{format_instant, parse_instant, Millis};

use super::listing::{tenant_list, TenantListRefusals, TENANT_FILTER_DOC};
use super::params::{json_body, Params};
use super::store_error;
use super::ApiState;
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::http::{ApiError, Envelope};
use crate::store::silences::Silence;
use crate::store::{SilenceExpiry, SilenceFilter, StoredSilence};

/// Most silences one list holds.
pub const MAX_LISTED_SILENCES: u32 = 1000;
/// Longest `comment`, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;
/// Most names in `priority` or `service_type`.
pub const MAX_MATCHER_VALUES: usize = 32;
/// Longest name in a matcher, and longest `ticket_id`, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// `POST /api/v1/silences`: what to silence, when, and why.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Only this tenant's alerts. Client tokens: their own tenant (the default); ops: any, or
    /// none for every tenant.
    pub tenant_id: Option<u64>,
    /// Only these priorities (upper-case, e.g. `["LOW", "MEDIUM"]`).
    pub priority: Option<Vec<String>>,
    /// Only these service types.
    pub service_type: Option<Vec<String>>,
    /// Only this ticket.
    pub ticket_id: Option<String>,
    /// From (RFC 3339). Default: now.
    pub starts_at: Option<String>,
    /// Until (RFC 3339, exclusive, in the future). Required.
    pub ends_at: Option<String>,
    /// Why. Required.
    pub comment: Option<String>,
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SilenceView {
    /// Its id.
    pub id: String,
    /// Only this tenant's alerts (`null`: every tenant).
    pub tenant_id: Option<u64>,
    /// Only these priorities (`null`: any).
    pub priority: Option<Vec<String>>,
    /// Only these service types (`null`: any).
    pub service_type: Option<Vec<String>>,
    /// Only this ticket (`null`: any).
    pub ticket_id: Option<String>,
    /// From (inclusive).
    pub starts_at: String,
    /// Until (exclusive); the expiry instant once expired.
    pub ends_at: String,
    /// `pending` (starts later), `active` (in force) or `expired`.
    pub state: String,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// When it was created.
    pub created_at: String,
    /// Who expired it, if anybody did.
    pub expired_by: Option<String>,
    /// When it was expired.
    pub expired_at: Option<String>,
}

impl SilenceView {
    fn of(s: &StoredSilence, now: Millis) -> SilenceView {
        let v = &s.silence;
        SilenceView {
            id: v.id.clone(),
            tenant_id: v.tenant_id,
            priority: v.priority.clone(),
            service_type: v.service_type.clone(),
            ticket_id: v.ticket_id.clone(),
            starts_at: format_instant(v.starts_at),
            ends_at: format_instant(v.ends_at),
            state: v.state_at(now).into(),
            created_by: v.created_by.clone(),
            comment: v.comment.clone(),
            created_at: format_instant(s.created_at),
            expired_by: s.expired_by.clone(),
            expired_at: s.expired_at.map(format_instant),
        }
    }
}

/// `GET /api/v1/silences`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SilenceList {
    /// Newest first.
    pub silences: Vec<SilenceView>,
}

/// Creates a silence.
///
/// Roles: `client_admin`, `client_manager` (their own tenant), `ops` (any tenant, or all); not `client_user` or `service`.
#[utoipa::path(
    post,
    path = "/api/v1/silences",
    request_body = NewSilence,
    responses(
        (status = 201, description = "envelope with `data`: the silence", body = SilenceView),
        (status = 400, description = "40001 a missing or bad field (`data.field`, `data.reason`)"),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 another tenant, or a role that may not silence"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<Envelope<SilenceView>, ApiError> {
    caller.require(caller.claims.role.can_manage_alerts(), "create silences")?;
    let asked: NewSilence = json_body(&body)?;
    let tenant_id = if caller.claims.role.all_tenants() {
        asked.tenant_id
    } else {
        Some(caller.tenant_scope(asked.tenant_id)?)
    };
    let now = now_ms();
    let silence = Silence {
        id: new_id()?,
        tenant_id,
        priority: names("priority", asked.priority, true)?,
        service_type: names("service_type", asked.service_type, false)?,
        ticket_id: asked
            .ticket_id
            .map(|t| bounded("ticket_id", t, MAX_NAME_CHARS))
            .transpose()?,
        starts_at: instant("starts_at", asked.starts_at.as_deref())?.unwrap_or(now),
        ends_at: instant("ends_at", asked.ends_at.as_deref())?
            .ok_or_else(|| ApiError::invalid_field("ends_at", "required"))?,
        created_by: caller.claims.sub.clone(),
        comment: asked
            .comment
            .map(|c| bounded("comment", c, MAX_COMMENT_CHARS))
            .transpose()?
            .ok_or_else(|| ApiError::invalid_field("comment", "required: say why"))?,
    };
    if let Some((field, reason)) = silence.problem_field() {
        return Err(ApiError::invalid_field(field, reason));
    }
    if silence.ends_at <= now {
        return Err(ApiError::invalid_field(
            "ends_at",
            "is in the past: a silence must end in the future",
        ));
    }
    let stored = state
        .store
        .silences()
        .create(&silence)
        .await
        .map_err(store_error)?;
    Ok(Envelope::created(SilenceView::of(&stored, now)))
}

/// `state` of the silence list, `active` when absent.
fn silence_filter(asked: Option<&str>) -> Result<SilenceFilter, ApiError> {
    SilenceFilter::parse(asked.unwrap_or("active"))
        .ok_or_else(|| ApiError::invalid_field("state", "expected active, expired or all"))
}

/// Silences of the caller's tenant (ops: of `tenant_id`, or all, including those of every
/// tenant).
///
/// Roles: `client_admin`, `client_manager`, `client_user` (their own tenant), `ops` (any); not `service`.
#[utoipa::path(
    get,
    path = "/api/v1/silences",
    params(
        ("state" = Option<String>, Query, description = "active (in force now or later; the default), expired or all"),
        ("limit" = Option<u32>, Query, description = "1 to 1000 (default 100)"),
        ("tenant_id" = Option<u64>, Query, description = TENANT_FILTER_DOC),
    ),
    responses(
        (status = 200, description = "envelope with `data`: SilenceList", body = SilenceList),
        (status = 403, description = "40003 another tenant, or a service token"),
        TenantListRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    params: Params,
) -> Result<Envelope<SilenceList>, ApiError> {
    caller.require(caller.claims.role.can_read(), "read silences")?;
    let asked = tenant_list(&caller, &params, silence_filter, MAX_LISTED_SILENCES)?;
    let now = now_ms();
    let rows = state
        .store
        .silences()
        .list(asked.tenant, asked.state, now, asked.limit)
        .await
        .map_err(store_error)?;
    Ok(Envelope::ok(SilenceList {
        silences: rows.iter().map(|s| SilenceView::of(s, now)).collect(),
    }))
}

/// Expires a silence now; it stays listed as expired, with who expired it. Idempotent.
///
/// Roles: `client_admin`, `client_manager` (their own tenant's silences), `ops` (any); not `client_user` or `service`.
#[utoipa::path(
    delete,
    path = "/api/v1/silences/{silence_id}",
    params(("silence_id" = String, Path, description = "the silence")),
    responses(
        (status = 200, description = "envelope with `data`: the silence, expired", body = SilenceView),
        (status = 401, description = "40004 no valid token"),
        (status = 403, description = "40003 a role that may not expire silences"),
        (status = 404, description = "41001 no such silence (or another tenant's)"),
        (status = 503, description = "50001 store unavailable"),
    ),
    security(("bearer" = []))
)]
pub async fn expire(
    State(state): State<ApiState>,
    caller: Caller,
    Path(silence_id): Path<String>,
) -> Result<Envelope<SilenceView>, ApiError> {
    caller.require(caller.claims.role.can_manage_alerts(), "expire silences")?;
    let unknown = || ApiError::not_found(format!("no silence {silence_id}"));
    let found = state
        .store
        .silences()
        .get(&silence_id)
        .await
        .map_err(store_error)?
        .ok_or_else(unknown)?;
    // A client sees neither other tenants' silences nor those of every tenant.
    let visible = caller.claims.role.all_tenants()
        || found.silence.tenant_id == Some(caller.claims.tenant_id);
    if !visible {
        return Err(unknown());
    }
    let now = now_ms();
    match state
        .store
        .silences()
        .expire(&silence_id, &caller.claims.sub, now)
        .await
        .map_err(store_error)?
    {
        SilenceExpiry::Expired(s) => Ok(Envelope::new(
            200,
            "silence expired",
            SilenceView::of(&s, now),
        )),
        SilenceExpiry::AlreadyOver(s) => Ok(Envelope::new(
            200,
            "silence already expired",
            SilenceView::of(&s, now),
        )),
        SilenceExpiry::Unknown => Err(unknown()),
    }
}

/// A fresh random id (UUID v4).
fn new_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::new(500, format!("no random bytes for a silence id: {e}; retry")))?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string())
}

/// An optional RFC 3339 instant.
fn instant(field: &str, value: Option<&str>) -> Result<Option<Millis>, ApiError> {
    value
        .map(|v| {
            parse_instant(v).ok_or_else(|| {
                ApiError::invalid_field(
                    field,
                    "expected an RFC 3339 instant, e.g. 2026-11-22T00:00:00Z",
                )
            })
        })
        .transpose()
}

/// `value` if it has at most `max` characters.
fn bounded(field: &str, value: String, max: usize) -> Result<String, ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(value)
}

/// A matcher's names: each non-blank and bounded (upper-case for priorities, which are
/// case-sensitive); an empty list is no matcher (it would otherwise match nothing).
fn names(
    field: &str,
    values: Option<Vec<String>>,
    upper_case: bool,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(values) = values.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if values.len() > MAX_MATCHER_VALUES {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {MAX_MATCHER_VALUES} names"),
        ));
    }
    for v in &values {
        if v.trim().is_empty() || v.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::invalid_field(
                field,
                format!("names are 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if upper_case && *v != v.to_uppercase() {
            return Err(ApiError::invalid_field(
                field,
                format!("priorities are upper-case: {:?}", v.to_uppercase()),
            ));
        }
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::envelope::INVALID_PARAMETER;

    #[test]
    fn bodies_that_do_not_fit_name_the_field() {
        let e = json_body::<NewSilence>(br#"{"tenant_id":"seven"}"#).unwrap_err();
        assert_eq!(
            (e.code, e.data["field"].as_str()),
            (INVALID_PARAMETER, Some("tenant_id"))
        );
        let e = json_body::<NewSilence>(br#"{"colour":"red"}"#).unwrap_err();
        assert_eq!(e.data["field"], "colour");
        assert!(e.message.contains("colour"), "{}", e.message);
        let e = json_body::<NewSilence>(b"not json").unwrap_err();
        assert_eq!(e.data["field"], "body");
    }

    #[test]
    fn matcher_names_are_checked_and_empty_lists_dropped() {
        assert_eq!(names("priority", Some(vec![]), true).unwrap(), None);
        assert_eq!(
            names("priority", Some(vec!["LOW".into()]), true).unwrap(),
            Some(vec!["LOW".to_string()])
        );
        let e = names("priority", Some(vec!["low".into()]), true).unwrap_err();
        assert_eq!(e.data["field"], "priority");
        assert!(names("service_type", Some(vec!["db".into()]), false).is_ok());
        assert!(names("service_type", Some(vec![" ".into()]), false).is_err());
        let many = vec!["A".to_string(); MAX_MATCHER_VALUES + 1];
        assert!(names("priority", Some(many), true).is_err());
    }

    #[test]
    fn ids_are_random_uuids() {
        let (a, b) = (new_id().unwrap(), new_id().unwrap());
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }
}
